"""Plain ConvNet config: a stack of conv / norm / activation / pool layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.checks import check_divides
from costmodel.models.base import ArchConfig, choice_field, flag_field, image_field, size_field, sizes_field


@dataclass(frozen=True, kw_only=True)
class ConvNetConfig(ArchConfig):
    """A plain ConvNet (F2): ``len(channels)`` layers, then global average pool and a linear head.

    Layer ``i``: ``Conv2d(c_{i-1}, channels[i], kernel_size, stride, padding, dilation,
    groups, bias)``, then batch norm (``norm="batch"``), the activation, and a 2x2/2
    pool (``pool`` = ``"max"`` or ``"avg"``; none for ``"none"``). The first layer always
    has ``groups=1`` (the image has ``in_channels`` channels); ``groups`` must divide every
    other layer's input and output channels.
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
        for i, c in enumerate(self.channels):
            check_divides(f"channels[{i}]", c, self.groups, "groups")


__all__ = ["ConvNetConfig"]
