"""Where a difference of two costs changes sign: the root finding behind :mod:`costmodel.analysis.crossover`.

* :func:`exact_sign_changes` for differences that are rational in the variable, or
  piecewise rational through ``Max``/``Min`` (memory peaks are maxima of polynomials):
  every breakpoint of a ``Max``/``Min`` and every real root and pole of each rational
  piece is found exactly by SymPy, and the sign is decided on each interval between them
  by exact evaluation at a rational point.
* :func:`numeric_sign_changes` for anything else (floors, logs, square roots): a grid
  scan in floats, each change refined by bisection and its bracket checked exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from costmodel.core.errors import InvalidConfigError

ROUNDING = (sympy.floor, sympy.ceiling, sympy.Mod)
PRECISION = 40  # significant digits for numeric refinement and midpoints
_EXTREMA = (sympy.Max, sympy.Min)


@dataclass(frozen=True, kw_only=True)
class Interval:
    """An open interval of the variable on which one cost is cheaper (``"a"``, ``"b"`` or ``"tie"``)."""

    lo: Any
    hi: Any
    cheaper: str


def sign(value: Any) -> int:
    value = sympy.sympify(value)
    return 1 if value > 0 else -1 if value < 0 else 0


def side_of(sign_value: int) -> str:
    """Which cost is cheaper when ``a - b`` has this sign."""
    return "a" if sign_value < 0 else "b" if sign_value > 0 else "tie"


def rational_between(x: Any, y: Any) -> sympy.Rational:
    """A rational strictly between two real numbers (``y`` may be infinite)."""
    if y == sympy.oo:
        return sympy.Rational(math.floor(float(x)) + 1) if x.is_finite else sympy.Integer(1)
    mid = (sympy.N(x, PRECISION) + sympy.N(y, PRECISION)) / 2
    probe = sympy.Rational(str(mid))  # the exact value of the decimal
    if not (bool(probe > x) and bool(probe < y)):  # x and y closer than the precision: bisect exactly
        probe = sympy.nsimplify(mid, rational=True)
    return probe


def merge(intervals: list[Interval]) -> list[Interval]:
    """Join neighbouring intervals with the same cheaper side."""
    merged: list[Interval] = []
    for iv in intervals:
        if merged and merged[-1].cheaper == iv.cheaper:
            merged[-1] = Interval(lo=merged[-1].lo, hi=iv.hi, cheaper=iv.cheaper)
        else:
            merged.append(iv)
    return merged


def _is_rational(expr: sympy.Expr, var: sympy.Symbol) -> bool:
    num, den = sympy.fraction(sympy.together(expr))
    return bool(num.is_polynomial(var) and den.is_polynomial(var))


def is_piecewise_rational(expr: sympy.Expr, var: sympy.Symbol) -> bool:
    """Rational in ``var`` once every ``Max``/``Min`` is replaced by one of its arguments."""
    if expr.has(*ROUNDING):
        return False
    dummies = {e: sympy.Dummy() for e in expr.atoms(*_EXTREMA)}
    if not _is_rational(expr.xreplace(dummies), var):
        return False
    return all(is_piecewise_rational(arg, var) for e in dummies for arg in e.args)


def _real_roots(expr: sympy.Expr, var: sympy.Symbol, lo: Any, hi: Any) -> set[Any]:
    """Real roots and poles of a rational expression strictly inside ``(lo, hi)``."""
    found: set[Any] = set()
    for part in sympy.fraction(sympy.together(expr)):
        part = sympy.expand(part)
        if part.has(var):
            for root in sympy.Poly(part, var).real_roots(multiple=True):
                if bool(root > lo) and bool(root < hi):
                    found.add(root)
    return found


def _resolve(expr: sympy.Expr, var: sympy.Symbol, probe: Any) -> sympy.Expr:
    """``expr`` with each ``Max``/``Min`` replaced by the argument that wins at ``var = probe``."""
    def pick(e: sympy.Expr) -> sympy.Expr:
        values = [a.subs(var, probe) for a in e.args]
        best = max if isinstance(e, sympy.Max) else min
        return e.args[values.index(best(values))]

    return expr.replace(lambda e: isinstance(e, _EXTREMA), pick)


def _winner_after(extremum: sympy.Expr, var: sympy.Symbol, point: Any) -> int:
    """The argument of a ``Max``/``Min`` that wins just right of ``point``.

    Values at the point are compared at 50 digits (a tie is a difference below ``1e-35``
    of the size of their terms: at a root of ``arg_j - arg_i`` they are equal); ties are broken
    by the first derivative that differs (a Taylor comparison), so no probe is needed.
    """
    candidates = list(range(len(extremum.args)))
    exprs = list(extremum.args)
    sign_of_best = 1 if isinstance(extremum, sympy.Max) else -1
    at = sympy.N(point, 60) if point != sympy.oo else point
    for _ in range(10):
        values = {i: sign_of_best * sympy.N(exprs[i].subs(var, at), 50) for i in candidates}
        # size of the terms, so that cancellation at a root reads as a tie
        scale = max(sympy.N(sum(abs(t) for t in sympy.Add.make_args(sympy.expand(exprs[i]))).subs(var, at), 50)
                    for i in candidates)
        best = max(values.values())
        candidates = [i for i in candidates if best - values[i] <= (scale + 1) * sympy.Float(1e-35)]
        if len(candidates) == 1:
            break
        exprs = [sympy.diff(e, var) for e in exprs]
    return candidates[0]


def _envelope_breaks(extremum: sympy.Expr, var: sympy.Symbol, lo: Any, hi: Any) -> set[Any]:
    """Where the winning argument of a ``Max``/``Min`` of rational functions changes, in ``(lo, hi)``.

    A sweep from ``lo``: from the current winner, the next candidate breakpoint is the
    first root of ``arg_j - winner`` past the current position over all other arguments,
    and the winner just past it is found exactly. ``n`` root computations per step.
    """
    args = extremum.args
    breaks: set[Any] = set()
    pos = lo
    winner = _winner_after(extremum, var, lo)
    while True:
        upcoming = _sorted({r for j in range(len(args)) if j != winner
                            for r in _real_roots(args[j] - args[winner], var, pos, hi)})
        if not upcoming:
            return breaks
        new = _winner_after(extremum, var, upcoming[0])
        if new != winner:
            breaks.add(upcoming[0])
            winner = new
        pos = upcoming[0]


def _sorted(points: set[Any]) -> list[Any]:
    return sorted(points, key=lambda p: sympy.N(p, PRECISION))


def exact_sign_changes(diff: sympy.Expr, var: sympy.Symbol, lo: Any, hi: Any
                       ) -> tuple[list[tuple[Any, str]], list[Interval]]:
    """``(root, side after)`` of each sign change of a piecewise-rational ``diff`` in ``(lo, hi)``.

    Breakpoints of every ``Max``/``Min`` (roots of the differences of its arguments)
    split the range into segments on which ``diff`` is one rational function; its roots
    and poles split those further, and the sign is taken at a rational probe inside each.
    """
    breaks: set[Any] = set()
    for extremum in diff.atoms(*_EXTREMA):
        if all(_is_rational(arg, var) for arg in extremum.args):
            breaks |= _envelope_breaks(extremum, var, lo, hi)
            continue
        for left, right in itertools.combinations(extremum.args, 2):  # nested extrema
            breaks |= exact_sign_changes_points(left - right, var, lo, hi)
    segments = [lo, *_sorted(breaks), hi]
    pieces: list[Interval] = []
    for left, right in zip(segments, segments[1:], strict=False):
        piece = sympy.cancel(_resolve(diff, var, rational_between(left, right)))
        points = _real_roots(piece, var, left, right) if piece.has(var) else set()
        edges = [left, *_sorted(points), right]
        for a, b in zip(edges, edges[1:], strict=False):
            pieces.append(Interval(lo=a, hi=b, cheaper=side_of(sign(piece.subs(var, rational_between(a, b))))))
    merged = merge(pieces)
    return [(iv.lo, iv.cheaper) for iv in merged[1:]], merged


def exact_sign_changes_points(expr: sympy.Expr, var: sympy.Symbol, lo: Any, hi: Any) -> set[Any]:
    """The points where a piecewise-rational ``expr`` changes sign (for nested extrema)."""
    crossings, _ = exact_sign_changes(expr, var, lo, hi)
    return {root for root, _ in crossings}


def _bisect(diff: sympy.Expr, var: sympy.Symbol, left: Any, right: Any, sign_left: int) -> sympy.Float:
    """A root of a continuous ``diff`` in ``[left, right]`` to about 30 digits."""
    x0, x1 = sympy.N(left, PRECISION), sympy.N(right, PRECISION)
    for _ in range(120):
        mid = (x0 + x1) / 2
        s = sign(diff.evalf(PRECISION, subs={var: mid}))
        if s == 0:
            return mid
        if s == sign_left:
            x0 = mid
        else:
            x1 = mid
        if x1 - x0 <= abs(x1) * sympy.Float(10) ** (-30):
            break
    return (x0 + x1) / 2


def _grid(lo: Any, hi: Any, step: int | None, points: int) -> tuple[np.ndarray, bool]:
    if step is not None:
        first, last = max(1, -(-math.ceil(float(lo)) // step)), math.floor(float(hi)) // step
        if first > last:
            return np.array([], dtype=np.int64), True
        idx = np.unique(np.round(np.geomspace(first, last, min(last - first + 1, points))).astype(np.int64))
        return idx * step, True
    start = float(lo) if lo > 0 else float(hi) * 1e-9
    xs = np.concatenate([np.geomspace(start, float(hi), points), np.linspace(start, float(hi), points // 4)])
    return np.unique(xs), False


def numeric_sign_changes(diff: sympy.Expr, var: sympy.Symbol, lo: Any, hi: Any, step: int | None,
                         exact_diff: Callable[[Any], Any], grid_points: int
                         ) -> tuple[list[tuple[Any, Any, Any, str]], list[Interval]]:
    """Sign changes of ``diff`` found on a grid and refined; each bracket checked with ``exact_diff``.

    On a lattice (``step``) the first valid value with the new sign is found by bisection
    on the lattice; on the reals the root is refined by bisection to about 30 digits
    (left as None for step functions). Returns ``(root, left, right, side after)`` per
    change, and the intervals.
    """
    if hi == sympy.oo:
        raise InvalidConfigError("range", f"{lo}:oo", f"the costs are not piecewise rational in {var}: "
                                                     "give a finite range")
    smooth = not diff.has(*ROUNDING)
    xs, lattice = _grid(lo, hi, step, grid_points)
    if xs.size == 0:
        return [], [Interval(lo=lo, hi=hi, cheaper="tie")]
    fn = sympy.lambdify(var, diff, "numpy")
    signs = np.sign(np.asarray(fn(xs.astype(float)), dtype=float) * np.ones(xs.shape)).astype(int)
    nonzero = [(x, int(sg)) for x, sg in zip(xs, signs, strict=True) if sg != 0]
    if not nonzero:
        return [], [Interval(lo=lo, hi=hi, cheaper="tie")]
    found: list[tuple[Any, Any, Any, str]] = []
    pieces: list[Interval] = []
    begin = lo
    prev_x, prev_s = nonzero[0]
    for x, s in nonzero[1:]:
        if s == prev_s:
            prev_x = x
            continue
        if step is not None:  # on the lattice (``_grid`` makes one when a step is given): the first valid value
            i0, i1 = int(prev_x) // step, int(x) // step
            while i1 - i0 > 1:
                mid = (i0 + i1) // 2
                if sign(exact_diff(mid * step)) == s:
                    i1 = mid
                else:
                    i0 = mid
            left, right = i0 * step, i1 * step
        else:
            left, right = sympy.nsimplify(float(prev_x), rational=True), sympy.nsimplify(float(x), rational=True)
        s_left, s_right = sign(exact_diff(left)), sign(exact_diff(right))
        verified = s_right == s and (s_left != s if lattice else s_left == prev_s)
        if not verified:  # float noise near a tie: the exact signs decide
            if s_right == prev_s:
                prev_x = x
            continue
        root = left if s_left == 0 else _bisect(diff, var, left, right, s_left) if smooth else None
        found.append((root, left, right, side_of(s)))
        pieces.append(Interval(lo=begin, hi=root if root is not None else right, cheaper=side_of(prev_s)))
        begin = root if root is not None else right
        prev_x, prev_s = x, s
    pieces.append(Interval(lo=begin, hi=hi, cheaper=side_of(prev_s)))
    return found, pieces


__all__ = ["Interval", "exact_sign_changes", "numeric_sign_changes", "is_piecewise_rational", "merge", "sign",
           "side_of", "rational_between", "ROUNDING", "PRECISION"]
