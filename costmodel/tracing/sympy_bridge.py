"""PyTorch's symbolic sizes as plain SymPy in costmodel's symbols ``B``, ``H``, ``W``.

A trace with a ``ShapeEnv`` gives sizes and counts as ``torch.SymInt`` whose expressions use
PyTorch's symbols (``s0``, ``s1``...) and functions (``FloorDiv``, ``CeilDiv``, ``PythonMod``,
``ModularIndexing``...). :func:`to_sympy` rewrites them with ``floor``/``ceiling``/``Mod`` and
renames the symbols; :func:`canonical_symbols` finds which PyTorch symbol is which input
dimension.

torch is imported only inside the functions (``import costmodel.tracing`` stays light).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sympy

from costmodel.core.errors import CostModelError
from costmodel.core.symbols import B, H, W

#: dynamic dimension name -> (index in the (B, C, H, W) input, canonical symbol)
DIMS: dict[str, tuple[int, sympy.Symbol]] = {"batch": (0, B), "height": (2, H), "width": (3, W)}


class SymbolicShapeError(CostModelError):
    """PyTorch's symbolic trace cannot give the requested closed form."""


def _torch_functions() -> dict[type, Callable[..., Any]]:
    import torch.utils._sympy.functions as tfn

    return {
        tfn.FloorDiv: lambda a, b: sympy.floor(a / b),
        tfn.CleanDiv: lambda a, b: sympy.floor(a / b),
        tfn.CeilDiv: lambda a, b: sympy.ceiling(a / b),
        tfn.IntTrueDiv: lambda a, b: a / b,
        tfn.PythonMod: sympy.Mod,
        tfn.Mod: sympy.Mod,
        tfn.ModularIndexing: lambda base, div, mod: sympy.Mod(sympy.floor(base / div), mod),
        tfn.FloorToInt: sympy.floor,
        tfn.CeilToInt: sympy.ceiling,
        tfn.PowByNatural: lambda a, b: a**b,
        tfn.Identity: lambda a: a,
        tfn.Max: sympy.Max,
        tfn.Min: sympy.Min,
    }


_FUNCTIONS: dict[type, Callable[..., Any]] = {}


def to_sympy(expr: Any, symbols: Mapping[sympy.Symbol, sympy.Expr]) -> sympy.Expr:
    """PyTorch's SymPy expression (or a ``SymInt``/int) as plain SymPy, its symbols renamed by ``symbols``.

    ``FloorDiv(a, b)`` becomes ``floor(a/b)``, ``CeilDiv`` ``ceiling(a/b)``, ``PythonMod``
    and ``Mod`` ``Mod``, ``ModularIndexing(x, d, m)`` ``Mod(floor(x/d), m)``, ``Max``/``Min``
    SymPy's. Any other PyTorch function raises :class:`SymbolicShapeError`.
    """
    import torch

    if not _FUNCTIONS:
        _FUNCTIONS.update(_torch_functions())
    if isinstance(expr, (torch.SymInt, torch.SymBool, torch.SymFloat)):
        expr = expr.node.expr
    elif isinstance(expr, (bool, int)):
        expr = sympy.Integer(int(expr))
    return _translate(sympy.sympify(expr), symbols)


def _translate(expr: Any, symbols: Mapping[sympy.Symbol, sympy.Expr]) -> sympy.Expr:
    if isinstance(expr, sympy.Symbol):
        if expr not in symbols:
            raise SymbolicShapeError(f"PyTorch symbol {expr} is not one of the dynamic sizes {dict(symbols)}")
        return symbols[expr]
    if expr.is_Atom:
        return expr
    args = [_translate(a, symbols) for a in expr.args]
    func = _FUNCTIONS.get(type(expr))
    if func is not None:
        return func(*args)
    if type(expr).__module__.startswith("sympy"):
        return expr.func(*args)
    raise SymbolicShapeError(f"no SymPy translation for PyTorch's {type(expr).__name__} in {expr}")


def canonical_floors(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every rounding written as one canonical ``floor``.

    ``ceiling(p/q) = floor((p + q - 1)/q)`` for integer ``p`` (else ``-floor(-x)``);
    ``Mod(a, b) = a - b floor(a/b)``; nested floors are
    flattened with ``floor((floor(u) + m)/n) = floor((u + m)/n)`` (integer ``m``, positive
    integer ``n``; Graham, Knuth, Patashnik, *Concrete Mathematics*, eq. 3.11); the
    constant of every floor's argument is brought into ``[0, 1)`` with
    ``floor(x + k) = floor(x) + k``. Equal floors then compare equal structurally.
    """
    expr = sympy.sympify(expr)
    if expr.is_Atom:
        return expr
    args = [canonical_floors(a) for a in expr.args]
    if isinstance(expr, sympy.floor):
        return _canonical_floor(args[0])
    if isinstance(expr, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(args[0]))
        if den.is_Integer and den > 0 and num.is_integer:
            return _canonical_floor((num + den - 1) / den)
        return -_canonical_floor(-args[0])
    if isinstance(expr, sympy.Mod):
        return args[0] - args[1] * _canonical_floor(args[0] / args[1])
    return expr.func(*args)


def _canonical_floor(arg: sympy.Expr) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(arg))
    if not (den.is_Integer and den > 0):
        return sympy.floor(arg)
    num = sympy.expand(num)
    flattened = True
    while flattened:
        flattened = False
        for term in sympy.Add.make_args(num):
            rest = num - term
            if isinstance(term, sympy.floor) and rest.is_integer:
                inner_num, inner_den = sympy.fraction(sympy.together(term.args[0]))
                if inner_den.is_Integer and inner_den > 0:
                    num, den = sympy.expand(rest * inner_den + inner_num), den * inner_den
                    flattened = True
                    break
    arg = sympy.expand(num / den)
    constant = arg.as_coeff_Add()[0]
    shift = sympy.floor(constant)
    return sympy.floor(sympy.expand(arg - shift)) + shift


def canonical_symbols(env: Any, x: Any, dims: Mapping[str, tuple[int, sympy.Symbol]] | None = None
                      ) -> dict[sympy.Symbol, sympy.Symbol]:
    """PyTorch's symbol of each input dimension of ``x`` -> ``B``/``H``/``W`` (by the dimension's source)."""
    import torch

    by_index = {index: canonical for index, canonical in (dims or DIMS).values()}
    renames: dict[sympy.Symbol, sympy.Symbol] = {}
    for sym, sources in env.var_to_sources.items():
        for source in sources:
            index = getattr(source, "idx", None)
            if index in by_index:
                renames[sym] = by_index[index]
    for index, canonical in by_index.items():  # also through the input's own SymInts
        size = x.shape[index]
        if isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
            renames.setdefault(size.node.expr, canonical)
    return renames


__all__ = ["DIMS", "SymbolicShapeError", "to_sympy", "canonical_symbols", "canonical_floors"]
