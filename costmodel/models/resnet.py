"""ResNet config (as torchvision's ``ResNet``, the V1.5 variant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.models.base import ArchConfig, choice_field, image_field, size_field, sizes_field

EXPANSION = {"basic": 1, "bottleneck": 4}


@dataclass(frozen=True, kw_only=True)
class ResNetConfig(ArchConfig):
    """A ResNet as torchvision defines it (He et al., CVPR 2016; stride on the 3x3 conv).

    Stem: 7x7/2 conv (no bias), batch norm, ReLU, 3x3/2 max pool. Stage ``i`` has
    ``layers[i]`` blocks of ``width * 2**i`` planes (times the expansion 4 for
    bottleneck blocks); the first block of every stage but the first has stride 2, and a
    1x1 conv + batch norm shortcut where the shape changes. Global average pool, linear head.

    Parameters
    ----------
    block : {"basic", "bottleneck"}
    layers : tuple of int
        Blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
    width : int
        Base width (64); stage ``i`` has ``width * 2**i`` planes.
    """

    family = "resnet"

    block: str = choice_field("bottleneck", tuple(EXPANSION))
    layers: tuple[Any, ...] = sizes_field((3, 4, 6, 3))
    width: Any = size_field(64)
    num_classes: Any = size_field(1000)
    image_size: Any = image_field(224)
    in_channels: Any = size_field(3)

    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]


__all__ = ["ResNetConfig", "EXPANSION"]
