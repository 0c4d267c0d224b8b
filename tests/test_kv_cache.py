"""Sampling costs (F16, F17, F20) against the real step-by-step generation loops under FlopCounterMode.

``measure_sampling`` runs each family's own sampling loop (PixelCNN pixel by pixel, the
transformer token by token, with and without its cache; a VAE's one decoder pass) inside
FlopCounterMode; the closed forms must equal the whole loop's count exactly. The closed
forms in the sequence length are also checked against F17 summed by hand.
"""

from __future__ import annotations

import pytest
import sympy
import torch
from costmodel.validation.build import build
from costmodel.validation.sampling import measure_sampling
from costmodel.validation.torch_models import ar_transformer as torch_ar
from costmodel.validation.torch_models import pixelcnn as torch_pixelcnn
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.symbols import B, D, d
from costmodel.models import cost
from costmodel.models.generative import (
    ARTransformerConfig,
    ConvVAEConfig,
    PixelCNNConfig,
    ViTVAEConfig,
    sample_cost,
    tau,
)
from costmodel.models.generative.ar_transformer import kv_cache_elements
from costmodel.models.generative.pixelcnn import cache_elements

V_ = sympy.Symbol("V", positive=True, integer=True)


def _assert_sampling(config, batch: int, *, cache: bool, steps: int | None = None) -> None:
    measured = measure_sampling(config, batch, cache=cache, steps=steps)
    predicted = sample_cost(config, batch=batch, cache=cache, steps=steps)
    assert predicted.forward_flops == measured.flops
    assert predicted.backward_flops == 0
    assert predicted.params == measured.params


# -- the transformer's key/value cache (F17) ----------------------------------------------------

@settings(max_examples=6, deadline=None)
@given(heads=st.integers(1, 2), head_dim=st.integers(1, 4), depth=st.integers(1, 2), side=st.integers(1, 3),
       vocab=st.integers(2, 9), batch=st.integers(1, 2), cache=st.booleans(), partial=st.booleans())
def test_ar_sampling_loop_equals_closed_form(heads, head_dim, depth, side, vocab, batch, cache, partial) -> None:
    config = ARTransformerConfig(image_size=(side, 3), vocab_size=vocab, width=heads * head_dim, depth=depth,
                                 heads=heads, mlp_ratio=2)
    steps = max(1, config.sequence_length - 2) if partial else None
    _assert_sampling(config, batch, cache=cache, steps=steps)


def test_ar_kv_cache_holds_keys_and_values_of_every_layer_and_token() -> None:
    config = ARTransformerConfig(image_size=(2, 3), vocab_size=5, width=6, depth=3, heads=2)
    for steps in (1, 4, 6):
        measured = measure_sampling(config, 2, cache=True, steps=steps)
        assert measured.cache_elements == kv_cache_elements(config, batch=2, steps=steps) == 2 * 3 * 2 * steps * 6


def test_ar_cached_logits_equal_uncached_and_training_logits() -> None:
    """The cache changes the cost, not the model: same conditionals on the same prefix."""
    torch.manual_seed(0)
    config = ARTransformerConfig(image_size=(2, 4), in_channels=2, vocab_size=7, width=8, depth=2, heads=2)
    model = build(config).eval()
    teacher = torch.randint(0, 7, (3, config.sequence_length))
    _, uncached, _ = torch_ar.sample(model, 3, kv_cache=False, teacher=teacher)
    _, cached, _ = torch_ar.sample(model, 3, kv_cache=True, teacher=teacher)
    with torch.no_grad():
        training = model.logits(torch.cat([model.start(3), teacher[:, :-1]], dim=1))
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(training, uncached, rtol=1e-5, atol=1e-5)
    images = model.detokenize(teacher)
    assert torch.equal(model.tokenize(images), teacher)


