"""ConvNeXt: exact costs against FlopCounterMode, torchvision's published numbers, and hand derivations.

Independent sources of the expected values:

* the real ``nn.Module`` of ``costmodel.validation.torch_models.convnext`` (laid out as
  torchvision's ``models/convnext.py``), measured with ``FlopCounterMode``;
* torchvision's published weights metadata, ``torchvision/models/convnext.py``
  (``ConvNeXt_{Tiny,Small,Base}_Weights.IMAGENET1K_V1.meta``: ``num_params`` and
  ``_ops``), shown as the "Params" and "GFLOPS" columns of
  https://pytorch.org/vision/stable/models.html#table-of-all-available-classification-weights;
* hand derivations written out below.

FlopCounterMode quirk reproduced on purpose: the weight gradient of a grouped conv is
counted as if the conv were dense, i.e. ``groups`` times its true cost
(``conv_backward_flop`` in ``torch/utils/flop_counter.py`` counts it as a conv of the
transposed input with the output gradient, ignoring groups). ConvNeXt's depthwise conv
has ``groups = dim``, so its counted weight gradient is ``dim`` times the true one.
``costmodel.ops.conv2d`` applies the same factor under ``FLOP_COUNTER``
(:func:`test_depthwise_weight_gradient_is_counted_dense` shows it by hand).
"""

from __future__ import annotations

import functools
import re

import pytest
import sympy
import torch
from costmodel.validation.build import build, example_input, measure_flops
from costmodel.validation.flops import count_flops, count_params
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.conventions import FULL
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, C, H, K, R, W, n, w
from costmodel.models import ConvNeXtConfig, cost
from costmodel.models.presets import get_preset
from costmodel.strategies import configs

# torchvision/models/convnext.py, ConvNeXt_*_Weights.IMAGENET1K_V1.meta: "num_params" and
# "_ops" (the docs table's "GFLOPS" column). "_ops" counts multiply-accumulates (1 MAC = 1
# op), like every torchvision "GFLOPS" figure (resnet50: 4.089), rounded to 3 decimals.
PUBLISHED = {
    "convnext_tiny": (28_589_128, 4.456),
    "convnext_small": (50_223_688, 8.684),
    "convnext_base": (88_591_464, 15.355),
}

D1, D2 = sympy.symbols("D1 D2", positive=True, integer=True)
RATIO = sympy.Symbol("r_mlp", positive=True, integer=True)  # an integer MLP ratio


def measure_real(config: ConvNeXtConfig, batch: int):
    """FlopCounterMode counts and the parameter count of a real CPU run."""
    torch.manual_seed(0)
    model = build(config)
    measured = count_flops(model, example_input(config, batch))
    return measured, count_params(model)


def assert_matches(config: ConvNeXtConfig, batch: int, measured, params: int) -> None:
    predicted = cost(config, batch=batch)
    assert predicted.params == params
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward


# -- presets ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "convnext_tiny",
    pytest.param("convnext_small", marks=pytest.mark.slow),
    pytest.param("convnext_base", marks=pytest.mark.slow),
])
def test_preset_matches_module_and_torchvision(name):
    config = get_preset(name)
    published_params, published_gmacs = PUBLISHED[name]
    for batch in (1, 2):
        measured, params = measure_flops(config, batch)
        assert params == published_params
        assert_matches(config, batch, measured, params)
    # The published figure is MACs: our FLOPs / 2, to the 3 decimals published.
    macs = cost(config, batch=1).forward_flops / 2
    assert abs(macs / 1e9 - published_gmacs) <= 0.0005
    assert abs(2 * macs / 1e9 - published_gmacs) > 1  # FLOPs would be twice the figure


def test_tiny_params_by_hand():
    """ConvNeXt-T params from the layer list of torchvision's convnext.py, summed by hand."""
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    stem = (3 * 16 * 96 + 96) + 2 * 96                      # 4x4 conv + bias, LayerNorm2d
    blocks = sum(n * ((49 * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d) + d)
                 for d, n in zip(dims, depths, strict=True))              # dwconv, LN, fc1, fc2, layer scale
    down = sum(2 * a + (4 * a * b + b) for a, b in zip(dims, dims[1:], strict=False))  # LN2d + 2x2 conv
    head = 2 * 768 + (768 * 1000 + 1000)
    assert stem + blocks + down + head == 28_589_128 == cost(get_preset("convnext_tiny"), batch=1).params


