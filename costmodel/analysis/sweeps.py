"""Vectorised sweeps: cost metrics over numpy arrays of sizes, through compiled closed forms.

``sweep(model, batch=..., **{field: array})`` makes every array-valued field a SymPy
symbol, builds the model's exact metrics once as expressions in those symbols (with
floors where strides need not divide: exact at every integer size), compiles each with
``lambdify`` (common subexpressions shared, one compiled function cached per
expression) and evaluates it on the broadcast arrays in one numpy call.

Floors of the exact forms are rewritten as the floor of an integer numerator over an
integer denominator, which is exact on integer-valued floats below ``2**53`` (see
:class:`_FloorDiv`), so results equal the exact integer counts as long as they stay below
``2**53`` (about 9.0e15; beyond that they are the nearest float). Integer-valued metrics
are rounded to integers.

Examples
--------
>>> import numpy as np
>>> from costmodel.analysis.sweeps import sweep
>>> out = sweep("resnet50", batch=np.array([1, 8]), image_size=224)
>>> out["forward_flops"].tolist(), out["params"].tolist()
([8178368512.0, 65426948096.0], [25557032.0, 25557032.0])
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import sympy

from costmodel.analysis.metrics import available, cost_of, get_metric, metric_expression
from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.numeric import numpy_function
from costmodel.core.validity import check_arrays
from costmodel.models import FAMILIES, ArchConfig, ViTConfig
from costmodel.models.presets import PRESETS, get_preset

#: for each family, (field, divisor field) pairs that every swept point must satisfy (kept for reference:
#: the points are checked against the config's validity conditions, which hold these rules and every other)
DIVISIBILITY: dict[type, tuple[tuple[str, str], ...]] = {
    ViTConfig: (("image_size", "patch_size"), ("width", "heads")),
}

#: the metrics returned by default, when available
DEFAULT_METRICS = ("params", "forward_flops", "backward_flops", "training_flops", "peak_training_bytes")


class _FloorDiv(sympy.Function):  # type: ignore[misc]  # SymPy is untyped: its Function is Any to mypy
    """``floor(n / q)`` for an integer-valued ``n`` and a positive integer ``q``.

    Printed as ``numpy.floor(n / q)``: for integers ``|n| < 2**53`` the correctly rounded
    quotient is within ``|n / q| 2**-53 < 1 / q`` of the true one, less than the distance
    from a non-integer ``n / q`` to the next integer, so the floor is exact (and 7x
    faster than ``numpy.floor_divide`` on floats).
    """

    def _numpycode(self, printer: Any) -> str:
        n, q = (printer._print(a) for a in self.args)
        return f"numpy.floor(({n}) / {q})"


def _floor_to_div(arg: sympy.Expr, ceiling: bool = False) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(arg))
    if not (den.is_Integer and den > 0):
        return sympy.ceiling(arg) if ceiling else sympy.floor(arg)
    num = sympy.expand(num)
    return -_FloorDiv(-num, den) if ceiling else _FloorDiv(num, den)


def exact_numpy_form(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every ``floor(n / q)`` and ``ceiling(n / q)`` made an exact floor division."""
    expr = expr.replace(lambda e: isinstance(e, sympy.floor), lambda e: _floor_to_div(e.args[0]))
    return expr.replace(lambda e: isinstance(e, sympy.ceiling), lambda e: _floor_to_div(e.args[0], True))


#: a Max/Min with at least this many arguments is evaluated as one matrix product
STACKED_EXTREMUM = 4
_CHUNK = 1 << 10  # small enough for BLAS to stay single-threaded: steadier and faster here


class _Envelope:
    """``Max`` (or ``Min``) of affine combinations of shared terms, as ``max(C @ terms + c)``.

    Memory peaks are maxima of tens of candidates built from the same few terms; one
    matrix product per chunk of points replaces tens of separate array expressions.
    """

    def __init__(self, extremum: sympy.Expr) -> None:
        rows = [sympy.Add.make_args(a) for a in extremum.args]  # any affine split is exact
        monomials: dict[sympy.Expr, int] = {}
        for terms in rows:
            for term in terms:
                mono = term.as_coeff_Mul()[1]
                if mono != 1:
                    monomials.setdefault(mono, len(monomials))
        self.monomials = list(monomials)
        self.coeffs = np.zeros((len(rows), len(monomials)))
        self.const = np.zeros(len(rows))
        for r, terms in enumerate(rows):
            for term in terms:
                coeff, mono = term.as_coeff_Mul()
                if mono == 1:
                    self.const[r] += float(coeff)
                else:
                    self.coeffs[r, monomials[mono]] += float(coeff)
        self.pick = np.max if isinstance(extremum, sympy.Max) else np.min

    def __call__(self, terms: list[np.ndarray]) -> np.ndarray:
        flat = np.stack([t.reshape(-1) for t in terms]) if terms else np.zeros((0, 1))
        out = np.empty(flat.shape[1])
        for start in range(0, flat.shape[1], _CHUNK):
            part = flat[:, start:start + _CHUNK]
            out[start:start + part.shape[1]] = self.pick(self.coeffs @ part + self.const[:, None], axis=0)
        return out.reshape(terms[0].shape) if terms else out


