"""Pooling. No parameters; zero FLOPs under ``FLOP_COUNTER`` (FlopCounterMode counts none).

Under ``FULL``: max pooling counts ``k^2 - 1`` comparisons per output forward and one per
output backward (routing the gradient); average pooling counts ``k^2`` (adds and one
divide) per output forward and one per input element backward. Global average pooling is
average pooling with the window equal to the feature map.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.precision import Precision, op_trace, saved_input
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost


def max_pool2d(*, outputs: Any, kernel_size: Any, convention: Convention = FLOP_COUNTER,
               inputs: Any = None, precision: Precision | None = None, saves_input: bool = True,
               role: str = "compute") -> Cost:
    r"""Max pooling with a ``k x k`` window producing ``outputs`` values: :math:`(k^2 - 1)` compares each.

    Memory (``MaxPool2DWithIndicesBackward0``, with ``inputs`` and a ``precision``): the
    input (if this op is the first to save it) and one int64 index per output,
    :math:`s = b N_{in} + 8 N_{out}`; transient :math:`b (N_{out} + N_{in})`. Traffic (with
    ``inputs``): :func:`costmodel.ops.pool.max_pool_traffic`.
    """
    cost = Cost()
    if convention.count_elementwise:
        cost = Cost(forward_flops=outputs * (kernel_size**2 - 1), backward_flops=outputs)
    if inputs is not None:
        width = precision.bytes(role) if precision is not None else F32
        cost = cost.with_traffic(max_pool_traffic(width, inputs=inputs, outputs=outputs))
    if precision is None or inputs is None:
        return cost
    width = precision.bytes(role)
    return cost.with_trace(op_trace(
        precision, saved=[saved_input(precision, inputs, role=role, owned=saves_input),
                          (precision.bytes("int64") * outputs, outputs)],
        transient=width * (outputs + inputs), live=width * (outputs + inputs)))


def avg_pool2d(*, outputs: Any, window: Any, convention: Convention = FLOP_COUNTER,
               precision: Precision | None = None, saves_input: bool = False, role: str = "compute",
               inputs: Any = None) -> Cost:
    r"""Average pooling over ``window`` values per output (``window = H W`` for global pooling).

    Memory: global pooling (a ``mean``) keeps nothing; ``nn.AvgPool2d`` keeps its input
    (``saves_input``), :math:`s = b N_{in}`. Transient :math:`b (N_{out} + N_{in})`;
    ``inputs`` is :math:`N_{in}` (default :math:`N_{out} \cdot` ``window``, exact for global
    pooling; a 2x2 pool of an odd-sized map drops the last row or column). Traffic:
    :func:`costmodel.ops.pool.mean_pool_traffic`.
    """
    cost = Cost()
    if convention.count_elementwise:
        cost = Cost(forward_flops=outputs * window, backward_flops=outputs * window)
    inputs = outputs * window if inputs is None else inputs
    width = precision.bytes(role) if precision is not None else F32
    cost = cost.with_traffic(mean_pool_traffic(width, inputs=inputs, outputs=outputs))
    if precision is None:
        return cost
    return cost.with_trace(op_trace(precision, saved=saved_input(precision, inputs, role=role, owned=saves_input),
                                    transient=width * (outputs + inputs), live=width * (outputs + inputs)))


# -- bytes moved (forward and backward kernels) -----------------------------------------

def max_pool_traffic(c: int, *, inputs: Any, outputs: Any) -> Traffic:
    r"""Max pooling with int64 indices (``max_pool2d_with_indices`` and its backward).

    .. math:: Q_{fwd} = c\,(X + Y) + 8 Y, \qquad Q_{bwd} = c\,(dY + X + dX) + 8 Y

    (the backward kernel is handed the input too, and scatters ``dY`` through the indices).
    """
    return Traffic.op("pool", forward=c * (inputs + outputs) + 8 * outputs,
                      backward=c * (outputs + 2 * inputs) + 8 * outputs)


def mean_pool_traffic(c: int, *, inputs: Any, outputs: Any) -> Traffic:
    r"""Global average pooling, a mean over each feature map (``elementwise`` kind).

    .. math:: Q_{fwd} = c\,(X + Y), \qquad Q_{bwd} = c\,(2 X)

    Its backward divides the gradient, broadcast to the input's shape, by ``H W``: an
    argument of ``X`` elements (a broadcast view) read, ``X`` written.
    """
    return Traffic.op("elementwise", forward=c * (inputs + outputs), backward=c * 2 * inputs)



__all__ = ["max_pool_traffic", "mean_pool_traffic", "max_pool2d", "avg_pool2d"]
