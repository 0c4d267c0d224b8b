"""Memory model: the trace algebra by hand, saved activations equal to the hook measurement
(every preset; hypothesis small configs in float32 and bfloat16), peaks against MemTracker,
inference memory, symbolic forms and bad input."""

from __future__ import annotations

import pytest
import sympy
from costmodel.validation.memory import measure_saved
from costmodel.validation.peaks import measure_tracked_peak
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, D, d
from costmodel.cost.trace import Trace
from costmodel.memory.footprint import inference_memory, memory_cost, training_memory
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.presets import PRESETS, get_preset
from costmodel.strategies import configs

BIG = {"resnet101", "resnet152", "vit_l_16", "vit_l_32", "vit_h_14", "convnext_small", "convnext_base"}


# -- the trace algebra, by hand ----------------------------------------------------------
def _by_hand(ops: list[tuple[int, int, int]]) -> int:
    """max_i sum_{j<=i} s_j + sum_{j>=i} g_j + t_i for ops (s, g, t) in forward order."""
    return max(sum(s for s, _, _ in ops[: i + 1]) + sum(g for _, g, _ in ops[i:]) + ops[i][2]
               for i in range(len(ops)))


def test_backward_peak_of_a_chain_by_hand():
    ops = [(100, 5, 7), (30, 50, 9), (10, 0, 200), (1, 80, 3)]
    trace = Trace()
    for s, g, t in ops:
        trace = trace.then(Trace.op(saved=s, grads=g, transient=t))
    # op 3 (1-based): 100+30+10 saved, 0+80 grads, 200 transient = 420
    assert _by_hand(ops) == 420 == trace.peak()
    assert (trace.saved, trace.grads) == (141, 135)


def test_composition_is_associative_and_repetition_is_repeated_composition():
    a, b, c = (Trace.op(saved=s, grads=g, transient=t) for s, g, t in [(3, 40, 1), (50, 2, 6), (7, 7, 70)])
    assert ((a.then(b)).then(c)).peaks() == (a.then(b.then(c))).peaks()
    block = a.then(b).then(c)
    for n in range(1, 5):
        chained = Trace()
        for _ in range(n):
            chained = chained.then(block)
        assert block.repeat(n).peak() == chained.peak() == _by_hand([(3, 40, 1), (50, 2, 6), (7, 7, 70)] * n)
    symbolic = block.repeat(D)
    assert all(symbolic.peak().subs(D, n) == block.repeat(n).peak() for n in range(1, 6))


def test_hold_and_checkpointed_block():
    inner = Trace.op(saved=10, transient=1).then(Trace.op(saved=20, transient=2))
    assert inner.hold(5).peak() == 30 + 2 + 5
    # checkpointed: the forward keeps only the block's input (8 bytes); the backward recomputes
    # the block (its 30 saved bytes) and, when no op of the block keeps the input, adds it
    outside = Trace.op(saved=4)
    net = outside.then(inner.block(8, inside=False)).then(outside)
    assert net.held(checkpointed=True) == 4 + 8 + 4
    assert net.peak(checkpointed=True) == 4 + 8 + 30 + 2  # the block's second op, recomputed
    assert net.peak() == 4 + 30 + 4  # plain: the last op, with everything saved before it
    assert outside.then(inner.block(8, inside=True)).peak(checkpointed=True) == 4 + 30 + 2


# -- saved activations == saved_tensors_hooks ---------------------------------------------
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n
                                  for n in sorted(PRESETS)])
def test_saved_bytes_equal_hooks_for_every_preset(name):
    config = get_preset(name)
    measured = measure_saved(config, 2)  # fake tensors: nothing allocated
    cost = memory_cost(config, batch=2)
    assert (cost.saved_bytes, cost.saved_elements) == (measured.bytes, measured.elements)


sizes = st.integers(min_value=1, max_value=3)
dtypes = st.sampled_from(["float32", "bfloat16"])


# small configs from the public strategies (costmodel.strategies), sizes chosen as before
vits = configs(ViTConfig, image_size=(4, 24), patch_size=st.sampled_from([4, 8]), heads=st.sampled_from([1, 2]),
               depth=sizes, num_classes=st.integers(2, 5), mlp_ratio=st.sampled_from([2, 4]),
               linformer_rank=st.integers(1, 4), performer_features=st.integers(1, 6))
