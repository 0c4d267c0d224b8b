"""Plain ConvNet: exact params / forward / backward FLOPs against real torch modules.

Expected values come from the module built from the same config, measured with PyTorch's
FlopCounterMode on real CPU tensors, or from hand derivations written out below.
"""

from __future__ import annotations

import pytest
import sympy
from costmodel.validation.build import build, example_input
from costmodel.validation.flops import count_flops, count_params
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, H, R, W, w
from costmodel.models import ConvNetConfig, cost


def _assert_matches_module(config: ConvNetConfig, batch: int) -> None:
    model = build(config)
    measured = count_flops(model, example_input(config, batch))
    predicted = cost(config, batch=batch)
    assert predicted.params == count_params(model)
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward


# -- small random ConvNets on real CPU tensors ------------------------------------------------
@st.composite
def small_convnets(draw):
    groups = draw(st.integers(1, 4))
    depth = draw(st.integers(1, 3))
    config = ConvNetConfig(
        image_size=(draw(st.integers(3, 40)), draw(st.integers(3, 40))),
        in_channels=draw(st.integers(1, 3)),
        channels=tuple(groups * draw(st.integers(1, 3)) for _ in range(depth)),
        kernel_size=draw(st.integers(1, 5)),
        stride=draw(st.integers(1, 3)),
        padding=draw(st.integers(0, 2)),
        dilation=draw(st.integers(1, 2)),
        groups=groups,
        bias=draw(st.booleans()),
        norm=draw(st.sampled_from(["batch", "none"])),
        activation=draw(st.sampled_from(["relu", "gelu"])),
        pool=draw(st.sampled_from(["max", "avg", "none"])),
        num_classes=draw(st.integers(1, 7)),
    )
    # batch >= 2: training-mode batch norm needs more than one value per channel
    return config, draw(st.integers(2, 3))


@settings(max_examples=25, deadline=None)
@example((ConvNetConfig(image_size=(33, 47), channels=(6, 9, 12), groups=3, kernel_size=5, stride=2, padding=2,
                        dilation=2, pool="avg", activation="gelu"), 2))
@example((ConvNetConfig(image_size=(17, 9), channels=(4,), groups=4, kernel_size=3, stride=3, padding=0,
                        pool="none", norm="none", bias=False), 3))
@given(small_convnets())
def test_small_convnets_match_module(case):
    """Exact agreement, and where the image is too small, both sides refuse it."""
    config, batch = case
    try:
        cost(config, batch=batch)
    except InvalidConfigError as exc:
        assert exc.field == "image_size" and "too small for the network" in str(exc)
        with pytest.raises(RuntimeError):
            build(config)(example_input(config, batch))
        return
    _assert_matches_module(config, batch)


def test_first_layer_is_dense_and_params_by_hand():
    config = ConvNetConfig(in_channels=3, channels=(4, 8), groups=4, kernel_size=3, num_classes=10)
    # layer0 (groups 1): 4*3*9 weights + 4 bias + 2*4 BN; layer1 (groups 4): 8*(4/4)*9 + 8 + 2*8;
    # head: 8*10 + 10
    expected = (108 + 4 + 8) + (72 + 8 + 16) + 90
    assert cost(config, batch=1).params == expected
    assert count_params(build(config)) == expected


def test_grouped_weight_gradient_counted_dense_like_flop_counter():
    config = ConvNetConfig(image_size=8, in_channels=4, channels=(8, 8), groups=4, kernel_size=3,
                           pool="none", norm="none", bias=False, num_classes=2)
    dense_like = cost(config, batch=1).part("layer1/conv")
    true_count = cost(config, batch=1, convention="full").part("layer1/conv")
    # 8x8 map, 8 outputs of 2 inputs x 9 taps each: 2 * 64 * 8 * 2 * 9 FLOPs forward
    fwd = 2 * 64 * 8 * 2 * 9
    assert dense_like.forward_flops == true_count.forward_flops == fwd
    assert dense_like.backward_flops == fwd + 4 * fwd  # input grad + weight grad as if groups=1
    assert true_count.backward_flops == fwd + fwd
    _assert_matches_module(config, 2)


# -- symbolic sizes --------------------------------------------------------------------
def test_symbolic_evaluates_to_integer_count():
    base = dict(channels=(w, 2 * w), groups=2, kernel_size=3, stride=2, padding=1, dilation=2, pool="max",
                num_classes=5)
    symbolic = cost(ConvNetConfig(image_size=(H, W), **base), batch=B)
    for h_, w_, width, batch in [(33, 47, 2, 2), (40, 21, 4, 1), (64, 64, 6, 3)]:
        integer = cost(ConvNetConfig(image_size=(h_, w_), **{**base, "channels": (width, 2 * width)}),
                       batch=batch)
        value = symbolic.evaluate(H=h_, W=w_, w=width, B=batch).magnitudes()
        assert value == {"forward_flops": integer.forward_flops, "backward_flops": integer.backward_flops,
                         "params": integer.params}


