"""ResNet: exact params / forward / backward FLOPs against real torch modules and torchvision.

Expected values come from (a) the module built from the same config and measured with
PyTorch's FlopCounterMode, (b) torchvision's published model metadata, or (c) hand
derivations written out below.
"""

from __future__ import annotations

import pytest
import sympy
from costmodel.validation.build import build, example_input, measure_flops
from costmodel.validation.flops import count_flops, count_params
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, D, H, R, W, w
from costmodel.models import ResNetConfig, cost
from costmodel.models.presets import get_preset
from costmodel.strategies import configs

# torchvision's published metadata of the IMAGENET1K_V1 weights: ``num_params`` and
# ``_ops`` (shown as "GFLOPS" in the docs table), from torchvision/models/resnet.py
# (``ResNet18_Weights`` ... ``ResNet152_Weights``) and the pages
# https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet{18,34,50,101,152}.html
# (docs show the same numbers rounded to 2 decimals: 1.81, 3.66, 4.09, 7.80, 11.51).
PUBLISHED = {
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
}
BIG = {"resnet50", "resnet101", "resnet152"}


def _preset_params():
    return [pytest.param(name, marks=pytest.mark.slow) if name in BIG else name for name in PUBLISHED]


def _assert_matches_module(config: ResNetConfig, batch: int) -> None:
    """Params, forward and backward FLOPs equal a real CPU run of the built module."""
    model = build(config)
    measured = count_flops(model, example_input(config, batch))
    predicted = cost(config, batch=batch)
    assert predicted.params == count_params(model)
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward


# -- presets ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", _preset_params())
def test_preset_matches_module_and_torchvision(name):
    config = get_preset(name)
    for batch in (1, 2):
        measured, params = measure_flops(config, batch)
        predicted = cost(config, batch=batch)
        assert predicted.params == params == PUBLISHED[name][0]
        assert predicted.forward_flops == measured.forward
        assert predicted.backward_flops == measured.backward


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_gflops_are_gmacs(name):
    """torchvision's ``_ops`` counts multiply-accumulates: our forward FLOPs / 2.

    The FLOP counter of vision PR #6936 ("Adding FLOPs and size to model metadata",
    https://github.com/pytorch/vision/pull/6936, after Chillee's dispatch-based counter)
    counts one op per MAC; the metadata holds it in GFLOPS rounded to 3 decimals, so the
    tolerance is half a unit of the last digit (0.0005 G). The FLOPs reading (x2) is
    ruled out: it is about twice the published value.
    """
    forward = int(cost(get_preset(name), batch=1).forward_flops)
    published = PUBLISHED[name][1]
    assert abs(forward / 2 / 1e9 - published) <= 0.0005
    assert forward / 1e9 > 1.9 * published


def test_resnet50_stem_conv_by_hand():
    # 224 -> 112 (7x7/2 pad 3); 2 * 112*112 outputs * 64 ch * 3*7*7 MACs each
    stem = cost(get_preset("resnet50"), batch=1).part("stem/conv")
    assert stem.forward_flops == 2 * 112 * 112 * 64 * 3 * 7 * 7
    assert stem.backward_flops == stem.forward_flops  # weight gradient only: the image needs none
    assert stem.params == 64 * 3 * 7 * 7  # no bias


# -- small random ResNets on real CPU tensors ----------------------------------------------
# batch >= 2: training-mode batch norm needs more than one value per channel, and a small image
# ends as a 1x1 map (batch 1 is covered by the presets); configs from the public strategies
SMALL_RESNETS = st.tuples(configs(ResNetConfig, image_size=(1, 49), width=st.integers(1, 4),
                                  num_classes=st.integers(1, 7)), st.integers(2, 3))


@settings(max_examples=15, deadline=None)
@example((ResNetConfig(block="bottleneck", layers=(1, 2, 1), width=3, image_size=(33, 47), num_classes=5), 2))
@example((ResNetConfig(block="basic", layers=(2, 1, 1, 2), width=2, image_size=(33, 47), num_classes=3), 3))
@given(SMALL_RESNETS)
def test_small_resnets_match_module(case):
    config, batch = case
    _assert_matches_module(config, batch)


# -- symbolic sizes --------------------------------------------------------------------
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_symbolic_evaluates_to_integer_count(block):
    symbolic = cost(ResNetConfig(block=block, layers=(2, D, 1), width=w, image_size=(H, W), num_classes=7),
                    batch=B)
    for h_, w_, d_, width, batch in [(33, 47, 1, 4, 2), (224, 224, 3, 64, 1), (17, 9, 2, 3, 3)]:
        integer = cost(ResNetConfig(block=block, layers=(2, d_, 1), width=width, image_size=(h_, w_),
                                    num_classes=7), batch=batch)
        value = symbolic.evaluate(H=h_, W=w_, D=d_, w=width, B=batch).magnitudes()
        assert value == {"forward_flops": integer.forward_flops, "backward_flops": integer.backward_flops,
                         "params": integer.params}


