"""Compare models over one config field: exact curves, a table, and the crossovers.

The field (``image_size``, ``width``, ``depth``, ``batch``, ...) is made a SymPy symbol
in every config, each model's metric is built once as a closed form (``divisible=True``:
clean polynomials where strides divide the sizes), and the crossovers of every pair are
found exactly (:func:`costmodel.analysis.crossover.crossovers`) and checked by exact integer
evaluation of the real configs past each root.

Examples
--------
>>> from costmodel.analysis.comparison import compare
>>> result = compare(["resnet50", "vit_ti_16"], over="image_size", lo=64, hi=2048)
>>> [(c.first_valid, result.names[int(c.cheaper_after == "b")]) for c in result.crossovers]
[(928, 'resnet50')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import numpy as np
import sympy

from costmodel import display
from costmodel.analysis.crossover import Crossovers, crossovers
from costmodel.analysis.metrics import get_metric, metric_expression
from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.units import Quantity, ureg
from costmodel.memory.budget import resolution_step
from costmodel.models import ArchConfig, ViTConfig
from costmodel.models.presets import get_preset


def metric_unit(metric: str) -> str:
    """The unit of a metric (``flop``, ``param``, ``byte``)."""
    return get_metric(metric).unit


def valid_step(config: ArchConfig, field: str) -> int:
    """The spacing of values of ``field`` for which the config is valid and its closed form exact.

    ``image_size``: :func:`costmodel.memory.budget.resolution_step` (the patch size of a ViT,
    the total stride of a ResNet or ConvNeXt, a family's own ``image_step``, ...). ``width``
    of a ViT: the number of heads. Otherwise 1.
    """
    if field == "image_size":
        return resolution_step(config)
    if field == "width" and isinstance(config, ViTConfig):
        return int(config.heads)
    return 1


def resolve(model: str | ArchConfig) -> tuple[str, ArchConfig]:
    """``(name, config)`` of a preset name or a config."""
    if isinstance(model, ArchConfig):
        return type(model).__name__, model
    if callable(getattr(model, "model_cost", None)):  # a traced model (costmodel.tracing) stands for a config
        traced = cast(ArchConfig, model)  # duck-typed: model_cost, replace, field_names, image_size
        return str(getattr(model, "name", type(model).__name__)), traced
    return model, get_preset(model)


def field_symbol(over: str) -> sympy.Symbol:
    """The positive integer symbol standing for field ``over``."""
    return sympy.Symbol(over, positive=True, integer=True)


def symbolic_metric(config: ArchConfig, over: str, metric: str, *, batch: Any = 1,
                    convention: Convention = FLOP_COUNTER, divisible: bool = True) -> sympy.Expr:
    """``metric`` of ``config`` as an expression in the field ``over`` (a symbol named after it)."""
    symbol = field_symbol(over)
    if over == "batch":
        return sympy.expand(metric_expression(config, metric, batch=symbol, convention=convention))
    if over not in config.field_names():
        raise InvalidConfigError("over", over, f"{type(config).__name__} has no such field "
                                               f"(fields: {', '.join(config.field_names())})")
    if isinstance(getattr(config, over), tuple):
        raise InvalidConfigError("over", over, "is a tuple of sizes; compare over one scalar field")
    expr = metric_expression(config.replace(**{over: symbol}), metric, batch=batch,
                             convention=convention, divisible=divisible)
    return sympy.expand(expr)


def exact_metric(config: ArchConfig, over: str, value: int, metric: str, *, batch: Any = 1,
                 convention: Convention = FLOP_COUNTER) -> int:
    """Exact integer ``metric`` of ``config`` with the field ``over`` set to ``value``."""
    if over == "batch":
        expr = metric_expression(config, metric, batch=int(value), convention=convention)
    else:
        expr = metric_expression(config.replace(**{over: int(value)}), metric, batch=batch, convention=convention)
    return int(expr)


@dataclass(frozen=True)
class Comparison(display.Displayable):
    """Models compared over one field: closed forms, the valid grid, the crossovers of every pair."""

    names: tuple[str, ...]
    configs: tuple[ArchConfig, ...]
    over: str
    symbol: sympy.Symbol
    metric: str
    expressions: tuple[sympy.Expr, ...]
    step: int
    lo: int
    hi: Any
    batch: Any
    convention: Convention
    pairs: Mapping[tuple[int, int], Crossovers]

    @property
    def crossovers(self) -> Crossovers:
        """The crossovers of the first two models (``"a"`` is ``names[0]``)."""
        return self.pairs[(0, 1)]

    @property
    def unit(self) -> str:
        return metric_unit(self.metric)

    def winner(self, pair: tuple[int, int], side: str) -> str:
        """The model name behind side ``"a"``/``"b"`` of ``pair``."""
        return self.names[pair[0]] if side == "a" else self.names[pair[1]] if side == "b" else "neither"

    def exact(self, index: int, value: int) -> Quantity:
        """Exact metric of model ``index`` with the field set to the integer ``value``."""
        number = exact_metric(self.configs[index], self.over, value, self.metric, batch=self.batch,
                              convention=self.convention)
        return ureg.Quantity(number, self.unit)

    def curves(self, xs: np.ndarray) -> list[np.ndarray]:
        """Every model's closed form evaluated (as floats) at ``xs``."""
        xs = np.asarray(xs, dtype=float)
        return [np.asarray(sympy.lambdify(self.symbol, e, "numpy")(xs), dtype=float) * np.ones_like(xs)
                for e in self.expressions]

    def cheapest_at(self, value: int) -> str:
        """The model with the smallest exact metric at ``value``."""
        values = [self.exact(i, value).magnitude for i in range(len(self.names))]
        return self.names[int(np.argmin(values))]

    def grid(self, points: int = 8) -> list[int]:
        """Up to ``points`` valid values spread over the range (geometrically), ends included."""
        first = -(-self.lo // self.step) * self.step
        last = int(self.hi) // self.step * self.step
        if first > last:
            return []
        if points < 2 or first == last:
            return [first]
        ratio = (last / first) ** (1 / (points - 1))
        values = {max(first, round(first * ratio**i / self.step) * self.step) for i in range(points)}
        return sorted(v for v in values | {last} if first <= v <= last)

    def _display_tables(self) -> tuple[display.Table, ...]:
        hi = "oo" if self.hi == sympy.oo else self.hi
        title = (f"Comparison of {self.metric} over {self.over} in [{self.lo}, {hi}] "
                 f"(valid every {self.step}, batch {self.batch}, {self.convention.name})")
        rows = tuple(display.Row(name, (display.Value(expr, self.unit),))
                     for name, expr in zip(self.names, self.expressions, strict=False))
        notes = tuple(found.summary(self.names[i], self.names[j]) for (i, j), found in self.pairs.items())
        return (display.Table(title, rows, header=("model", self.metric), notes=notes),)


def compare(models: Sequence[str | ArchConfig], *, over: str = "image_size", lo: int = 1, hi: Any = 2048,
            metric: str = "forward_flops", batch: Any = 1, step: int | None = None,
            convention: str | Convention = FLOP_COUNTER, names: Sequence[str] | None = None) -> Comparison:
    """Compare ``models`` (preset names or configs) as ``over`` runs from ``lo`` to ``hi``.

    Crossovers are found for every pair. ``step`` defaults to the least common multiple
    of every model's :func:`valid_step`. ``hi`` may be ``sympy.oo`` (closed forms are
    polynomial, so every root is found exactly).

    Raises
    ------
    InvalidConfigError
        Fewer than two models (or one string instead of a list), a field a model lacks,
        ``lo > hi``, a range that holds no valid value, or a field that no model's metric
        depends on.
    UnknownPresetError
        An unknown preset or metric.
    """
    if isinstance(models, (str, ArchConfig)) or not isinstance(models, Sequence):
        raise InvalidConfigError("models", models, "must be a list of two or more models (preset names or configs), "
                                                   "not a single one")
    if len(models) < 2:
        raise InvalidConfigError("models", list(models), "give at least two models to compare")
    get_metric(metric)
    convention = get_convention(convention)
    if lo <= 0 or bool(sympy.sympify(lo) > sympy.sympify(hi)):
        raise InvalidConfigError("range", f"{lo}:{hi}", "must be MIN:MAX with 0 < MIN <= MAX")
    resolved = [resolve(m) for m in models]
    labels = tuple(names) if names is not None else tuple(n for n, _ in resolved)
    configs = tuple(c for _, c in resolved)
    symbol = field_symbol(over)
    if step is None:
        step = math.lcm(*(valid_step(c, over) for c in configs))
    if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
        raise InvalidConfigError("step", step, "must be a positive integer")
    if hi != sympy.oo and -(-lo // step) * step > int(hi):
        raise InvalidConfigError("range", f"{lo}:{hi}", f"holds no valid {over}: every model is valid only at "
                                                        f"multiples of {step}")
    exprs = tuple(symbolic_metric(c, over, metric, batch=batch, convention=convention) for c in configs)
    if not any(symbol in e.free_symbols for e in exprs):
        raise InvalidConfigError("over", over, f"{metric} of {', '.join(labels)} does not depend on it")
    pairs: dict[tuple[int, int], Crossovers] = {}
    for i in range(len(configs)):
        for j in range(i + 1, len(configs)):
            pairs[(i, j)] = crossovers(
                exprs[i], exprs[j], symbol, lo=lo, hi=hi, step=step,
                exact_a=partial(exact_metric, configs[i], over, metric=metric, batch=batch, convention=convention),
                exact_b=partial(exact_metric, configs[j], over, metric=metric, batch=batch, convention=convention))
    return Comparison(names=labels, configs=configs, over=over, symbol=symbol, metric=metric, expressions=exprs,
                      step=step, lo=lo, hi=hi, batch=batch, convention=convention, pairs=pairs)


__all__ = ["Comparison", "compare", "exact_metric", "field_symbol", "metric_unit", "resolve",
           "symbolic_metric", "valid_step"]
