"""The preset table: names as torchvision names them, read-only, helpful errors."""

import pytest

from costmodel import UnknownPresetError
from costmodel.models.presets import PRESETS, get_preset, list_presets

TORCHVISION_NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vit_b_16", "vit_b_32",
                     "vit_l_16", "vit_l_32", "vit_h_14", "convnext_tiny", "convnext_small", "convnext_base"]


def test_every_required_preset_is_there():
    assert set(TORCHVISION_NAMES + ["vit_ti_16", "vit_s_16"]) <= set(PRESETS)


def test_list_presets_pattern():
    assert list_presets("resnet1*") == ["resnet101", "resnet152", "resnet18"]
    assert list_presets("nothing*") == []
    assert list_presets() == sorted(PRESETS)


def test_table_is_read_only():
    with pytest.raises(TypeError):
        PRESETS["mine"] = get_preset("resnet18")  # type: ignore[index]


def test_unknown_preset_suggests_close_names():
    with pytest.raises(UnknownPresetError, match=r"unknown preset 'resnet5'. Did you mean resnet50"):
        get_preset("resnet5")
    with pytest.raises(KeyError):  # UnknownPresetError is a KeyError too
        get_preset("vit_b_17")


def test_deit_sizes_from_the_paper():
    # Touvron et al. 2021, Table 1: DeiT-Ti 192 wide, 3 heads; DeiT-S 384 wide, 6 heads; 12 layers
    assert (get_preset("vit_ti_16").width, get_preset("vit_ti_16").heads) == (192, 3)
    assert (get_preset("vit_s_16").width, get_preset("vit_s_16").heads, get_preset("vit_s_16").depth) == (384, 6, 12)
