"""Generative families (F16-F18, F20): training-step costs against real modules, hand derivations, errors.

Expected values come from the module built from the same config and measured with
FlopCounterMode (``measure_flops``: fake CPU tensors, fused SDPA), from hand derivations
written out below, or from a published parameter count (GPT-2 small).
"""

from __future__ import annotations

import json

import pytest
import sympy
import torch
from costmodel.validation.build import build, measure_flops
from costmodel.validation.torch_models.pixelcnn import causal_mask
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.core.conventions import FULL
from costmodel.core.errors import CostModelError, InvalidConfigError, UnknownPresetError
from costmodel.core.symbols import B, D, R, d, n
from costmodel.models import FAMILIES, cost
from costmodel.models.generative import (
    ARTransformerConfig,
    ConvVAEConfig,
    PixelCNNConfig,
    ViTVAEConfig,
    Z,
    sample_cost,
    sum_over_steps,
)
from costmodel.models.generative.common import t, tau
from costmodel.models.generative.pixelcnn import mask_taps
from costmodel.strategies import configs


def _assert_measured(config, batch: int) -> None:
    measured, params = measure_flops(config, batch)
    predicted = cost(config, batch=batch)
    assert predicted.params == params
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward


# -- every family: exact equality with the real module ---------------------------------------

# small configs of every generative family, from the public strategies (costmodel.strategies)
SMALL_GENERATIVE = st.one_of(
    configs(PixelCNNConfig, image_size=(2, 9), width=st.integers(1, 8), levels=st.integers(2, 16)),
    configs(ARTransformerConfig, image_size=(1, 4), in_channels=st.integers(1, 2), vocab_size=st.integers(2, 20),
            depth=st.integers(1, 2)),
    configs(ConvVAEConfig, image_size=(2, 24), channels=st.lists(st.integers(1, 6), min_size=1, max_size=3)
            .map(tuple), latent_dim=st.integers(1, 9)),
    configs(ViTVAEConfig, image_size=(1, 9)),
)


@settings(max_examples=12, deadline=None)
@given(config=SMALL_GENERATIVE, batch=st.integers(1, 3))
def test_training_step_equals_flop_counter(config, batch) -> None:
    _assert_measured(config, batch)


@pytest.mark.parametrize("config", [PixelCNNConfig(), ARTransformerConfig(), ConvVAEConfig(), ViTVAEConfig()],
                         ids=lambda c: c.family)
def test_default_configs_equal_flop_counter(config) -> None:
    _assert_measured(config, 2)


def test_families_are_registered() -> None:
    for name, cls in {"pixelcnn": PixelCNNConfig, "ar_transformer": ARTransformerConfig,
                      "conv_vae": ConvVAEConfig, "vit_vae": ViTVAEConfig}.items():
        assert FAMILIES[name] is cls


# -- hand derivations -------------------------------------------------------------------------

def test_pixelcnn_params_and_flops_by_hand() -> None:
    """C=1, F=4, D=2, K_A=5, K=3, V=8 on 6x5 images (30 pixels), batch 2.

    params: stem 25*1*4 + 4 = 104; block 9*4*4 + 4 = 148 (x2 = 296); fc1 16 + 4 = 20;
    out 4*8 + 8 = 40: 460.  MACs per pixel: 25*4 + 2*9*16 + 16 + 32 = 436;
    forward = 2 * 2 * 30 * 436 = 52320.  Backward: every conv's weight gradient (436 per
    pixel) and all but the stem's input gradient (436 - 100): 2*2*30*(436 + 336) = 92640.
    """
    config = PixelCNNConfig(image_size=(6, 5), width=4, depth=2, first_kernel=5, kernel_size=3, levels=8)
    c = cost(config, batch=2)
    assert (c.params, c.forward_flops, c.backward_flops) == (460, 52320, 92640)


def test_pixelcnn_full_minus_flop_counter_is_elementwise_by_hand() -> None:
    """FULL adds, for C=1, F=4, D=2, K_A=5, K=3, V=8, 6x5 images, batch 2 (N = 60 positions):

    weight masks (out * in * K^2 values): stem 4*1*25 = 100, blocks 2 * 4*4*9 = 288 -> 388
    forward, 388 backward (the gradient is masked once);
    block ReLU 2*60*4 = 480 (fwd 480, bwd 480); residual adds 480 (fwd 480, bwd 0);
    head ReLUs 2*240 = 480 (fwd 480, bwd 480); bias adds of every conv over its outputs:
    stem 240, blocks 480, fc1 240, out 60*8 = 480 -> 1440 (fwd 1440, bwd 1440).
    forward: 388 + 480 + 480 + 480 + 1440 = 3268; backward: 388 + 480 + 0 + 480 + 1440 = 2788.
    """
    config = PixelCNNConfig(image_size=(6, 5), width=4, depth=2, first_kernel=5, kernel_size=3, levels=8)
    full, plain = cost(config, batch=2, convention=FULL), cost(config, batch=2)
    assert full.forward_flops - plain.forward_flops == 3268
    assert full.backward_flops - plain.backward_flops == 2788


