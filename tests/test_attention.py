"""Attention cores: hand-derived counts, FlopCounterMode on bare cores, and that the modules work."""

from __future__ import annotations

import pytest
import sympy
import torch
import torch.nn.functional as F
from costmodel.validation.flops import count_flops
from costmodel.validation.torch_models.vit import (
    Attention,
    explicit_attention,
    favor_attention,
    favor_features,
    orthogonal_features,
)

import costmodel.models as models
from costmodel.core.symbols import D, P, R, d, h, r
from costmodel.models.vit import ViTConfig
from costmodel.ops.attention import linformer_attention, performer_attention, softmax_attention


def _qkv(batch: int, heads: int, q_len: int, kv_len: int, head_dim: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    q = torch.randn(batch, heads, q_len, head_dim, requires_grad=True)
    k = torch.randn(batch, heads, kv_len, head_dim, requires_grad=True)
    v = torch.randn(batch, heads, kv_len, head_dim, requires_grad=True)
    return q, k, v


class _Core(torch.nn.Module):
    def __init__(self, fn, *extra: torch.Tensor) -> None:
        super().__init__()
        self.fn, self.extra = fn, extra

    def forward(self, q, k, v):
        return self.fn(q, k, v, *self.extra)


# -- article F10 -----------------------------------------------------------------------------


def test_f10_per_layer_macs_full_attention() -> None:
    """Hand derivation (article F10), batch 1, L tokens, width d, MLP ratio r, per layer:
    Q, K, V and output projections 4 L d^2; scores Q K^T and weights x V, h heads of
    L x L x d/h each, 2 L^2 d; MLP d -> r d -> d, 2 r L d^2."""
    config = ViTConfig(image_size=R * P, patch_size=P, width=d, heads=h, depth=D, mlp_ratio=r)
    cost = models.cost(config, batch=1)
    L = R**2 + 1
    per_layer_macs = cost.part("blocks").forward_flops / D / 2
    assert sympy.expand(per_layer_macs - (4 * L * d**2 + 2 * L**2 * d + 2 * r * L * d**2)) == 0
    attn = cost.part("blocks/attn")
    assert sympy.expand(attn.part("core").forward_flops / D / 2 - 2 * L**2 * d) == 0
    assert sympy.expand((attn.part("qkv").forward_flops + attn.part("proj").forward_flops) / D / 2
                        - 4 * L * d**2) == 0


# -- hand-derived op counts ------------------------------------------------------------------


def test_softmax_attention_by_hand() -> None:
    """ViT-B/16 layer at batch 1: Q K^T and A V are 12 heads x 197 x 197 x 64 MACs each.
    Explicit backward: both operands of both products (4 products); fused: + recomputed scores."""
    product = 2 * 12 * 197 * 197 * 64  # 59,610,624 FLOPs
    fused = softmax_attention(batch=1, heads=12, q_len=197, kv_len=197, head_dim=64)
    explicit = softmax_attention(batch=1, heads=12, q_len=197, kv_len=197, head_dim=64, fused=False)
    assert fused.forward_flops == explicit.forward_flops == 2 * product == 119_221_248
    assert explicit.backward_flops == 4 * product
    assert fused.backward_flops == 5 * product
    assert fused.params == 0


def test_linformer_by_hand() -> None:
    """B = 2, h = 2, L = 10, d_k = 4 (d = 8), k = 3: E K and F V are 2 x (3 x 10 x 8) MACs
    each; attention over 3 keys 2 x 2 x (10 x 3 x 4) per product; E, F have 2 k L params."""
    projection = 2 * 2 * 3 * 10 * 8  # 960 FLOPs
    product = 2 * 2 * 2 * 10 * 3 * 4  # 960 FLOPs
    cost = linformer_attention(batch=2, heads=2, tokens=10, head_dim=4, rank=3)
    assert cost.params == 2 * 3 * 10
    assert cost.forward_flops == 2 * projection + 2 * product
    assert cost.backward_flops == 2 * 2 * projection + 5 * product  # E and K both get gradients
    assert {name for name, _ in cost.parts} == {"project_k", "project_v", "scores", "softmax", "weighted_sum"}


def test_performer_by_hand() -> None:
    """B = 1, h = 2, L = 10, d_k = 4, m = 6. Q Omega^T, K Omega^T: 2 x 10 x 4 x 6 MACs, input
    gradient only (Omega is fixed); phi(K)^T V and phi(Q) (.): 2 x 6 x 10 x 4, both operands;
    normaliser phi(Q) (phi(K)^T 1): 2 x 10 x 6 x 1, both operands."""
    feature, big, normaliser = 2 * 2 * 10 * 4 * 6, 2 * 2 * 6 * 10 * 4, 2 * 2 * 10 * 6
    cost = performer_attention(batch=1, heads=2, tokens=10, head_dim=4, features=6)
    assert cost.forward_flops == 2 * feature + 2 * big + normaliser == 4080
    assert cost.backward_flops == 2 * feature + 2 * 2 * big + 2 * normaliser == 6240
    assert cost.params == 0


# -- measured: bare cores under FlopCounterMode (real CPU tensors) ---------------------------


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_softmax_core_equals_measured(fused: bool, causal: bool) -> None:
    q, k, v = _qkv(2, 3, 7, 7, 5)
    if fused:
        core = _Core(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    else:
        core = _Core(lambda q, k, v: explicit_attention(q, k, v, causal=causal))
    measured = count_flops(core, q, k, v)
    cost = softmax_attention(batch=2, heads=3, q_len=7, kv_len=7, head_dim=5, causal=causal, fused=fused)
    assert (cost.forward_flops, cost.backward_flops) == (measured.forward, measured.backward)


def test_performer_core_equals_measured() -> None:
    q, k, v = _qkv(2, 3, 9, 9, 4)
    omega = orthogonal_features(11, 4)
    measured = count_flops(_Core(favor_attention, omega), q, k, v)
    cost = performer_attention(batch=2, heads=3, tokens=9, head_dim=4, features=11)
    assert (cost.forward_flops, cost.backward_flops) == (measured.forward, measured.backward)


def test_causal_counts_as_full_and_masks() -> None:
    q, k, v = _qkv(1, 2, 6, 6, 4)
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    explicit = explicit_attention(q, k, v, causal=True)
    torch.testing.assert_close(fused, explicit)
    # the first query sees only the first key: its output is v[..., 0, :]
    torch.testing.assert_close(explicit[..., 0, :], v[..., 0, :])


# -- the variants are real attention ---------------------------------------------------------


def test_performer_approximates_softmax_attention() -> None:
    """FAVOR+ is an unbiased estimate whose error shrinks with m (Choromanski et al., Thm. 2)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 16, 8, generator=gen) * 0.4 for _ in range(3))
    exact = explicit_attention(q, k, v)

    def error(features: int) -> float:
        approx = favor_attention(q, k, v, orthogonal_features(features, 8, torch.Generator().manual_seed(1)))
        return float((approx - exact).norm() / exact.norm())

    assert error(4096) < 0.03 < 0.1 < error(8)


def test_orthogonal_features_are_orthogonal_per_block() -> None:
    omega = orthogonal_features(20, 8, torch.Generator().manual_seed(2))
    assert omega.shape == (20, 8)
    for block in (omega[:8], omega[8:16], omega[16:]):
        gram = block @ block.T
        torch.testing.assert_close(gram - torch.diag(torch.diagonal(gram)), torch.zeros_like(gram),
                                   atol=1e-4, rtol=0)
    x = torch.randn(1, 1, 5, 8)
    assert (favor_features(x, omega, is_query=True) > 0).all()


def test_linformer_with_identity_projections_is_full_attention() -> None:
    """With k = L and E = F = I, Linformer (Wang et al., Eq. 7) is exactly softmax attention."""
    config = ViTConfig(image_size=8, patch_size=4, width=8, heads=2, depth=1, linformer_rank=5)
    torch.manual_seed(0)
    full = Attention(config, tokens=5)
    linformer = Attention(config.replace(attention="linformer"), tokens=5)
    linformer.load_state_dict({**full.state_dict(), "E": torch.eye(5), "F": torch.eye(5)})
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(linformer(x), full(x))
    assert linformer.E.shape == (5, 5) and sum(p.numel() for p in linformer.parameters()) == \
        sum(p.numel() for p in full.parameters()) + 2 * 5 * 5


def test_attention_matches_torch_multihead_attention() -> None:
    """Our qkv/proj block counts and holds exactly what torchvision's ``nn.MultiheadAttention``
    (``batch_first``, ``need_weights=False``) does: same params, same measured FLOPs."""

    class TorchMHA(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = torch.nn.MultiheadAttention(12, 3, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, need_weights=False)[0]

    ours = Attention(ViTConfig(image_size=8, patch_size=4, width=12, heads=3, depth=1), tokens=5)
    reference = TorchMHA()
    x = torch.randn(2, 5, 12, requires_grad=True)
    mine, theirs = count_flops(ours, x), count_flops(reference, x)
    assert (mine.forward, mine.backward) == (theirs.forward, theirs.backward)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
