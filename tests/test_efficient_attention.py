"""Windowed attention against a real torch module, and the efficient-attention trade-offs by hand."""

import pytest
import sympy
import torch
import torch.nn.functional as F
from costmodel.validation.flops import count_flops, count_params
from torch import nn

from costmodel.analysis.comparison import compare
from costmodel.analysis.efficient_attention import (
    AttentionShape,
    attention_elements,
    core_cost,
    crossover,
    image_side,
    layer_cost,
    metric,
)
from costmodel.core.errors import UnknownPresetError
from costmodel.core.symbols import L, d, h, k, m
from costmodel.models.presets import get_preset
from costmodel.ops.dense import linear
from costmodel.ops.windowed import padded_grid, windowed_attention

M = sympy.Symbol("M", positive=True, integer=True)


class WindowAttention(nn.Module):
    """Swin-style (shifted) window attention, written after torchvision's ``shifted_window_attention``."""

    def __init__(self, dim, heads, window, *, fused, shift=0, bias_table=True):
        super().__init__()
        self.heads, self.window, self.fused, self.shift = heads, window, fused, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads)) if bias_table else None
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.register_buffer("index", rel[..., 0] * (2 * window - 1) + rel[..., 1])

    def forward(self, x):  # (B, H, W, C)
        b, height, width, c = x.shape
        w = self.window
        x = F.pad(x, (0, 0, 0, (w - width % w) % w, 0, (w - height % w) % w))
        hp, wp = x.shape[1], x.shape[2]
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = x.view(b, hp // w, w, wp // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)
        qkv = self.qkv(x).reshape(x.shape[0], w * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k_, v = qkv[0], qkv[1], qkv[2]
        if self.fused:
            out = F.scaled_dot_product_attention(q, k_, v)
        else:
            attn = (q * (c // self.heads) ** -0.5).matmul(k_.transpose(-2, -1))
            if self.table is not None:
                attn = attn + self.table[self.index].permute(2, 0, 1)
            out = F.softmax(attn, dim=-1).matmul(v)
        out = self.proj(out.transpose(1, 2).reshape(-1, w * w, c))
        out = out.view(b, hp // w, wp // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
        if self.shift:
            out = torch.roll(out, shifts=(self.shift, self.shift), dims=(1, 2))
        return out[:, :height, :width, :]


@pytest.mark.parametrize("grid, window, fused, shift, bias", [
    ((8, 8), 4, False, 0, True),     # divisible, Swin's explicit attention with the bias table
    ((7, 10), 4, False, 0, True),    # padded to 8 x 12
    ((8, 8), 4, False, 2, True),     # shifted windows: the roll and the mask add no products
    ((6, 9), 3, True, 0, False),     # fused SDPA in each window
])
def test_windowed_attention_equals_flop_counter(grid, window, fused, shift, bias):
    torch.manual_seed(0)
    batch, dim, heads = 2, 16, 2
    module = WindowAttention(dim, heads, window, fused=fused, shift=shift, bias_table=bias)
    x = torch.randn(batch, *grid, dim, requires_grad=True)
    measured = count_flops(module, x)
    hp, wp = padded_grid(grid, window)
    rows = batch * hp * wp  # the projections also run on the padded tokens
    predicted = (linear(rows=rows, in_features=dim, out_features=3 * dim)
                 + windowed_attention(batch=batch, heads=heads, grid=grid, window=window, head_dim=dim // heads,
                                      fused=fused, relative_position_bias=bias, shifted=bool(shift))
                 + linear(rows=rows, in_features=dim, out_features=dim))
    assert (int(predicted.forward_flops), int(predicted.backward_flops)) == (measured.forward, measured.backward)
    assert int(predicted.params) == count_params(module)


def test_windowed_core_on_a_divisible_grid_is_linear_in_tokens():
    # n_w = (g / M)^2 windows of M^2 tokens: 2 * 2 * n_w * h * (M^2)^2 * d_k = 4 g^2 M^2 d FLOPs
    g = sympy.Symbol("g", positive=True, integer=True)
    core = windowed_attention(batch=1, heads=h, grid=(g, g), window=M, head_dim=d / h, divisible=True,
                              relative_position_bias=False)
    assert sympy.simplify(core.forward_flops - 4 * g**2 * M**2 * d) == 0


def test_core_costs_by_hand():
    shape = AttentionShape(width=d, heads=h, rank=k, features=m, window=M)
    # full: Q K^T and A V, h heads of L x d_k x L: 2 * 2 L^2 d
    assert sympy.expand(metric("full", shape=shape) - 4 * L**2 * d) == 0
    # Linformer: E K and F V (k x L x d each) + attention of L queries over k keys: 2 (2 L k d + 2 L k d)
    assert sympy.expand(metric("linformer", shape=shape) - 8 * L * k * d) == 0
    # Performer: Q Omega^T, K Omega^T (L d m each), phi(K)^T V and phi(Q) (.) (L m d each), normaliser h L m
    assert sympy.expand(metric("performer", shape=shape) - (8 * L * d * m + 2 * h * L * m)) == 0
    assert sympy.expand(metric("windowed", shape=shape) - 4 * L * M**2 * d) == 0


def test_crossover_lengths_by_hand():
    shape = AttentionShape(width=d, heads=h, rank=k, features=m, window=M)
    assert [c.root for c in crossover("full", "linformer", shape=shape)] == [2 * k]  # 4 L^2 d = 8 L k d
    # 4 L^2 d = 8 L d m + 2 h L m  <=>  L = 2 m + h m / (2 d)
    (perf,) = crossover("full", "performer", shape=shape)
    assert sympy.simplify(perf.root - (2 * m + h * m / (2 * d))) == 0 and perf.cheaper_after == "b"
    assert [c.root for c in crossover("full", "windowed", shape=shape)] == [M**2]
    # with the projections and MLP added to both sides the crossing does not move
    assert [c.root for c in crossover("full", "linformer", shape=shape, scope="layer")] == [2 * k]


def test_numeric_crossovers_and_image_sides():
    vit_b = AttentionShape()  # d 768, 12 heads, k = m = 256, 7 x 7 windows
    (lin,) = crossover("full", "linformer", shape=vit_b)
    (perf,) = crossover("full", "performer", shape=vit_b)
    assert (lin.root, lin.first_valid) == (512, 513)
    assert (perf.root, perf.first_valid) == (514, 515)  # 2 * 256 + 256 / (2 * 64)
    # more than 514 tokens at patch 16: (R/16)^2 + 1 > 514 needs 23 patches a side
    assert image_side(perf.root, 16) == 23 * 16
    assert image_side(48, 7, class_token=False) == 7 * 7  # 7^2 = 49 > 48
    assert len(crossover("linformer", "performer", shape=vit_b)) == 0  # both linear in L: no crossing


def test_attention_elements_by_hand():
    explicit = AttentionShape(width=d, heads=h, rank=k, features=m, window=M, fused=False)
    assert attention_elements("full", L, explicit) == h * L**2
    assert attention_elements("linformer", L, explicit) == h * L * k
    assert attention_elements("performer", L, explicit) == 2 * h * L * m
    assert attention_elements("windowed", L, explicit) == h * L * M**2
    assert attention_elements("full", L, explicit.replace(fused=True)) == h * L  # one log-sum-exp per row
    (c,) = crossover("full", "performer", shape=AttentionShape(fused=False), name="attention_elements")
    assert c.root == 512  # h L^2 = 2 h L m


def test_layer_cost_parts():
    layer = layer_cost("full", 197)
    assert set(dict(layer.parts)) == {"qkv", "core", "proj", "mlp"}
    assert layer.part("core").forward_flops == core_cost("full", 197).forward_flops


@pytest.mark.slow
def test_whole_vit_with_linformer_is_dearer_at_224_and_cheaper_past_the_crossover():
    full = get_preset("vit_b_16")
    lin = full.replace(attention="linformer", linformer_rank=256)
    result = compare([full, lin], over="image_size", lo=16, hi=2048, names=["full", "linformer"])
    (c,) = result.crossovers
    assert result.winner((0, 1), c.cheaper_after) == "linformer"
    assert result.exact(1, 224) > result.exact(0, 224)  # at ImageNet size Linformer costs more
    # the model crossing lies at the layer crossing L = 2k = 512 tokens: (R/16)^2 + 1 > 512
    assert c.first_valid == image_side(512, 16)


def test_unknown_variant():
    with pytest.raises(UnknownPresetError, match="unknown attention variant 'flash'"):
        metric("flash")
