"""Named architectures, as torchvision names them: one read-only table.

Sources: torchvision ``models/resnet.py``, ``models/vision_transformer.py``,
``models/convnext.py``, ``models/swin_transformer.py``, ``models/efficientnet.py``,
``models/mobilenetv2.py``, ``models/mobilenetv3.py`` and ``models/regnet.py`` (the builders
``resnet50``, ``vit_b_16``, ``convnext_tiny``, ``swin_t``, ``efficientnet_b0``, ...; the
EfficientNet image sizes are the crop sizes of their ``IMAGENET1K_V1`` weights: 224, 240,
288, 300, 380, 456, 528, 600);
``vit_ti_16`` and ``vit_s_16`` are the DeiT-Ti and DeiT-S sizes (Touvron et al., ICML
2021, Table 1).

Examples
--------
>>> from costmodel.models.presets import get_preset, list_presets
>>> get_preset("resnet50").layers
(3, 4, 6, 3)
>>> list_presets("vit_b*")
['vit_b_16', 'vit_b_32']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

from costmodel.core.errors import UnknownPresetError
from costmodel.models.base import ArchConfig
from costmodel.models.convnext import ConvNeXtConfig
from costmodel.models.efficientnet import EfficientNetConfig
from costmodel.models.mobilenet import MobileNetV2Config, MobileNetV3Config
from costmodel.models.regnet import RegNetConfig
from costmodel.models.resnet import ResNetConfig
from costmodel.models.swin import SwinConfig
from costmodel.models.vit import ViTConfig


def _vit(patch: int, width: int, depth: int, heads: int) -> ViTConfig:
    return ViTConfig(patch_size=patch, width=width, depth=depth, heads=heads, mlp_ratio=4)


def _efficientnet(width: str, depth: str, image: int) -> EfficientNetConfig:
    return EfficientNetConfig(width_mult=Fraction(width), depth_mult=Fraction(depth), image_size=image)


def _regnet(depth: int, w_0: int, w_a: str, w_m: str, group_width: int, se: bool) -> RegNetConfig:
    return RegNetConfig(depth=depth, w_0=w_0, w_a=Fraction(w_a), w_m=Fraction(w_m), group_width=group_width, se=se)


PRESETS: Mapping[str, ArchConfig] = MappingProxyType({
    "resnet18": ResNetConfig(block="basic", layers=(2, 2, 2, 2)),
    "resnet34": ResNetConfig(block="basic", layers=(3, 4, 6, 3)),
    "resnet50": ResNetConfig(block="bottleneck", layers=(3, 4, 6, 3)),
    "resnet101": ResNetConfig(block="bottleneck", layers=(3, 4, 23, 3)),
    "resnet152": ResNetConfig(block="bottleneck", layers=(3, 8, 36, 3)),
    "vit_ti_16": _vit(16, 192, 12, 3),
    "vit_s_16": _vit(16, 384, 12, 6),
    "vit_b_16": _vit(16, 768, 12, 12),
    "vit_b_32": _vit(32, 768, 12, 12),
    "vit_l_16": _vit(16, 1024, 24, 16),
    "vit_l_32": _vit(32, 1024, 24, 16),
    "vit_h_14": _vit(14, 1280, 32, 16),
    "convnext_tiny": ConvNeXtConfig(dims=(96, 192, 384, 768), depths=(3, 3, 9, 3)),
    "convnext_small": ConvNeXtConfig(dims=(96, 192, 384, 768), depths=(3, 3, 27, 3)),
    "convnext_base": ConvNeXtConfig(dims=(128, 256, 512, 1024), depths=(3, 3, 27, 3)),
    "swin_t": SwinConfig(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    "swin_s": SwinConfig(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    "swin_b": SwinConfig(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    "efficientnet_b0": _efficientnet("1", "1", 224),
    "efficientnet_b1": _efficientnet("1", "1.1", 240),
    "efficientnet_b2": _efficientnet("1.1", "1.2", 288),
    "efficientnet_b3": _efficientnet("1.2", "1.4", 300),
    "efficientnet_b4": _efficientnet("1.4", "1.8", 380),
    "efficientnet_b5": _efficientnet("1.6", "2.2", 456),
    "efficientnet_b6": _efficientnet("1.8", "2.6", 528),
    "efficientnet_b7": _efficientnet("2", "3.1", 600),
    "mobilenet_v2": MobileNetV2Config(),
    "mobilenet_v3_large": MobileNetV3Config(variant="large"),
    "mobilenet_v3_small": MobileNetV3Config(variant="small"),
    "regnet_x_400mf": _regnet(22, 24, "24.48", "2.54", 16, se=False),
    "regnet_y_400mf": _regnet(16, 48, "27.89", "2.09", 8, se=True),
    "regnet_y_16gf": _regnet(18, 200, "106.23", "2.48", 112, se=True),
})


def list_presets(pattern: str = "*") -> list[str]:
    """Preset names matching a shell-style ``pattern`` (``"vit_*"``), sorted."""
    return sorted(name for name in PRESETS if fnmatch.fnmatchcase(name, pattern))


def get_preset(name: str) -> ArchConfig:
    """The config of preset ``name``; an unknown name suggests close ones."""
    if name not in PRESETS:
        raise UnknownPresetError("preset", name, PRESETS)
    return PRESETS[name]


__all__ = ["PRESETS", "list_presets", "get_preset"]