resnets = configs(ResNetConfig, image_size=(20, 48), layers=st.lists(sizes, min_size=1, max_size=3).map(tuple),
                  width=st.sampled_from([4, 8]), num_classes=3)
convnexts = configs(ConvNeXtConfig, image_size=(16, 40), dims=st.lists(st.sampled_from([4, 8]), min_size=1,
                                                                       max_size=3).map(tuple),
                    kernel_size=st.sampled_from([3, 7]), mlp_ratio=st.sampled_from([2, 4]), num_classes=3)
convnets = configs(ConvNetConfig, image_size=(24, 40), groups=st.sampled_from([1, 2]), stride=st.sampled_from([1, 2]),
                   kernel_size=3, padding=1, dilation=1, num_classes=3)


@pytest.mark.parametrize("strategy", [vits, resnets, convnexts, convnets], ids=["vit", "resnet", "convnext", "convnet"])
def test_saved_bytes_equal_hooks_for_small_configs(strategy):
    # real CPU tensors: bfloat16 runs under CPU autocast (fake kernels would give the
    # normalisation statistics the wrong dtype)
    @given(strategy, sizes, dtypes)
    @settings(max_examples=12, deadline=None)
    def check(config, batch, dtype):
        measured = measure_saved(config, batch, dtype=dtype, fake=False)
        cost = memory_cost(config, batch=batch, dtype=dtype)
        assert (cost.saved_bytes, cost.saved_elements) == (measured.bytes, measured.elements), measured.by_dtype

    check()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_width_one_linformer_keeps_views_of_the_qkv_output(dtype):
    """Width 1, batch 2: ``E K`` folds ``K^T`` (B, 1, L) without a copy (a size-1 dimension keeps its
    strides), so no extra copy is saved (CI's fuzzer found the model 32 bytes over)."""
    config = ViTConfig(image_size=4, patch_size=4, width=1, depth=1, heads=1, mlp_ratio=2, num_classes=2,
                       in_channels=1, attention="linformer", linformer_rank=1, position_embedding=False,
                       fused_attention=False)
    measured = measure_saved(config, 2, dtype=dtype, fake=False)
    cost = memory_cost(config, batch=2, dtype=dtype)
    assert (cost.saved_bytes, cost.saved_elements) == (measured.bytes, measured.elements)


def test_saved_bytes_of_a_small_vit_by_hand():
    # ViT, image 8x8, patch 4 (4 patches + class token: L = 5), d = 4, 1 head, MLP 8, 3 classes,
    # fused attention, batch 1, float32. Saved elements:
    #   image 3*8*8 = 192 (patch conv); per block: ln1 x (5*4) + mean/rstd (2*5) = 30; qkv input
    #   20; attention: qkv storage 60 + output 20 (also proj's input) + logsumexp 5 = 85; ln2 30;
    #   fc1 input 20; gelu input 40; fc2 input 40 -> 265; final norm 20 + 10; head: the whole
    #   normalised tokens (20: the class token is a view).
    config = ViTConfig(image_size=8, patch_size=4, width=4, depth=1, heads=1, mlp_ratio=2, num_classes=3)
    expected = 192 + 265 + 30 + 20
    assert memory_cost(config, batch=1).saved_elements == expected
    assert memory_cost(config, batch=1).saved_bytes == 4 * expected
    assert measure_saved(config, 1).elements == expected


# -- peaks against MemTracker (fake tensors) ----------------------------------------------
SMALL = {
    "resnet": ResNetConfig(block="bottleneck", layers=(1, 2), width=8, image_size=64, num_classes=10),
    "vit": ViTConfig(image_size=32, patch_size=8, width=32, depth=2, heads=2, num_classes=10),
    "convnext": ConvNeXtConfig(dims=(8, 16), depths=(2, 1), image_size=64, num_classes=10),
    "convnet": ConvNetConfig(channels=(8, 16), image_size=32, pool="max"),
}


@pytest.mark.parametrize("family", sorted(SMALL))
@pytest.mark.parametrize("dtype, checkpoint, optimizer", [("float32", False, "adam"), ("bfloat16", False, "sgd"),
                                                          ("float32", True, "momentum")])
