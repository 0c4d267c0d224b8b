"""Fitting the kernel model's constants on the published anchors, and the honest checks of the fit.

:func:`fit_generation` fits the seven constants of one GPU generation
(:class:`~costmodel.hardware.kernels.KernelConstants`) to that generation's anchor rows by
cyclic coordinate descent on a grid in the logarithm of each constant, minimising the
weighted mean absolute log error

.. math::
    L = \\sum_i w_i \\left|\\ln \\frac{\\hat y_i}{y_i}\\right|
        + \\lambda \\sum_j r_j^2 \\ln^2 \\frac{\\theta_j}{\\theta_j^{0}},

with a weak ridge (:data:`PRIOR`, weights :data:`RIDGE`) towards the common start :data:`START`, and
each (GPU, mode) group weighted equally (``w_i = 1 / n_group``), so that the few A100 rows
count as much as the many RTX 3090 ones and training as much as inference. Absolute (not
squared) error because the target is the median. Bounds keep each constant physical
(efficiencies in (0, 1], launch gap up to 10 us, host dispatch up to 200 us).

:func:`leave_one_family_out` refits without one model family and predicts that family:
the error a family that was never seen gets, i.e. how much the fit memorises.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np
from costmodel.validation.published import Anchor, family, generation, row_terms

from costmodel.hardware.kernels import KernelConstants

#: where every fit starts (the same for every generation, so a refit is reproducible): round
#: guesses, not measurements
START = KernelConstants(tensor_efficiency=0.6, cuda_efficiency=0.75, depthwise_efficiency=0.3,
                        depthwise_backward_efficiency=0.3,
                        bandwidth_efficiency=0.7, launch_s=3e-6, host_s=30e-6, source="start of the fit")
#: weight of the ridge on the log constants' distance from :data:`START`: a constant the rows do
#: not constrain (e.g. fp32 CUDA-core efficiency on a GPU whose anchors all use Tensor Cores)
#: stays at its start instead of drifting; a factor 2 away costs 0.5 % error on one group
PRIOR = 0.01
#: the ridge's weight per constant (in :meth:`KernelConstants.as_tuple` order), 1 but for the
#: depthwise backward efficiency (0.1): only depthwise training rows (ConvNeXt's six RTX 3090
#: rows) constrain it, too few to outweigh the full ridge, and still enough to fix it; where no
#: row constrains it (every other generation) the weak ridge still keeps it at its start
RIDGE = np.array([1, 1, 1, 0.1, 1, 1, 1.0])
#: name, lower bound, upper bound of each constant
BOUNDS: tuple[tuple[str, float, float], ...] = (
    ("tensor_efficiency", 0.05, 1.0), ("cuda_efficiency", 0.05, 1.0), ("depthwise_efficiency", 0.02, 1.0),
    ("depthwise_backward_efficiency", 0.02, 1.0),
    ("bandwidth_efficiency", 0.2, 1.0),
    ("launch_s", 0.5e-6, 10e-6), ("host_s", 1e-6, 200e-6),
)


def _objective(anchors: list[Anchor]) -> Callable[[KernelConstants], float]:
    """The weighted mean |log error| of ``anchors`` as a function of the constants (vectorised)."""
    groups: dict[tuple[str, str], int] = defaultdict(int)
    rows = []
    for a in anchors:
        terms = row_terms(a)
        if terms is not None:
            groups[(a.device, a.mode)] += 1
            rows.append((terms, a))
    index = np.concatenate([np.full(len(t.compute_s), i) for i, (t, _) in enumerate(rows)])
    compute = np.concatenate([t.compute_s for t, _ in rows])
    unit = np.concatenate([t.unit for t, _ in rows])
    memory = np.concatenate([t.memory_s for t, _ in rows])
    extra = np.concatenate([t.extra_s for t, _ in rows])
    launches = np.concatenate([t.launches for t, _ in rows])
    backward = np.concatenate([t.backward for t, _ in rows]).astype(float)
    host = np.array([t.host_launches for t, _ in rows])
    comm = np.array([t.communication_s for t, _ in rows])
    images = np.array([t.images for t, _ in rows], dtype=float)
    published = np.array([a.throughput for _, a in rows])
    weights = np.array([1.0 / groups[(a.device, a.mode)] for _, a in rows])

    def loss(constants: KernelConstants) -> float:
        tc, cuda, dw, dwb, bw, launch, host_s = constants.as_tuple()
        eta = np.array([tc, cuda, dw, dwb, 1.0])[unit]
        per_op = np.maximum(compute / eta, memory / bw) + extra / bw + launches * launch
        gpu = np.bincount(index, per_op, minlength=len(rows))
        back = np.bincount(index, per_op * backward, minlength=len(rows))
        seconds = np.maximum(gpu, host * host_s) + np.maximum(0.0, comm - back)
        prior = np.log(np.array(constants.as_tuple()) / np.array(START.as_tuple()))
        misfit = np.sum(weights * np.abs(np.log(images / seconds / published)))
        return float(misfit + PRIOR * np.sum((prior * RIDGE) ** 2))

    return loss


def fit_generation(anchors: list[Anchor], start: KernelConstants, *, source: str = "",
                   sweeps: int = 4) -> KernelConstants:
    """Constants minimising the loss over ``anchors`` (one generation's rows).

    Cyclic coordinate descent: each constant in turn is set to the best of 33 values spaced
    evenly in its logarithm between its bounds, then of 11 values within 15 % of that; a few
    sweeps. (A grid, not a gradient: the absolute error is not differentiable at its kinks.)
    """
    loss = _objective(anchors)
    values = list(start.as_tuple())
    for _ in range(sweeps):
        for i, (_, low, high) in enumerate(BOUNDS):
            for grid in (np.geomspace(low, high, 33), None):
                if grid is None:
                    grid = np.clip(np.geomspace(values[i] / 1.15, values[i] * 1.15, 11), low, high)
                trials = [values[:i] + [float(v)] + values[i + 1:] for v in (*grid, values[i])]
                values = min(trials, key=lambda t: loss(_make(t, source)))
    return _make(values, source)


def _make(values: list[float], source: str) -> KernelConstants:
    tc, cuda, dw, dwb, bw, launch, host = values
    return KernelConstants(tensor_efficiency=tc, cuda_efficiency=cuda, depthwise_efficiency=dw,
                           depthwise_backward_efficiency=dwb,
                           bandwidth_efficiency=bw, launch_s=launch, host_s=host, source=source)


def fit_all(anchors: list[Anchor]) -> dict[str, KernelConstants]:
    """Fitted constants of every generation that has anchor rows of covered models (each fit from :data:`START`)."""
    by_generation: dict[str, list[Anchor]] = defaultdict(list)
    for a in anchors:
        if a.device and row_terms(a) is not None:
            by_generation[generation(a)].append(a)
    out: dict[str, KernelConstants] = {}
    for gen, rows in sorted(by_generation.items()):
        gpus = sorted({a.device for a in rows})
        source = (f"fitted on {len(rows)} published anchor rows ({', '.join(gpus)}) by "
                  "costmodel.validation.published_fit.fit_generation")
        out[gen] = fit_generation(rows, START, source=source)
    return out


def leave_one_family_out(anchors: list[Anchor], families: list[str]) -> dict[str, dict[str, KernelConstants]]:
    """For each family, the constants fitted on every other family's rows."""
    return {f: fit_all([a for a in anchors if family(a) != f]) for f in families}


__all__ = ["START", "PRIOR", "RIDGE", "BOUNDS", "fit_generation", "fit_all", "leave_one_family_out"]
