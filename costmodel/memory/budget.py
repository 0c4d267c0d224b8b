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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from costmodel import display
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, R
from costmodel.core.units import Quantity, ureg
from costmodel.memory.footprint import TrainingMemory, training_memory
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.base import ArchConfig

#: the batch tried at most (2**31 images): beyond it a budget is taken as unlimited
MAX_BATCH = 2**31


def parse_budget(text: Any) -> int:
    """A memory budget in bytes from text with a unit, as pint parses it (``"80GiB"``, ``"1.5 TB"``).

    A number without a unit, a unit that is not an amount of memory, and a budget that is
    not positive are errors naming the value.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        raise InvalidConfigError("memory", text, "needs a unit, e.g. 80GiB or 16GB")
    try:
        quantity: Quantity = ureg.Quantity(str(text).strip())
    except Exception as exc:  # pint raises several kinds for unparseable text
        raise InvalidConfigError("memory", text, "is not a memory size (e.g. 80GiB, 16 GB, 512MiB)") from exc
    if not isinstance(quantity, ureg.Quantity) or quantity.unitless:
        raise InvalidConfigError("memory", text, "needs a unit, e.g. 80GiB or 16GB")
    if not quantity.check("[information]"):  # costmodel.core.units gives bytes their own dimension
        raise InvalidConfigError("memory", text, f"is in {quantity.units}, not an amount of memory (bytes)")
    value = quantity.to("byte").magnitude
    if not value > 0:
        raise InvalidConfigError("memory", text, "must be positive")
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

    @property
    def fits(self) -> bool:
        return self.value is not None

    def message(self) -> str:
        """One sentence for the command line."""
        if self.value is None:
            return (f"nothing fits: {self.field} {self.smallest} already needs {_gib(self.smallest_memory)} "
                    f"({self.smallest_memory:,} bytes), more than the budget of {_gib(self.budget)} "
                    f"({self.budget:,} bytes)")
        return (f"largest {self.field} that fits {_gib(self.budget)}: {self.value} "
                f"(peak {_gib(self.memory)} = {self.memory:,} bytes; {self.next_value} would need "
                f"{_gib(self.next_memory)})")

    def _display_tables(self) -> tuple[display.Table, ...]:
        budget = display.format_value(self.budget, "byte")
        rows = [display.row(f"largest {self.field}", "none fits" if self.value is None else self.value)]
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


def _search(memory_at: Callable[[int], int], budget: int, step: int, guess: int | None, limit: int) -> int | None:
    """Largest multiple ``v`` of ``step`` with ``memory_at(v) <= budget`` (memory grows with ``v``).

    Starts from the ``guess`` solved from the closed forms and corrects it with exact
    evaluations (normally two: the guess fits, one step more does not).
    """
    if memory_at(step) > budget:
        return None
    low = max(step, min(guess or step, limit) // step * step)
    while low > step and memory_at(low) > budget:  # the guess was too high
        low = max(step, low // 2 // step * step)
    high = low + step
    while high <= limit and memory_at(high) <= budget:  # too low: gallop up
        low, high = high, (2 * high) // step * step
    while high - low > step:  # low fits, high does not
        mid = (low + high) // 2 // step * step
        low, high = (mid, high) if memory_at(mid) <= budget else (low, mid)
    return low


def largest_batch(config: ArchConfig, budget: int, *, optimizer: str = "adam", dtype: str = "float32",
                  checkpoint: bool = False) -> Fit:
    """The largest batch whose training step fits ``budget`` bytes (see the module docstring)."""
    budget = _budget(budget)
    memory = training_memory(config, batch=B, optimizer=optimizer, dtype=dtype, checkpoint=checkpoint)
    peak_at = _evaluator(memory, B)
    guess = _solve(_candidates(memory), B, budget, 1)
    return _fit("batch", _search(peak_at, budget, 1, guess, MAX_BATCH), peak_at, budget, 1)


def resolution_step(config: ArchConfig) -> int:
    """The image sides searched are multiples of this: the patch size of a ViT, the total stride of a
    ResNet (32) or ConvNeXt (``4 * 2**(stages - 1)``), the pools and strides of a ConvNet."""
    if isinstance(config, ViTConfig):
        return int(config.patch_size)
    if isinstance(config, ResNetConfig):
        return int(4 * 2 ** (config.num_stages - 1))
    if isinstance(config, ConvNeXtConfig):
        return int(4 * 2 ** (config.stages - 1))
    if isinstance(config, ConvNetConfig):
        layers = len(config.channels)
        return int(int(config.stride) ** layers * (2**layers if config.pool != "none" else 1))
    raise InvalidConfigError("config", type(config).__name__, "has no memory model")


def largest_resolution(config: ArchConfig, budget: int, *, batch: int = 1, optimizer: str = "adam",
                       dtype: str = "float32", checkpoint: bool = False, limit: int = 2**16) -> Fit:
    """The largest square image side ``R`` (a multiple of :func:`resolution_step`) whose training step
    at ``batch`` fits ``budget`` bytes; the answer's memory is that of the integer config itself."""
    budget = _budget(budget)
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

    return _fit("image_size", _search(peak_at, budget, step, guess, limit), peak_at, budget, step)


def _budget(budget: Any) -> int:
    return parse_budget(budget) if isinstance(budget, str) else _positive(budget)


def _positive(budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise InvalidConfigError("memory", budget, "must be a positive number of bytes (or text with a unit)")
    return budget


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


__all__ = ["parse_budget", "largest_batch", "largest_resolution", "resolution_step", "Fit", "MAX_BATCH"]
