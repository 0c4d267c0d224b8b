"""What EfficientNet, MobileNetV2/V3 and RegNet share: torchvision's channel rounding,
conv-norm-activation layers and the inverted residual (MBConv) block.

References
----------
* torchvision ``models/_utils.py``, ``_make_divisible`` (from the TensorFlow MobileNet code).
* torchvision ``ops/misc.py``, ``Conv2dNormActivation``: ``Conv2d(padding=(k - 1) // 2,
  bias=False)``, ``BatchNorm2d``, an activation built with ``inplace=True``.
* Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, Table 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import Precision
from costmodel.cost.trace import residual
from costmodel.cost.value import Cost
from costmodel.ops.activations import activation
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.excitation import squeeze_excitation
from costmodel.ops.norm import batch_norm
from costmodel.ops.pointwise import residual_add

Size = tuple[Any, Any]


def exact_fraction(value: Any) -> Fraction:
    """A number (int, ``Fraction`` or SymPy rational, as a config field holds it) as an exact ``Fraction``."""
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    return Fraction(value)


def make_divisible(value: Any, divisor: int = 8, min_value: int | None = None) -> int:
    r"""torchvision's ``_make_divisible``: the multiple of ``divisor`` nearest ``value``, at least
    ``min_value`` (default ``divisor``), moved up one step if rounding lost more than 10 %.

    .. math:: v' = \max(m, \lfloor (v + d/2) / d \rfloor d), \quad v' \mathrel{+}= d \text{ if } v' < 0.9 v

    ``value`` is exact (an int or a rational width times multiplier).

    >>> make_divisible(32 * Fraction(11, 10)), make_divisible(1280 * Fraction(3, 4)), make_divisible(12)
    (32, 960, 16)
    """
    exact = exact_fraction(value)
    low = divisor if min_value is None else min_value
    rounded = max(low, math.floor(exact + Fraction(divisor, 2)) // divisor * divisor)
    if rounded < Fraction(9, 10) * exact:
        rounded += divisor
    return int(rounded)


def check_multiplier(name: str, value: Any) -> None:
    """A width or depth multiplier must be a number (channel rounding needs it), > 0."""
    if isinstance(value, sympy.Basic) and not value.is_number:
        raise InvalidConfigError(name, value, "must be a number: torchvision rounds the channels it gives")


@dataclass(frozen=True, kw_only=True)
class Layer:
    """A cost, the output size and whether an op of it already keeps its output's storage."""

    cost: Cost
    size: Size
    output_kept: bool = False


def conv_norm_act(*, batch: Any, in_channels: Any, out_channels: Any, size: Size, kernel: int, stride: int = 1,
                  groups: Any = 1, act: str | None, convention: Convention, divisible: bool,
                  precision: Precision | None, input_owned: bool = True, input_grad: bool = True,
                  input_role: str = "compute") -> Layer:
    r"""torchvision's ``Conv2dNormActivation``: bias-free conv (padding ``(k - 1) // 2``), batch norm, activation.

    .. math::
        S_{out} = \left\lfloor \frac{S + 2 \lfloor (k-1)/2 \rfloor - k}{s} \right\rfloor + 1, \quad
        \mathrm{params} = C_{out} \frac{C_{in}}{g} k^2 + 2 C_{out}

    Memory: the conv keeps its input (if ``input_owned``), the batch norm the conv's
    output; an in-place ReLU keeps its output (the norm's output, so ``output_kept``),
    an in-place hardswish, SiLU or ReLU6 a copy of its input. Parts ``conv``, ``bn``, ``act``.
    """
    pad = (kernel - 1) // 2
    out = tuple(conv_out_size(side, kernel, stride, pad, divisible=divisible) for side in size)
    elements = batch * out_channels * out[0] * out[1]
    parts = {
        "conv": conv2d(batch=batch, in_channels=in_channels, out_channels=out_channels, out_size=out,
                       kernel_size=kernel, groups=groups, bias=False, input_grad=input_grad, convention=convention,
                       in_size=size, precision=precision, saves_input=input_owned, input_role=input_role),
        "bn": batch_norm(elements=elements, channels=out_channels, convention=convention, precision=precision),
    }
    if act is not None:
        parts["act"] = activation(act, elements, convention, precision=precision)
    return Layer(cost=Cost.group(parts), size=(out[0], out[1]), output_kept=act == "relu")


