"""Fitting the kernel model's constants on the published anchors, and the honest checks of the fit.

:func:`fit_generation` fits the five constants of one GPU generation
(:class:`~costmodel.hardware.kernels.KernelConstants`) to that generation's anchor rows by a
pattern search on the weighted mean absolute log error

.. math:: L = \\sum_i w_i \\left|\\ln \\frac{\\hat y_i}{y_i}\\right|,

each (GPU, mode) group weighted equally (``w_i = 1 / n_group``), so that the few A100 rows
count as much as the many RTX 3090 ones and training as much as inference. Absolute (not
squared) error because the target is the median. Bounds keep each constant physical
(efficiencies in (0, 1], launch gap up to 20 us, host dispatch up to 200 us).

:func:`leave_one_family_out` refits without one model family and predicts that family:
the error a family that was never seen gets, i.e. how much the fit memorises.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from costmodel.hardware.kernels import GENERATION_CONSTANTS, KernelConstants
from costmodel.validation.published import Anchor, family, generation, row_terms

#: name, lower bound, upper bound of each constant
BOUNDS: tuple[tuple[str, float, float], ...] = (
    ("tensor_efficiency", 0.05, 1.0), ("cuda_efficiency", 0.05, 1.0), ("bandwidth_efficiency", 0.2, 1.0),
    ("launch_s", 0.5e-6, 20e-6), ("host_s", 1e-6, 200e-6),
)


def _objective(anchors: list[Anchor]) -> Callable[[KernelConstants], float]:
    groups: dict[tuple[str, str], int] = defaultdict(int)
    rows = []
    for a in anchors:
        terms = row_terms(a)
        if terms is not None:
            groups[(a.device, a.mode)] += 1
            rows.append((terms, a.throughput, (a.device, a.mode)))

    def loss(constants: KernelConstants) -> float:
        return sum(abs(math.log(t.throughput(constants) / y)) / groups[g] for t, y, g in rows)

    return loss


def fit_generation(anchors: list[Anchor], start: KernelConstants, *, source: str = "",
                   rounds: int = 60) -> KernelConstants:
    """Constants minimising the weighted mean |log error| over ``anchors`` (one generation's rows)."""
    loss = _objective(anchors)
    values = list(start.as_tuple())
    best = loss(_make(values, source))
    step = 0.5
    for _ in range(rounds):
        improved = False
        for i, (_, low, high) in enumerate(BOUNDS):
            for factor in (1 + step, 1 / (1 + step)):
                trial = list(values)
                trial[i] = min(high, max(low, values[i] * factor))
                if trial[i] == values[i]:
                    continue
                value = loss(_make(trial, source))
                if value < best - 1e-12:
                    values, best, improved = trial, value, True
                    break
        if not improved:
            step /= 2
            if step < 0.005:
                break
    return _make(values, source)


def _make(values: list[float], source: str) -> KernelConstants:
    tc, cuda, bw, launch, host = values
    return KernelConstants(tensor_efficiency=tc, cuda_efficiency=cuda, bandwidth_efficiency=bw, launch_s=launch,
                           host_s=host, source=source)


def fit_all(anchors: list[Anchor], start: dict[str, KernelConstants] | None = None) -> dict[str, KernelConstants]:
    """Fitted constants of every generation that has anchor rows of covered models."""
    start = GENERATION_CONSTANTS if start is None else start
    by_generation: dict[str, list[Anchor]] = defaultdict(list)
    for a in anchors:
        if a.device and row_terms(a) is not None:
            by_generation[generation(a)].append(a)
    out: dict[str, KernelConstants] = {}
    for gen, rows in sorted(by_generation.items()):
        gpus = sorted({a.device for a in rows})
        source = (f"fitted on {len(rows)} published anchor rows ({', '.join(gpus)}) by "
                  "costmodel.validation.published_fit.fit_generation")
        out[gen] = fit_generation(rows, start[gen], source=source)
    return out


def leave_one_family_out(anchors: list[Anchor], families: list[str]) -> dict[str, dict[str, KernelConstants]]:
    """For each family, the constants fitted on every other family's rows."""
    return {f: fit_all([a for a in anchors if family(a) != f]) for f in families}


__all__ = ["BOUNDS", "fit_generation", "fit_all", "leave_one_family_out"]