def _stackable(e: sympy.Expr) -> bool:
    return (isinstance(e, (sympy.Max, sympy.Min)) and len(e.args) >= STACKED_EXTREMUM
            and not any(a.has(sympy.Max, sympy.Min) for a in e.args))


class _Compiled:
    """Several expressions as one numpy function returning a list (common subexpressions shared).

    Big extrema go through :class:`_Envelope` (their terms computed by a first compiled
    function), the rest through one ``lambdify`` with ``cse=True``.
    """

    def __init__(self, exprs: tuple[sympy.Expr, ...], args: tuple[sympy.Symbol, ...]) -> None:
        big = sorted({e for x in exprs for e in x.atoms(sympy.Max, sympy.Min) if _stackable(e)}, key=str)
        slots = [sympy.Dummy(f"extremum{i}") for i in range(len(big))]
        table = dict(zip(big, slots, strict=True))
        self.envelopes = [_Envelope(e) for e in big]
        monomials = [m for env in self.envelopes for m in env.monomials]
        self.terms = numpy_function(args, [exact_numpy_form(m) for m in monomials])
        self.outer = numpy_function((*args, *slots), [exact_numpy_form(e.xreplace(table)) for e in exprs])

    def __call__(self, *inputs: np.ndarray) -> list[Any]:
        values: list[np.ndarray] = []
        if self.envelopes:
            shape = np.broadcast_shapes(*(np.shape(x) for x in inputs))
            terms = [np.broadcast_to(np.asarray(t, dtype=float), shape) for t in self.terms(*inputs)]
            at = 0
            for env in self.envelopes:
                values.append(env(terms[at:at + len(env.monomials)]))
                at += len(env.monomials)
        return list(self.outer(*inputs, *values))


@functools.lru_cache(maxsize=256)
def compiled(exprs: tuple[sympy.Expr, ...], args: tuple[sympy.Symbol, ...]) -> Any:
    """One numpy function of ``args`` returning the list of ``exprs`` (cached per expressions and arguments)."""
    return _Compiled(exprs, args)


@functools.lru_cache(maxsize=256)
def _expressions(config: ArchConfig, names: tuple[str, ...], batch: Any, convention: Convention
                 ) -> tuple[sympy.Expr, ...]:
    """The exact expressions of ``names`` for the symbolic ``config`` (cached: a repeated sweep builds nothing)."""
    return tuple(metric_expression(config, name, batch=batch, convention=convention) for name in names)


def _resolve(model: str | ArchConfig) -> ArchConfig:
    if isinstance(model, ArchConfig):
        return model
    if callable(getattr(model, "model_cost", None)):  # a traced model (costmodel.tracing) stands for a config
        return cast(ArchConfig, model)
    if isinstance(model, str) and model in FAMILIES and model not in PRESETS:
        return FAMILIES[model]()
    return get_preset(model)


def _as_sizes(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise InvalidConfigError(name, value, "must be positive integers (a number or a numeric array)")
    if arr.size == 0:
        raise InvalidConfigError(name, value, "is empty")
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.floor(arr)).all()):
        raise InvalidConfigError(name, value, "must be integer-valued")
    if (arr <= 0).any():
        bad = arr[arr <= 0].flat[0]
        raise InvalidConfigError(name, bad.item(), "must be a positive integer")
    return arr