def test_f17_closed_forms_summed_by_hand() -> None:
    """F17 with h = 1, r = 4, FLOP_COUNTER, batch B. Step t (prefix of t tokens):

    without a cache, per block 12 t d^2 MACs of projections and MLP, 2 t^2 d of attention;
    with it, 12 d^2 and 2 t d; the head d V on the last position only. Summed over
    t = 1..tau with sum t = tau (tau + 1) / 2 and sum t^2 = tau (tau + 1)(2 tau + 1) / 6.
    """
    config = ARTransformerConfig(width=d, depth=D, heads=1, vocab_size=V_, image_size=(1, tau))
    s1, s2 = tau * (tau + 1) / 2, tau * (tau + 1) * (2 * tau + 1) / 6
    no_cache = 2 * B * (D * (12 * d**2 * s1 + 2 * d * s2) + tau * d * V_)
    with_cache = 2 * B * (D * (12 * d**2 * tau + 2 * d * s1) + tau * d * V_)
    got_no = sample_cost(config, batch=B).forward_flops
    got_yes = sample_cost(config, batch=B, cache=True).forward_flops
    assert sympy.expand(got_no - no_cache) == 0
    assert sympy.expand(got_yes - with_cache) == 0
    assert sympy.degree(sympy.expand(got_no), tau) == 3 and sympy.degree(sympy.expand(got_yes), tau) == 2
    # the cache saves exactly the recomputation of earlier positions
    saved = sympy.expand(got_no - got_yes)
    assert sympy.expand(saved - 2 * B * D * (12 * d**2 * (s1 - tau) + 2 * d * (s2 - s1))) == 0


def test_steps_symbol_on_an_integer_config() -> None:
    config = ARTransformerConfig(image_size=4, vocab_size=11, width=8, depth=2, heads=2)
    closed = sample_cost(config, cache=True, steps=tau).forward_flops
    for steps in (1, 5, 16):
        assert closed.subs(tau, steps) == sample_cost(config, cache=True, steps=steps).forward_flops


def test_cached_sampling_is_cheaper_than_training_forward_times_tau() -> None:
    """Sanity of F17 against the training pass: uncached sampling of tau tokens costs more
    than one full causal pass (it recomputes every prefix), cached sampling less than tau of them."""
    config = ARTransformerConfig(image_size=8, vocab_size=16, width=32, depth=2, heads=4)
    forward = cost(config, batch=1).forward_flops
    assert sample_cost(config, cache=False).forward_flops > forward
    assert sample_cost(config, cache=True).forward_flops < config.sequence_length * forward


# -- PixelCNN's activation cache (F16) -----------------------------------------------------------

@pytest.mark.parametrize("cache", [False, True])
def test_pixelcnn_sampling_loop_equals_closed_form(cache: bool) -> None:
    config = PixelCNNConfig(image_size=(3, 4), in_channels=2, width=5, depth=2, first_kernel=5, kernel_size=3,
                            levels=6)
    _assert_sampling(config, 2, cache=cache)


def test_pixelcnn_cache_saves_exactly_hw_and_costs_one_forward_pass() -> None:
    """F16: H W steps. Uncached: H W full passes; cached: H W one-pixel passes = one full pass."""
    config = PixelCNNConfig(image_size=(5, 7), width=6, depth=3, first_kernel=7, levels=9)
    forward = cost(config, batch=3).forward_flops
    assert sample_cost(config, batch=3).forward_flops == 35 * forward
    assert sample_cost(config, batch=3, cache=True).forward_flops == forward


def test_pixelcnn_cache_contents_and_conditionals() -> None:
    torch.manual_seed(1)
    config = PixelCNNConfig(image_size=(4, 3), in_channels=2, width=4, depth=2, first_kernel=5, levels=5)
    model = build(config).eval()
    teacher = torch.randint(0, 5, (2, 2, 4, 3))
    _, uncached, held_none = torch_pixelcnn.sample(model, 2, (4, 3), cache=False, teacher=teacher)
    _, cached, held = torch_pixelcnn.sample(model, 2, (4, 3), cache=True, teacher=teacher)
    with torch.no_grad():
        training = model(teacher.float() / 4)
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(training, uncached, rtol=1e-5, atol=1e-5)
    assert held_none == 0 and held == cache_elements(config, batch=2) == 2 * 12 * (2 + 2 * 4)


# -- VAEs: one decoder pass (F20) --------------------------------------------------------------

@pytest.mark.parametrize("config", [
    ConvVAEConfig(image_size=8, in_channels=2, channels=(3, 5), latent_dim=6),
    ViTVAEConfig(image_size=(4, 6), patch_size=2, width=8, heads=2, decoder_depth=2, latent_channels=3),
], ids=lambda c: c.family)
def test_vae_sampling_equals_closed_form(config) -> None:
    _assert_sampling(config, 3, cache=False)
