"""Named architectures, as torchvision names them: one read-only table.

Sources: torchvision ``models/resnet.py``, ``models/vision_transformer.py`` and
``models/convnext.py`` (the builders ``resnet50``, ``vit_b_16``, ``convnext_tiny``, ...);
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
from types import MappingProxyType

from costmodel.core.errors import UnknownPresetError
from costmodel.models.base import ArchConfig
from costmodel.models.convnext import ConvNeXtConfig
from costmodel.models.resnet import ResNetConfig
from costmodel.models.vit import ViTConfig


def _vit(patch: int, width: int, depth: int, heads: int) -> ViTConfig:
    return ViTConfig(patch_size=patch, width=width, depth=depth, heads=heads, mlp_ratio=4)


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