@dataclass(frozen=True, kw_only=True)
class Excite:
    """The squeeze-excitation of a block: hidden channels and its two activations."""

    squeeze: Any
    activation: str = "relu"
    scale_activation: str = "sigmoid"


def inverted_residual(*, batch: Any, in_channels: Any, expanded: Any, out_channels: Any, size: Size,
                      kernel: int, stride: int, act: str, se: Excite | None, add: bool,
                      convention: Convention, divisible: bool, precision: Precision | None) -> Layer:
    r"""An inverted residual (MBConv) block: expand ``1x1`` (skipped when ``expanded = C_in``),
    depthwise ``k x k`` with the stride, squeeze-excitation (optional), linear ``1x1`` projection,
    and a residual add when ``add`` (stride 1 and ``C_in = C_out``).

    .. math::
        \mathrm{MACs} = B\,(H W C_{in} E + H' W' (k^2 E + E C_{out})) + 2 B E S

    with ``E`` the expanded width, ``H' x W'`` the depthwise conv's output and ``S`` the
    squeeze width. Memory: the block's input is kept by its first conv (no earlier op
    keeps it: the previous block ends with a batch norm or an add); with ``add`` the
    gradient for the shortcut waits while the branch runs backward. Parts ``expand``,
    ``depthwise``, ``se``, ``project``, ``add``.
    """
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    parts: dict[str, Cost] = {}
    hw, kept = size, False
    if expanded != in_channels:
        layer = conv_norm_act(in_channels=in_channels, out_channels=expanded, size=hw, kernel=1, act=act, **common)
        parts["expand"], hw, kept = layer.cost, layer.size, layer.output_kept
    layer = conv_norm_act(in_channels=expanded, out_channels=expanded, size=hw, kernel=kernel, stride=stride,
                          groups=expanded, act=act, input_owned=not kept, **common)
    parts["depthwise"], hw, kept = layer.cost, layer.size, layer.output_kept
    if se is not None:
        parts["se"] = squeeze_excitation(batch=batch, channels=expanded, squeeze=se.squeeze, size=hw,
                                         activation=se.activation, scale_activation=se.scale_activation,
                                         convention=convention, precision=precision, input_owned=not kept)
        kept = False  # the project conv reads the scaled map, a new tensor
    layer = conv_norm_act(in_channels=expanded, out_channels=out_channels, size=hw, kernel=1, act=None,
                          input_owned=not kept, **common)
    parts["project"], hw = layer.cost, layer.size
    elements = batch * out_channels * hw[0] * hw[1]
    if add:
        parts["add"] = residual_add(elements, convention, precision=precision)
    block = Cost.group(parts)
    if precision is None or not add:
        return Layer(cost=block, size=hw)
    ops = [part.trace for name, part in parts.items() if name != "add"]
    trace = residual(ops, precision.compute_bytes * elements, shares_gradient=True)
    return Layer(cost=block.with_trace(trace), size=hw)


class WidthScaled:
    """Mixin of the width-multiplied families (EfficientNet, MobileNetV2/V3): every width is
    ``_make_divisible(width * width_mult, 8)`` as torchvision rounds it, and image sides for
    which ``divisible=True`` is exact are multiples of the total stride, 32."""

    width_mult: Any

    def channels(self, width: int) -> int:
        """``_make_divisible(width * width_mult, 8)``."""
        return make_divisible(width * exact_fraction(self.width_mult))

    @property
    def image_step(self) -> int:
        """Image sides for which ``divisible=True`` is exact: multiples of the total stride, 32."""
        return 32

__all__ = ["WidthScaled", "exact_fraction", "make_divisible", "check_multiplier", "Layer", "Excite", "conv_norm_act",
           "inverted_residual"]
