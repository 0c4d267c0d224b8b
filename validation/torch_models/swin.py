"""Swin Transformer (v1) as torchvision builds it (``models/swin_transformer.py``), from a
:class:`~costmodel.models.swin.SwinConfig`.

``features`` = patch embedding (``Conv2d(P, stride P)``, permute to channels-last,
``LayerNorm``), stages of ``SwinTransformerBlock`` (shift 0 and ``M // 2`` alternating) with
``PatchMerging`` between them; then ``norm``, ``permute``, ``avgpool``, ``flatten``, ``head``.
``shifted_window_attention`` is torchvision's v1 function: the map is padded on the bottom
and right to a multiple of the window (a window larger than the map pads it up to the
window, and then is not shifted), rolled, split into windows, attended with the relative
position bias (and the shift mask), merged, rolled back and cropped. Dropout and
stochastic depth are the identity (rate 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from costmodel.validation.torch_models.convnext import Permute
from torch import nn

from costmodel.models.swin import SwinConfig

EPS = 1e-5


def shifted_window_attention(x: torch.Tensor, qkv: nn.Linear, proj: nn.Linear, bias: torch.Tensor, window: int,
                             heads: int, shift: int) -> torch.Tensor:
    """torchvision's ``shifted_window_attention`` (v1: no logit scale), square windows."""
    b, h, w, c = x.shape
    pad_r, pad_b = (window - w % window) % window, (window - h % window) % window
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    _, ph, pw, _ = x.shape
    shift_h = 0 if window >= ph else shift
    shift_w = 0 if window >= pw else shift
    if shift_h + shift_w > 0:
        x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))
    windows = (ph // window) * (pw // window)
    x = x.view(b, ph // window, window, pw // window, window, c)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b * windows, window * window, c)
    qkv_out = qkv(x).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv_out[0], qkv_out[1], qkv_out[2]
    q = q * (c // heads) ** -0.5
    attn = q.matmul(k.transpose(-2, -1))
    attn = attn + bias
    if shift_h + shift_w > 0:
        mask = x.new_zeros((ph, pw))
        h_slices = ((0, -window), (-window, -shift_h), (-shift_h, None))
        w_slices = ((0, -window), (-window, -shift_w), (-shift_w, None))
        count = 0
        for hs in h_slices:
            for ws in w_slices:
                mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                count += 1
        mask = mask.view(ph // window, window, pw // window, window).permute(0, 2, 1, 3)
        mask = mask.reshape(windows, window * window)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        attn = attn.view(x.size(0) // windows, windows, heads, x.size(1), x.size(1))
        attn = attn + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
    x = proj(x)
    x = x.view(b, ph // window, pw // window, window, window, c)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
    if shift_h + shift_w > 0:
        x = torch.roll(x, shifts=(shift_h, shift_w), dims=(1, 2))
    return x[:, :h, :w, :].contiguous()


class ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, shift: int, heads: int) -> None:
        super().__init__()
        self.window, self.shift, self.heads = window, shift, heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.normal_(self.relative_position_bias_table, std=0.02)  # torchvision: truncated normal
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += window - 1
        relative[:, :, 1] += window - 1
        relative[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", relative.sum(-1).flatten())

    def relative_position_bias(self) -> torch.Tensor:
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1)
        return bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted_window_attention(x, self.qkv, self.proj, self.relative_position_bias(), self.window,
                                        self.heads, self.shift)


class MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = ShiftedWindowAttention(dim, window, shift, heads)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = MLP(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Pad to even sides, concatenate the four 2x2 neighbours, ``LayerNorm(4d)``, ``Linear(4d, 2d)`` (no bias)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-3:-1]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]],
                      -1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        patch, dim, window = int(config.patch_size), int(config.embed_dim), int(config.window_size)
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(int(config.in_channels), dim, patch, stride=patch),
                                                 Permute([0, 2, 3, 1]), nn.LayerNorm(dim, eps=EPS))]
        for i, (depth, heads) in enumerate(zip(config.depths, config.num_heads, strict=True)):
            width = dim * 2**i
            layers.append(nn.Sequential(*(SwinTransformerBlock(width, int(heads), window,
                                                               0 if j % 2 == 0 else window // 2,
                                                               int(config.mlp_ratio)) for j in range(int(depth)))))
            if i + 1 < len(config.depths):
                layers.append(PatchMerging(width))
        self.features = nn.Sequential(*layers)
        features = dim * 2 ** (len(config.depths) - 1)
        self.norm = nn.LayerNorm(features, eps=EPS)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(features, int(config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.permute(self.norm(self.features(x)))
        return self.head(self.flatten(self.avgpool(x)))


def build(config: SwinConfig) -> nn.Module:
    return SwinTransformer(config)


__all__ = ["SwinTransformer", "SwinTransformerBlock", "ShiftedWindowAttention", "PatchMerging",
           "shifted_window_attention", "build"]
