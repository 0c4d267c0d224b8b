"""A traced model: the config-like result of :func:`~costmodel.tracing.trace.trace_module`.

A :class:`TracedModel` stands where a config stands: ``costmodel.models.cost(traced, batch=8)``
returns its :class:`~costmodel.cost.value.Cost` (``cost`` dispatches on the
:meth:`TracedModel.model_cost` method), and with it every metric, comparison, crossover,
sweep, memory budget and plan that reads costs through ``cost``. ``replace(image_size=...)``
substitutes the image size (a number or a symbol such as ``R`` for a square image), as a
config's ``replace`` does.

Its limits travel with it: :attr:`~TracedModel.conditions` (attached to every cost it
returns), :attr:`~TracedModel.notes` (shown in its text) and :attr:`~TracedModel.unknown_ops`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sympy

from costmodel import display
from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, H, W
from costmodel.core.validity import Condition
from costmodel.cost.value import Cost


@dataclass(frozen=True, eq=False)
class TracedModel(display.Displayable):
    """A module's costs, traced (see :func:`~costmodel.tracing.trace.trace_module`).

    Attributes
    ----------
    name : str
    input_shape : (channels, height, width)
        The size traced at.
    dynamic : tuple of {"batch", "height", "width"}
        The sizes left symbolic (``B``, ``H``, ``W``); a requested size the model fixed is not among them.
    batch_hint : int
        The batch traced with (the cost's batch when ``"batch"`` is not dynamic).
    costs : dict
        The :class:`Cost` per convention name (``"flop_counter"``, ``"full"``), in ``B``, ``H``, ``W``.
    conditions : tuple of Condition
        Where the costs hold (guards of PyTorch's trace, fixed sizes).
    notes : tuple of str
        Every limit in words (fixed sizes, kernel-choice guards, fallbacks, unknown ops).
    unknown_ops : dict
        FLOP-bearing ops without a FLOP formula, by name, with how often they ran.
    fixed : dict
        Requested sizes the model fixed, by dimension name, with their value.
    classes : int or SymPy expression
        Output elements per image (a classifier's classes; the loss's logits).
    """

    family: ClassVar[str] = "traced"

    name: str
    input_shape: tuple[int, int, int]
    dynamic: tuple[str, ...]
    batch_hint: int
    dtype: str
    costs: dict[str, Cost] = field(repr=False)
    conditions: tuple[Condition, ...] = ()
    notes: tuple[str, ...] = ()
    unknown_ops: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    source: Any = field(default=None, repr=False)
    sizes: tuple[tuple[sympy.Symbol, Any], ...] = ()
    classes: Any = 0
    _retraced: dict[str, TracedModel] = field(default_factory=dict, repr=False)

    # -- what configs have ---------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @property
    def num_classes(self) -> Any:
        return sympy.sympify(self.classes).subs(dict(self.sizes))

    @property
    def image_hw(self) -> tuple[Any, Any]:
        """``(height, width)``: ``H``, ``W`` (or what :meth:`replace` put there), or fixed integers."""
        table = dict(self.sizes)
        height = H if "height" in self.dynamic else self.input_shape[1]
        width = W if "width" in self.dynamic else self.input_shape[2]
        return sympy.sympify(height).subs(table), sympy.sympify(width).subs(table)

    @property
    def image_size(self) -> Any:
        height, width = self.image_hw
        if height == width or (height, width) == (H, W):  # unreplaced: a square side, as configs have
            return height
        return (height, width)

    @property
    def image_step(self) -> int:
        """Image sides valid for the traced formulas are multiples of this: the least common multiple
        of the divisors PyTorch's guards demand of ``H`` or ``W`` (``Eq(Mod(H, k), 0)``), else 1."""
        step = 1
        for condition in self.conditions:
            for mod in condition.relation.atoms(sympy.Mod):
                base, k = mod.args
                if base in (H, W) and k.is_Integer and condition.relation == sympy.Eq(mod, 0):
                    step = int(sympy.ilcm(step, int(k)))
        return step

    def field_names(self) -> tuple[str, ...]:
        """The fields a comparison may vary: the image size (when height and width are symbolic)."""
        return ("image_size",) if {"height", "width"} <= set(self.dynamic) else ()

    def replace(self, **changes: Any) -> TracedModel:
        """A copy at another image size: ``replace(image_size=384)``, ``(288, 384)`` or a symbol."""
        unknown = set(changes) - {"image_size"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidConfigError(name, changes[name], "a traced model has only image_size to replace")
        size = changes["image_size"]
        height, width = size if isinstance(size, (tuple, list)) else (size, size)
        table = dict(self.sizes)
        for dim, symbol, value in (("height", H, height), ("width", W, width)):
            value = sympy.sympify(value)
            if dim not in self.dynamic:
                if value != self.input_shape[1 if dim == "height" else 2]:
                    raise InvalidConfigError("image_size", size, f"the traced model fixes the image {dim} at "
                                             f"{self.input_shape[1 if dim == 'height' else 2]}")
                continue
            if value.is_number and not (value.is_integer and value > 0):
                raise InvalidConfigError("image_size", size, "must be a positive integer or a symbol")
            table[symbol] = value
        return dataclasses.replace(self, sizes=tuple(table.items()), _retraced=self._retraced)

    # -- costs ---------------------------------------------------------------------------
    def model_cost(self, *, batch: Any = B, convention: str | Convention = FLOP_COUNTER, divisible: bool = False,
                   precision: Any = None) -> Cost:
        """The :class:`Cost` at ``batch`` (what ``costmodel.models.cost`` returns for this model).

        ``precision`` (a mixed one) traces the module again under autocast, once.
        ``divisible`` is accepted for the configs' signature; traced counts keep PyTorch's floors.
        """
        source = self
        name = getattr(precision, "name", precision)
        if name not in (None, self.dtype):
            source = self._with_dtype(str(name))
        cost = source.costs[get_convention(convention).name]
        table: dict[Any, Any] = dict(self.sizes)
        batch = sympy.sympify(batch)
        if "batch" in self.dynamic:
            table[B] = batch
        elif batch != self.batch_hint and batch != B:
            raise InvalidConfigError("batch", batch, f"the traced model's batch is fixed at {self.batch_hint} "
                                                     f"(trace it with a symbolic batch)")
        conditions = tuple(dataclasses.replace(c, relation=c.relation.subs(table)) for c in self.conditions)
        out = cost.subs(table) if table else cost
        return out.with_conditions(*(c for c in conditions if c.relation is not sympy.true))

    def cost(self, **kwargs: Any) -> Cost:
        """Alias of :meth:`model_cost`."""
        return self.model_cost(**kwargs)

    def _with_dtype(self, dtype: str) -> TracedModel:
        if dtype not in self._retraced:
            from costmodel.tracing.trace import trace_module

            if self.source is None:
                raise InvalidConfigError("precision", dtype, "this traced model keeps no module to trace again")
            self._retraced[dtype] = trace_module(self.source, self.input_shape, self.dynamic or (),
                                                batch=self.batch_hint, dtype=dtype, name=self.name)
        return self._retraced[dtype]

    def with_notes(self, *notes: str) -> TracedModel:
        return dataclasses.replace(self, notes=(*self.notes, *notes))

    # -- display -------------------------------------------------------------------------
    def _display_tables(self) -> tuple[display.Table, ...]:
        cost = self.model_cost()
        symbols = ", ".join(sorted(str(s) for s in cost.free_symbols)) or "none"
        rows = (display.row("forward", cost.forward_flops, "flop"),
                display.row("backward", cost.backward_flops, "flop"), display.row("params", cost.params, "param"),
                display.row("saved activations", cost.saved_bytes, "byte"))
        limits = [f"valid for {c.relation}: {c.rule}" if not c.rule.startswith("valid") else c.rule
                  for c in self.conditions] + list(self.notes)
        at = f", at {'x'.join(map(str, self.image_hw))}" if self.sizes else ""
        title = f"{self.name}, traced at {'x'.join(map(str, self.input_shape))}{at} (symbolic in {symbols})"
        return (display.Table(title, rows, notes=tuple(limits)),)


__all__ = ["TracedModel"]
