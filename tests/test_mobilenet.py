"""MobileNetV2 and MobileNetV3 (large, small): exact costs against torchvision's published table,
FlopCounterMode, saved-tensor hooks and hand derivations.

Published values: torchvision's "Table of all available classification weights"
(https://pytorch.org/vision/stable/models.html#table-of-all-available-classification-weights),
"Params" and "GFLOPS" of ``MobileNet_V2_Weights.IMAGENET1K_V1``,
``MobileNet_V3_Large_Weights.IMAGENET1K_V1`` and ``MobileNet_V3_Small_Weights.IMAGENET1K_V1``
at 224 px. "GFLOPS" is multiply-accumulates of convolutions and linear layers (FlopCounterMode's
count halved). Measured values: the modules of ``costmodel.validation.torch_models.mobilenet_v2``
/ ``mobilenet_v3``, written from torchvision's ``models/mobilenetv2.py`` / ``mobilenetv3.py``.
"""

from __future__ import annotations

import functools
from fractions import Fraction

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

from costmodel.core.conventions import FULL
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, H, W
from costmodel.cost.value import Cost
from costmodel.models import MobileNetV2Config, MobileNetV3Config, cost
from costmodel.models.presets import get_preset
from costmodel.strategies import configs

PUBLISHED = {
    "mobilenet_v2": (3_504_872, 0.30),
    "mobilenet_v3_large": (5_483_032, 0.22),
    "mobilenet_v3_small": (2_542_856, 0.06),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_presets_equal_torchvision_table(name):
    assert_published(name, PUBLISHED)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", pytest.param("mobilenet_v2", marks=pytest.mark.slow),
                                  pytest.param("mobilenet_v3_large", marks=pytest.mark.slow)])
def test_presets_equal_module(name):
    assert_preset_equals_module(name)


def test_v3_small_head_by_hand():
    """MobileNetV3-small head at 224 px, batch 1 (Howard et al. Table 2): last conv 1x1 96 -> 576 on 7x7,
    then Linear(576, 1024) and Linear(1024, 1000): MACs 7*7*96*576 + 576*1024 + 1024*1000."""
    c = cost(get_preset("mobilenet_v3_small"), batch=1)
    assert c.part("last").forward_flops == 2 * 7 * 7 * 96 * 576
    assert c.part("head").forward_flops == 2 * (576 * 1024 + 1024 * 1000)
    assert c.part("head").params == 576 * 1024 + 1024 + 1024 * 1000 + 1000


def test_v3_large_se_block_by_hand():
    """Block 3 of V3-large: 24 -> 72 (1x1), 5x5/2 depthwise, SE 72 -> make_divisible(72 // 4) = 24 -> 72, 1x1 -> 40.

    On 56x56 input, 28x28 output, batch 1: MACs 56*56*24*72 + 28*28*72*25 + 2*72*24 + 28*28*72*40;
    params (no bias in the convs, BN 2 per channel, SE convs with bias):
    24*72 + 2*72 + 72*25 + 2*72 + (72*24 + 24 + 24*72 + 72) + 72*40 + 2*40.
    """
    c = cost(get_preset("mobilenet_v3_large"), batch=1).part("block3")
    assert c.forward_flops == 2 * (56 * 56 * 24 * 72 + 28 * 28 * 72 * 25 + 2 * 72 * 24 + 28 * 28 * 72 * 40)
    assert c.params == 24 * 72 + 2 * 72 + 72 * 25 + 2 * 72 + (72 * 24 + 24 + 24 * 72 + 72) + 72 * 40 + 2 * 40


def test_full_convention_counts_the_hardswish():
    """FULL adds 4 FLOPs per hardswish value forward (x * relu6(x + 3) / 6): the head's one on 1024 values."""
    full = cost(get_preset("mobilenet_v3_small"), batch=1, convention=FULL)
    assert full.part("head/act").forward_flops == 4 * 1024
    assert cost(get_preset("mobilenet_v3_small"), batch=1).part("head/act").forward_flops == 0


@settings(max_examples=3, deadline=None)
@given(config=configs(MobileNetV2Config, image_size=(3, 40), num_classes=4), dtype=dtypes)
def test_small_v2_configs_equal_module(config, dtype):
    assert_module(config, 2, dtype=dtype)


@settings(max_examples=4, deadline=None)
@given(config=configs(MobileNetV3Config, image_size=(3, 40), num_classes=3), dtype=dtypes)
def test_small_v3_configs_equal_module(config, dtype):
    assert_module(config, 2, dtype=dtype)


def test_peak_of_a_small_config_equals_memtracker():
    """The peak of a training step (Adam) against MemTracker (fake tensors), within 1 %."""
    assert_peak(MobileNetV3Config(variant="small", width_mult=Fraction(1, 4), image_size=35, num_classes=5), 2,
                "adam", 0.01)


@functools.lru_cache
def symbolic(config: type) -> Cost:
    return cost(config(image_size=(H, W)), batch=B)


@settings(max_examples=5, deadline=None)
@given(batch=st.integers(1, 8), height=st.integers(1, 300), width=st.integers(1, 300))
def test_symbolic_image_size_is_exact(batch, height, width):
    for config in (MobileNetV2Config, MobileNetV3Config):
        exact = cost(config(image_size=(height, width)), batch=batch).evaluate().magnitudes()
        assert symbolic(config).evaluate(B=batch, H=height, W=width).magnitudes() == exact


@pytest.mark.parametrize("config, field", [
    (lambda: MobileNetV2Config(width_mult=0), "width_mult"),
    (lambda: MobileNetV3Config(width_mult=-0.5), "width_mult"),
    (lambda: MobileNetV3Config(variant="medium"), "variant"),
])
def test_bad_input_is_one_line_naming_field(config, field):
    with pytest.raises(InvalidConfigError) as exc:
        config()
    assert exc.value.field == field and "\n" not in str(exc.value)


@pytest.mark.slow
def test_closed_form_proved_equal_to_pytorch_symbolic_count():
    """As for RegNet (``tests/test_regnet.py``): PyTorch's symbolic count in (B, H, W) equals the closed form
    for every size, here through hardswish, squeeze-excitation and the 5x5 strided depthwise convs."""
    from costmodel.validation.symbolic import prove_equal, symbolic_flops

    config = MobileNetV3Config(variant="small", width_mult=Fraction(1, 4), image_size=64, num_classes=5)
    measured = symbolic_flops(config, ("batch", "height", "width"))
    predicted = cost(config.replace(image_size=(H, W)), batch=B)
    proofs = [prove_equal(p, m, [B, H, W]) for p, m in ((predicted.forward_flops, measured.forward),
                                                         (predicted.backward_flops, measured.backward))]
    assert all(p.complete and p.method == "symbolic" for p in proofs)