# -- small configs on real CPU tensors -------------------------------------------------

@st.composite
def small_configs(draw, *, multiples: bool = True):
    """Sides that are (or are not) multiples of the strides (any valid config: costmodel.strategies.configs)."""
    stages = draw(st.integers(1, 4))
    unit = draw(st.sampled_from([4, 6, 8]))
    dims = tuple(unit * draw(st.integers(1, 3)) for _ in range(stages))
    depths = tuple(draw(st.integers(1, 2)) for _ in range(stages))
    step = 4 * 2 ** (stages - 1)
    if multiples:
        side = st.integers(1, max(1, 64 // step)).map(lambda m: m * step)
    else:
        side = st.integers(step, 2 * step + 7)
    return ConvNeXtConfig(dims=dims, depths=depths, kernel_size=draw(st.sampled_from([3, 5, 7])),
                          mlp_ratio=draw(st.integers(2, 4)), num_classes=draw(st.integers(1, 12)),
                          image_size=(draw(side), draw(side)), in_channels=draw(st.integers(1, 3)))


@settings(max_examples=12, deadline=None)
@given(config=configs(ConvNeXtConfig, image_size=(4, 64)), batch=st.integers(1, 2))
def test_small_configs_match_real_run(config, batch):
    measured, params = measure_real(config, batch)
    assert_matches(config, batch, measured, params)


@settings(max_examples=6, deadline=None)
@given(config=small_configs(multiples=False), batch=st.integers(1, 2))
def test_sizes_not_divisible_by_strides_floor_like_torch(config, batch):
    measured, params = measure_real(config, batch)
    assert_matches(config, batch, measured, params)


def test_depthwise_weight_gradient_is_counted_dense():
    """One stage, one block, d=8, k=3, 16x16 image (4x4 after the stem), batch 2, by hand.

    Backward conv FLOPs FlopCounterMode reports:
      stem weight gradient (no input gradient: the image needs none):
        2 * B * 4*4 * 8 * (3*4*4)          = 2*2*16*8*48 = 24576
      depthwise input gradient: 2 * B * 4*4 * 8 * 9 = 4608
      depthwise weight gradient counted dense, x groups (= d = 8): 8 * 4608 = 36864
    """
    config = ConvNeXtConfig(dims=(8,), depths=(1,), kernel_size=3, mlp_ratio=2, num_classes=5,
                            image_size=16)
    measured, _ = measure_real(config, 2)
    expected = 24576 + 4608 + 8 * 4608
    assert measured.backward_by_op["aten.convolution_backward"] == expected
    predicted = cost(config, batch=2)
    conv_parts = predicted.part("stem/conv").backward_flops + predicted.part("stage0/blocks/dwconv").backward_flops
    assert conv_parts == expected
    # The true weight gradient (FULL convention) is 1/d of the counted one.
    assert cost(config, batch=2, convention=FULL).part("stage0/blocks/dwconv").backward_flops \
        == 4608 + 4608 + 256  # input grad, true weight grad, bias grad (B*4*4*8 = 256 outputs)


def test_full_minus_flop_counter_is_the_elementwise_terms():
    """dims=(8,), depths=(1,), k=3, r=2, 5 classes, 8x8 image, batch 2: 2x2 map, B*H*W = 8 rows.

    Rates of costmodel.ops.pointwise (fwd, bwd per element): LN (7, 12), GELU (5, 10),
    add (1, 0), mul (1, 2); a bias add 1 per output each way; avg pool 1 per input each way.
    """
    config = ConvNeXtConfig(dims=(8,), depths=(1,), kernel_size=3, mlp_ratio=2, num_classes=5,
                            image_size=8)
    act = 2 * 2 * 2 * 8   # B*H*W*d = 64 values of every d-wide map
    hidden = 2 * 2 * 2 * 16  # 128 values after pwconv1
    true_dw_wgrad = 2 * 2 * 2 * 2 * 8 * 9  # 2 B H W d k^2 = 1152
    forward = [
        act, 7 * act,                        # stem: conv bias, LayerNorm2d
        act, 7 * act, hidden, 5 * hidden,    # dwconv bias, LN, pwconv1 bias, GELU
        act, act, act,                       # pwconv2 bias, layer scale, residual
        2 * 8 * 4, 7 * 2 * 8, 2 * 5,         # head: pool (16 outputs x 4), LN (16), fc bias
    ]
    backward = [
        act, 12 * act,
        act, -(8 - 1) * true_dw_wgrad,       # FULL counts the true depthwise weight gradient
        12 * act, hidden, 10 * hidden,
        act, 2 * act, 0,
        2 * 8 * 4, 12 * 2 * 8, 2 * 5,
    ]
    full, counted = cost(config, batch=2, convention=FULL), cost(config, batch=2)
    assert full.forward_flops - counted.forward_flops == sum(forward)
    assert full.backward_flops - counted.backward_flops == sum(backward)
    assert full.params == counted.params


# -- symbolic --------------------------------------------------------------------------

@functools.lru_cache
def symbolic_cost(square: bool, divisible: bool):
    image = R if square else (H, W)
    return cost(ConvNeXtConfig(image_size=image, depths=(3, D1, D2, 3)), batch=B, divisible=divisible)


def evaluate(c, **sizes):
    return c.evaluate(**sizes).magnitudes()


def integer_cost(batch, image, d1, d2):
    return cost(ConvNeXtConfig(image_size=image, depths=(3, d1, d2, 3)), batch=batch).evaluate().magnitudes()


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 64), side=st.integers(32, 300), d1=st.integers(1, 30), d2=st.integers(1, 30))
def test_symbolic_square_equals_integer_count(batch, side, d1, d2):
    assert not symbolic_cost(True, False).is_polynomial
    assert evaluate(symbolic_cost(True, False), B=batch, R=side, D1=d1, D2=d2) \
        == integer_cost(batch, side, d1, d2)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 64), height=st.integers(32, 300), width=st.integers(32, 300),
       d1=st.integers(1, 30), d2=st.integers(1, 30))