def test_symbolic_square_image_and_floors():
    config = get_preset("resnet18").replace(image_size=R)
    floors = cost(config, batch=B)
    assert not floors.is_polynomial  # odd sizes need floors
    for side in (1, 31, 100, 224):
        assert floors.evaluate(R=side, B=2).forward_flops.magnitude == \
            cost(config.replace(image_size=side), batch=2).forward_flops


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_divisible_gives_exact_polynomial(name):
    config = get_preset(name).replace(image_size=(H, W))
    poly = cost(config, batch=B, divisible=True)
    assert poly.is_polynomial
    # four stride-2 halvings after the stem: 32 divides the sides -> the polynomial is exact
    for h_, w_ in [(32, 32), (224, 224), (64, 160)]:
        integer = cost(config.replace(image_size=(h_, w_)), batch=3)
        value = poly.evaluate(H=h_, W=w_, B=3).magnitudes()
        assert (value["forward_flops"], value["backward_flops"], value["params"]) == \
            (integer.forward_flops, integer.backward_flops, integer.params)
    # the polynomial is linear in the pixel count H*W (plus the resolution-free head)
    fwd = sympy.expand(poly.forward_flops)
    assert sympy.degree(fwd, H) == 1 and sympy.degree(fwd, W) == 1


# -- bad inputs ------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"block": "tripple"}, "block='tripple': must be one of basic, bottleneck"),
    ({"layers": ()}, "layers=(): must have at least 1 entries"),
    ({"layers": (2, 0)}, "layers[1]=0: must be a positive integer"),
    ({"width": 0}, "width=0: must be a positive integer"),
    ({"image_size": 0}, "image_size=0: must be a positive integer"),
    ({"image_size": (32, 0)}, "image_size[1]=0: must be a positive integer"),
    ({"num_classes": -3}, "num_classes=-3: must be a positive integer"),
])
def test_bad_inputs_name_field_and_value(changes, message):
    with pytest.raises(InvalidConfigError) as info:
        ResNetConfig(**changes)
    assert str(info.value) == message


def test_one_pixel_image_is_valid_like_torchvision():
    # torchvision's metadata says min_size (1, 1): every window keeps >= 1 output
    _assert_matches_module(ResNetConfig(block="bottleneck", layers=(1, 1), width=2, image_size=1), 2)


# -- breakdown -------------------------------------------------------------------------
def test_breakdown_sums_and_names():
    total = cost(get_preset("resnet50"), batch=B)
    top = dict(total.parts)
    assert list(top) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    for metric in ("forward_flops", "backward_flops", "params"):
        assert sympy.expand(sum(getattr(p, metric) for p in top.values()) - getattr(total, metric)) == 0
    layer3 = total.part("layer3")
    assert sympy.expand(layer3.forward_flops - total.part("layer3/block0").forward_flops
                        - total.part("layer3/blocks").forward_flops) == 0
    # layer3 of ResNet-50: 6 blocks, the later 5 identical (14x14, 1024 -> 256 -> 1024)
    one = 2 * 14 * 14 * (1024 * 256 + 256 * 256 * 9 + 256 * 1024)
    assert total.part("layer3/blocks").forward_flops == 5 * one * B
    assert total.part("layer3/block0/downsample/conv").params == 512 * 1024
    assert total.part("head/fc").params == 2048 * 1000 + 1000


def test_breakdown_matches_measured_modules():
    config = ResNetConfig(block="bottleneck", layers=(1, 2, 1), width=4, image_size=(33, 47), num_classes=5)
    predicted = cost(config, batch=2)
    model, x = build(config), example_input(config, 2)
    with FlopCounterMode(display=False) as forward:
        out = model(x)
    with FlopCounterMode(display=False) as both:
        model(x).sum().backward()
    del out
    fwd = {k: sum(v.values()) for k, v in forward.get_flop_counts().items()}
    step = {k: sum(v.values()) for k, v in both.get_flop_counts().items()}
    top = {"stem": "ResNet.conv1", "layer1": "ResNet.layer1", "layer2": "ResNet.layer2",
           "layer3": "ResNet.layer3", "head": "ResNet.fc"}
    for part, module in top.items():
        assert predicted.part(part).training_flops == step[module], part
    nested = {"layer2/block0/conv2": "ResNet.layer2.0.conv2", "layer2/block0/downsample": "ResNet.layer2.0.downsample",
              "layer2/block0": "ResNet.layer2.0", "layer2/blocks": "ResNet.layer2.1"}
    for part, module in nested.items():
        assert predicted.part(part).forward_flops == fwd[module], part


# -- FULL convention ---------------------------------------------------------------------
def test_full_minus_flop_counter_is_hand_derived_elementwise():
    # basic, one stage of one block, width 4, 8x8 image, 3 classes, batch 1
    config = ResNetConfig(block="basic", layers=(1,), width=4, image_size=8, num_classes=3)
    full = cost(config, batch=1, convention="full")
    counted = cost(config, batch=1)
    # stem: conv 8 -> 4 (4x4x4 = 64 values): BN 7/12 per value, ReLU 1/1;
    #       maxpool 4 -> 2 (2x2x4 = 16 outputs): 3*3-1 = 8 compares each, 1 backward
    stem_f, stem_b = 7 * 64 + 64 + 8 * 16, 12 * 64 + 64 + 16
    # block (16 values each): BN 7/12 twice, ReLU 1/1 twice, residual add 1/0
    block_f, block_b = 2 * 7 * 16 + 2 * 16 + 16, 2 * 12 * 16 + 2 * 16
    # head: global avg pool over 2x2 for 4 channels (16 both ways); fc bias add 3 (and its sum 3)
    head_f, head_b = 16 + 3, 16 + 3
    assert full.forward_flops - counted.forward_flops == stem_f + block_f + head_f
    assert full.backward_flops - counted.backward_flops == stem_b + block_b + head_b
    assert full.params == counted.params
