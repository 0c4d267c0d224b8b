"""Asymptotics and sensitivity: leading terms, scaling exponents, shares of a breakdown.

* :func:`leading_term`, :func:`big_o`: what a cost grows like as one variable grows.
* :func:`scaling_exponent`: the elasticity ``d log cost / d log x`` as an expression
  (``2`` for ``x^2``; for a ViT in the image side it climbs from 2 to 4), and
  :func:`exponent_at` its value at a point; :func:`limit_exponent` its limit.
* :func:`fit_exponent`: a least-squares power law through numbers (for log-log plots).
* :func:`share`: the fraction of a cost spent in some parts of its breakdown tree
  (attention scores vs projections + MLP), and :func:`share_crossing` where that share
  crosses a threshold, exactly or as a closed form in the other symbols.

Floors and ceilings (symbolic image sizes without ``divisible=True``) are replaced by
their arguments first: same growth, and a smooth function to differentiate.

Examples
--------
>>> from costmodel.analysis.asymptotics import scaling_exponent, limit_exponent
>>> from costmodel.core.symbols import L, d
>>> layer = 24 * L * d**2 + 4 * L**2 * d        # FLOPs of one ViT layer, mlp ratio 4
>>> scaling_exponent(layer, L)
2*(L + 3*d)/(L + 6*d)
>>> limit_exponent(layer, L)
2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import sympy

from costmodel.analysis.crossover import Crossovers, SymbolicCrossover, crossovers, symbolic_crossovers
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.value import Cost

HALF = sympy.Rational(1, 2)


def _unround(expr: Any) -> sympy.Expr:
    expr = sympy.sympify(expr)
    return expr.replace(lambda e: isinstance(e, (sympy.floor, sympy.ceiling)), lambda e: e.args[0])


def leading_term(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """The term of ``expr`` that dominates as ``var`` grows to infinity.

    Floors and ceilings are dropped first (``floor(x) ~ x``). Polynomials in ``var``
    give their highest-degree term with its full coefficient; other expressions the
    leading term of their expansion at infinity.

    Examples
    --------
    >>> from costmodel.core.symbols import L, d
    >>> leading_term(8*L*d**2 + 4*L**2*d, L)
    4*L**2*d
    >>> leading_term(8*L*d**2 + 4*L**2*d, d)
    8*L*d**2
    """
    if not isinstance(var, sympy.Symbol):
        raise InvalidConfigError("var", var, "must be a SymPy symbol")
    e = sympy.expand(_unround(sympy.sympify(expr)))
    if var not in e.free_symbols:
        raise InvalidConfigError("var", var, f"the expression does not depend on it: {expr}")
    if e.is_polynomial(var):
        poly = sympy.Poly(e, var)
        return sympy.factor_terms(poly.LC() * var**poly.degree())
    t = sympy.Dummy("t", positive=True)
    lead = e.subs(var, 1 / t).as_leading_term(t)
    return sympy.simplify(lead.subs(t, 1 / var))


def big_o(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Order:
    """``O(leading term)`` as ``var`` grows to infinity, constant factors dropped."""
    return sympy.Order(leading_term(expr, var), (var, sympy.oo))


def _growth(expr: sympy.Expr, var: sympy.Symbol) -> tuple[Any, Any]:
    """Sort key of how fast a polynomial grows in ``var``: (degree, leading coefficient)."""
    e = sympy.expand(_unround(expr))
    if e.is_polynomial(var):
        poly = sympy.Poly(e, var)
        lc = poly.LC()
        return (poly.degree(), lc if lc.is_number else 0)
    return (limit_exponent(e, var), 0)


def at_infinity(expr: Any, var: sympy.Symbol) -> sympy.Expr:
    """``expr`` with every ``Max``/``Min`` replaced by the argument that wins as ``var`` grows.

    Memory peaks are maxima of polynomials; for large ``var`` one branch wins for good,
    so leading terms and limit exponents are those of that branch.
    """
    def pick(e: sympy.Expr) -> sympy.Expr:
        key = (lambda a: _growth(a, var)) if isinstance(e, sympy.Max) else (
            lambda a: tuple(-v for v in _growth(a, var)))
        return max(e.args, key=key)

    return sympy.sympify(expr).replace(lambda e: isinstance(e, (sympy.Max, sympy.Min)), pick)


def _check_var(expr: sympy.Expr, var: Any) -> None:
    if not isinstance(var, sympy.Symbol):
        raise InvalidConfigError("var", var, "must be a SymPy symbol")
    if var not in expr.free_symbols:
        raise InvalidConfigError("var", var, f"the cost does not depend on it: {expr}")


def scaling_exponent(expr: Any, var: sympy.Symbol) -> sympy.Expr:
    r"""The scaling exponent (elasticity) of a cost in ``var``.

    .. math:: \epsilon(x) = \frac{\partial \log c}{\partial \log x} = \frac{x\, c'(x)}{c(x)}

    A pure power law ``a x^p`` has ``epsilon = p``; a sum of powers moves from the
    lowest to the highest exponent as ``x`` grows.
    """
    e = _unround(expr)
    _check_var(e, var)
    return sympy.factor(sympy.cancel(var * sympy.diff(e, var) / e))


def exponent_at(expr: Any, var: sympy.Symbol, value: Any, **others: Any) -> float:
    """:func:`scaling_exponent` at ``var = value`` (other symbols given by name)."""
    eps = scaling_exponent(expr, var)
    table = {var: value}
    by_name = {s.name: s for s in eps.free_symbols}
    for name, v in others.items():
        if name not in by_name:
            raise InvalidConfigError(name, v, f"the exponent has no symbol of that name "
                                              f"(it has: {', '.join(sorted(by_name))})")
        table[by_name[name]] = v
    out = eps.subs(table)
    if out.free_symbols:
        raise InvalidConfigError("others", others, f"give values for {', '.join(sorted(map(str, out.free_symbols)))}")
    return float(out)


def limit_exponent(expr: Any, var: sympy.Symbol) -> sympy.Expr:
    """The scaling exponent as ``var`` grows without bound (the degree for polynomials).

    ``Max``/``Min`` (memory peaks) are first resolved to the branch that wins for large
    ``var`` (:func:`at_infinity`).
    """
    expr = sympy.sympify(expr)
    if expr.has(sympy.Max, sympy.Min):
        expr = at_infinity(expr, var)
    return sympy.limit(scaling_exponent(expr, var), var, sympy.oo)


def fit_exponent(xs: Iterable[float], ys: Iterable[float]) -> tuple[float, float]:
    """Least-squares power law ``y = c x^p`` through positive points: returns ``(p, c)``."""
    x = np.asarray(list(xs), dtype=float)
    y = np.asarray(list(ys), dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise InvalidConfigError("points", x.size, "need at least two (x, y) pairs of equal length")
    if (x <= 0).any() or (y <= 0).any():
        raise InvalidConfigError("points", "non-positive", "a power law needs positive x and y")
    p, log_c = np.polyfit(np.log(x), np.log(y), 1)
    return float(p), float(np.exp(log_c))


def parts_total(cost: Cost, parts: str | Iterable[str], metric: str = "forward_flops") -> sympy.Expr:
    """The sum of ``metric`` over breakdown paths (``"blocks/attn/core"``)."""
    paths = [parts] if isinstance(parts, str) else list(parts)
    if not paths:
        raise InvalidConfigError("parts", paths, "name at least one part")
    return sympy.expand(sum((_metric(cost.part(p), metric) for p in paths), sympy.S.Zero))


def _metric(cost: Cost, metric: str) -> sympy.Expr:
    if metric not in ("forward_flops", "backward_flops", "training_flops", "params"):
        raise InvalidConfigError("metric", metric, "a breakdown share needs forward_flops, backward_flops, "
                                                   "training_flops or params")
    return getattr(cost, metric)


def share(cost: Cost, parts: str | Iterable[str], *, of: str | Iterable[str] | None = None,
          metric: str = "forward_flops") -> sympy.Expr:
    """Fraction of ``metric`` spent in ``parts``: of the whole cost, or of ``parts + of``.

    ``of`` names the other parts to compare with (the denominator is then
    ``parts + of``, e.g. attention core vs projections and MLP of one ViT layer:
    ``L / (L + 6 d)``).
    """
    numerator = parts_total(cost, parts, metric)
    denominator = _metric(cost, metric) if of is None else numerator + parts_total(cost, of, metric)
    return sympy.factor(sympy.cancel(numerator / denominator))


def share_crossing(fraction: Any, var: sympy.Symbol, threshold: Any = HALF, *,
                   lo: Any = 0, hi: Any = sympy.oo, step: int | None = None
                   ) -> Crossovers | list[SymbolicCrossover]:
    """Where a share (a ratio from :func:`share`) crosses ``threshold`` as ``var`` grows.

    With no other symbols: :class:`~costmodel.analysis.crossover.Crossovers` (``"a"`` cheaper
    means the share is below the threshold). With other symbols: the roots as closed
    forms (e.g. ``L = 6 d`` for one half, ``L = 54 d`` for 90 %).
    """
    threshold = sympy.nsimplify(threshold, rational=True)
    if not (0 < threshold < 1):
        raise InvalidConfigError("threshold", threshold, "must be strictly between 0 and 1")
    num, den = sympy.fraction(sympy.cancel(sympy.sympify(fraction)))
    if (num.free_symbols | den.free_symbols) - {var}:
        return symbolic_crossovers(num, threshold * den, var)
    return crossovers(num, threshold * den, var, lo=lo, hi=hi, step=step)


def dominant_part(cost: Cost, var: sympy.Symbol, *, metric: str = "forward_flops", level: int = 1,
                  values: Mapping[str, Any] | None = None) -> tuple[str, sympy.Expr]:
    """The breakdown part (at ``level`` of the tree) that dominates as ``var`` grows.

    Compares the leading terms in ``var`` of every part at that depth, other symbols
    given by ``values`` (by name) or left symbolic when the degrees alone decide.
    Returns ``(path, leading term)``.
    """
    candidates = [(path, _unround(_metric(part, metric))) for path, part in cost.walk()
                  if path.count("/") == level - 1]
    candidates = [(p, e) for p, e in candidates if var in e.free_symbols]
    if not candidates:
        raise InvalidConfigError("var", var, f"no part at level {level} depends on it")
    table = {s: v for s in cost.free_symbols | {var} for n, v in (values or {}).items() if s.name == n}

    def key(item: tuple[str, sympy.Expr]) -> tuple[Any, Any]:
        lead = leading_term(item[1], var)
        degree = sympy.degree(lead, var) if lead.is_polynomial(var) else limit_exponent(item[1], var)
        coeff = (lead / var**degree).subs(table)
        return (degree, coeff if coeff.is_number else 0)

    path, expr = max(candidates, key=key)
    return path, leading_term(expr, var)


__all__ = ["at_infinity", "leading_term", "big_o", "scaling_exponent", "exponent_at", "limit_exponent", "fit_exponent",
           "parts_total", "share", "share_crossing", "dominant_part"]
