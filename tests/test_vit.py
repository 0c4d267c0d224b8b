"""ViT costs against real torch modules (FlopCounterMode), published tables and hand derivations."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
import torch
from costmodel.validation.build import build, example_input, measure_flops
from costmodel.validation.flops import count_flops, count_params
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel.models as models
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, C, D, H, P, R, W, d, h, k, m, n, r
from costmodel.models.presets import get_preset, list_presets
from costmodel.models.vit import ATTENTION_VARIANTS, ViTConfig
from costmodel.strategies import configs

VIT_PRESETS = list_presets("vit_*")
BIG = {"vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"}  # ViT-B and larger: slow

# torchvision models/vision_transformer.py, ``ViT_*_Weights`` meta "num_params" and "_ops"
# (https://pytorch.org/vision/stable/models/vision_transformer.html): the IMAGENET1K_V1
# weights at 224 px; for vit_h_14 the 224 px IMAGENET1K_SWAG_LINEAR_V1 weights. "_ops" is
# shown in the docs as "GFLOPS" but counts one multiply-add once, i.e. it is GMACs.
TORCHVISION_PARAMS = {
    "vit_b_16": 86_567_656,
    "vit_b_32": 88_224_232,
    "vit_l_16": 304_326_632,
    "vit_l_32": 306_535_400,
    "vit_h_14": 632_045_800,
}
TORCHVISION_GMACS = {"vit_b_16": 17.564, "vit_b_32": 4.409, "vit_l_16": 61.555, "vit_l_32": 15.378,
                     "vit_h_14": 167.295}


def _preset_params(names: list[str], batches: tuple[int, ...] = (1, 2)) -> list:
    return [pytest.param(name, batch, marks=[pytest.mark.slow] if name in BIG else [], id=f"{name}-b{batch}")
            for name in names for batch in batches]


def _assert_measured(config: ViTConfig, batch: int) -> None:
    """Predicted == FlopCounterMode on fake CPU tensors (fused SDPA), exactly."""
    measured, params = measure_flops(config, batch)
    predicted = models.cost(config, batch=batch)
    assert predicted.params == params
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward


# -- presets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_preset_params_equal_torchvision(name: str) -> None:
    assert models.cost(get_preset(name), batch=1).params == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_preset_forward_matches_torchvision_gflops(name: str) -> None:
    """torchvision's "GFLOPS" are GMACs rounded to 3 decimals: FLOPs / 2 within 0.0005 G."""
    flops = models.cost(get_preset(name), batch=1).forward_flops
    assert abs(int(flops) / 2e9 - TORCHVISION_GMACS[name]) <= 5e-4
    assert abs(int(flops) / 1e9 - TORCHVISION_GMACS[name]) > 1  # not FLOPs: a factor 2 apart


@pytest.mark.parametrize("name, paper_m, timm_m, timm_gmacs", [
    ("vit_ti_16", 5, 5.7, 1.3),
    ("vit_s_16", 22, 22.1, 4.6),
])
def test_deit_sizes(name: str, paper_m: int, timm_m: float, timm_gmacs: float) -> None:
    """DeiT-Ti / DeiT-S (Touvron et al., ICML 2021, Table 1: "5M", "22M", truncated to
    millions) and the timm model cards (https://huggingface.co/timm/deit_tiny_patch16_224.fb_in1k:
    5.7 M params, 1.3 GMACs; .../deit_small_patch16_224.fb_in1k: 22.1 M, 4.6 GMACs)."""
    cost = models.cost(get_preset(name), batch=1)
    assert int(cost.params) // 10**6 == paper_m
    assert round(int(cost.params) / 1e6, 1) == timm_m
    assert round(int(cost.forward_flops) / 2e9, 1) == timm_gmacs


@pytest.mark.parametrize("name, batch", _preset_params(VIT_PRESETS))
def test_preset_fused_equals_measured(name: str, batch: int) -> None:
    _assert_measured(get_preset(name), batch)


@pytest.mark.parametrize("name, batch", _preset_params(sorted(set(VIT_PRESETS) - BIG))
                         + _preset_params(["vit_b_16", "vit_b_32", "vit_h_14"], batches=(2,)))
def test_preset_explicit_attention_equals_measured(name: str, batch: int) -> None:
    """The explicit ``softmax(q k^T) v`` path; of the big presets (same code, larger sizes)
    ViT-B and ViT-H at batch 2 only, to keep the suite fast."""
    _assert_measured(get_preset(name).replace(fused_attention=False), batch)


