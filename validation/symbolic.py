"""FLOPs counted by PyTorch with *symbolic* shapes, and proofs that they equal costmodel's.

:func:`symbolic_flops` builds the real module of a config inside a ``FakeTensorMode``
with a ``ShapeEnv`` and feeds it an image batch whose batch size, height and width are
symbolic. ``FlopCounterMode`` (through :func:`costmodel.validation.flops.count_flops`)
then returns ``torch.SymInt`` totals whose SymPy expressions are PyTorch's own closed
forms, in PyTorch's symbols (``s0``, ``s1``...) and functions (``FloorDiv``...). They are
translated to plain SymPy in costmodel's symbols ``B``, ``H``, ``W``
(:mod:`costmodel.core.symbols`) with ``floor``/``ceiling``/``Mod``.

:func:`prove_equal` shows that two such expressions are equal for all sizes: first
symbolically (floors brought to one canonical form, then the difference expanded to 0);
failing that, by checking every point of an integer grid. Both sides are
quasi-polynomials: for fixed residues of each size modulo the period ``N`` (lcm of the
floor denominators) they are polynomials of degree ``d`` in it, so agreement on ``d + 1``
consecutive periods of every size is a proof for all integers; :class:`Proof` says whether
the grid was that large (``complete``).

PyTorch assumes every symbolic size is at least 2 (0 and 1 are specialised) and records
*guards*, conditions its tracing relied on (``Ne(floor((H - 1)/4) + 1, 1)``: a feature map
is not 1 pixel wide; ``B < 16``: the CPU convolution backend and memory layout it picked).
The counts are PyTorch's trace only where the guards hold; :class:`SymbolicFlops` reports
them. None of those seen so far changes a FLOP formula (they choose layouts and kernels).

Example
-------
>>> fwd, bwd = symbolic_flops(config)            # doctest: +SKIP
>>> prove_equal(cost(config.replace(image_size=(H, W)), batch=B).forward_flops,
...             fwd, [B, H, W])                  # doctest: +SKIP
Proof(method='symbolic', points=0, complete=True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import sympy
import torch
from costmodel.validation.build import build
from costmodel.validation.flops import UncountedOpError, count_flops, count_params
from torch._dynamo.source import ConstantSource
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

from costmodel.core.errors import CostModelError, InvalidConfigError
from costmodel.models.base import ArchConfig
from costmodel.tracing.sympy_bridge import DIMS, SymbolicShapeError, canonical_floors, canonical_symbols, to_sympy

#: batch size PyTorch traces with (sizes 0 and 1 would be specialised)
DEFAULT_BATCH_HINT = 5


class ProofError(CostModelError, AssertionError):
    """Two expressions were shown to differ (the message gives a point where they do)."""


# -- measuring -------------------------------------------------------------------------
@dataclass(frozen=True)
class SymbolicFlops:
    """PyTorch's symbolic counts; unpacks as ``forward, backward = symbolic_flops(...)``.

    Attributes
    ----------
    forward, backward : SymPy expressions in ``B``, ``H``, ``W``
    params : int
        Trainable parameters (they do not depend on the input size).
    hints : dict
        The size each symbol was traced with, e.g. ``{B: 5, H: 67, W: 69}``.
    guards : tuple of SymPy relations
        Conditions PyTorch's trace relied on, in ``B``, ``H``, ``W``; the counts are
        PyTorch's where all hold (and every size is at least 2).
    """

    forward: sympy.Expr
    backward: sympy.Expr
    params: int
    hints: dict[sympy.Symbol, int] = field(default_factory=dict)
    guards: tuple[sympy.Basic, ...] = ()

    def __iter__(self) -> Iterator[sympy.Expr]:
        return iter((self.forward, self.backward))

    def guards_hold(self, **sizes: int) -> bool:
        """Whether every guard holds at the given sizes, e.g. ``guards_hold(B=2, H=32, W=32)``."""
        table = {s: sizes[s.name] for s in self.hints}
        return all(bool(g.subs(table)) for g in self.guards)


def default_hints(config: ArchConfig) -> dict[str, int]:
    """Trace sizes: batch 5 and the config's image size, widened by 7 (height) and 9 (width)
    pixels unless the config has a ``patch_size`` (then by one patch and two patches).

    Sizes must differ from one another and stay at least 2 in every feature map, else
    PyTorch specialises them (a size-1 map broadcasts).
    """
    height, width = (int(s) for s in config.image_hw)
    patch = getattr(config, "patch_size", None)
    if patch is not None:
        return {"batch": DEFAULT_BATCH_HINT, "height": height + int(patch), "width": width + 2 * int(patch)}
    return {"batch": DEFAULT_BATCH_HINT, "height": height + 7, "width": width + 9}


def symbolic_flops(config: ArchConfig, dynamic: Sequence[str] = ("batch", "height", "width"), *,
                   hints: Mapping[str, int] | None = None) -> SymbolicFlops:
    """FlopCounterMode's forward and backward FLOPs of ``config``'s module as SymPy expressions.

    Parameters
    ----------
    config : ArchConfig
        An integer config (its image size is the default trace size).
    dynamic : sequence of {"batch", "height", "width"}
        Input sizes made symbolic (``B``, ``H``, ``W``); the others are fixed by the config
        (batch 1).
    hints : mapping, optional
        Trace sizes by dimension name (default :func:`default_hints`).

    Raises
    ------
    SymbolicShapeError
        If PyTorch specialised a requested size to a constant (e.g. a ViT position
        embedding of fixed length fixes the image size), or produced an unknown function.
    """
    unknown = [d for d in dynamic if d not in DIMS]
    if unknown:
        raise InvalidConfigError("dynamic", tuple(dynamic), f"unknown dimensions {unknown} (known: {list(DIMS)})")
    sizes = {**default_hints(config), **(hints or {})}
    height, width = (int(s) for s in config.image_hw)
    shape = (sizes["batch"] if "batch" in dynamic else int((hints or {}).get("batch", 1)),
             int(config.in_channels),
             sizes["height"] if "height" in dynamic else height,
             sizes["width"] if "width" in dynamic else width)
    real = torch.zeros(shape)
    env = ShapeEnv(duck_shape=False)
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=False)
    kinds = [DimDynamic.STATIC] * 4
    for name in dynamic:
        kinds[DIMS[name][0]] = DimDynamic.DYNAMIC
    x = mode.from_tensor(real, source=ConstantSource("x"),
                         symbolic_context=StatelessSymbolicContext(dynamic_sizes=kinds))
    try:
        with mode:
            model = build(config)
            measured = count_flops(model, x)
            params = count_params(model)
    except UncountedOpError:
        raise
    except Exception as exc:  # PyTorch raises many kinds; name the case and keep the cause
        raise SymbolicShapeError(f"PyTorch could not trace {type(config).__name__} with symbolic "
                                 f"{list(dynamic)}: {exc}") from exc
    renames = canonical_symbols(env, x)
    specialised = [name for name in dynamic if not isinstance(x.shape[DIMS[name][0]], torch.SymInt)
                   or to_sympy(x.shape[DIMS[name][0]], renames).is_number]
    guards = tuple(to_sympy(g.expr, renames) for g in env.guards)
    if specialised:
        raise SymbolicShapeError(f"PyTorch specialised {specialised} to constants while tracing "
                                 f"{type(config).__name__} (guards: {', '.join(map(str, guards[:5]))}): "
                                 f"the count does not depend on them symbolically")
    hint_values = {DIMS[name][1]: sizes[name] for name in dynamic}
    return SymbolicFlops(forward=to_sympy(measured.forward, renames),
                         backward=to_sympy(measured.backward, renames),
                         params=int(params), hints=hint_values, guards=guards)


# -- proving two closed forms equal ----------------------------------------------------
@dataclass(frozen=True)
class Proof:
    """How :func:`prove_equal` showed two expressions equal.

    Attributes
    ----------
    method : {"symbolic", "exhaustive"}
        ``"symbolic"``: the canonical difference expands to 0 (an identity for all sizes).
        ``"exhaustive"``: equal at every point of the grid ``ranges``.
    points : int
        Grid points checked (0 for a symbolic proof).
    complete : bool
        True when the proof holds for all integer sizes: always for a symbolic proof; for
        an exhaustive one when the grid holds ``degree + 1`` points of every residue class
        modulo the floors' period, in every size (see the module docstring).
    ranges : tuple of (name, first, last)
        The grid, inclusive (empty for a symbolic proof).
    """

    method: str
    points: int = 0
    complete: bool = True
    ranges: tuple[tuple[str, int, int], ...] = ()


def _symbolic_zero(diff: sympy.Expr) -> bool:
    diff = sympy.expand(diff)
    if diff == 0:
        return True
    if sympy.count_ops(diff) <= 200:
        return sympy.simplify(diff) == 0
    return False


def _quasi_polynomial_shape(expr: sympy.Expr,
                            symbols: Sequence[sympy.Symbol]) -> dict[sympy.Symbol, tuple[int, int]] | None:
    """``{symbol: (period, degree)}`` if ``expr`` is a polynomial in the symbols and in floors
    ``floor(p / n)`` of integer polynomials ``p``; else None."""
    period = {s: 1 for s in symbols}
    weights: list[dict[sympy.Symbol, int]] = []
    dummies: dict[sympy.Basic, sympy.Symbol] = {}
    for i, atom in enumerate(sorted(expr.atoms(sympy.floor), key=sympy.default_sort_key)):
        num, den = sympy.fraction(sympy.together(atom.args[0]))
        if not den.is_Integer or num.has(sympy.floor) or not num.is_polynomial(*symbols):
            return None
        poly = sympy.Poly(num, *symbols)
        if not all(c.is_Integer for c in poly.coeffs()):
            return None
        for s in num.free_symbols & set(symbols):
            period[s] = math.lcm(period[s], int(abs(den)))
        weights.append({s: sympy.degree(num, s) for s in symbols})
        dummies[atom] = sympy.Dummy(f"t{i}")
    body = expr.xreplace(dummies)
    gens = list(symbols) + list(dummies.values())
    if body.free_symbols - set(gens) or not body.is_polynomial(*gens):
        return None
    monomials = sympy.Poly(body, *gens).monoms() if body != 0 else [(0,) * len(gens)]
    degree = {s: max(m[i] + sum(e * wt[s] for e, wt in zip(m[len(symbols):], weights, strict=False)) for m in monomials)
              for i, s in enumerate(symbols)}
    return {s: (period[s], int(degree[s])) for s in symbols}


def _compile(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Any:
    """``expr`` as an exact Python function (ints and Fractions) of arrays of the symbols."""
    names = {s: f"_v{i}" for i, s in enumerate(symbols)}
    replacements, (reduced,) = sympy.cse(expr, symbols=sympy.numbered_symbols("_x"))
    for s, _ in replacements:
        names[s] = s.name
    lines = [f"    {names[s]} = {_code(e, names)}" for s, e in replacements]
    source = f"def _f({', '.join(names[s] for s in symbols)}):\n" + "\n".join(lines) + \
             f"\n    return {_code(reduced, names)}\n"
    scope: dict[str, Any] = {"Fraction": __import__("fractions").Fraction, "_max": np.maximum, "_min": np.minimum}
    exec(compile(source, "<prove_equal>", "exec"), scope)  # noqa: S102 - generated from SymPy trees only
    return scope["_f"]


def _code(e: sympy.Basic, names: Mapping[sympy.Basic, str]) -> str:
    if e in names:
        return names[e]
    if e.is_Integer:
        return f"({int(e)})"
    if e.is_Rational:
        return f"Fraction({e.p}, {e.q})"
    if e.is_Add:
        return "(" + " + ".join(_code(a, names) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + " * ".join(_code(a, names) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer:
        power = f"({_code(e.base, names)}) ** {abs(int(e.exp))}"
        return f"({power})" if e.exp > 0 else f"(Fraction(1) / {power})"
    if isinstance(e, sympy.floor):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        if den.is_Integer and den > 0:
            return f"(({_code(sympy.expand(num), names)}) // {int(den)})"
        return f"(({_code(e.args[0], names)}) // 1)"
    if isinstance(e, (sympy.Max, sympy.Min)):
        fn = "_max" if isinstance(e, sympy.Max) else "_min"
        return reduce(lambda a, b: f"{fn}({a}, {b})", (_code(a, names) for a in e.args))
    raise ProofError(f"cannot evaluate {type(e).__name__} in {e} exactly")


def _default_range(symbol: sympy.Symbol, shape: tuple[int, int] | None) -> range:
    if shape is not None:
        period, degree = shape
        return range(1, 1 + max(period * (degree + 1), 8))
    return range(1, 9) if symbol.name == "B" else range(1, 97)


def _covers(values: Sequence[int], period: int, degree: int) -> bool:
    counts = np.bincount(np.asarray(values) % period, minlength=period)
    return bool(counts.min() >= degree + 1)


def prove_equal(predicted: Any, measured: Any, symbols: Iterable[sympy.Symbol],
                ranges: Mapping[sympy.Symbol, Iterable[int]] | None = None) -> Proof:
    """Show ``predicted == measured`` for all values of ``symbols``, or raise :class:`ProofError`.

    First symbolically (:func:`canonical_floors` on both, difference expanded to 0); if
    that is undecided, by exact evaluation (Python integers and fractions) at every point
    of the grid ``ranges`` (default: sizes from 1, long enough to be ``complete``, see
    :class:`Proof`). A point where they differ is named in the error.
    """
    symbols = list(symbols)
    pred, meas = canonical_floors(predicted), canonical_floors(measured)
    extra = (pred.free_symbols | meas.free_symbols) - set(symbols)
    if extra:
        raise ProofError(f"the expressions depend on {sorted(map(str, extra))}, which are not among "
                         f"the proof's symbols {symbols}")
    if _symbolic_zero(pred - meas):
        return Proof(method="symbolic")
    shape = _quasi_polynomial_shape(pred - meas, symbols)
    grid = {s: sorted({int(x) for x in ranges[s]}) if ranges and s in ranges
            else list(_default_range(s, shape[s] if shape else None)) for s in symbols}
    axes = [np.asarray(list(grid[s]), dtype=object).reshape([-1 if j == i else 1 for j in range(len(symbols))])
            for i, s in enumerate(symbols)]
    diff = np.asarray(_compile(pred, symbols)(*axes) - _compile(meas, symbols)(*axes), dtype=object)
    diff = np.broadcast_to(diff, tuple(len(grid[s]) for s in symbols))
    bad = np.argwhere(diff != 0)
    if len(bad):
        point = {str(s): int(grid[s][i]) for s, i in zip(symbols, bad[0], strict=True)}
        table = dict(zip(symbols, point.values(), strict=True))
        raise ProofError(f"not equal at {point}: predicted {sympy.sympify(predicted).subs(table)} != measured "
                         f"{sympy.sympify(measured).subs(table)} ({len(bad)} of {diff.size} grid points differ)")
    complete = shape is not None and all(_covers(grid[s], *shape[s]) for s in symbols)
    return Proof(method="exhaustive", points=int(diff.size), complete=complete,
                 ranges=tuple((str(s), int(min(grid[s])), int(max(grid[s]))) for s in symbols))


__all__ = ["symbolic_flops", "SymbolicFlops", "default_hints", "to_sympy", "canonical_floors",
           "prove_equal", "Proof", "ProofError", "SymbolicShapeError", "DIMS"]
