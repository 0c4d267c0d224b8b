"""Normalisation layers.

References
----------
* Ba, Kiros & Hinton, "Layer Normalization", 2016, Eq. 3-4: ``y = (x - mu) / sqrt(var + eps) * gamma + beta``.
* Ioffe & Szegedy, "Batch Normalization", ICML 2015, Algorithm 1 (same arithmetic per element).
* PyTorch ``nn.LayerNorm`` / ``nn.BatchNorm2d``: ``gamma`` and ``beta`` are the only
  parameters; running statistics are buffers, not parameters.

Per element (``FULL`` convention): mean 1, subtract 1, square 1, variance sum 1,
scale by the reciprocal std 1, affine 2: 7 forward; the backward (gradients of x, gamma,
beta) is counted as 12. ``FLOP_COUNTER`` counts zero, like FlopCounterMode.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.precision import Precision, op_trace, saved_input
from costmodel.cost.trace import Trace
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.pointwise import elementwise


def layer_norm(*, rows: Any, features: Any, affine: bool = True,
               convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
               saves_input: bool = True, input_role: str = "compute") -> Cost:
    r"""Layer norm over the last ``features`` values of each of ``rows`` vectors.

    .. math:: \mathrm{params} = 2 d \,[\text{affine}]

    Memory (``NativeLayerNormBackward0``): the input (if this op is the first to save
    its storage) and the float32 mean and reciprocal standard deviation of every row;
    the output has the input's dtype (``input_role``). Transient: the output and input
    gradients. Traffic: :func:`costmodel.ops.norm.norm_traffic`.
    """
    params = 2 * features if affine else 0
    trace = norm_trace(precision, elements=rows * features, statistics=2 * rows, params=params,
                       saves_input=saves_input, role=input_role, largest=features if affine else 0)
    traffic = norm_traffic("layer_norm", precision.bytes(input_role) if precision is not None else F32,
                           elements=rows * features, statistics=2 * rows, params=params)
    return elementwise("layer_norm", rows * features, convention) + Cost(params=params, trace=trace, traffic=traffic)


def batch_norm(*, elements: Any, channels: Any, affine: bool = True,
               convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
               saves_input: bool = True, input_role: str = "compute") -> Cost:
    r"""Batch norm (training mode) over ``elements`` values of ``channels`` channels.

    .. math:: \mathrm{params} = 2 C \,[\text{affine}]

    Memory (``NativeBatchNormBackward0``): the input (if first to save it) and the float32
    batch mean and inverse standard deviation per channel (the running statistics are
    buffers: :func:`RUNNING_STATS_BYTES`). Transient: the output and input gradients.
    Traffic: :func:`costmodel.ops.norm.norm_traffic`.
    """
    params = 2 * channels if affine else 0
    trace = norm_trace(precision, elements=elements, statistics=2 * channels, params=params,
                       saves_input=saves_input, role=input_role, buffers=RUNNING_STATS_BYTES(channels),
                       largest=channels if affine else 0)
    traffic = norm_traffic("batch_norm", precision.bytes(input_role) if precision is not None else F32,
                           elements=elements, statistics=2 * channels, params=params)
    return elementwise("batch_norm", elements, convention) + Cost(params=params, trace=trace, traffic=traffic)


def RUNNING_STATS_BYTES(channels: Any) -> Any:  # noqa: N802 - a formula, named like a constant
    """Buffers of ``nn.BatchNorm2d``: float32 running mean and variance, an int64 step count."""
    return 4 * 2 * channels + 8


def norm_trace(precision: Precision | None, *, elements: Any, statistics: Any, params: Any,
               saves_input: bool, role: str, buffers: Any = 0, largest: Any = 0) -> Trace:
    r"""A normalisation's trace: :math:`s = b\,N [\text{saves input}] + 4 S`, :math:`t = 2 b N`.

    ``S`` float32 statistics; ``b`` the bytes of the input's dtype (``role``); without
    autograd the input and output are alive together (:math:`2 b N`).
    """
    if precision is None:
        return Trace()
    width = precision.bytes(role)
    return op_trace(precision, saved=[saved_input(precision, elements, role=role, owned=saves_input),
                                      (precision.bytes("float32") * statistics, statistics)],
                    params=params, transient=2 * width * elements, buffers=buffers, largest=largest,
                    live=2 * width * elements)


# -- bytes moved (forward and backward kernels) -----------------------------------------

def norm_traffic(kind: str, c: int, *, elements: Any, statistics: Any, params: Any) -> Traffic:
    r"""Batch or layer norm (``native_batch_norm`` / ``native_layer_norm`` and their backward).

    .. math::
        Q_{fwd} = c\,(2N) + 4\,(P + S_{in} + S_{out}), \qquad
        Q_{bwd} = c\,(3N) + 4\,(P/2 + S + P)

    Forward reads ``x`` and writes ``y`` (``N`` values each), reads the ``P`` float32
    affine parameters and writes the float32 statistics. Batch norm (``S`` = 2 values
    per channel: mean and inverse std) also reads and writes the two running buffers in
    training mode, so ``S_in = S_out = S`` for it and ``S_in = 0, S_out = S`` for layer
    norm (2 values per row). Backward reads ``dY``, ``x``, the weight and the statistics
    (batch norm: plus the running buffers) and writes ``dX`` and the ``P`` parameter
    gradients.
    """
    if kind == "batch_norm":
        fwd = c * 2 * elements + F32 * (params + 2 * statistics)
        bwd = c * 3 * elements + F32 * (params / 2 + 2 * statistics + params)
    else:
        fwd = c * 2 * elements + F32 * (params + statistics)
        bwd = c * 3 * elements + F32 * (params + statistics + params)
    return Traffic.op(kind, forward=fwd, backward=bwd)



__all__ = ["norm_traffic", "layer_norm", "batch_norm", "norm_trace"]
