"""Inverse memory budgets: the largest batch, or the largest square image, that fits.

The peak memory of a training step (:func:`costmodel.memory.footprint.training_memory`) is the
weights, optimizer state and inputs plus the largest of a few candidate peaks, each a
polynomial in the batch ``B`` (linear for a fixed image size) or the image side ``R``.
The peak grows with both, so the largest value that fits a budget ``M`` is

.. math:: B^* = \\min_i \\max\\{B : c_i(B) \\le M\\}

solved per candidate from its closed form (for a linear candidate
``a + b B <= M``: ``B <= floor((M - a) / b)``; otherwise from the real roots of
``c_i - M``), then checked exactly: the answer uses at most ``M`` and one step more uses
more. When even the smallest value does not fit, the answer says so and by how much.

Examples
--------
>>> from costmodel.models.presets import get_preset
>>> fit = largest_batch(get_preset("resnet50"), parse_budget("16 GiB"), optimizer="adam")
>>> fit.value, fit.memory <= fit.budget < fit.next_memory
(194, True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from costmodel import display
from costmodel.core.checks import MAX_SIZE
from costmodel.core.errors import InvalidConfigError
from costmodel.core.quantities import parse_quantity
from costmodel.core.symbols import B, R
from costmodel.memory.footprint import TrainingMemory, training_memory
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.base import ArchConfig

#: the bound of every search (10**30, the largest size a config takes): an answer beyond it is
#: reported as "more than MAX_SEARCH", never as MAX_SEARCH itself
MAX_SEARCH = MAX_SIZE
#: kept for compatibility: the largest batch searched (now the same bound as every search)
MAX_BATCH = MAX_SEARCH


def parse_budget(text: Any) -> int:
    """A memory budget in bytes from text with a unit (``"80GiB"``, ``"1.5 TB"``), by the safe parser.

    :func:`costmodel.core.quantities.parse_quantity` accepts numbers, units, ``*`` and
    ``/`` only (``"9**9**9 B"`` is refused at once). A number without a unit, a unit that
    is not an amount of memory, and a budget that is not positive are errors naming the value.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        raise InvalidConfigError("memory", text, "needs a unit, e.g. 80GiB or 16GB")
    try:
        quantity = parse_quantity("memory", text if isinstance(text, str) else str(text))
    except InvalidConfigError as exc:
        raise InvalidConfigError("memory", text, f"is not a memory size (e.g. 80GiB, 16 GB, 512MiB): "
                                                 f"{exc.reason}") from None
    if quantity.unitless:
        raise InvalidConfigError("memory", text, "needs a unit, e.g. 80GiB or 16GB")
    if not quantity.check("[information]"):  # costmodel.core.units gives bytes their own dimension
        raise InvalidConfigError("memory", text, f"is in {quantity.units}, not an amount of memory (bytes)")
    value = quantity.to("byte").magnitude
    if not value > 0:
        raise InvalidConfigError("memory", text, "must be positive")
    if not value >= 1:
        raise InvalidConfigError("memory", text, "is less than one byte")
    return int(value)


def _gib(n: int | None) -> str:
    """Bytes in GiB with three decimals, for :meth:`Fit.message` (``?`` for an unknown size)."""
    return "? GiB" if n is None else f"{n / 2**30:.3f} GiB"


@dataclass(frozen=True)
class Fit(display.Displayable):
    """The answer to "what is the largest ``field`` that fits ``budget`` bytes?".

    Attributes
    ----------
    field : {"batch", "image_size"}
    value : int or None
        The largest value that fits, None when even ``smallest`` does not.
    memory : int or None
        Peak bytes at ``value``.
    next_value, next_memory : int
        The next value (one step more) and its peak bytes, more than ``budget``.
    smallest, smallest_memory : int
        The smallest value tried and its peak bytes.
    budget : int
    step : int
        Values are multiples of ``step`` (the patch size of a ViT, 32 for a ResNet, ...).
    """

    field: str
    value: int | None
    memory: int | None
    next_value: int
    next_memory: int
    smallest: int
    smallest_memory: int
    budget: int
    step: int
    exceeds: int | None = None

    @property
    def fits(self) -> bool:
        return self.value is not None

    def message(self) -> str:
        """One sentence for the command line."""
        if self.exceeds is not None:
            return (f"the largest {self.field} that fits {_gib(self.budget)} is more than {self.exceeds:,} "
                    f"(the search bound): {self.exceeds:,} needs only {_gib(self.smallest_memory)}")
        if self.value is None:
            return (f"nothing fits: {self.field} {self.smallest} already needs {_gib(self.smallest_memory)} "
                    f"({self.smallest_memory:,} bytes), more than the budget of {_gib(self.budget)} "
                    f"({self.budget:,} bytes)")
        return (f"largest {self.field} that fits {_gib(self.budget)}: {self.value} "
                f"(peak {_gib(self.memory)} = {self.memory:,} bytes; {self.next_value} would need "
                f"{_gib(self.next_memory)})")

    def _display_tables(self) -> tuple[display.Table, ...]:
        budget = display.format_value(self.budget, "byte")
        shown = (f"more than {self.exceeds}" if self.exceeds is not None
                 else "none fits" if self.value is None else self.value)
        rows = [display.row(f"largest {self.field}", shown)]
        if self.value is not None:
            rows.append(display.row(f"peak at {self.value}", self.memory, "byte"))
        rows += [display.row(f"peak at {self.next_value}", self.next_memory, "byte"),
                 display.row("budget", self.budget, "byte")]
        notes = (f"values are multiples of {self.step}",) if self.step != 1 else ()
        return (display.Table(f"Fit: largest {self.field} within {budget}", tuple(rows), notes=notes),)