def test_symbolic_rectangle_equals_integer_count(batch, height, width, d1, d2):
    assert evaluate(symbolic_cost(False, False), B=batch, H=height, W=width, D1=d1, D2=d2) \
        == integer_cost(batch, (height, width), d1, d2)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 64), rows=st.integers(1, 16), cols=st.integers(1, 16), d1=st.integers(1, 30),
       d2=st.integers(1, 30))
def test_divisible_polynomial_is_exact_for_multiples_of_32(batch, rows, cols, d1, d2):
    square, rect = symbolic_cost(True, True), symbolic_cost(False, True)
    assert square.is_polynomial and rect.is_polynomial
    assert evaluate(square, B=batch, R=32 * rows, D1=d1, D2=d2) == integer_cost(batch, 32 * rows, d1, d2)
    assert evaluate(rect, B=batch, H=32 * rows, W=32 * cols, D1=d1, D2=d2) \
        == integer_cost(batch, (32 * rows, 32 * cols), d1, d2)


@functools.lru_cache
def fully_symbolic_cost(divisible: bool):
    """Two stages with every size symbolic: widths (w, 2w), kernel K, ratio r, classes n, C channels."""
    config = ConvNeXtConfig(dims=(w, 2 * w), depths=(D1, D2), kernel_size=K, mlp_ratio=RATIO,
                            num_classes=n, image_size=R, in_channels=C)
    return cost(config, batch=B, divisible=divisible)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 8), side=st.integers(8, 200), width=st.integers(1, 64), kernel=st.sampled_from([3, 5, 7]),
       ratio=st.integers(2, 4), classes=st.integers(1, 1000), channels=st.integers(1, 4),
       d1=st.integers(1, 5), d2=st.integers(1, 5))
