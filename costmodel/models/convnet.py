"""Plain ConvNet (F2): a stack of conv / norm / activation / pool layers. Config and exact cost.

References
----------
* PyTorch ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.MaxPool2d`` / ``nn.AvgPool2d`` (output
  size ``floor((S + 2p - d (k - 1) - 1) / s) + 1``), ``nn.AdaptiveAvgPool2d``, ``nn.Linear``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from costmodel.core.checks import check_divides
from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, choice_field, flag_field, image_field, size_field, sizes_field
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.dense import linear
from costmodel.ops.norm import batch_norm
from costmodel.ops.pointwise import gelu, relu
from costmodel.ops.pool import avg_pool2d, max_pool2d

#: the pool after each layer: ``nn.MaxPool2d(2)`` / ``nn.AvgPool2d(2)``, window 2, stride 2
POOL_KERNEL = 2


@dataclass(frozen=True, kw_only=True)
class ConvNetConfig(ArchConfig):
    """A plain ConvNet (F2): ``len(channels)`` layers, then global average pool and a linear head.

    Layer ``i``: ``Conv2d(c_{i-1}, channels[i], kernel_size, stride, padding, dilation,
    groups, bias)``, then batch norm (``norm="batch"``), the activation, and a 2x2/2
    pool (``pool`` = ``"max"`` or ``"avg"``; none for ``"none"``). The first layer always
    has ``groups=1`` (the image has ``in_channels`` channels); ``groups`` must divide every
    other layer's input and output channels.

    ``channels`` has at most 128 layers, 12 when any size is symbolic (each layer nests
    the symbolic feature-map size one ``floor`` deeper); see :class:`ArchConfig`.
    """

    family = "convnet"

    image_size: Any = image_field(32)
    in_channels: Any = size_field(3)
    channels: tuple[Any, ...] = sizes_field((32, 64))
    kernel_size: Any = size_field(3)
    stride: Any = size_field(1)
    padding: Any = size_field(1, allow_zero=True)
    dilation: Any = size_field(1)
    groups: Any = size_field(1)
    bias: bool = flag_field(True)
    norm: str = choice_field("batch", ("batch", "none"))
    activation: str = choice_field("relu", ("relu", "gelu"))
    pool: str = choice_field("max", ("max", "avg", "none"))
    num_classes: Any = size_field(10)

    def _check(self) -> None:
        if len(self.channels) > 1:  # layers 1.. are grouped: their inputs and outputs
            for i, c in enumerate(self.channels):
                check_divides(f"channels[{i}]", c, self.groups, "groups")

    def layer_groups(self, index: int) -> Any:
        """Groups of layer ``index``: 1 for the first layer (it sees the image), else ``groups``."""
        return 1 if index == 0 else self.groups

    def layer_in_channels(self, index: int) -> Any:
        """Input channels of layer ``index``."""
        return self.in_channels if index == 0 else self.channels[index - 1]


# ---------------------------------------------------------------------------------------
# Cost builder
# ---------------------------------------------------------------------------------------

Size = tuple[Any, Any]

ACTIVATIONS: dict[str, Callable[..., Cost]] = {"relu": relu, "gelu": gelu}


def _window_out(config: ConvNetConfig, hw: Size, *, kernel: Any, stride: Any, padding: Any, dilation: Any,
                divisible: bool, what: str) -> Size:
    """Output size of a window on both axes; a non-positive integer size names the image size."""
    try:
        height, width = (conv_out_size(side, kernel, stride, padding, dilation, divisible=divisible) for side in hw)
        return (height, width)
    except InvalidConfigError as exc:
        raise InvalidConfigError("image_size", config.image_size,
                                 f"is too small for the network: {what} gets a {hw[0]}x{hw[1]} map "
                                 f"({exc.reason})") from exc


def conv_layer(config: ConvNetConfig, index: int, *, batch: Any, hw: Size, convention: Convention,
               divisible: bool, precision: Precision | None = None) -> tuple[Cost, Size]:
    r"""Layer ``index``: conv, optional batch norm, activation, optional 2x2/2 pool.

    .. math::
        S' = \left\lfloor \frac{S + 2p - \delta(k-1) - 1}{s} \right\rfloor + 1, \quad
        S'' = \lfloor S' / 2 \rfloor \;(\text{pool}), \quad
        \mathrm{params} = C_{out} \frac{C_{in}}{g} k^2 + C_{out}[\text{bias}] + 2 C_{out}[\text{BN}]

    The first layer (``index == 0``) has ``g = 1`` and needs no input gradient.

    Memory: the conv keeps its input (the image, or a 16-bit copy under mixed precision,
    for the first layer; for the others the previous layer's output unless that is a
    ReLU's output, which the ReLU keeps), the batch norm the conv's output, ReLU its
    output (GELU its input), the max pool its input (unless a ReLU keeps it) and int64
    indices, the 2x2 average pool its input.
    """
    out_channels = config.channels[index]
    in_hw = hw
    out = _window_out(config, hw, kernel=config.kernel_size, stride=config.stride, padding=config.padding,
                      dilation=config.dilation, divisible=divisible, what=f"the conv of layer {index}")
    relu_before = index > 0 and config.pool == "none" and config.activation == "relu"
    parts = {"conv": conv2d(batch=batch, in_channels=config.layer_in_channels(index),
                            out_channels=out_channels, out_size=out, kernel_size=config.kernel_size,
                            groups=config.layer_groups(index), bias=config.bias, input_grad=index > 0,
                            convention=convention, in_size=hw, precision=precision, saves_input=not relu_before,
                            input_role="float32" if index == 0 else "compute")}
    elements = batch * out_channels * out[0] * out[1]
    if config.norm == "batch":
        parts["norm"] = batch_norm(elements=elements, channels=out_channels, convention=convention,
                                   precision=precision)
    parts["act"] = ACTIVATIONS[config.activation](elements, convention, precision=precision)
    if config.pool != "none":
        out = _window_out(config, out, kernel=POOL_KERNEL, stride=POOL_KERNEL, padding=0, dilation=1,
                          divisible=divisible, what=f"the pool of layer {index}")
        outputs = batch * out_channels * out[0] * out[1]
        # a ReLU keeps its output, which is the pool's input; GELU keeps its input instead
        pool_keeps = config.activation != "relu"
        parts["pool"] = (max_pool2d(outputs=outputs, kernel_size=POOL_KERNEL, convention=convention,
                                    inputs=elements, precision=precision, saves_input=pool_keeps)
                         if config.pool == "max" else
                         avg_pool2d(outputs=outputs, window=POOL_KERNEL**2, convention=convention,
                                    precision=precision, saves_input=pool_keeps, inputs=elements))
    layer = Cost.group(parts)
    if precision is None:
        return layer, out
    # the block of activation checkpointing; the first one's input is the image, held anyway
    if index == 0:
        held, inside = (0 if precision.mixed else 4 * batch * config.in_channels * in_hw[0] * in_hw[1]), True
    else:
        held = precision.compute_bytes * batch * config.layer_in_channels(index) * in_hw[0] * in_hw[1]
        inside = not relu_before
    return layer.with_trace(layer.trace.block(held, inside=inside)), out


def head(config: ConvNetConfig, *, batch: Any, hw: Size, convention: Convention,
         precision: Precision | None = None) -> Cost:
    r"""Global average pool and the linear classifier: :math:`F_{fwd} = 2 B C n`, params :math:`C n + n`.

    Memory: the pool (a ``mean``) keeps nothing, the classifier its input (``B C``).
    """
    channels = config.channels[-1]
    pool = avg_pool2d(outputs=batch * channels, window=hw[0] * hw[1], convention=convention, precision=precision)
    fc = linear(rows=batch, in_features=channels, out_features=config.num_classes, convention=convention,
                precision=precision)
    return Cost.group({"avgpool": pool, "fc": fc})


def cost(config: ConvNetConfig, *, batch: Any, convention: Convention, divisible: bool,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of a plain ConvNet: ``layer0`` ... ``layer{n-1}``, ``head``.

    .. math:: C = \sum_i C_{layer_i} + C_{head}

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cfg = ConvNetConfig(channels=(8,), image_size=4, pool="none", norm="none", num_classes=2)
    >>> cost(cfg, batch=1, convention=FLOP_COUNTER, divisible=False).forward_flops  # 2*16*8*27 + 2*8*2
    6944
    """
    parts: dict[str, Cost] = {}
    hw: Size = config.image_hw
    for i in range(len(config.channels)):
        parts[f"layer{i}"], hw = conv_layer(config, i, batch=batch, hw=hw, convention=convention,
                                            divisible=divisible, precision=precision)
    parts["head"] = head(config, batch=batch, hw=hw, convention=convention, precision=precision)
    return Cost.group(parts)


__all__ = ["ConvNetConfig", "cost", "conv_layer", "head", "POOL_KERNEL"]
