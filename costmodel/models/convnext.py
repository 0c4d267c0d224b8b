"""ConvNeXt config (as torchvision's ``ConvNeXt``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.errors import InvalidConfigError
from costmodel.models.base import ArchConfig, image_field, size_field, sizes_field


@dataclass(frozen=True, kw_only=True)
class ConvNeXtConfig(ArchConfig):
    """A ConvNeXt as torchvision defines it (Liu et al., CVPR 2022).

    Stem: 4x4/4 conv (bias) + LayerNorm2d. Stage ``i``: ``depths[i]`` blocks of width
    ``dims[i]``, each a ``kernel_size`` depthwise conv (bias), LayerNorm, Linear to
    ``mlp_ratio * dim``, GELU, Linear back, layer scale (a learned ``dim`` vector),
    stochastic depth and a residual add. Between stages: LayerNorm2d + 2x2/2 conv. Head:
    global average pool, LayerNorm2d, linear.

    Parameters
    ----------
    dims, depths : tuple of int
        Same length; ConvNeXt-T is ``(96, 192, 384, 768)`` and ``(3, 3, 9, 3)``.
    kernel_size : int
        Depthwise kernel (7).
    mlp_ratio : int
        Expansion of the inverted bottleneck (4).
    """

    family = "convnext"

    dims: tuple[Any, ...] = sizes_field((96, 192, 384, 768))
    depths: tuple[Any, ...] = sizes_field((3, 3, 9, 3))
    kernel_size: Any = size_field(7)
    mlp_ratio: Any = size_field(4)
    num_classes: Any = size_field(1000)
    image_size: Any = image_field(224)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        if len(self.dims) != len(self.depths):
            raise InvalidConfigError("depths", self.depths,
                                     f"must have as many stages as dims={self.dims}")


__all__ = ["ConvNeXtConfig"]