def _solve(candidates: list[sympy.Expr], symbol: sympy.Symbol, budget: int, step: int) -> int | None:
    """Largest multiple of ``step`` (>= step) with every candidate <= budget, from the closed forms."""
    bound: float = math.inf
    for expr in candidates:
        poly = sympy.Poly(sympy.expand(expr), symbol) if sympy.expand(expr).is_polynomial(symbol) else None
        if poly is None or poly.degree() < 1:
            continue
        if poly.degree() == 1:
            slope, intercept = (sympy.Rational(c) for c in poly.all_coeffs())
            bound = min(bound, float((budget - intercept) / slope))
            continue
        roots = [r for r in sympy.Poly(poly - budget, symbol).real_roots() if r > 0]
        bound = min(bound, float(max(roots)) if roots else 0.0)
    if bound == math.inf:
        return None
    return int(math.floor(bound / step)) * step if bound >= step else 0


class _Exceeds(Exception):
    """The search passed its bound: every value up to it fits."""


def _search(memory_at: Callable[[int], int], budget: int, step: int, guess: int | None, limit: int) -> int | None:
    """Largest multiple ``v`` of ``step`` with ``memory_at(v) <= budget`` (memory grows with ``v``).

    Starts from the ``guess`` solved from the closed forms, brackets the answer by halving
    (the guess was too high) or doubling (too low) with no cap but ``limit``, then bisects;
    exact evaluations throughout (normally two: the guess fits, one step more does not).
    None when even ``step`` does not fit; :class:`_Exceeds` when ``limit`` still fits.
    """
    if memory_at(step) > budget:
        return None
    top = limit // step * step
    low = max(step, min(guess or step, top) // step * step)
    while low > step and memory_at(low) > budget:  # the guess was too high
        low = max(step, low // 2 // step * step)
    high = low + step
    while memory_at(high) <= budget:  # too low: double until it does not fit
        if high >= top:
            raise _Exceeds
        low, high = high, min(top, (2 * high) // step * step)
    while high - low > step:  # low fits, high does not
        mid = (low + high) // 2 // step * step
        low, high = (mid, high) if memory_at(mid) <= budget else (low, mid)
    return low


def _found(field: str, search: Callable[[], int | None], peak_at: Callable[[int], int], budget: int, step: int,
           limit: int) -> Fit:
    try:
        value = search()
    except _Exceeds:
        top = limit // step * step
        return Fit(field=field, value=None, memory=None, next_value=top + step, next_memory=0, smallest=top,
                   smallest_memory=peak_at(top), budget=budget, step=step, exceeds=top)
    return _fit(field, value, peak_at, budget, step)


def largest_batch(config: ArchConfig, budget: int, *, optimizer: str = "adam", dtype: str = "float32",
                  checkpoint: bool = False) -> Fit:
    """The largest batch whose training step fits ``budget`` bytes (see the module docstring)."""
    budget = _budget(budget)
    _numeric(config)
    memory = training_memory(config, batch=B, optimizer=optimizer, dtype=dtype, checkpoint=checkpoint)
    peak_at = _evaluator(memory, B)
    guess = _solve(_candidates(memory), B, budget, 1)
    return _found("batch", lambda: _search(peak_at, budget, 1, guess, MAX_SEARCH), peak_at, budget, 1, MAX_SEARCH)


def resolution_step(config: ArchConfig) -> int:
    """The image sides for which a config is valid and its closed form exact are multiples of this:
    the step a family states itself (``image_step``: Swin, EfficientNet, MobileNet, RegNet, a
    traced model), the patch size of a ViT, the total stride of a ResNet (32) or ConvNeXt
    (``4 * 2**(stages - 1)``), the pools and strides of a ConvNet; 1 otherwise."""
    own = getattr(config, "image_step", None)
    if own is not None:
        return int(own)
    if isinstance(config, ViTConfig):
        return int(config.patch_size)
    if isinstance(config, ResNetConfig):
        return int(4 * 2 ** (config.num_stages - 1))
    if isinstance(config, ConvNeXtConfig):
        return int(4 * 2 ** (config.stages - 1))
    if isinstance(config, ConvNetConfig):
        layers = len(config.channels)
        return int(int(config.stride) ** layers * (2**layers if config.pool != "none" else 1))
    return 1


def largest_resolution(config: ArchConfig, budget: int, *, batch: int = 1, optimizer: str = "adam",
                       dtype: str = "float32", checkpoint: bool = False, limit: int = MAX_SEARCH) -> Fit:
    """The largest square image side ``R`` (a multiple of :func:`resolution_step`) whose training step
    at ``batch`` fits ``budget`` bytes; the answer's memory is that of the integer config itself.

    No cap below ``limit`` (default 10**30): an answer beyond it is reported as such
    (:attr:`Fit.exceeds`), never as ``limit``."""
    budget = _budget(budget)
    _numeric(config, searched="image_size")
    step = resolution_step(config)
    symbolic = training_memory(config.replace(image_size=R), batch=batch, optimizer=optimizer, dtype=dtype,
                               checkpoint=checkpoint, divisible=True)
    guess = _solve(_candidates(symbolic), R, budget, step)

    def peak_at(side: int) -> int:  # the integer config: exact, floors and all
        try:
            sized = config.replace(image_size=side)
            return training_memory(sized, batch=batch, optimizer=optimizer, dtype=dtype,
                                   checkpoint=checkpoint).evaluate().peak
        except InvalidConfigError:  # too small for the network's windows: treat as not fitting
            return budget + 1 if side <= step else 0

    if isinstance(limit, bool) or not isinstance(limit, int) or not step <= limit <= MAX_SEARCH:
        raise InvalidConfigError("limit", limit, f"must be an integer between {step} and 10**30")
    return _found("image_size", lambda: _search(peak_at, budget, step, guess, limit), peak_at, budget, step, limit)


def _numeric(config: ArchConfig, searched: str = "") -> None:
    """Refuse a config with a symbolic size: a search needs every other size to be a number."""
    if not isinstance(config, ArchConfig) and not hasattr(config, "model_cost"):  # a config, or a traced model
        raise InvalidConfigError("config", config, "must be a model config (ViTConfig, ResNetConfig, ...) or a "
                                                   "traced model")
    for name in config.field_names():
        value = getattr(config, name)
        if name == searched:
            continue
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, sympy.Basic) and v.free_symbols:
                raise InvalidConfigError(name, value, "must be a number to search a memory budget "
                                                      "(symbolic sizes have no single footprint)")


def _budget(budget: Any) -> int:
    return parse_budget(budget) if isinstance(budget, str) else _positive(budget)


def _positive(budget: Any) -> int:
    """A budget in bytes: any integer type (NumPy's too), positive."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget <= 0:
        raise InvalidConfigError("memory", budget, "must be a positive number of bytes (or text with a unit)")
    return int(budget)


def _candidates(memory: TrainingMemory) -> list[sympy.Expr]:
    return [memory.persistent + q.total for q in memory.backward_peaks] + [memory.persistent + memory.step_peak]


def _evaluator(memory: TrainingMemory, symbol: sympy.Symbol) -> Callable[[int], int]:
    """Exact integer peak at a value of ``symbol`` (the candidates as polynomials, evaluated exactly)."""
    polys = [sympy.Poly(sympy.expand(e), symbol) for e in _candidates(memory)]

    def peak_at(value: int) -> int:
        return int(max(p.eval(value) for p in polys))

    return peak_at


def _fit(field: str, value: int | None, peak_at: Callable[[int], int], budget: int, step: int) -> Fit:
    smallest_memory = peak_at(step)
    if value is None:
        return Fit(field=field, value=None, memory=None, next_value=step, next_memory=smallest_memory,
                   smallest=step, smallest_memory=smallest_memory, budget=budget, step=step)
    return Fit(field=field, value=value, memory=peak_at(value), next_value=value + step,
               next_memory=peak_at(value + step), smallest=step, smallest_memory=smallest_memory,
               budget=budget, step=step)


__all__ = ["parse_budget", "largest_batch", "largest_resolution", "resolution_step", "Fit", "MAX_BATCH", "MAX_SEARCH"]
