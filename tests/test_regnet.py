"""RegNet X / Y: exact costs against torchvision's published table, FlopCounterMode, saved-tensor
hooks and hand derivations of the quantized linear width rule.

Published values: torchvision's "Table of all available classification weights"
(https://pytorch.org/vision/stable/models.html#table-of-all-available-classification-weights),
"Params" and "GFLOPS" (multiply-accumulates of convolutions and linear layers) of
``RegNet_X_400MF_Weights.IMAGENET1K_V1``, ``RegNet_Y_400MF_Weights.IMAGENET1K_V1`` and
``RegNet_Y_16GF_Weights.IMAGENET1K_V1`` at 224 px.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_efficientnet import (  # noqa: F401
    assert_module,
    assert_peak,
    assert_preset_equals_module,
    assert_published,
    dtypes,
    one_thread,
)

from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, H, W
from costmodel.models import RegNetConfig, cost
from costmodel.models.presets import get_preset
from costmodel.strategies import configs

PUBLISHED = {
    "regnet_x_400mf": (5_495_976, 0.41),
    "regnet_y_400mf": (4_344_144, 0.40),
    "regnet_y_16gf": (83_590_140, 15.91),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_presets_equal_torchvision_table(name):
    assert_published(name, PUBLISHED)


@pytest.mark.parametrize("name", ["regnet_x_400mf", pytest.param("regnet_y_400mf", marks=pytest.mark.slow),
                                  pytest.param("regnet_y_16gf", marks=pytest.mark.slow)])
def test_presets_equal_module(name):
    assert_preset_equals_module(name)


def test_width_rule_by_hand_for_regnet_y_400mf():
    """Radosavovic et al. Sec. 3.3 with d = 16, w_0 = 48, w_a = 27.89, w_m = 2.09.

    u_j = 48 + 27.89 j; s_j = round(log(u_j / 48) / log 2.09): j = 0 -> 0; j = 1..3 -> 1
    (u = 75.9 .. 131.7, log ratio / 0.737 = 0.62 .. 1.37); j = 4..9 -> 2; j = 10..15 -> 3.
    Widths 8 round(48 * 2.09^s / 8): 48, 100.3 -> 104, 209.7 -> 208, 438.2 -> 440.
    So stages (48, 1), (104, 3), (208, 6), (440, 6): group width 8 divides each.
    """
    stages = get_preset("regnet_y_400mf").stages()
    assert [(s.width, s.depth, s.group_width) for s in stages] == [(48, 1, 8), (104, 3, 8), (208, 6, 8),
                                                                   (440, 6, 8)]
    assert round(math.log((48 + 27.89 * 3) / 48) / math.log(2.09)) == 1  # the hand steps above
    assert round(math.log((48 + 27.89 * 4) / 48) / math.log(2.09)) == 2


def test_group_width_rounding_of_regnet_x_400mf():
    """Last stage of RegNetX-400MF: 8 round(24 * 2.54^3 / 8) = 392, not a multiple of the group width 16;
    torchvision's ``_make_divisible(392, 16)`` = floor(400 / 16) * 16 = 400 (pycls rounds to 384)."""
    assert get_preset("regnet_x_400mf").stages()[-1].width == 400


def test_y_block_by_hand():
    """First block of RegNetY-400MF (32 -> 48, stride 2, 112 -> 56 px, batch 1, groups 48 / 8 = 6, SE
    width round(0.25 * 32) = 8): MACs proj 56^2 32 48 + a 112^2 32 48 + b 56^2 48 9 8 + SE 2 48 8 + c 56^2 48 48."""
    c = cost(get_preset("regnet_y_400mf"), batch=1).part("block1/block0")
    s, t = 56 * 56, 112 * 112
    assert c.forward_flops == 2 * (s * 32 * 48 + t * 32 * 48 + s * 48 * 9 * 8 + 2 * 48 * 8 + s * 48 * 48)


#: the public strategy: 1 to 5 blocks, w_0 8 or 16, slopes 4 to 12.5, multipliers 1.5 to 2.5, with or without SE
small_configs = configs(RegNetConfig, image_size=(5, 40), num_classes=3)


@settings(max_examples=5, deadline=None)
@given(config=small_configs, dtype=dtypes)
def test_small_configs_with_odd_sizes_equal_module(config, dtype):
    assert_module(config, 2, dtype=dtype)


@pytest.mark.parametrize("se, optimizer", [(True, "sgd"), (False, "adam")])
def test_peak_of_a_small_config_equals_memtracker(se, optimizer):
    """Within 1 % of MemTracker; the stem (32 wide) is wider than the first stage (8), so the peak is
    where the first block's projection runs backward while the branch's gradient of its input waits."""
    config = RegNetConfig(depth=4, w_0=8, w_a=8, w_m=2, group_width=4, se=se, image_size=37, num_classes=5)
    assert_peak(config, 2, optimizer, 0.01)


@settings(max_examples=5, deadline=None)
@given(batch=st.integers(1, 8), height=st.integers(1, 300), width=st.integers(1, 300))
def test_symbolic_image_size_is_exact(batch, height, width):
    exact = cost(RegNetConfig(se=False, image_size=(height, width)), batch=batch).evaluate().magnitudes()
    assert SYMBOLIC.evaluate(B=batch, H=height, W=width).magnitudes() == exact


SYMBOLIC = cost(RegNetConfig(se=False, image_size=(H, W)), batch=B)


@pytest.mark.parametrize("kwargs, field", [
    ({"w_0": 20}, "w_0"), ({"w_m": 1}, "w_m"), ({"w_a": -1}, "w_a"), ({"depth": H}, "depth"),
    ({"group_width": 0}, "group_width"),
    # laid out block by block: a depth of 10**30 ran the machine out of memory (CI's config fuzzer)
    ({"depth": 10**30}, "depth"), ({"depth": 1001}, "depth"),
])
def test_bad_input_is_one_line_naming_field(kwargs, field):
    with pytest.raises(InvalidConfigError) as exc:
        RegNetConfig(**kwargs)
    assert exc.value.field == field and "\n" not in str(exc.value)


def test_closed_form_proved_equal_to_pytorch_symbolic_count():
    """PyTorch's own symbolic FLOP count (FakeTensor + ShapeEnv, batch and both image sides symbolic) equals
    the closed form for every size, floors of the strided convs included (``prove_equal``)."""
    from costmodel.validation.symbolic import prove_equal, symbolic_flops

    config = RegNetConfig(depth=3, w_0=8, w_a=8, w_m=2, group_width=4, image_size=64, num_classes=5)
    measured = symbolic_flops(config, ("batch", "height", "width"))
    predicted = cost(config.replace(image_size=(H, W)), batch=B)
    proofs = [prove_equal(p, m, [B, H, W]) for p, m in ((predicted.forward_flops, measured.forward),
                                                         (predicted.backward_flops, measured.backward))]
    assert all(p.complete and p.method == "symbolic" for p in proofs)
