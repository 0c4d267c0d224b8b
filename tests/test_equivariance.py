"""Spatial coherence (F14, F15) as properties of real torch modules built by costmodel.

F14: a stack of convolutions commutes with translations, ``Conv(T_s I) = T_s Conv(I)``,
away from the borders (zero padding breaks it within the receptive field of an edge);
with stride ``s`` the input must move by multiples of ``s`` per strided layer.
F15: a ViT without position embeddings treats its patches as a set: permuting the
patches of the image permutes the output tokens the same way and leaves the class token
(so the logits) unchanged. Adding the position embedding ``E_pos`` breaks this.
"""

from __future__ import annotations

import torch
from costmodel.validation.build import build
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.models import ConvNetConfig, ViTConfig
from costmodel.strategies import configs

SIDE = 24


@st.composite
def conv_stacks(draw):
    stride = draw(st.sampled_from([1, 2]))
    depth = draw(st.integers(1, 3 if stride == 1 else 2))
    kernel = draw(st.sampled_from([1, 3, 5]))
    return ConvNetConfig(image_size=max(SIDE, 16 * stride**depth), in_channels=draw(st.integers(1, 3)),
                         channels=tuple(draw(st.integers(1, 5)) for _ in range(depth)), kernel_size=kernel,
                         stride=stride, padding=kernel // 2, norm="none", pool="none",
                         activation=draw(st.sampled_from(["relu", "gelu"])))


def _translate(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift content by (dy, dx); the content sits away from the borders, so a roll is a translation."""
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@settings(max_examples=20, deadline=None)
@given(config=conv_stacks(), sy=st.integers(-2, 2), sx=st.integers(-2, 2), seed=st.integers(0, 2**16))
def test_conv_stack_commutes_with_translations(config, sy, sx, seed) -> None:
    torch.manual_seed(seed)
    features = build(config).features.eval()
    depth, stride, kernel = len(config.channels), config.stride, config.kernel_size
    factor = stride**depth  # one output pixel is `factor` input pixels
    side = config.image_size
    image = torch.zeros(2, config.in_channels, side, side)
    margin = 3 * factor  # the content never wraps around under a shift of up to 2 factor
    image[:, :, margin:-margin, margin:-margin] = torch.randn(2, config.in_channels, side - 2 * margin,
                                                              side - 2 * margin)
    with torch.no_grad():
        moved_then_conv = features(_translate(image, sy * factor, sx * factor))
        conv_then_moved = _translate(features(image), sy, sx)
    out = moved_then_conv.shape[-1]
    border = depth * (kernel // 2) + 3  # zero padding's influence, in output pixels, plus the shift
    inner = slice(border, out - border)
    assert out - 2 * border > 0
    torch.testing.assert_close(moved_then_conv[..., inner, inner], conv_then_moved[..., inner, inner],
                               rtol=1e-5, atol=1e-5)


def test_strided_stack_is_not_equivariant_to_a_sub_stride_shift() -> None:
    """The negative control: stride 2 samples every other pixel, so a 1-pixel shift is not a shift of the output."""
    torch.manual_seed(0)
    config = ConvNetConfig(image_size=SIDE, in_channels=1, channels=(4,), kernel_size=3, stride=2, padding=1,
                           norm="none", pool="none")
    features = build(config).features
    image = torch.zeros(1, 1, SIDE, SIDE)
    image[:, :, 6:-6, 6:-6] = torch.randn(1, 1, SIDE - 12, SIDE - 12)
    with torch.no_grad():
        a = features(_translate(image, 1, 0))
        b = features(image)
    assert not any(torch.allclose(a[..., 3:-3, 3:-3], _translate(b, s, 0)[..., 3:-3, 3:-3], atol=1e-4)
                   for s in (0, 1))


def _permute_patches(images: torch.Tensor, patch: int, order: torch.Tensor) -> torch.Tensor:
    """The image whose ``i``-th patch (raster order) is patch ``order[i]`` of ``images``."""
    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    patches = images.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c, patch,
                                                                                           patch)
    patches = patches[:, order]
    return patches.reshape(b, gh, gw, c, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def _tokens_out(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The encoder's output tokens (class token first), before the final norm and the head."""
    x = model.conv_proj(images).flatten(2).transpose(1, 2)
    x = torch.cat([model.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    if model.pos_embedding is not None:
        x = x + model.pos_embedding
    return model.blocks(x)


#: small ViTs without position embedding (full attention: a causal mask is not permutation
#: equivariant), from the public strategies (costmodel.strategies)
SMALL_VITS = configs(ViTConfig, image_size=(2, 16), patch_size=st.sampled_from([1, 2, 4]), heads=st.integers(1, 2),
                     depth=st.integers(1, 2), num_classes=5, position_embedding=False, attention="full")


@settings(max_examples=15, deadline=None)
@given(config=SMALL_VITS, seed=st.integers(0, 2**16))
def test_vit_without_position_embedding_is_permutation_equivariant(config, seed) -> None:
    torch.manual_seed(seed)
    model = build(config).eval()
    patch = config.patch_size
    images = torch.randn(2, config.in_channels, *config.image_hw)
    order = torch.randperm(config.num_patches)
    shuffled = _permute_patches(images, patch, order)
    with torch.no_grad():
        tokens, tokens_shuffled = _tokens_out(model, images), _tokens_out(model, shuffled)
        logits, logits_shuffled = model(images), model(shuffled)
    torch.testing.assert_close(tokens_shuffled[:, 1:], tokens[:, 1:][:, order], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tokens_shuffled[:, 0], tokens[:, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits_shuffled, logits, rtol=1e-4, atol=1e-5)


def test_position_embedding_breaks_permutation_equivariance() -> None:
    """F15: with ``E_pos`` the same shuffle changes the logits (and the tokens are no longer permuted)."""
    torch.manual_seed(0)
    config = ViTConfig(image_size=8, patch_size=2, in_channels=1, width=8, depth=2, heads=2, num_classes=5)
    model = build(config).eval()
    with torch.no_grad():
        model.pos_embedding.normal_()  # a trained-size embedding, not the 0.02-scaled initialisation
    images = torch.randn(2, 1, 8, 8)
    order = torch.roll(torch.arange(16), 1)  # every patch moves
    shuffled = _permute_patches(images, 2, order)
    with torch.no_grad():
        assert (model(shuffled) - model(images)).abs().max() > 1e-3  # float error is ~1e-6
        tokens, tokens_shuffled = _tokens_out(model, images), _tokens_out(model, shuffled)
    assert (tokens_shuffled[:, 1:] - tokens[:, 1:][:, order]).abs().max() > 1e-2
    # and without it the very same model and shuffle are invariant
    model.pos_embedding = None
    with torch.no_grad():
        torch.testing.assert_close(model(shuffled), model(images), rtol=1e-4, atol=1e-5)


def test_permuting_patches_is_a_bijection() -> None:
    images = torch.arange(2 * 3 * 6 * 4, dtype=torch.float32).reshape(2, 3, 6, 4)
    order = torch.tensor([5, 0, 3, 1, 4, 2])
    back = _permute_patches(_permute_patches(images, 2, order), 2, torch.argsort(order))
    assert torch.equal(back, images)
    assert not torch.equal(_permute_patches(images, 2, order), images)