def _check_points(config: ArchConfig, arrays: Mapping[str, np.ndarray], fixed: Mapping[str, int]) -> None:
    """Full validation of the integer config at the extreme points (every point: :func:`_check_conditions`)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    for field, arr in arrays.items():
        if field == "batch":
            continue
        for pick in (np.argmin, np.argmax):
            at = np.unravel_index(pick(np.broadcast_to(arr, shape)), shape)
            point = {f: int(np.broadcast_to(a, shape)[at]) for f, a in arrays.items() if f != "batch"}
            cfg = config.replace(**{**fixed, **point})
            if field == "image_size" and pick is np.argmin:
                cost_of(cfg, 1, FLOP_COUNTER, False)  # some families reject too small images only here


#: tabulate when the distinct points number at most this fraction of the points swept
TABULATE_FRACTION = 1 / 8
_TABULATE_MIN = 4096


def _tabulated(function: Any, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
    """``function`` at every point of ``inputs`` by table look-up, or None where that does not pay.

    A sweep of a million configs over two fields often holds a few thousand distinct
    points (image sides up to 1024 px, depths up to 24). When all inputs have one shape
    and the box of their integer ranges has at most :data:`TABULATE_FRACTION` of the
    points, ``function`` is evaluated once on that box (an open grid) and each point
    reads its values from it: the same compiled function at the same integer values, so
    the result is identical, for a few array operations per metric.
    """
    shapes = {x.shape for x in inputs}
    if len(shapes) != 1 or inputs[0].size < _TABULATE_MIN:
        return None
    lows = [int(x.min()) for x in inputs]
    spans = [int(x.max()) - lo + 1 for x, lo in zip(inputs, lows, strict=True)]
    if float(np.prod(np.array(spans, dtype=float))) > TABULATE_FRACTION * inputs[0].size:
        return None
    axes = [np.arange(lo, lo + span, dtype=np.float64).reshape([span if j == i else 1 for j in range(len(spans))])
            for i, (lo, span) in enumerate(zip(lows, spans, strict=True))]
    with np.errstate(all="ignore"):  # box points between the swept ones may be invalid configs: never read
        tables = function(*axes)
    index = tuple((x - lo).astype(np.intp) for x, lo in zip(inputs, lows, strict=True))
    return [np.broadcast_to(np.asarray(t, dtype=np.float64), spans)[index] for t in tables]


def _check_symbols(config: ArchConfig, exprs: tuple[sympy.Expr, ...], args: tuple[sympy.Symbol, ...]) -> None:
    """Refuse a config whose fields hold symbols that are not swept (they would have no value)."""
    free = set().union(*(e.free_symbols for e in exprs)) - set(args)
    if not free:
        return
    for name in config.field_names():
        value = getattr(config, name)
        symbols = set().union(*(sympy.sympify(v).free_symbols for v in (value if isinstance(value, tuple)
                                                                         else (value,))
                                if isinstance(v, sympy.Basic)))
        if symbols & free:
            raise InvalidConfigError(name, value, "is symbolic: give it a number, or an array of numbers to sweep it")
    raise InvalidConfigError("batch", sorted(map(str, free)), "is symbolic: give it a number or an array")


def sweep(model: str | ArchConfig, *, batch: Any = 1, metrics: tuple[str, ...] | list[str] | None = None,
          convention: str | Convention = FLOP_COUNTER, **fields: Any) -> dict[str, np.ndarray]:
    """Cost metrics of ``model`` over arrays of sizes, broadcast together.

    Parameters
    ----------
    model : str or ArchConfig
        A preset name (``"resnet50"``), a family name (``"vit"``: its default config) or
        a config.
    batch : int or array of int
    metrics : names, optional
        Default: every one of :data:`DEFAULT_METRICS` that is available.
    convention : str or Convention
    **fields : int or array of int
        Scalar config fields (``image_size``, ``width``, ``depth``, ...); arrays are
        broadcast with each other and with ``batch``.

    Returns
    -------
    dict
        Metric name -> float array of the broadcast shape (exact integers below 2**53).

    Raises
    ------
    InvalidConfigError
        A field the config lacks or that holds a tuple, a non-positive or fractional
        size, a point that breaks a config rule (a patch that does not divide the image).
    UnknownPresetError
        An unknown model or metric.
    """
    config = _resolve(model)
    convention = get_convention(convention)
    names = list(metrics) if metrics is not None else [m for m in DEFAULT_METRICS if m in available()]
    for name in names:
        get_metric(name)
    arrays: dict[str, np.ndarray] = {}
    fixed: dict[str, int] = {}
    for name, value in {"batch": batch, **fields}.items():
        if name != "batch" and name not in config.field_names():
            config.replace(**{name: value})  # raises: no such field
        if name != "batch" and isinstance(getattr(config, name), tuple):
            raise InvalidConfigError(name, value, "is a tuple of sizes: only scalar fields can be swept")
        arr = _as_sizes(name, value)
        if arr.ndim == 0:
            fixed[name] = int(arr)
        else:
            arrays[name] = arr
    fixed_batch = fixed.pop("batch", None)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    except ValueError as exc:
        shapes = {f: a.shape for f, a in arrays.items()}
        raise InvalidConfigError("fields", shapes, "arrays do not broadcast together") from exc
    _check_points(config.replace(**fixed) if fixed else config, arrays, fixed)
    symbols = {f: sympy.Symbol(f, positive=True, integer=True) for f in arrays}
    sym_config = config.replace(**fixed, **{f: s for f, s in symbols.items() if f != "batch"})
    sym_batch = symbols.get("batch", fixed_batch)
    args = tuple(symbols.values())
    inputs = [arrays[f].astype(np.float64) for f in symbols]
    exprs = _expressions(sym_config, tuple(names), sym_batch, convention)
    _check_symbols(sym_config, exprs, args)
    # the config's rules (divisibility, window sizes, ...) at every point, vectorised
    check_arrays(cost_of(sym_config, sym_batch, convention, False).conditions, args, inputs,
                 values_checked=True)  # _as_sizes checked every value: positive, integer-valued
    out: dict[str, np.ndarray] = {}
    function = compiled(exprs, args)
    results = _tabulated(function, inputs)
    for name, values in zip(names, function(*inputs) if results is None else results, strict=True):
        values = np.asarray(values, dtype=np.float64)
        values = np.broadcast_to(values, shape).copy() if values.shape != shape else values
        out[name] = np.rint(values) if get_metric(name).integer else values
    return out


__all__ = ["sweep", "compiled", "exact_numpy_form", "DEFAULT_METRICS", "DIVISIBILITY", "TABULATE_FRACTION"]