def test_peak_matches_memtracker_for_small_configs(family, dtype, checkpoint, optimizer):
    config = SMALL[family]
    measured = measure_tracked_peak(config, 4, optimizer=optimizer, dtype=dtype, checkpoint_blocks=checkpoint)
    predicted = training_memory(config, batch=4, optimizer=optimizer, dtype=dtype, checkpoint=checkpoint)
    assert predicted.evaluate().peak == pytest.approx(measured.peak, rel=0.03)


@pytest.mark.parametrize("name, batch, optimizer", [("resnet18", 1, "adam"), ("resnet18", 8, "sgd"),
                                                    ("vit_s_16", 1, "adam")])
def test_peak_of_small_presets_within_3_percent_of_memtracker(name, batch, optimizer):
    measured = measure_tracked_peak(get_preset(name), batch, optimizer=optimizer)
    predicted = training_memory(get_preset(name), batch=batch, optimizer=optimizer).evaluate()
    assert predicted.peak == pytest.approx(measured.peak, rel=0.03)


def test_peak_breakdown_adds_up_and_names_the_phase():
    m = training_memory(get_preset("resnet18"), batch=1, optimizer="adam")
    value = m.evaluate()
    # batch 1 with Adam: the optimizer step peaks (all gradients + two temporaries of the
    # largest tensor, layer4's 512x512x3x3 conv: 2 * 4 * 2359296 bytes)
    assert value.at_peak["phase"] == "optimizer step"
    assert value.at_peak["transient"] == 2 * 4 * 2359296
    assert value.peak == (value.weights + value.optimizer_state + value.inputs + value.at_peak["activations"]
                          + value.at_peak["gradients"] + value.at_peak["transient"])
    assert value.optimizer_state == 2 * 4 * 11689512  # two float32 moments per parameter
    # the stem saves the most: the image (conv), the conv output (batch norm), the ReLU output
    # (also the max pool's input, counted once), 2 x 64 statistics, the pool's int64 indices
    stem = 4 * 3 * 224 * 224 + 4 * 64 * 112 * 112 + 4 * 2 * 64 + 4 * 64 * 112 * 112 + 8 * 64 * 56 * 56
    assert m.activations_by_part(top=1) == [("stem", stem)]


# -- inference, symbolic forms, bad input --------------------------------------------------
def test_inference_memory_matches_memtracker_without_autograd():
    import torch
    from costmodel.validation.build import build, example_input
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    config = get_preset("resnet18")
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        model = build(config).eval()
        images = mode.from_tensor(example_input(config, 8))
        tracker = MemTracker()
        tracker.track_external(model, images)
        with tracker, torch.no_grad():
            model(images)
        snapshot = tracker.get_tracker_snapshot("peak")
    measured = next(iter(snapshot.values()))["Total"]
    assert inference_memory(config, batch=8).peak == measured


def test_symbolic_memory_evaluates_to_the_integer_configs():
    symbolic = training_memory(ViTConfig(width=d, depth=D, heads=1, image_size=32, patch_size=16), batch=B,
                               optimizer="sgd")
    for width, depth, batch in [(16, 1, 1), (32, 3, 4)]:
        numeric = training_memory(ViTConfig(width=width, depth=depth, heads=1, image_size=32, patch_size=16),
                                  batch=batch, optimizer="sgd")
        assert symbolic.evaluate(d=width, D=depth, B=batch).peak == numeric.evaluate().peak
        assert symbolic.saved_activations.subs({d: width, D: depth, B: batch}) == numeric.saved_activations
    assert isinstance(symbolic.peak, sympy.Expr) and B in symbolic.peak.free_symbols


@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer="lion"), "optimizer='lion': must be one of sgd, momentum, adam, adamw"),
    (dict(dtype="fp8"), "dtype='fp8': must be one of float32, bfloat16, float16"),
    (dict(batch=-1), "batch=-1: must be a positive integer"),
    (dict(batch=0), "batch=0: must be a positive integer"),
    (dict(checkpoint="yes"), "checkpoint='yes'"),
])
def test_bad_input_names_field_and_value(kwargs, message):
    with pytest.raises(InvalidConfigError, match=message.replace("[", r"\[")):
        training_memory(get_preset("resnet18"), **kwargs)


def test_generative_families_say_memory_is_not_modelled():
    from costmodel.models.generative import PixelCNNConfig

    with pytest.raises(InvalidConfigError, match="has no memory model yet"):
        training_memory(PixelCNNConfig(), batch=1)
