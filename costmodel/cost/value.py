"""``Cost``: one value type for every count, closed under ``+`` and ``*``.

A ``Cost`` holds unit-free SymPy expressions (forward FLOPs, backward FLOPs, parameters)
and a named breakdown tree of the parts it was built from, so ``resnet.part("layer3")``
or ``vit.part("blocks/attn/scores")`` answer *which part dominates*. Units (pint) are
attached only by :meth:`Cost.evaluate`, at the boundary.

A ``Cost`` also carries a :class:`Trace`: what the forward pass saves for the backward
pass (bytes and elements, shared storages counted once) and how the backward pass frees
it, from which :mod:`costmodel.memory.footprint` derives the peak memory of a training step; and
its memory traffic (:class:`~costmodel.cost.traffic.Traffic`: the bytes its kernels read and
write, tagged with the op kind), from which :mod:`costmodel.hardware.planning` derives roofline times.

Counting conventions are those of :mod:`costmodel.core.conventions`: by default FLOPs are
counted as PyTorch's ``FlopCounterMode`` counts them (1 MAC = 2 FLOPs, only matmul-type
operators). ``backward_flops`` is derived per operator, never "2x forward".

Examples
--------
>>> from costmodel.cost.value import Cost
>>> from costmodel.core.symbols import D
>>> block = Cost(forward_flops=10, params=3).named("block")
>>> net = (block * D).named("blocks") + Cost(forward_flops=1).named("head")
>>> net.forward_flops
10*D + 1
>>> net.part("blocks/block").params
3*D
>>> net.evaluate(D=12).forward_flops
<Quantity(121, 'flop')>
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import sympy

from costmodel import display
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.units import Quantity, ureg
from costmodel.core.validity import Condition, check, check_arrays, merge, normalise
from costmodel.cost.trace import EMPTY, Trace
from costmodel.cost.traffic import EMPTY as NO_TRAFFIC
from costmodel.cost.traffic import Traffic

Number: TypeAlias = int | sympy.Expr

#: unit of each metric of a :class:`Cost`, in field order.
METRIC_UNITS: dict[str, str] = {
    "forward_flops": "flop",
    "backward_flops": "flop",
    "params": "param",
}

_ROUNDING = (sympy.floor, sympy.ceiling, sympy.Mod)


def _sym(value: Any, name: str) -> sympy.Expr:
    try:
        expr = sympy.sympify(value, strict=True)
    except (sympy.SympifyError, TypeError) as exc:
        raise InvalidConfigError(name, value, "is not a number or SymPy expression") from exc
    return expr


@dataclass(frozen=True)
class Cost(display.Displayable):
    """Exact counts of one part of a model, with a named breakdown.

    Parameters
    ----------
    forward_flops : SymPy expression
        FLOPs of the forward pass for the whole batch (1 MAC = 2 FLOPs).
    backward_flops : SymPy expression
        FLOPs of the backward pass (input and weight gradients), derived per operator.
    params : SymPy expression
        Trainable parameters (scalars).
    parts : tuple of (name, Cost)
        The named children this cost is the sum of (possibly with an unnamed remainder).
    conditions : tuple of Condition
        Where the formulas hold (:mod:`costmodel.core.validity`): the rules of the config's
        symbols, kept through ``+``, ``*`` and naming.
    """

    forward_flops: sympy.Expr = sympy.S.Zero
    backward_flops: sympy.Expr = sympy.S.Zero
    params: sympy.Expr = sympy.S.Zero
    parts: tuple[tuple[str, Cost], ...] = field(default=(), repr=False)
    trace: Trace = field(default_factory=lambda: EMPTY, repr=False)
    traffic: Traffic = field(default=NO_TRAFFIC, repr=False, compare=False)
    conditions: tuple[Condition, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in METRIC_UNITS:
            object.__setattr__(self, name, _sym(getattr(self, name), name))

    # -- algebra -----------------------------------------------------------------------
    def metrics(self) -> dict[str, sympy.Expr]:
        """The metric expressions by field name, in :data:`METRIC_UNITS` order."""
        return {name: getattr(self, name) for name in METRIC_UNITS}

    def __add__(self, other: Cost) -> Cost:
        if isinstance(other, int) and other == 0:  # so that sum() works
            return self
        if not isinstance(other, Cost):
            return NotImplemented
        merged: dict[str, Cost] = dict(self.parts)
        for name, part in other.parts:
            merged[name] = merged[name] + part if name in merged else part
        totals = {k: v + getattr(other, k) for k, v in self.metrics().items()}
        return Cost(**totals, parts=tuple(merged.items()), trace=self.trace.then(other.trace),
                    traffic=self.traffic.then(other.traffic), conditions=merge(self.conditions, other.conditions))

    __radd__ = __add__

    def __mul__(self, factor: Number) -> Cost:
        """Repeat this cost ``factor`` times (an integer or a SymPy expression, e.g. depth)."""
        f = _sym(factor, "factor")
        if f.is_negative or (f.is_number and f < 0):
            raise InvalidConfigError("factor", factor, "a cost can only be repeated a non-negative number of times")
        totals = {k: v * f for k, v in self.metrics().items()}
        return Cost(**totals, parts=tuple((n, p * f) for n, p in self.parts), trace=self.trace.repeat(f),
                    traffic=self.traffic.repeat(f), conditions=self.conditions)

    __rmul__ = __mul__

    def named(self, name: str) -> Cost:
        """This cost as the single named child ``name`` of a new node with the same totals."""
        if not name or "/" in name:
            raise InvalidConfigError("name", name, "a part name must be non-empty and contain no '/'")
        return dataclasses.replace(self, parts=((name, self),))

    @staticmethod
    def group(parts: Mapping[str, Cost]) -> Cost:
        """Sum of named parts, e.g. ``Cost.group({"qkv": a, "proj": b})``."""
        return sum((cost.named(name) for name, cost in parts.items()), Cost())

    def map(self, fn: Any) -> Cost:
        """Apply ``fn`` to every expression, in the totals and through the whole tree."""
        return self._map(fn, {})

    def _map(self, fn: Any, memo: dict[int, Trace]) -> Cost:
        totals = {k: fn(v) for k, v in self.metrics().items()}
        return Cost(**totals, parts=tuple((n, p._map(fn, memo)) for n, p in self.parts),
                    trace=self.trace.map(fn, memo), traffic=self.traffic.map(fn), conditions=self.conditions)

    def with_trace(self, trace: Trace) -> Cost:
        """This cost with its memory trace replaced (e.g. marked as a checkpointable block)."""
        return dataclasses.replace(self, trace=trace)

    def with_conditions(self, *conditions: Condition) -> Cost:
        """This cost with ``conditions`` added to its validity conditions."""
        return dataclasses.replace(self, conditions=merge(self.conditions, conditions))

    def with_traffic(self, traffic: Traffic) -> Cost:
        """This cost with its memory traffic (:mod:`costmodel.cost.traffic`) replaced."""
        return dataclasses.replace(self, traffic=traffic)

    def subs(self, mapping: Mapping[Any, Any] | None = None, **sizes: Any) -> Cost:
        """Substitute symbols (by object or by name) everywhere, e.g. ``cost.subs(B=8)``."""
        table = self._resolve(dict(mapping or {}), sizes)
        kept = tuple(c.subs(table) for c in self.conditions if not (c.symbols & set(table)) or c.holds(table) is None)
        return dataclasses.replace(self.map(lambda e: e.subs(table)), conditions=kept)

    def expand(self) -> Cost:
        """Expanded (polynomial-normal-form where possible) expressions."""
        return self.map(sympy.expand)

    # -- inspection --------------------------------------------------------------------
    @property
    def training_flops(self) -> sympy.Expr:
        """Forward plus backward FLOPs of one training step (optimizer update excluded)."""
        return self.forward_flops + self.backward_flops

    @property
    def saved_bytes(self) -> sympy.Expr:
        """Bytes the forward pass saves for the backward pass (distinct storages; see :class:`Trace`)."""
        return self.trace.saved

    @property
    def forward_traffic(self) -> sympy.Expr:
        """Bytes the forward kernels read and write (:class:`~costmodel.cost.traffic.Traffic`)."""
        return self.traffic.forward

    @property
    def backward_traffic(self) -> sympy.Expr:
        """Bytes the backward kernels read and write."""
        return self.traffic.backward

    @property
    def saved_elements(self) -> sympy.Expr:
        """Elements (of whatever dtype) the forward pass saves for the backward pass."""
        return self.trace.elements

    @property
    def free_symbols(self) -> set[sympy.Symbol]:
        """Symbols the totals depend on."""
        out: set[sympy.Symbol] = set()
        for expr in self.metrics().values():
            out |= expr.free_symbols
        return out

    @property
    def is_polynomial(self) -> bool:
        """True when no total contains a floor, ceiling or Mod (a clean closed form).

        Counts for sizes that the strides do not divide need floor divisions; the
        ``divisible=True`` option of the model builders assumes divisibility and gives
        polynomials instead (see :func:`costmodel.ops.conv.conv_out_size`).
        """
        return not any(expr.has(*_ROUNDING) for expr in self.metrics().values())

    def part(self, path: str) -> Cost:
        """The child at ``path``, e.g. ``"blocks/attn/qkv"``, carrying the whole cost's validity
        conditions (a part of a model is valid where the model is)."""
        node = self
        for name in path.strip("/").split("/"):
            children = dict(node.parts)
            if name not in children:
                raise UnknownPresetError("part", name, children)
            node = children[name]
        return node.with_conditions(*self.conditions) if self.conditions else node

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Cost]]:
        """Every named node, depth first, as ``(path, cost)``."""
        for name, part in self.parts:
            path = f"{prefix}/{name}" if prefix else name
            yield path, part
            yield from part.walk(path)

    def leaves(self) -> Iterator[tuple[str, Cost]]:
        """The named nodes that have no children of their own."""
        return ((path, c) for path, c in self.walk() if not c.parts)

    # -- evaluation --------------------------------------------------------------------
    def _resolve(self, mapping: dict[Any, Any], sizes: dict[str, Any]) -> dict[Any, Any]:
        by_name = {s.name: s for s in self._all_symbols()}
        for name, value in sizes.items():
            if name not in by_name:
                known = ", ".join(sorted(by_name)) or "none"
                raise InvalidConfigError(name, value, f"this cost has no symbol of that name (it has: {known})")
            mapping[by_name[name]] = value
        for sym, value in mapping.items():  # NumPy and Python scalars normalised once, here
            mapping[sym] = normalise(sym, value)
        check(self.conditions, mapping)  # the config's rules at this point, named by field
        return mapping

    def _all_symbols(self) -> set[sympy.Symbol]:
        out: set[sympy.Symbol] = set(self.free_symbols) | self.trace.saved.free_symbols
        for _, part in self.walk():
            out |= part.free_symbols
        return out

    def evaluate(self, mapping: Mapping[Any, Any] | None = None, **sizes: Any) -> CostValue:
        """Numbers with units for given sizes, e.g. ``cost.evaluate(B=8, R=224)``.

        Integer sizes give exact integer counts. Every free symbol must be given a value.
        """
        table = self._resolve(dict(mapping or {}), sizes)
        values: dict[str, Quantity] = {}
        for name, expr in self.metrics().items():
            value = expr.subs(table)
            if value.free_symbols:
                missing = ", ".join(sorted(str(s) for s in value.free_symbols))
                raise InvalidConfigError(name, expr, f"needs values for {missing} to evaluate")
            if not (value.is_real and value.is_finite):  # e.g. a division by a size that is 0 there
                raise InvalidConfigError(name, value, "is not a finite number at these sizes")
            number: int | float = int(value) if value.is_integer else float(value)
            if isinstance(number, float) and math.isinf(number):
                raise InvalidConfigError(name, value, "is too large for a float (give integer sizes)")
            values[name] = ureg.Quantity(number, METRIC_UNITS[name])
        return CostValue(**values)

    def lambdify(self, *symbols: Any, metric: str = "forward_flops") -> Any:
        """A NumPy function of ``symbols`` (objects or names) computing ``metric`` on arrays.

        The returned function checks every validity condition and the symbols' own
        assumptions on its (broadcast) arguments, vectorised, before computing, and
        refuses the first invalid point with the error :meth:`evaluate` gives there.

        >>> import numpy as np
        >>> from costmodel.core.symbols import B
        >>> Cost(forward_flops=6 * B).lambdify(B)(np.array([1, 2]))
        array([ 6, 12])
        """
        if metric not in METRIC_UNITS and metric != "training_flops":
            raise UnknownPresetError("metric", metric, (*METRIC_UNITS, "training_flops"))
        by_name = {s.name: s for s in self._all_symbols()}
        args = tuple(by_name[s] if isinstance(s, str) and s in by_name else s for s in symbols)
        for s in args:
            if not isinstance(s, sympy.Symbol):
                known = ", ".join(sorted(by_name))
                raise InvalidConfigError("symbols", s, f"is not a symbol of this cost (it has: {known})")
        expr = getattr(self, metric)
        missing = expr.free_symbols - set(args)
        if missing:
            names = ", ".join(sorted(str(m) for m in missing))
            raise InvalidConfigError(metric, expr, f"needs values for {names}: pass them as arguments")
        compiled = sympy.lambdify(args, expr, modules="numpy")
        conditions = self.conditions

        def function(*arrays: Any) -> Any:
            if len(arrays) != len(args):
                names = ", ".join(map(str, args))
                raise InvalidConfigError("arguments", len(arrays), f"expected {len(args)} ({names})")
            check_arrays(conditions, args, arrays)
            return compiled(*arrays)

        return function

    # -- display (costmodel.display) ---------------------------------------------------
    def _display_tables(self) -> tuple[display.Table, ...]:
        symbols = sorted(str(s) for s in self.free_symbols)
        title = f"Cost (symbolic in {', '.join(symbols)})" if symbols else "Cost"
        totals = display.Table(title, _flop_rows(self.forward_flops, self.backward_flops, self.params))
        if not self.parts:
            return (totals,)
        shown = self.parts[:display.MAX_ROWS]
        rows = tuple(display.Row(name, (display.Value(p.forward_flops, "flop"), display.Value(p.backward_flops, "flop"),
                                        display.Value(p.params, "param"))) for name, p in shown)
        more = len(self.parts) - len(shown)
        return (totals, display.Table("parts", rows, header=("part", "forward", "backward", "params"),
                                      notes=(f"... and {more} more parts",) if more else ()))


def _flop_rows(forward: Any, backward: Any, params: Any) -> tuple[display.Row, ...]:
    """Forward (with its MAC count when it is a number), backward, both, and parameters."""
    macs = f"({display.format_macs(forward)})" if display.as_number(forward) is not None else ""
    return (display.row("forward", forward, "flop", note=macs), display.row("backward", backward, "flop"),
            display.row("forward + backward", forward + backward, "flop"), display.row("params", params, "param"))


@dataclass(frozen=True)
class CostValue(display.Displayable):
    """A :class:`Cost` evaluated at given sizes: pint quantities with units."""

    forward_flops: Quantity
    backward_flops: Quantity
    params: Quantity

    @property
    def training_flops(self) -> Quantity:
        total: Quantity = self.forward_flops + self.backward_flops
        return total

    def magnitudes(self) -> dict[str, int | float]:
        """Plain numbers in the base unit of each metric (flop, param), for JSON."""
        return {name: getattr(self, name).to(unit).magnitude for name, unit in METRIC_UNITS.items()}

    def _display_tables(self) -> tuple[display.Table, ...]:
        rows = _flop_rows(self.forward_flops.to("flop").magnitude, self.backward_flops.to("flop").magnitude,
                          self.params.to("param").magnitude)
        return (display.Table("CostValue", rows),)


__all__ = ["Cost", "CostValue", "METRIC_UNITS", "Number", "Trace"]