@pytest.mark.parametrize("attention", ["causal", "linformer", "performer"])
def test_preset_variants_equal_measured(attention: str) -> None:
    _assert_measured(get_preset("vit_ti_16").replace(attention=attention, linformer_rank=64,
                                                     performer_features=96), 2)


def test_fused_backward_recomputes_scores() -> None:
    """Hand derivation: the fused kernel's backward adds one ``Q K^T`` per head and layer,
    2 B h L^2 d_k FLOPs; forward is the same for both paths."""
    config = get_preset("vit_s_16")
    fused = models.cost(config, batch=2)
    explicit = models.cost(config.replace(fused_attention=False), batch=2)
    batch, heads, tokens, head_dim, depth = 2, 6, 14 * 14 + 1, 64, 12
    assert fused.forward_flops == explicit.forward_flops
    assert fused.backward_flops - explicit.backward_flops == depth * 2 * batch * heads * tokens**2 * head_dim


# -- hypothesis: small ViTs, real CPU tensors ------------------------------------------------


#: small ViTs of every attention variant, from the public strategies (costmodel.strategies)
SMALL_VITS = configs(ViTConfig, image_size=(2, 16), patch_size=st.integers(2, 8), heads=st.integers(1, 3),
                     num_classes=st.integers(1, 7))


@settings(max_examples=20, deadline=None)
@given(config=SMALL_VITS, batch=st.integers(1, 3))
def test_small_vits_equal_measured_real_tensors(config: ViTConfig, batch: int) -> None:
    torch.manual_seed(0)
    module = build(config)
    images = example_input(config, batch)
    measured = count_flops(module, images)
    predicted = models.cost(config, batch=batch)
    assert predicted.params == count_params(module)
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward
    assert module(images).shape == (batch, config.num_classes)


# -- symbolic --------------------------------------------------------------------------------

SYMBOLIC = dict(image_size=R * P, patch_size=P, width=d, depth=D, heads=h, mlp_ratio=r,
                num_classes=n, in_channels=C, linformer_rank=k, performer_features=m)
VALUES = {B: 2, R: 3, P: 4, d: 12, D: 2, h: 3, r: 2, n: 10, C: 3, k: 5, m: 7}


@pytest.mark.parametrize("attention", ATTENTION_VARIANTS)
@pytest.mark.parametrize("fused", [True, False])
def test_symbolic_evaluates_to_integer_and_measured(attention: str, fused: bool) -> None:
    symbolic = models.cost(ViTConfig(**SYMBOLIC, attention=attention, fused_attention=fused), batch=B)
    assert symbolic.is_polynomial
    value = symbolic.evaluate(VALUES).magnitudes()
    integer_config = ViTConfig(image_size=12, patch_size=4, width=12, depth=2, heads=3, mlp_ratio=2,
                               num_classes=10, in_channels=3, linformer_rank=5, performer_features=7,
                               attention=attention, fused_attention=fused)
    exact = models.cost(integer_config, batch=2)
    assert value == {"forward_flops": exact.forward_flops, "backward_flops": exact.backward_flops,
                     "params": exact.params}
    measured, params = measure_flops(integer_config, 2)
    assert value == {"forward_flops": measured.forward, "backward_flops": measured.backward, "params": params}


@pytest.mark.parametrize("divisible", [False, True])
def test_symbolic_non_square_image(divisible: bool) -> None:
    """``(H, W)`` with P = 16: floors, or with ``divisible=True`` a polynomial; both exact at 224 x 160."""
    cost = models.cost(ViTConfig(image_size=(H, W), patch_size=16, depth=D), batch=B, divisible=divisible)
    assert cost.is_polynomial == divisible
    assert cost.forward_flops.has(sympy.floor) != divisible
    exact = models.cost(ViTConfig(image_size=(224, 160), patch_size=16, depth=3), batch=2)
    assert cost.evaluate(H=224, W=160, D=3, B=2).magnitudes() == {
        "forward_flops": exact.forward_flops, "backward_flops": exact.backward_flops, "params": exact.params}


def test_non_divisible_symbolic_keeps_floor() -> None:
    """Without ``divisible`` the token count is floor(H/16) floor(W/16) + 1 (hand derived)."""
    cost = models.cost(ViTConfig(image_size=(H, W), patch_size=16), batch=1)
    tokens = sympy.floor(H / 16) * sympy.floor(W / 16) + 1
    assert sympy.expand(cost.part("pos_embed").params - tokens * 768) == 0


