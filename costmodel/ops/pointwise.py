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

from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import Cost


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


def elementwise(op: str, elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    """Cost of elementwise operator ``op`` (a key of :data:`RATES`) over ``elements`` values."""
    if not convention.count_elementwise:
        return Cost()
    rate = RATES[op]
    return Cost(forward_flops=rate.forward * elements, backward_flops=rate.backward * elements)


def relu(elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""ReLU (F5), :math:`\mathrm{ReLU}(x) = \max(0, x)`, over ``elements`` values. No parameters."""
    return elementwise("relu", elements, convention)


def gelu(elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""GELU (F6), :math:`x \Phi(x) = \tfrac12 x (1 + \mathrm{erf}(x/\sqrt2))` (Hendrycks & Gimpel 2016)."""
    return elementwise("gelu", elements, convention)


def softmax(elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Softmax :math:`e^{x_i - \max x} / \sum_j e^{x_j - \max x}` over ``elements`` values in total."""
    return elementwise("softmax", elements, convention)


def residual_add(elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    """Residual connection ``x + f(x)`` over ``elements`` values (F4)."""
    return elementwise("add", elements, convention)


__all__ = ["ElementwiseRate", "RATES", "elementwise", "relu", "gelu", "softmax", "residual_add"]