def test_divisible_gives_exact_polynomial():
    # 3x3 pad 1 stride 1 keeps the size; each 2x2/2 pool halves it: 8 divides R -> exact
    config = ConvNetConfig(image_size=R, channels=(8, 16, 32), pool="avg", num_classes=10)
    floors = cost(config, batch=B)
    poly = cost(config, batch=B, divisible=True)
    assert not floors.is_polynomial and poly.is_polynomial
    for side in (8, 32, 96):
        integer = cost(config.replace(image_size=side), batch=2)
        value = poly.evaluate(R=side, B=2).magnitudes()
        assert (value["forward_flops"], value["backward_flops"], value["params"]) == \
            (integer.forward_flops, integer.backward_flops, integer.params)
    assert floors.evaluate(R=37, B=2).forward_flops.magnitude == \
        cost(config.replace(image_size=37), batch=2).forward_flops
    assert sympy.degree(sympy.expand(poly.forward_flops), R) == 2


# -- bad inputs ------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"channels": (6, 8), "groups": 4}, "channels[0]=6: must be divisible by groups=4"),
    ({"channels": (8, 6), "groups": 4}, "channels[1]=6: must be divisible by groups=4"),
    ({"channels": ()}, "channels=(): must have at least 1 entries"),
    ({"kernel_size": 0}, "kernel_size=0: must be a positive integer"),
    ({"padding": -1}, "padding=-1: must be >= 0"),
    ({"activation": "swish"}, "activation='swish': must be one of relu, gelu"),
    ({"pool": "min"}, "pool='min': must be one of max, avg, none"),
    ({"norm": "layer"}, "norm='layer': must be one of batch, none"),
])
def test_bad_config_names_field_and_value(changes, message):
    with pytest.raises(InvalidConfigError) as info:
        ConvNetConfig(**changes)
    assert str(info.value) == message


def test_single_grouped_layer_needs_no_divisibility():
    # the only layer sees the image, so it has groups=1 whatever `groups` says
    _assert_matches_module(ConvNetConfig(image_size=9, channels=(5,), groups=4, num_classes=3), 2)


@pytest.mark.parametrize("changes, where", [
    ({"image_size": 3, "kernel_size": 5, "padding": 0}, "the conv of layer 0 gets a 3x3 map"),
    ({"image_size": (16, 3), "channels": (4, 4, 4)}, "the pool of layer 1 gets a 8x1 map"),
])
def test_image_too_small_names_image_size(changes, where):
    config = ConvNetConfig(**changes)
    with pytest.raises(InvalidConfigError) as info:
        cost(config, batch=1)
    assert str(info.value).startswith(f"image_size={config.image_size!r}: is too small for the network: {where}")
    with pytest.raises(RuntimeError):  # torch refuses it too
        build(config)(example_input(config, 2))


# -- breakdown -------------------------------------------------------------------------
def test_breakdown_sums_and_matches_measured_modules():
    config = ConvNetConfig(image_size=(21, 30), channels=(6, 12), groups=3, kernel_size=3, stride=1,
                           padding=1, pool="max", num_classes=4)
    predicted = cost(config, batch=2)
    top = dict(predicted.parts)
    assert list(top) == ["layer0", "layer1", "head"]
    for metric in ("forward_flops", "backward_flops", "params"):
        assert sum(getattr(p, metric) for p in top.values()) == getattr(predicted, metric)
    assert [name for name, _ in predicted.part("layer1").parts] == ["conv", "norm", "act", "pool"]
    model, x = build(config), example_input(config, 2)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    step = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    assert predicted.part("layer0").training_flops == step["ConvNet.features.0"]
    assert predicted.part("layer1").training_flops == step["ConvNet.features.1"]
    assert predicted.part("head").training_flops == step["ConvNet.fc"]


# -- FULL convention ---------------------------------------------------------------------
def test_full_minus_flop_counter_is_hand_derived_elementwise():
    # one layer: 3x3 pad 1 conv 3 -> 2 channels with bias on a 4x4 image, batch norm, ReLU,
    # 2x2/2 max pool; head 2 -> 3 classes; batch 1
    config = ConvNetConfig(image_size=4, in_channels=3, channels=(2,), num_classes=3)
    full = cost(config, batch=1, convention="full")
    counted = cost(config, batch=1)
    values = 2 * 4 * 4  # conv outputs
    pooled = 2 * 2 * 2  # pool outputs
    fwd = values + 7 * values + values + 3 * pooled + 2 * 4 + 3  # bias, BN, ReLU, max (3 compares), avg, fc bias
    bwd = values + 12 * values + values + pooled + 2 * 4 + 3
    assert full.forward_flops - counted.forward_flops == fwd
    assert full.backward_flops - counted.backward_flops == bwd
