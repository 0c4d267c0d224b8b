"""The gating activations of the efficient ConvNets: ReLU6, hardswish, hardsigmoid, SiLU, sigmoid.

Zero FLOPs under ``FLOP_COUNTER`` (PyTorch's ``FlopCounterMode`` counts none); under
``FULL`` each is charged the arithmetic of its formula per element (:data:`RATES`; ``exp``
counts one FLOP, a comparison or a clamp one).

==============  =======  ========  ============================================
operator        forward  backward  formula counted
==============  =======  ========  ============================================
ReLU6           2        2         ``min(max(0, x), 6)``; backward: mask twice
hardswish       4        4         ``x * relu6(x + 3) / 6``
hardsigmoid     3        3         ``relu6(x + 3) / 6``
SiLU            4        6         ``x * sigmoid(x)`` (exp, add, divide, multiply)
sigmoid         3        2         ``1 / (1 + exp(-x))``; backward ``g y (1 - y)``
==============  =======  ========  ============================================

Memory (from PyTorch's ``tools/autograd/derivatives.yaml``, checked with
``saved_tensors_hooks``): ``sigmoid`` saves its output; ``hardswish``, ``hardsigmoid``
and ``silu`` save their input. An *in-place* ``hardswish_``, ``silu_`` or ``relu6_``
(``hardtanh_``) overwrites the input its backward needs, so autograd saves a copy of the
original input first (a new storage, always owned by the op). In-place ReLU saves its
output (:func:`costmodel.ops.pointwise.relu`).

References
----------
* Sandler et al., "MobileNetV2", CVPR 2018 (ReLU6); Howard et al., "Searching for
  MobileNetV3", ICCV 2019, Eq. 1-2 (hardswish, hardsigmoid); Ramachandran et al.,
  "Searching for Activation Functions", 2017 (SiLU / swish).
* PyTorch ``torch.nn.Hardswish``, ``Hardsigmoid``, ``SiLU``, ``ReLU6`` documentation.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import Precision, op_trace
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.pointwise import ElementwiseRate, relu

RATES: dict[str, ElementwiseRate] = {
    "relu6": ElementwiseRate(forward=2, backward=2),
    "hardswish": ElementwiseRate(forward=4, backward=4),
    "hardsigmoid": ElementwiseRate(forward=3, backward=3),
    "silu": ElementwiseRate(forward=4, backward=6),
    "sigmoid": ElementwiseRate(forward=3, backward=2),
}

#: what each activation's backward keeps: its ``"input"`` or its ``"output"``
SAVES: dict[str, str] = {"relu6": "input", "hardswish": "input", "hardsigmoid": "input", "silu": "input",
                         "sigmoid": "output"}

ACTIVATIONS = ("relu", "relu6", "hardswish", "silu")


def activation_traffic(c: int, elements: Any, *, copies_input: bool = False) -> Traffic:
    r"""An elementwise activation: :math:`Q_{fwd} = c\,2N` (read ``x``, write ``y``), :math:`Q_{bwd} = c\,3N`
    (read ``dY`` and the saved tensor, write ``dX``).

    ``copies_input``: an in-place op whose backward needs its input (``silu_``,
    ``hardswish_``) is preceded by autograd's ``clone`` of that input, one more kernel
    that reads and writes it: :math:`Q_{fwd} = c\,4N`.
    """
    forward = c * (4 if copies_input else 2) * elements
    return Traffic.op("elementwise", forward=forward, backward=c * 3 * elements)


def gate(op: str, elements: Any, convention: Convention = FLOP_COUNTER, *, precision: Precision | None = None,
         inplace: bool = False, owned: bool = True, role: str = "compute") -> Cost:
    r"""Activation ``op`` (a key of :data:`RATES`) over ``elements`` values, no parameters.

    Memory: :math:`s = b N` for the tensor its backward keeps (:data:`SAVES`) when this
    op is the first to save that storage (``owned``), or always when ``inplace`` (a
    copy of the original input); transient :math:`2 b N` (output and input gradients);
    without autograd :math:`b N` in place (plus the copy), else :math:`2 b N`.

    >>> gate("hardswish", 10).forward_flops, gate("hardswish", 10, convention="full").forward_flops
    (0, 40)
    """
    if op not in RATES:
        raise InvalidConfigError("activation", op, f"must be one of {', '.join(RATES)}")
    from costmodel.core.conventions import get_convention

    convention = get_convention(convention)
    width = precision.bytes(role) if precision is not None else F32
    cost = Cost(traffic=activation_traffic(width, elements, copies_input=inplace and SAVES[op] == "input"))
    if convention.count_elementwise:
        rate = RATES[op]
        cost = Cost(forward_flops=rate.forward * elements, backward_flops=rate.backward * elements,
                    traffic=cost.traffic)
    if precision is None:
        return cost
    saved = width * elements if (inplace or owned) else 0
    return cost.with_trace(op_trace(precision, saved=(saved, elements if saved else 0),
                                    transient=2 * width * elements, live=2 * width * elements))


def activation(name: str, elements: Any, convention: Convention = FLOP_COUNTER, *,
               precision: Precision | None = None, inplace: bool = True, owned: bool = True) -> Cost:
    """The activation of a conv-norm-activation layer (torchvision ``Conv2dNormActivation``): ``name`` is
    one of :data:`ACTIVATIONS`; in place by default, as torchvision builds it.

    ``relu`` is :func:`costmodel.ops.pointwise.relu` (in place it keeps its output, the
    input's storage, counted if ``owned``); the others are :func:`gate`.
    """
    if name == "relu":
        return relu(elements, convention, precision=precision, saves_output=owned or not inplace, inplace=inplace)
    if name not in ACTIVATIONS:
        raise InvalidConfigError("activation", name, f"must be one of {', '.join(ACTIVATIONS)}")
    return gate(name, elements, convention, precision=precision, inplace=inplace, owned=owned)


__all__ = ["RATES", "SAVES", "ACTIVATIONS", "activation_traffic", "gate", "activation"]