def test_fully_symbolic_equals_integer_count(batch, side, width, kernel, ratio, classes, channels, d1, d2):
    sizes = dict(B=batch, w=width, D1=d1, D2=d2, K=kernel, r_mlp=ratio, n=classes, C=channels)
    config = ConvNeXtConfig(dims=(width, 2 * width), depths=(d1, d2), kernel_size=kernel, mlp_ratio=ratio,
                            num_classes=classes, image_size=side, in_channels=channels)
    exact = cost(config, batch=batch).evaluate().magnitudes()
    assert evaluate(fully_symbolic_cost(False), R=side, **sizes) == exact
    if side % 8 == 0:  # two stages: 4 * 2 divides the side
        assert fully_symbolic_cost(True).is_polynomial
        assert evaluate(fully_symbolic_cost(True), R=side, **sizes) == exact


def test_divisible_polynomial_differs_off_multiples():
    """At 230 px the feature maps are floor(230/4)=57, 28, 14, 7, not 57.5, 28.75, ...: the assumption matters."""
    poly = evaluate(symbolic_cost(True, True), B=1, R=230, D1=3, D2=9)
    assert poly["forward_flops"] != integer_cost(1, 230, 3, 9)["forward_flops"]


def test_divisible_polynomial_leading_term_by_hand():
    """ConvNeXt-T per image at R: stage i has (R / 2^(i+2))^2 positions and MACs per position
    per block 49 d + 8 d^2 (dwconv + two 4x linears); FLOPs are 2x MACs."""
    c = cost(get_preset("convnext_tiny").replace(image_size=R), batch=1, divisible=True)
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    blocks = sum(n * 2 * (49 * d + 8 * d * d) * R**2 / 4 ** (i + 2)
                 for i, (d, n) in enumerate(zip(dims, depths, strict=True)))
    assert sympy.expand(sum(c.part(f"stage{i}").forward_flops for i in range(4)) - blocks) == 0


# -- breakdown -------------------------------------------------------------------------

@pytest.mark.parametrize("divisible", [False, True])
def test_breakdown_parts_sum_to_total(divisible):
    c = symbolic_cost(True, divisible)
    nodes = [("", c)] + list(c.walk())
    for path, node in nodes:
        if not node.parts:
            continue
        for metric, total in node.metrics().items():
            summed = sum(getattr(child, metric) for _, child in node.parts)
            assert sympy.expand(summed - total) == 0, (path, metric)
    top = {name for name, _ in c.parts}
    assert top == {"stem", "stage0", "downsample0", "stage1", "downsample1", "stage2",
                   "downsample2", "stage3", "head"}
    assert {name for name, _ in c.part("stage2/blocks").parts} == {
        "dwconv", "norm", "pwconv1", "act", "pwconv2", "layer_scale", "residual"}


def test_breakdown_of_a_preset_by_hand():
    c = cost(get_preset("convnext_tiny"), batch=1)
    assert c.part("head/fc").params == 768 * 1000 + 1000
    assert c.part("stage2/blocks/layer_scale").params == 9 * 384           # nine (384,1,1) scales
    assert c.part("downsample0/conv").forward_flops == 2 * 28 * 28 * 192 * 96 * 4
    assert c.part("stem/conv").backward_flops == c.part("stem/conv").forward_flops  # weight grad only
    assert sum(leaf.params for _, leaf in c.leaves()) == c.params


# -- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    (dict(dims=(96, 192), depths=(3, 3, 3)), "depths=(3, 3, 3)"),
    (dict(dims=(96, 0), depths=(3, 3)), "dims[1]=0"),
    (dict(dims=(96, 192), depths=(3, 0)), "depths[1]=0"),
    (dict(dims=(8,), depths=(1,), image_size=3), "image_size=3"),           # stem needs 4 px
    (dict(image_size=16), "image_size=16"),                                  # 4 stages need 32 px
    (dict(image_size=(224, 31)), "image_size=(224, 31)"),
    (dict(kernel_size=4), "kernel_size=4"),
])
def test_bad_input_names_field_and_value(fields, message):
    with pytest.raises(InvalidConfigError, match=re.escape(message)):
        ConvNeXtConfig(**fields)


def test_smallest_image_is_accepted_and_exact():
    config = ConvNeXtConfig(dims=(4, 8, 8), depths=(1, 1, 1), kernel_size=3, num_classes=3,
                            image_size=(16, 17))
    measured, params = measure_real(config, 1)
    assert_matches(config, 1, measured, params)
