"""Cost metrics by name: what comparisons, crossovers and sweeps can measure.

A :class:`Metric` turns a config (sizes may be SymPy symbols) and a batch into one exact
expression with a unit. Comparisons, crossovers, sweeps and plots read metrics by name
only, so a new cost field (memory, time) becomes available to all of them by adding one
entry here.

=================  =======  ==================================================
name               unit     what
=================  =======  ==================================================
``forward_flops``  flop     forward pass of the batch (:class:`~costmodel.cost.value.Cost`)
``backward_flops`` flop     backward pass (input and weight gradients)
``training_flops`` flop     forward + backward of one training step
``params``         param    trainable parameters
=================  =======  ==================================================

Memory metrics (``peak_training_bytes``, ``saved_activation_bytes``) are added when the
memory model (``costmodel.memory.footprint``) is installed; see :func:`available`.

Examples
--------
>>> from costmodel.analysis.metrics import evaluate_metric
>>> from costmodel.models.presets import get_preset
>>> evaluate_metric(get_preset("resnet50"), "params")
25557032
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import UnknownPresetError
from costmodel.cost.value import Cost
from costmodel.models import ArchConfig, cost


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A named cost field.

    Parameters
    ----------
    name : str
    unit : str
        A pint unit of :data:`costmodel.core.units.ureg` (``flop``, ``param``, ``byte``, ``s``).
    description : str
    expression : callable
        ``expression(config, batch=, convention=, divisible=) -> SymPy expression``.
    integer : bool
        The metric is integer-valued (counts); sweeps round their float results.
    """

    name: str
    unit: str
    description: str
    expression: Callable[..., sympy.Expr]
    integer: bool = True


@functools.lru_cache(maxsize=512)
def cost_of(config: ArchConfig, batch: Any, convention: Convention, divisible: bool) -> Cost:
    """:func:`costmodel.models.cost`, cached per (config, batch, convention, divisible)."""
    return cost(config, batch=batch, convention=convention, divisible=divisible)


def _cost_field(field: str) -> Callable[..., sympy.Expr]:
    def expression(config: ArchConfig, *, batch: Any, convention: Convention = FLOP_COUNTER,
                   divisible: bool = False) -> sympy.Expr:
        return getattr(cost_of(config, batch, convention, divisible), field)

    return expression


_BASE: dict[str, Metric] = {m.name: m for m in (
    Metric(name="forward_flops", unit="flop", description="forward FLOPs of the batch",
           expression=_cost_field("forward_flops")),
    Metric(name="backward_flops", unit="flop", description="backward FLOPs of the batch",
           expression=_cost_field("backward_flops")),
    Metric(name="training_flops", unit="flop", description="forward + backward FLOPs of one training step",
           expression=_cost_field("training_flops")),
    Metric(name="params", unit="param", description="trainable parameters",
           expression=_cost_field("params")),
)}

def _peak_training_bytes(config: ArchConfig, *, batch: Any, convention: Any = None,
                         divisible: bool = False) -> sympy.Expr:
    from costmodel.memory.footprint import training_memory

    return training_memory(config, batch=batch, divisible=divisible).peak


def _saved_activation_bytes(config: ArchConfig, *, batch: Any, convention: Any = None,
                            divisible: bool = False) -> sympy.Expr:
    from costmodel.memory.footprint import memory_cost

    return memory_cost(config, batch=batch, divisible=divisible).saved_bytes


_MEMORY: dict[str, Metric] = {m.name: m for m in (
    Metric(name="peak_training_bytes", unit="byte", expression=_peak_training_bytes,
           description="peak memory of a training step (Adam, float32)"),
    Metric(name="saved_activation_bytes", unit="byte", expression=_saved_activation_bytes,
           description="bytes saved for the backward pass (float32)"),
)}


def available() -> dict[str, Metric]:
    """Every metric by name: the FLOP and parameter metrics and the memory ones."""
    return {**_BASE, **_MEMORY}


def get_metric(name: str) -> Metric:
    """The metric called ``name``; an unknown name suggests close ones."""
    table = available()
    if name not in table:
        raise UnknownPresetError("metric", name, table)
    return table[name]


def metric_expression(config: ArchConfig, metric: str, *, batch: Any = 1,
                      convention: str | Convention = FLOP_COUNTER, divisible: bool = False) -> sympy.Expr:
    """The exact expression of ``metric`` for ``config`` at ``batch``."""
    return get_metric(metric).expression(config, batch=batch, convention=get_convention(convention),
                                         divisible=divisible)


def evaluate_metric(config: ArchConfig, metric: str, *, batch: Any = 1,
                    convention: str | Convention = FLOP_COUNTER) -> int | sympy.Expr:
    """The metric of an integer config as a Python int (an expression if sizes are symbolic)."""
    value = metric_expression(config, metric, batch=batch, convention=convention)
    return int(value) if value.is_Integer else value


__all__ = ["Metric", "available", "get_metric", "metric_expression", "evaluate_metric", "cost_of"]
