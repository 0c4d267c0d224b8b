"""Vision Transformer as torchvision's ``VisionTransformer``, with its attention variants.

Layout and parameter shapes follow torchvision ``models/vision_transformer.py`` (so the
parameter counts of ``vit_b_16`` etc. equal torchvision's): ``conv_proj`` (``P x P``
conv, stride ``P``, bias), ``class_token`` ``(1, 1, d)``, ``pos_embedding``
``(1, L, d)``, ``depth`` pre-LN blocks, final LayerNorm over all tokens, linear head on
the class token. ``nn.MultiheadAttention``'s ``in_proj`` (``3d x d`` + bias) is the
``qkv`` Linear here and its ``out_proj`` is ``proj``: same parameters, same products.

Attention cores (``config.attention``):

* ``"full"`` / ``"causal"``: ``F.scaled_dot_product_attention`` when
  ``config.fused_attention``, else the explicit ``softmax(q k^T / sqrt(d_k)) v``.
* ``"linformer"``: Wang et al. 2020, Eq. 7: keys and values projected along the sequence
  by ``E, F`` (``k x L``, no bias, one pair per layer shared by all heads).
* ``"performer"``: Choromanski et al., ICLR 2021, FAVOR+ with ``m`` positive orthogonal
  random features (``Omega``, a fixed buffer per layer).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.models.vit import ViTConfig


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d_k)) v`` with the probabilities materialised (Vaswani et al., Eq. 1)."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(dim=-1) @ v


def orthogonal_features(features: int, head_dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``Omega`` (``m x d_k``): blocks of orthogonal Gaussian directions (Performer, Sec. 2.4).

    Each block of ``d_k`` rows is the ``Q`` of a Gaussian matrix's QR, its columns' signs
    fixed by ``sign(diag R)`` so that ``Q`` is uniform (Haar; without it LAPACK's sign
    convention biases the directions, and ``exp(w . x)`` is not even in ``w``). Every row
    is then rescaled to the norm of an independent Gaussian vector, so each row is
    marginally ``N(0, I)`` while rows within a block stay orthogonal.
    """
    blocks = -(-features // head_dim)
    q, r = torch.linalg.qr(torch.randn(blocks, head_dim, head_dim, generator=generator))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar: column signs
    directions = q.transpose(-2, -1).reshape(blocks * head_dim, head_dim)[:features]  # rows
    norms = torch.randn(features, head_dim, generator=generator).norm(dim=1, keepdim=True)
    return directions * norms


def favor_features(x: torch.Tensor, omega: torch.Tensor, *, is_query: bool, eps: float = 1e-6) -> torch.Tensor:
    r"""Positive random features :math:`\phi(x) = e^{\Omega x - \lVert x\rVert^2/2} / \sqrt m` (Lemma 1).

    A stabiliser is subtracted inside the ``exp``: per row for queries, per (batch, head)
    for keys; both cancel in the ratio of :func:`favor_attention`.
    """
    projected = x @ omega.T  # (B, h, L, m); Omega is a buffer: no gradient
    half_sq_norm = (x * x).sum(dim=-1, keepdim=True) / 2
    dims = -1 if is_query else (-2, -1)
    stabiliser = projected.amax(dim=dims, keepdim=True).detach()
    return (torch.exp(projected - half_sq_norm - stabiliser) + eps) / math.sqrt(omega.shape[0])


def favor_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    r"""FAVOR+ (Choromanski et al., Eq. 4-5): :math:`D^{-1} \phi(Q) (\phi(K)^T V)`, linear in ``L``.

    ``q, k`` are scaled by ``d_k^{-1/4}`` so that ``phi(q) . phi(k)`` estimates
    ``exp(q . k / sqrt(d_k))``, the unnormalised softmax weight.
    """
    scale = q.shape[-1] ** -0.25
    phi_q = favor_features(q * scale, omega, is_query=True)
    phi_k = favor_features(k * scale, omega, is_query=False)
    kv = phi_k.transpose(-2, -1) @ v  # (B, h, m, d_k)
    numerator = phi_q @ kv  # (B, h, L, d_k)
    k_sum = phi_k.sum(dim=-2).unsqueeze(-1)  # (B, h, m, 1): phi(K)^T 1_L
    denominator = phi_q @ k_sum  # (B, h, L, 1)
    return numerator / denominator


class Attention(nn.Module):
    """Multi-head self-attention with a choice of core (full, causal, Linformer, Performer)."""

    def __init__(self, config: ViTConfig, tokens: int) -> None:
        super().__init__()
        width = int(config.width)
        self.heads = int(config.heads)
        self.variant = config.attention
        self.fused = config.fused_attention
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        if self.variant == "linformer":
            rank = int(config.linformer_rank)
            self.E = nn.Parameter(torch.randn(rank, tokens) / math.sqrt(rank))
            self.F = nn.Parameter(torch.randn(rank, tokens) / math.sqrt(rank))
        if self.variant == "performer":
            self.register_buffer("omega", orthogonal_features(int(config.performer_features), width // self.heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=-1)
        if self.variant == "linformer":  # (k x L) @ (B, L, d): shared by all heads
            k, v = self.E @ k, self.F @ v
        q, k, v = (_unit_last_stride(t.reshape(batch, -1, self.heads, width // self.heads).transpose(1, 2))
                   for t in (q, k, v))
        causal = self.variant == "causal"
        if self.variant == "performer":
            y = favor_attention(q, k, v, self.omega)
        elif self.fused:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            y = explicit_attention(q, k, v, causal=causal)
        return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))


def _unit_last_stride(t: torch.Tensor) -> torch.Tensor:
    """``t`` with stride 1 in its last dimension.

    Only a head dimension of size 1 can have another stride (a Linformer projection
    ``E @ k`` of a width-1 model returns one); any stride addresses the same elements then,
    but PyTorch's CPU flash-attention kernel requires stride 1 and would otherwise fall
    back to the unfused math path, which the ``fused_attention`` count does not describe.
    The view moves no data.
    """
    if t.stride(-1) == 1:
        return t
    return t.as_strided(t.shape, (*t.stride()[:-1], 1))


class MLP(nn.Module):
    """``Linear(d, r d)``, GELU, ``Linear(r d, d)`` (torchvision ``MLPBlock``)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN encoder block (torchvision ``EncoderBlock``; LayerNorm eps 1e-6)."""

    def __init__(self, config: ViTConfig, tokens: int) -> None:
        super().__init__()
        width = int(config.width)
        self.ln1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(config, tokens)
        self.ln2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = MLP(width, int(config.mlp_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al. 2021) with torchvision's parameters; images may be non-square."""

    def __init__(self, config: ViTConfig, dropout: float = 0.0) -> None:
        super().__init__()
        height, width_px = (int(s) for s in config.image_hw)
        patch, width = int(config.patch_size), int(config.width)
        self.grid = (height // patch, width_px // patch)
        tokens = self.grid[0] * self.grid[1] + 1
        self.conv_proj = nn.Conv2d(int(config.in_channels), width, kernel_size=patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embedding = (nn.Parameter(torch.randn(1, tokens, width) * 0.02)
                              if config.position_embedding else None)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*(Block(config, tokens) for _ in range(int(config.depth))))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, int(config.num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(images).flatten(2).transpose(1, 2)  # (B, N_p, d)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_embedding is not None:
            x = x + self.pos_embedding
        x = self.norm(self.blocks(self.dropout(x)))
        return self.head(x[:, 0])


def build(config: ViTConfig) -> VisionTransformer:
    """The real module of an integer ``ViTConfig``."""
    return VisionTransformer(config)


__all__ = ["build", "VisionTransformer", "Block", "Attention", "MLP", "explicit_attention",
           "favor_attention", "favor_features", "orthogonal_features"]