def test_ar_transformer_closed_form_by_hand() -> None:
    """Training forward (FLOP_COUNTER) for d, D, B symbolic, tau = 16 tokens (4x4, C=1), V = 10, r = 4, h = 1.

    Per block per token: qkv 3d^2, proj d^2, MLP 8d^2 MACs; attention 2 tau d MACs per
    token (scores and weighted sum, causal counted as full); head d V per token.
    """
    config = ARTransformerConfig(image_size=4, vocab_size=10, width=d, depth=D, heads=1)
    expected = 2 * B * (D * (12 * 16 * d**2 + 2 * 16**2 * d) + 16 * d * 10)
    assert sympy.expand(cost(config, batch=B).forward_flops - expected) == 0
    params = (10 + 1) * d + 16 * d + D * (12 * d**2 + 13 * d) + 2 * d + 10 * d
    assert sympy.expand(cost(config, batch=B).params - params) == 0


def test_ar_transformer_gpt2_small_parameter_count() -> None:
    """GPT-2 small (Radford et al. 2019; 124,439,808 parameters with the head tied to the
    token embedding, as nanoGPT's ``get_num_params(non_embedding=False)`` reports): vocab
    50257 (= our V + 1 with the start token), 1024 positions, d = 768, 12 layers, 12 heads.
    Our head is untied: it adds d V = 768 * 50256 parameters."""
    config = ARTransformerConfig(image_size=(1, 1024), vocab_size=50256, width=768, depth=12, heads=12)
    assert cost(config, batch=1).params - 768 * 50256 == 124_439_808


def test_conv_vae_by_hand() -> None:
    """C=1, channels (2, 3), Z=4, 8x8 images, batch 1.

    encoder: 4x4x2 * 9*1 = 288 MACs, 2x2x3 * 9*2 = 216; latent fc 12 -> 8: 96;
    decoder fc 4 -> 12: 48; 4x4x2 * 9*3 = 864; 8x8x1 * 9*2 = 1152.  Total 2664 MACs.
    params: 18+2, 54+3, 96+8, 48+12, 54+2, 18+1 = 316.
    """
    c = cost(ConvVAEConfig(image_size=8, channels=(2, 3), latent_dim=4), batch=1)
    assert (c.forward_flops, c.params) == (2 * 2664, 316)
    sampled = sample_cost(ConvVAEConfig(image_size=8, channels=(2, 3), latent_dim=4))
    assert sampled.forward_flops == 2 * (48 + 864 + 1152)


def test_conv_vae_symbolic_sizes() -> None:
    config = ConvVAEConfig(image_size=R, channels=(4, 8), latent_dim=Z)
    exact = cost(config, batch=B)
    poly = cost(config, batch=B, divisible=True)
    assert poly.is_polynomial and not exact.is_polynomial
    for size in (4, 8, 28, 64):
        direct = cost(ConvVAEConfig(image_size=size, channels=(4, 8), latent_dim=5), batch=3)
        assert exact.subs(R=size, Z=5, B=3).forward_flops == direct.forward_flops
        assert poly.subs(R=size, Z=5, B=3).backward_flops == direct.backward_flops


def test_latent_exploration_is_linear_for_the_conv_vae_and_quadratic_for_the_vit_vae() -> None:
    """F20. Conv VAE: sampling is linear in Z (the decoder's first layer, 2 Z C_n h w FLOPs).
    ViT VAE: the latent is N_p tokens of z_c values; on a 4 x 4n image with patch 4,
    N_p = n = Z / z_c, and the decoder's attention over the latent is 4 D_dec N_p^2 d."""
    conv = sample_cost(ConvVAEConfig(image_size=16, channels=(4, 8), latent_dim=Z)).forward_flops
    assert sympy.degree(conv, Z) == 1 and sympy.diff(conv, Z) == 2 * 8 * 4 * 4
    config = ViTVAEConfig(image_size=(4, 4 * n), patch_size=4, width=16, heads=2, decoder_depth=3, latent_channels=2)
    assert config.latent_dim == 2 * n
    in_z = sympy.expand(sample_cost(config).forward_flops.subs(n, Z / 2))
    assert sympy.degree(in_z, Z) == 2
    assert sympy.Poly(in_z, Z).LC() == sympy.Rational(4 * 3 * 16, 4)  # 4 D_dec d / z_c^2