def test_symbolic_depth_scales_blocks() -> None:
    cost = models.cost(ViTConfig(depth=D), batch=B)
    one = models.cost(ViTConfig(depth=1), batch=B)
    assert sympy.expand(cost.part("blocks").forward_flops - D * one.part("blocks").forward_flops) == 0
    assert sympy.expand(cost.params - one.params - (D - 1) * one.part("blocks").params) == 0


# -- breakdown -------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ATTENTION_VARIANTS)
def test_breakdown_sums_to_total(attention: str) -> None:
    cost = models.cost(ViTConfig(attention=attention, depth=D, width=d, heads=h), batch=B)
    paths = {path for path, _ in cost.walk()}
    assert {"patch_embed", "class_token", "pos_embed", "blocks/ln1", "blocks/attn/qkv", "blocks/attn/proj",
            "blocks/attn/core", "blocks/ln2", "blocks/mlp/fc1", "blocks/mlp/fc2", "norm", "head"} <= paths
    if attention in ("full", "causal", "linformer"):
        assert "blocks/attn/core/scores" in paths
    for metric in ("forward_flops", "backward_flops", "params"):
        top = sum((getattr(part, metric) for _, part in cost.parts), sympy.S.Zero)
        leaves = sum((getattr(part, metric) for _, part in cost.leaves()), sympy.S.Zero)
        assert sympy.expand(top - getattr(cost, metric)) == 0
        assert sympy.expand(leaves - getattr(cost, metric)) == 0


def test_no_position_embedding_drops_its_parameters() -> None:
    with_pe = models.cost(ViTConfig(), batch=1)
    without = models.cost(ViTConfig(position_embedding=False), batch=1)
    assert with_pe.params - without.params == 197 * 768  # (1, L, d), L = 14 * 14 + 1
    assert "pos_embed" not in dict(without.parts)


# -- FULL convention -------------------------------------------------------------------------


def test_full_minus_flop_counter_is_elementwise_by_hand() -> None:
    """B = 1, image 8 x 12, P = 4 (N_p = 6, L = 7), d = 8, h = 2, mlp 16, depth 1, 10 classes.

    Per-element rates from costmodel/ops/pointwise.py (fwd / bwd): add 1/0, GELU 5/10,
    softmax 5/4, layer norm 7/12; bias adds 1 forward and 1 backward (the bias gradient sum).
    """
    config = ViTConfig(image_size=(8, 12), patch_size=4, width=8, heads=2, depth=1, mlp_ratio=2, num_classes=10)
    tokens_x_d = 7 * 8  # B L d = 56
    forward = (6 * 8            # patch conv bias, B N_p d
               + tokens_x_d     # + position embedding
               + 7 * tokens_x_d  # ln1
               + 3 * tokens_x_d  # qkv bias
               + 5 * 2 * 7 * 7  # softmax over B h L L scores
               + tokens_x_d     # proj bias
               + tokens_x_d     # residual
               + 7 * tokens_x_d  # ln2
               + 7 * 16         # fc1 bias
               + 5 * 7 * 16     # GELU
               + tokens_x_d     # fc2 bias
               + tokens_x_d     # residual
               + 7 * tokens_x_d  # final norm over all tokens
               + 10)            # head bias
    backward = (6 * 8 + 12 * tokens_x_d + 3 * tokens_x_d + 4 * 2 * 7 * 7 + tokens_x_d + 12 * tokens_x_d
                + 7 * 16 + 10 * 7 * 16 + tokens_x_d + 12 * tokens_x_d + 10)
    full = models.cost(config, batch=1, convention="full")
    counter = models.cost(config, batch=1)
    assert (forward, backward) == (2844, 3978)
    assert full.forward_flops - counter.forward_flops == forward
    assert full.backward_flops - counter.backward_flops == backward
    assert full.params == counter.params


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    (dict(image_size=225, patch_size=16), "image_size=225: must be divisible by patch_size=16"),
    (dict(image_size=(224, 200), patch_size=16), "image_size=200: must be divisible by patch_size=16"),
    (dict(width=100, heads=12), "width=100: must be divisible by heads=12"),
    (dict(depth=0), "depth=0: must be a positive integer"),
    (dict(width=8, heads=2, mlp_ratio=Fraction(1, 3)), "mlp_ratio=1/3: mlp_ratio * width = 8/3 must be an integer"),
    (dict(attention="sparse"), "attention='sparse': must be one of full, causal, linformer, performer"),
])
def test_bad_config_names_field_and_value(fields: dict, message: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        ViTConfig(**fields)
    assert str(info.value) == message
