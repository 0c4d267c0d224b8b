"""Elementwise operators: activations (F5, F6), softmax and residual adds.

Under the default ``FLOP_COUNTER`` convention these cost zero FLOPs, as in PyTorch's
``FlopCounterMode``. Under ``FULL`` each is charged the arithmetic of its defining
formula per element, from this table (transcendental functions ``exp``, ``erf``,
``tanh`` count one FLOP each; a comparison counts one):

==============  =======  ========  ============================================
operator        forward  backward  formula counted
==============  =======  ========  ============================================
ReLU            1        1         ``max(0, x)``; backward: mask the gradient
GELU (erf)      5        10        ``0.5 x (1 + erf(x / sqrt 2))``; backward
                                   ``g (Phi(x) + x phi(x))``
softmax         5        4         max, subtract, exp, sum, divide; backward
                                   ``y (g - sum(g y))``
residual add    1        0         ``a + b``; the gradient passes through
multiply        1        2         ``a * b`` (e.g. ConvNeXt layer scale); backward
                                   ``g b`` and ``g a``
layer norm      7        12        see :mod:`costmodel.ops.norm`
batch norm      7        12        see :mod:`costmodel.ops.norm`
==============  =======  ========  ============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.precision import Precision, op_trace, saved_input
from costmodel.cost.traffic import EMPTY, F32, Traffic
from costmodel.cost.value import Cost


@dataclass(frozen=True, kw_only=True)
class ElementwiseRate:
    """FLOPs per element of an elementwise operator, forward and backward (``FULL``)."""

    forward: int
    backward: int


RATES: dict[str, ElementwiseRate] = {
    "relu": ElementwiseRate(forward=1, backward=1),
    "gelu": ElementwiseRate(forward=5, backward=10),
    "softmax": ElementwiseRate(forward=5, backward=4),
    "add": ElementwiseRate(forward=1, backward=0),
    "mul": ElementwiseRate(forward=1, backward=2),
    "layer_norm": ElementwiseRate(forward=7, backward=12),
    "batch_norm": ElementwiseRate(forward=7, backward=12),
}


def elementwise(op: str, elements: Any, convention: Convention = FLOP_COUNTER, *, itemsize: Any = F32,
                grad_elements: Any = None) -> Cost:
    """Cost of elementwise operator ``op`` (a key of :data:`RATES`) over ``elements`` values.

    Its traffic (under any convention) is :func:`costmodel.ops.pointwise.elementwise_traffic`
    with ``itemsize`` bytes per value, for the ops of
    :data:`costmodel.ops.pointwise.ELEMENTWISE_ACCESSES`; the other ops (norms, scales) attach
    their own.
    """
    traffic = elementwise_traffic(op, itemsize, elements, grad_elements) if op in ELEMENTWISE_ACCESSES else EMPTY
    if not convention.count_elementwise:
        return Cost(traffic=traffic)
    rate = RATES[op]
    return Cost(forward_flops=rate.forward * elements, backward_flops=rate.backward * elements, traffic=traffic)


def _itemsize(precision: Precision | None, role: str = "compute") -> Any:
    return precision.bytes(role) if precision is not None else F32


def relu(elements: Any, convention: Convention = FLOP_COUNTER, *, precision: Precision | None = None,
         saves_output: bool = True, role: str = "compute", inplace: bool = False) -> Cost:
    r"""ReLU (F5), :math:`\mathrm{ReLU}(x) = \max(0, x)`, over ``elements`` values. No parameters.

    Memory: ``ReluBackward0`` keeps the output (:math:`s = b N` if this op is the first
    to save that storage; an in-place ReLU's output is its input's storage); transient
    :math:`2 b N` (the output and input gradients); without autograd :math:`b N` in
    place, else :math:`2 b N`.
    """
    cost = elementwise("relu", elements, convention, itemsize=_itemsize(precision, role))
    if precision is None:
        return cost
    return cost.with_trace(op_trace(precision, saved=saved_input(precision, elements, role=role, owned=saves_output),
                                    transient=2 * precision.bytes(role) * elements,
                                    live=(1 if inplace else 2) * precision.bytes(role) * elements))


def gelu(elements: Any, convention: Convention = FLOP_COUNTER, *, precision: Precision | None = None,
         saves_input: bool = True, role: str = "compute") -> Cost:
    r"""GELU (F6), :math:`x \Phi(x) = \tfrac12 x (1 + \mathrm{erf}(x/\sqrt2))` (Hendrycks & Gimpel 2016).

    Memory: ``GeluBackward0`` keeps the input (:math:`s = b N`); transient :math:`2 b N`.
    """
    cost = elementwise("gelu", elements, convention, itemsize=_itemsize(precision, role))
    if precision is None:
        return cost
    return cost.with_trace(op_trace(precision, saved=saved_input(precision, elements, role=role, owned=saves_input),
                                    transient=2 * precision.bytes(role) * elements,
                                    live=2 * precision.bytes(role) * elements))


def layer_scale(elements: Any, channels: Any, convention: Convention = FLOP_COUNTER, *,
                precision: Precision | None = None) -> Cost:
    r"""A learned per-channel scale ``gamma * x`` (ConvNeXt, Liu et al. 2022), ``channels`` parameters.

    Memory: ``MulBackward0`` keeps ``x`` (the branch output, in the compute dtype) and
    ``gamma`` (a parameter); the product is float32 (``gamma`` is float32, so mixed
    precision promotes). Transient: the float32 output gradient, the gradient of ``x``
    and the float32 product ``g x`` that is summed into ``gamma``'s gradient:
    :math:`t = 4N + b_c N + 4N`. Traffic: :func:`costmodel.ops.pointwise.scale_traffic`.
    """
    cost = elementwise("mul", elements, convention) + Cost(params=channels)
    cost = cost.with_traffic(scale_traffic(_itemsize(precision), elements=elements, channels=channels))
    if precision is None:
        return cost
    c = precision.compute_bytes
    return cost.with_trace(op_trace(precision, saved=(c * elements, elements), params=channels,
                                    transient=(8 + c) * elements, largest=channels, live=(4 + c) * elements))


def softmax(elements: Any, convention: Convention = FLOP_COUNTER, *, precision: Precision | None = None) -> Cost:
    r"""Softmax :math:`e^{x_i - \max x} / \sum_j e^{x_j - \max x}` over ``elements`` values in total.

    Traffic under mixed precision: softmax is on autocast's float32 list (PyTorch AMP
    documentation, "CUDA Ops that can autocast to float32"), so its 16-bit input is cast to
    float32 (2 + 4 bytes), the softmax reads and writes float32 (4 + 4) and the product that
    consumes it casts it back (4 + 2): 20 bytes per element in 3 kernels; backward the same
    casts of the gradient around a float32 softmax backward (reads dY and y, writes dX): 24.
    """
    cost = elementwise("softmax", elements, convention, itemsize=_itemsize(precision))
    if precision is not None and precision.mixed:
        cost = cost.with_traffic(Traffic.op("elementwise", forward=20 * elements, backward=24 * elements,
                                            launches=3))
    return cost


def residual_add(elements: Any, convention: Convention = FLOP_COUNTER, *, precision: Precision | None = None,
                 role: str = "compute", grad_elements: Any = None) -> Cost:
    """Residual connection ``x + f(x)`` over ``elements`` values (F4).

    Traffic: the add, and in the backward pass the add of the two gradients that meet
    where the skip branches off (3 values per element each way; ``grad_elements`` values
    there when the block's input differs in size from its output).
    """
    return elementwise("add", elements, convention, itemsize=_itemsize(precision, role), grad_elements=grad_elements)


# -- bytes moved (forward and backward kernels) -----------------------------------------

ELEMENTWISE_ACCESSES: dict[str, tuple[int, int]] = {
    "relu": (2, 3), "gelu": (2, 3), "add": (3, 3), "softmax": (2, 3),
}


def elementwise_traffic(op: str, c: int, elements: Any, grad_elements: Any = None) -> Traffic:
    r"""An elementwise op over :math:`N` values: :math:`Q = c\,a\,N` with ``a`` from :data:`ELEMENTWISE_ACCESSES`.

    ``grad_elements``: for a residual add, the size of the tensor where the two gradients
    meet (the block's input), if it differs from the add's output (a downsampling block).
    """
    fwd, bwd = ELEMENTWISE_ACCESSES[op]
    back = elements if grad_elements is None else grad_elements
    return Traffic.op("elementwise", forward=c * fwd * elements, backward=c * bwd * back)


def scale_traffic(c: int, *, elements: Any, channels: Any) -> Traffic:
    r"""A learned per-channel scale ``gamma * x`` (ConvNeXt's layer scale).

    .. math::
        Q_{fwd} = c\,(2N) + 4 C, \qquad Q_{bwd} = c\,(6 N) + 8 C

    Backward: ``dY * gamma`` (reads ``N`` and ``C``, writes ``N``), ``dY * x`` (reads
    ``2N``, writes ``N``) and its sum over all but the channel (reads ``N``, writes ``C``).
    """
    return Traffic.op("elementwise", forward=c * 2 * elements + F32 * channels,
                      backward=c * 6 * elements + 2 * F32 * channels)


def split_traffic(c: int, *, elements: Any) -> Traffic:
    r"""Splitting one tensor into views (``qkv`` into ``q``, ``k``, ``v``): free forward; the
    backward concatenates the gradients, :math:`Q_{bwd} = c\,(2 N)` for ``N`` elements."""
    return Traffic.op("elementwise", forward=0, backward=c * 2 * elements)



__all__ = ["ELEMENTWISE_ACCESSES", "elementwise_traffic", "scale_traffic", "split_traffic", "ElementwiseRate", "RATES",
           "elementwise", "relu", "gelu", "softmax", "residual_add", "layer_scale"]
