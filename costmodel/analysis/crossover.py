"""Crossovers: where one cost overtakes another as one variable grows.

Given two costs ``a`` and ``b`` (two models, two parts of one model, or any two
expressions) in one variable, :func:`crossovers` finds every positive real point in a
range where their order changes, and says which is cheaper on every interval between:

* **exact** when ``a - b`` is polynomial or rational in the variable, or piecewise so
  through ``Max``/``Min`` (memory peaks): the real roots of the numerator, poles of the
  denominator and breakpoints of the maxima are found by SymPy as exact numbers
  (rationals, radicals or ``CRootOf``); roots of even multiplicity (touching points) are
  not crossings. The range may be unbounded (:mod:`costmodel.analysis.roots`).
* **numeric** otherwise (floors, logs, square roots): the difference is scanned on a grid
  and every sign change is refined by bisection; each reported crossing carries a
  bracket whose two ends were checked to have opposite signs by exact evaluation.

For an integer-valued variable (or when a lattice ``step`` is given, e.g. the patch size
of a ViT) each crossing also reports ``first_valid``: the first valid value (multiple of
``step``) strictly past the root, and the exact counts there are checked to agree with
the closed form's side. :func:`symbolic_crossovers` solves for roots that depend on other
symbols (``L = 6 d``).

Examples
--------
>>> from costmodel.analysis.crossover import crossovers
>>> from costmodel.core.symbols import R
>>> found = crossovers(R**2, 100 * R, R, lo=1, hi=1000)
>>> [(c.root, c.first_valid, c.cheaper_after) for c in found]
[(100, 101, 'b')]
>>> found.summary("quadratic", "linear")
'quadratic is cheaper on R in (1, 100); linear is cheaper from R = 101 on (root 100)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from costmodel import display
from costmodel.analysis.roots import (
    Interval,
    exact_sign_changes,
    is_piecewise_rational,
    numeric_sign_changes,
    side_of,
    sign,
)
from costmodel.core.errors import CostModelError, InvalidConfigError


@dataclass(frozen=True, kw_only=True)
class Crossover(display.Displayable):
    """One change of which cost is smaller.

    Attributes
    ----------
    root : SymPy number or None
        Where ``a - b`` changes sign: an exact SymPy number (``exact=True``), a
        ``Float`` refined by bisection, or None when the costs are step functions
        (floors) and only the valid values around the change are known.
    first_valid : int or None
        For an integer (lattice) variable: the first valid value strictly past the root.
    cheaper_after : str
        ``"a"`` or ``"b"``: which cost is smaller right after the crossing.
    exact : bool
        The root is exact (polynomial or rational costs).
    bracket : (number, number) or None
        For numeric crossings: two values, checked by exact evaluation, on either side.
    observable : bool
        False when another crossing comes before ``first_valid``, so that at the valid
        values the order never visibly changes here (two roots between two valid sizes).
    """

    root: Any
    first_valid: int | None
    cheaper_after: str
    exact: bool = True
    bracket: tuple[Any, Any] | None = None
    observable: bool = True

    @property
    def root_float(self) -> float | None:
        return None if self.root is None else float(self.root)

    @property
    def value(self) -> float:
        """The crossing as one number: ``first_valid`` on a lattice, else the root."""
        return float(self.first_valid if self.first_valid is not None else self.root)

    def _display_tables(self) -> tuple[display.Table, ...]:
        how = "exact" if self.exact else "bisection"
        rows = [display.row("root", "unknown (step functions)" if self.root is None else self.root, note=f"({how})"),
                display.row("first valid", "-" if self.first_valid is None else self.first_valid),
                display.row("cheaper after", self.cheaper_after)]
        if self.bracket is not None:
            rows.append(display.row("bracket", " < ".join(display.format_value(v) for v in self.bracket)))
        notes = () if self.observable else ("not observable: another crossing comes before the first valid value",)
        return (display.Table("Crossover", tuple(rows), notes=notes),)


@dataclass(frozen=True)
class Crossovers(Sequence[Crossover], display.Displayable):
    """Every crossing of two costs in a range, and who is cheaper in between.

    Iterates over the :class:`Crossover` points (so ``len(result)`` is their number);
    ``intervals`` partitions the range.
    """

    var: sympy.Symbol
    lo: Any
    hi: Any
    step: int | None
    points: tuple[Crossover, ...]
    intervals: tuple[Interval, ...]
    method: str

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: Any) -> Any:
        return self.points[index]

    def __iter__(self) -> Iterator[Crossover]:
        return iter(self.points)

    def cheaper_at(self, value: Any) -> str:
        """Which cost is cheaper at ``value`` according to the intervals (``"tie"`` on a root)."""
        value = sympy.sympify(value)
        for iv in self.intervals:
            if bool(iv.lo < value) and bool(value < iv.hi):
                return iv.cheaper
        if self.intervals and value == self.intervals[0].lo:  # the ends of the range
            return self.intervals[0].cheaper
        if self.intervals and value == self.intervals[-1].hi:
            return self.intervals[-1].cheaper
        return "tie"

    def summary(self, name_a: str = "a", name_b: str = "b") -> str:
        """One line in words, e.g. ``'x is cheaper on R in (1, 100); y is cheaper from R = 101 on'``."""
        names = {"a": name_a, "b": name_b, "tie": "neither"}
        if not self.points:
            who = self.intervals[0].cheaper if self.intervals else "tie"
            if who == "tie":
                return f"{name_a} and {name_b} are equal for every {self.var}"
            return (f"no crossover of {name_a} and {name_b} for {self.var} in ({_show(self.lo)}, {_show(self.hi)}): "
                    f"{names[who]} is cheaper throughout")
        first = self.intervals[0]
        parts = [f"{names[first.cheaper]} is cheaper on {self.var} in ({_show(first.lo)}, {_show(first.hi)})"]
        for c in self.points:
            at = (f"{self.var} = {c.first_valid}" if c.first_valid is not None else f"{self.var} = {_show(c.root)}")
            root = f" (root {_show(c.root)})" if c.first_valid is not None and c.root is not None else ""
            parts.append(f"{names[c.cheaper_after]} is cheaper from {at} on{root}")
        return "; ".join(parts)

    def _display_tables(self) -> tuple[display.Table, ...]:
        step = f", step {self.step}" if self.step is not None else ""
        title = f"Crossovers in {self.var} on ({_show(self.lo)}, {_show(self.hi)}){step}, {self.method}"
        rows = tuple(display.Row(f"{i}", (display.Value("?" if c.root is None else c.root),
                                          display.Value("-" if c.first_valid is None else c.first_valid),
                                          display.Value(c.cheaper_after)))
                     for i, c in enumerate(self.points, 1))
        header = ("#", "root", "first valid", "cheaper after") if rows else ()
        return (display.Table(title, rows, header=header, notes=(self.summary(),)),)


@dataclass(frozen=True, kw_only=True)
class SymbolicCrossover(display.Displayable):
    """A crossing whose position depends on other symbols (e.g. ``L = 6 d``).

    ``cheaper_after`` is ``"a"``/``"b"`` when the sign of the slope at the root is
    decided by the symbols' assumptions, else None.
    """

    root: sympy.Expr
    cheaper_after: str | None

    def _display_tables(self) -> tuple[display.Table, ...]:
        after = self.cheaper_after or "undecided (the sign depends on the symbols)"
        rows = (display.row("root", self.root), display.row("cheaper after", after))
        return (display.Table("SymbolicCrossover", rows),)


def _show(value: Any) -> str:
    if value is None:
        return "?"
    value = sympy.sympify(value)
    if value in (sympy.oo, -sympy.oo):
        return "oo"
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational and value.q < 1000:
        return str(value)
    return f"{float(value):.6g}"


def _check_inputs(a: Any, b: Any, var: Any, lo: Any, hi: Any, step: int | None) -> tuple[sympy.Expr, sympy.Expr]:
    if not isinstance(var, sympy.Symbol):
        raise InvalidConfigError("var", var, "must be a SymPy symbol")
    if step is not None and (not isinstance(step, (int, np.integer)) or step <= 0):
        raise InvalidConfigError("step", step, "must be a positive integer")
    lo_s, hi_s = sympy.sympify(lo), sympy.sympify(hi)
    if not (lo_s.is_number and hi_s.is_number):
        raise InvalidConfigError("range", f"{lo}:{hi}", "bounds must be numbers")
    if lo_s.is_negative:
        raise InvalidConfigError("range", f"{lo}:{hi}", "min must be >= 0 (crossovers are sought for positive values)")
    if bool(lo_s > hi_s):
        raise InvalidConfigError("range", f"{lo}:{hi}", "min must not exceed max")
    exprs = []
    for name, expr in (("a", a), ("b", b)):
        try:
            e = sympy.sympify(expr)
        except (sympy.SympifyError, TypeError) as exc:
            raise InvalidConfigError(name, expr, "is not a number or SymPy expression") from exc
        extra = e.free_symbols - {var}
        if extra:
            raise InvalidConfigError(name, e, f"depends on {', '.join(sorted(map(str, extra)))} besides {var}: "
                                              "give them values, or use symbolic_crossovers")
        exprs.append(e)
    if var not in exprs[0].free_symbols | exprs[1].free_symbols:
        raise InvalidConfigError("var", var, "neither cost depends on it")
    return exprs[0], exprs[1]


def _exact_side(fa: Callable[[Any], Any], fb: Callable[[Any], Any], value: Any) -> str:
    return side_of(sign(sympy.sympify(fa(value)) - sympy.sympify(fb(value))))


def _first_past(root: Any, step: int) -> int:
    return int((sympy.floor(sympy.sympify(root) / step) + 1) * step)


def crossovers(a: Any, b: Any, var: sympy.Symbol, *, lo: Any = 0, hi: Any = sympy.oo, step: int | None = None,
               exact_a: Callable[[int], Any] | None = None, exact_b: Callable[[int], Any] | None = None,
               grid_points: int = 4096) -> Crossovers:
    """Every point in ``(lo, hi)`` where costs ``a`` and ``b`` (expressions in ``var``) change order.

    Parameters
    ----------
    a, b : SymPy expressions in ``var`` only (or numbers)
    var : SymPy symbol
    lo, hi : numbers
        The open range searched; ``hi`` may be ``sympy.oo`` when ``a - b`` is rational.
    step : int, optional
        Valid values are the multiples of ``step`` (default 1 for an integer ``var``,
        none for a real one). Each crossing then reports ``first_valid``, and the search
        starts at the first valid value (roots below it are never observed).
    exact_a, exact_b : callables, optional
        Exact counts at a valid value (default: substitute into ``a``/``b``). Each
        ``first_valid`` is checked with them against the closed form.
    grid_points : int
        Grid size of the numeric scan (non-rational costs only).

    Raises
    ------
    InvalidConfigError
        A cost depends on another symbol, neither depends on ``var``, ``min > max``, or a
        non-rational cost is given an unbounded range.
    """
    a, b = _check_inputs(a, b, var, lo, hi, step)
    lo, hi = sympy.sympify(lo), sympy.sympify(hi)
    if step is None and var.is_integer:
        step = 1
    if step is not None:  # nothing below the first valid value can be observed
        lo = sympy.Max(lo, max(1, math.ceil(float(lo) / step)) * step)
    fa = exact_a or (lambda v: a.subs(var, v))
    fb = exact_b or (lambda v: b.subs(var, v))
    diff = sympy.expand(a - b)
    if diff == 0:
        return Crossovers(var, lo, hi, step, (), (Interval(lo=lo, hi=hi, cheaper="tie"),), "exact")
    if is_piecewise_rational(diff, var):
        raw, intervals = exact_sign_changes(diff, var, lo, hi)
        method = "exact"
        found: list[tuple[Any, Any, Any, str]] = [(root, None, None, side) for root, side in raw]
    else:
        def exact_diff(v: Any) -> Any:
            return sympy.sympify(fa(v)) - sympy.sympify(fb(v)) if step is not None else diff.subs(var, v)

        found, intervals = numeric_sign_changes(diff, var, lo, hi, step, exact_diff, grid_points)
        method = "numeric"
    points = []
    for root, left, right, side in found:
        first_valid = None
        observable = True
        if step is not None:
            first_valid = int(right) if root is None else _first_past(root, step)
            expected = side_of(sign(diff.subs(var, first_valid)))  # the closed form's order there
            if first_valid <= hi or hi == sympy.oo:
                got = _exact_side(fa, fb, first_valid)
                if got != expected:
                    raise CostModelError(f"the closed form says {expected!r} is cheaper at {var} = {first_valid} "
                                         f"but the exact counts say {got!r}")
            observable = expected == side
        points.append(Crossover(root=root, first_valid=first_valid, cheaper_after=side, exact=method == "exact",
                                bracket=None if left is None else (left, right), observable=observable))
    return Crossovers(var, lo, hi, step, tuple(points), tuple(intervals), method)


def symbolic_crossovers(a: Any, b: Any, var: sympy.Symbol) -> list[SymbolicCrossover]:
    """Positive roots of ``a - b`` in ``var`` when they depend on other symbols.

    Example: per ViT layer, attention-score MACs ``2 L^2 d`` equal projection + MLP MACs
    ``12 L d^2`` at ``L = 6 d``. Roots that the symbols' assumptions make non-positive or
    non-real are dropped; ``cheaper_after`` comes from the sign of the slope of ``a - b``
    at the root when the assumptions decide it.

    Examples
    --------
    >>> from costmodel.core.symbols import L, d
    >>> [(c.root, c.cheaper_after) for c in symbolic_crossovers(2 * L**2 * d, 12 * L * d**2, L)]
    [(6*d, 'b')]
    """
    if not isinstance(var, sympy.Symbol):
        raise InvalidConfigError("var", var, "must be a SymPy symbol")
    diff = sympy.together(sympy.expand(sympy.sympify(a) - sympy.sympify(b)))
    if var not in diff.free_symbols:
        raise InvalidConfigError("var", var, "the difference of the costs does not depend on it")
    num, den = sympy.fraction(diff)
    out = []
    for root in sympy.solve(num, var):
        root = sympy.factor(sympy.simplify(root))
        if root.is_positive is False or root.is_real is False:
            continue
        slope = sympy.simplify(sympy.diff(num, var).subs(var, root) * den.subs(var, root))
        side = "b" if slope.is_positive else "a" if slope.is_negative else None
        out.append(SymbolicCrossover(root=root, cheaper_after=side))
    return out


__all__ = ["Crossover", "Crossovers", "Interval", "SymbolicCrossover", "crossovers", "symbolic_crossovers"]