def test_sum_over_steps_by_hand() -> None:
    assert sum_over_steps(t**2, 4) == 1 + 4 + 9 + 16
    assert sympy.expand(sum_over_steps(3 * t**2 + t + 5, tau) - sympy.summation(3 * t**2 + t + 5, (t, 1, tau))) == 0
    with pytest.raises(InvalidConfigError):
        sum_over_steps(2**t, tau)


def test_mask_taps_count_the_mask() -> None:
    for kernel in (1, 3, 5, 7):
        for mask in "AB":
            assert mask_taps(kernel, mask) == int(causal_mask(kernel, mask).sum())


def test_pixelcnn_is_autoregressive() -> None:
    """Logits at pixel p depend only on the pixels before p in raster order (F16)."""
    torch.manual_seed(0)
    model = build(PixelCNNConfig(image_size=(5, 4), width=16, depth=2, first_kernel=5, levels=4))
    image = torch.rand(1, 1, 5, 4, requires_grad=True)
    logits = model(image)
    for row, col in [(0, 0), (2, 1), (4, 3)]:
        (grad,) = torch.autograd.grad(logits[0, :, :, row, col].sum(), image, retain_graph=True)
        flat = grad.flatten().abs()
        p = row * 4 + col
        assert torch.all(flat[p:] == 0)
        if p > 0:
            assert flat[:p].sum() > 0


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, field", [
    (lambda: PixelCNNConfig(kernel_size=4), "kernel_size"),
    (lambda: ConvVAEConfig(image_size=10, channels=(2, 2)), "image_size"),
    (lambda: ViTVAEConfig(image_size=10, patch_size=4), "image_size"),
    (lambda: ARTransformerConfig(width=10, heads=4), "width"),
    (lambda: ARTransformerConfig(width=3, heads=1, mlp_ratio=sympy.Rational(1, 2)), "mlp_ratio"),
])
def test_bad_configs_name_the_field(make, field) -> None:
    with pytest.raises(InvalidConfigError) as err:
        make()
    assert err.value.field == field


def test_sampling_errors() -> None:
    with pytest.raises(InvalidConfigError, match="no cache"):
        sample_cost(ConvVAEConfig(), cache=True)
    with pytest.raises(InvalidConfigError, match="position embeddings for 16"):
        sample_cost(ARTransformerConfig(image_size=4), steps=17)
    with pytest.raises(InvalidConfigError, match="whole images"):
        sample_cost(PixelCNNConfig(), steps=3)
    with pytest.raises(InvalidConfigError, match="not a generative config"):
        sample_cost(FAMILIES["vit"]())


# -- CLI ---------------------------------------------------------------------------------------

def test_cli_generate_cost_json(capsys) -> None:
    assert main(["generate-cost", "ar_transformer", "--set", "image_size=4", "--set", "width=8", "--set", "heads=2",
                 "--sample", "--kv-cache", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    config = ARTransformerConfig(image_size=4, width=8, heads=2)
    assert out["forward_flops"] == sample_cost(config, cache=True).forward_flops
    assert out["cache_elements"] == 2 * 8 * 16 * 8 and out["steps"] == 16 and out["backward_flops"] == 0
    assert main(["generate-cost", "pixelcnn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training_flops"] == cost(PixelCNNConfig(), batch=1).training_flops


def test_cli_generate_cost_symbolic_steps(capsys) -> None:
    assert main(["generate-cost", "ar_transformer", "--sample", "--kv-cache", "--steps", "tau", "--symbolic",
                 "--batch", "1"]) == 0
    text = capsys.readouterr().out
    assert "tau**2" in text.replace(" ", "") or "tau*(tau" in text.replace(" ", "")


def test_cli_generate_cost_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate-cost", "resnet50"])
    assert exc.value.code == 2 and "unknown generative model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate-cost", "ar_transformer", "--kv-cache"])
    assert "--sample only" in capsys.readouterr().err
    assert issubclass(UnknownPresetError, CostModelError)
