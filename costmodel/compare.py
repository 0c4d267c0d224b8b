"""Compare models over one config field: exact curves, a table, and the crossovers.

The field (``image_size``, ``width``, ``depth``, ``batch``, ...) is made a SymPy symbol
in every config, the costs are built once as closed forms (``divisible=True``: clean
polynomials where strides divide the sizes), and each crossover is then checked by
exact integer evaluation of the real configs on both sides.

Examples
--------
>>> from costmodel.compare import compare
>>> result = compare(["resnet50", "vit_ti_16"], over="image_size", lo=64, hi=2048)
>>> [(c.first_valid, result.names[int(c.cheaper_after == "b")]) for c in result.crossovers]
[(928, 'resnet50')]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import sympy

from costmodel.analysis import Crossover, crossovers
from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import METRIC_UNITS, Cost
from costmodel.errors import InvalidConfigError, UnknownPresetError
from costmodel.models import ArchConfig, ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig, cost
from costmodel.models.presets import get_preset
from costmodel.units import Quantity, ureg

#: metrics a comparison can use, with their unit
METRICS: dict[str, str] = {**METRIC_UNITS, "training_flops": "flop"}


def metric_of(c: Cost, metric: str) -> sympy.Expr:
    """The expression of ``metric`` in cost ``c``."""
    if metric not in METRICS:
        raise UnknownPresetError("metric", metric, METRICS)
    return getattr(c, metric)


def valid_step(config: ArchConfig, field: str) -> int:
    """The spacing of values of ``field`` for which the config is valid and its closed form exact.

    ``image_size``: the patch size of a ViT; the total stride (32) of a ResNet or
    ConvNeXt; ``2**pools * stride**layers`` of a plain ConvNet. ``width`` of a ViT: the
    number of heads. Otherwise 1.
    """
    if field == "image_size":
        if isinstance(config, ViTConfig):
            return int(config.patch_size)
        if isinstance(config, (ResNetConfig, ConvNeXtConfig)):
            return 32
        if isinstance(config, ConvNetConfig):
            layers = len(config.channels)
            return int((2 if config.pool != "none" else 1) ** layers * config.stride ** layers)
    if field == "width" and isinstance(config, ViTConfig):
        return int(config.heads)
    return 1


@dataclass(frozen=True)
class Comparison:
    """Models compared over one field: closed forms, the valid grid, the crossovers of the first two."""

    names: tuple[str, ...]
    configs: tuple[ArchConfig, ...]
    over: str
    symbol: sympy.Symbol
    metric: str
    expressions: tuple[sympy.Expr, ...]
    step: int
    lo: int
    hi: int
    batch: Any
    crossovers: tuple[Crossover, ...]

    @property
    def unit(self) -> str:
        return METRICS[self.metric]

    def exact(self, index: int, value: int) -> Quantity:
        """Exact metric of model ``index`` with the field set to the integer ``value``."""
        return _exact(self.configs[index], self.over, value, self.batch, self.metric)

    def grid(self, points: int = 8) -> list[int]:
        """Up to ``points`` valid values spread over the range (geometrically), ends included."""
        first = -(-self.lo // self.step) * self.step
        last = self.hi // self.step * self.step
        if first > last:
            return []
        if points < 2 or first == last:
            return [first]
        ratio = (last / first) ** (1 / (points - 1))
        values = {max(first, round(first * ratio**i / self.step) * self.step) for i in range(points)}
        return sorted(v for v in values | {last} if first <= v <= last)


def _resolve(model: str | ArchConfig) -> tuple[str, ArchConfig]:
    if isinstance(model, ArchConfig):
        return type(model).__name__, model
    return model, get_preset(model)


def _exact(config: ArchConfig, over: str, value: int, batch: Any, metric: str) -> Quantity:
    if over == "batch":
        c = cost(config, batch=value)
    else:
        c = cost(config.replace(**{over: value}), batch=batch)
    return ureg.Quantity(int(metric_of(c, metric)), METRICS[metric])


def compare(models: Sequence[str | ArchConfig], *, over: str = "image_size", lo: int, hi: int,
            metric: str = "forward_flops", batch: Any = 1, step: int | None = None,
            convention: Convention = FLOP_COUNTER) -> Comparison:
    """Compare ``models`` (preset names or configs) as ``over`` runs from ``lo`` to ``hi``.

    Crossovers are those between the first two models. ``step`` defaults to the least
    common multiple of every model's :func:`valid_step`.
    """
    if len(models) < 2:
        raise InvalidConfigError("models", list(models), "give at least two models to compare")
    if metric not in METRICS:
        raise UnknownPresetError("metric", metric, METRICS)
    resolved = [_resolve(m) for m in models]
    names = tuple(n for n, _ in resolved)
    configs = tuple(c for _, c in resolved)
    for name, config in resolved:
        if over != "batch" and over not in config.field_names():
            raise InvalidConfigError("over", over, f"{name} has no such field "
                                                   f"(fields: {', '.join(config.field_names())})")
    symbol = sympy.Symbol(over, positive=True, integer=True)
    if step is None:
        step = math.lcm(*(valid_step(c, over) for c in configs))
    exprs = []
    for config in configs:
        c = (cost(config, batch=symbol, convention=convention) if over == "batch"
             else cost(config.replace(**{over: symbol}), batch=batch, convention=convention, divisible=True))
        expr = sympy.expand(metric_of(c, metric))
        if symbol not in expr.free_symbols:
            raise InvalidConfigError("over", over, f"{metric} of {names[len(exprs)]} does not depend on it")
        exprs.append(expr)
    found = crossovers(exprs[0], exprs[1], symbol, lo=lo, hi=hi, step=step,
                       exact_a=lambda v: _exact(configs[0], over, v, batch, metric).magnitude,
                       exact_b=lambda v: _exact(configs[1], over, v, batch, metric).magnitude)
    return Comparison(names=names, configs=configs, over=over, symbol=symbol, metric=metric,
                      expressions=tuple(exprs), step=step, lo=lo, hi=hi, batch=batch,
                      crossovers=tuple(found))


__all__ = ["Comparison", "METRICS", "compare", "metric_of", "valid_step"]
