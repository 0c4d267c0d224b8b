"""Crossovers: where one cost overtakes another as one variable grows.

Roots of the difference of two exact counts are found with SymPy (all positive real
roots of a polynomial, exactly), then reported as the first *valid* size past each root
(a multiple of ``step``, e.g. of the patch size), and checked by evaluating both costs on
either side. Costs that are not polynomial in the variable are compared on every valid
size of the range instead.

Examples
--------
>>> from costmodel.analysis import crossovers
>>> from costmodel.symbols import R
>>> [c.first_valid for c in crossovers(R**2, 100 * R, R, lo=1, hi=1000)]
[101]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import sympy

from costmodel.errors import InvalidConfigError


@dataclass(frozen=True, kw_only=True)
class Crossover:
    """One change of which cost is smaller.

    Attributes
    ----------
    root : SymPy number or None
        The exact real root of ``a - b`` (None when found on the grid only).
    first_valid : int
        The first valid value (a multiple of ``step``) past the root.
    cheaper_after : str
        ``"a"`` or ``"b"``: which is smaller right after the crossover.
    """

    root: Any
    first_valid: int
    cheaper_after: str

    @property
    def root_float(self) -> float | None:
        return None if self.root is None else float(self.root)


def _check_range(lo: int, hi: int, step: int) -> None:
    if step <= 0:
        raise InvalidConfigError("step", step, "must be a positive integer")
    if lo > hi:
        raise InvalidConfigError("range", f"{lo}:{hi}", "min must not exceed max")


def _side(a: int | sympy.Expr, b: int | sympy.Expr) -> str:
    return "a" if a < b else "b" if b < a else "tie"


def crossovers(a: sympy.Expr, b: sympy.Expr, var: sympy.Symbol, *, lo: int, hi: int, step: int = 1,
               exact_a: Callable[[int], Any] | None = None,
               exact_b: Callable[[int], Any] | None = None) -> list[Crossover]:
    """Points in ``[lo, hi]`` where ``a`` and ``b`` (expressions in ``var``) change order.

    Parameters
    ----------
    a, b : SymPy expressions in ``var`` only
    lo, hi, step : int
        The valid values are the multiples of ``step`` in ``[lo, hi]``.
    exact_a, exact_b : callables, optional
        Exact counts at a valid integer value (default: evaluate ``a``/``b``). Used to
        check each reported crossover on both sides, and for the grid search.
    """
    _check_range(lo, hi, step)
    a, b = sympy.sympify(a), sympy.sympify(b)
    for name, expr in (("a", a), ("b", b)):
        extra = expr.free_symbols - {var}
        if extra:
            raise InvalidConfigError(name, expr, f"depends on {', '.join(map(str, extra))} besides {var}: give values")
    fa = exact_a or (lambda v: a.subs(var, v))
    fb = exact_b or (lambda v: b.subs(var, v))
    first = -(-lo // step) * step
    grid = range(first, hi + 1, step)
    if not grid:
        return []
    diff = sympy.expand(a - b)
    if diff.is_polynomial(var) and diff != 0:
        roots = sorted(r for r in sympy.Poly(diff, var).real_roots() if lo <= r <= hi)
        found = []
        for root in roots:
            after = int(sympy.floor(root / step) + 1) * step
            if after > hi:
                continue
            side = _side(fa(after), fb(after))
            before = after - step
            if before >= lo and _side(fa(before), fb(before)) == side:
                continue  # a double root or touching point: no change of order
            found.append(Crossover(root=root, first_valid=after, cheaper_after=side))
        return found
    found, previous = [], _side(fa(grid[0]), fb(grid[0]))
    for v in grid[1:]:
        side = _side(fa(v), fb(v))
        if side != previous and side != "tie":
            found.append(Crossover(root=None, first_valid=v, cheaper_after=side))
        previous = side if side != "tie" else previous
    return found


__all__ = ["Crossover", "crossovers"]
