"""The FlopCounterMode wrapper (``costmodel.validation.flops``): CPU attention is counted,
and a FLOP-bearing op without a formula is an error, not a silent zero.

Expected values are derived by hand in each test from the shapes (1 MAC = 2 FLOPs).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from costmodel.validation.flops import MeasuredFlops, UncountedOpError, count_flops, count_params
from torch import nn


class SDPA(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


def _qkv(batch: int, heads: int, q_len: int, kv_len: int, dk: int, device: str = "cpu",
         grad: bool = True) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    shapes = ((batch, heads, q_len, dk), (batch, heads, kv_len, dk), (batch, heads, kv_len, dk))
    return tuple(torch.randn(s, device=device, requires_grad=grad) for s in shapes)


def test_cpu_sdpa_forward_is_counted():
    # B=2, h=3, L=5, d_k=4. Forward = two products, each B*h*L*L*d_k = 600 MACs:
    # scores Q K^T (L x d_k @ d_k x L per head) and output P V (L x L @ L x d_k).
    # 2 products * 600 MACs * 2 FLOP/MAC = 2400 = 4 B h L^2 d_k.
    measured = count_flops(SDPA(), *_qkv(2, 3, 5, 5, 4))
    assert measured.forward == 4 * 2 * 3 * 5 * 5 * 4 == 2400
    assert measured.forward_by_op == {"aten._scaled_dot_product_flash_attention_for_cpu": 2400}


def test_cpu_sdpa_backward_counts_five_products():
    # The fused kernel keeps no probabilities, so its backward recomputes them:
    #   1. S = Q K^T (recompute)   2. dP = dO V^T   3. dV = P^T dO
    #   4. dQ = dS K               5. dK = dS^T Q
    # each B*h*L*L*d_k = 600 MACs = 1200 FLOPs: 5 * 1200 = 6000 = 2.5 x forward.
    measured = count_flops(SDPA(), *_qkv(2, 3, 5, 5, 4))
    assert measured.backward == 5 * 2 * (2 * 3 * 5 * 5 * 4) == 6000
    assert measured.backward == 2.5 * measured.forward
    assert set(measured.backward_by_op) == {"aten._scaled_dot_product_flash_attention_for_cpu_backward"}


def test_cpu_sdpa_cross_attention_lengths():
    # Query length 7, key/value length 5 (B=2, h=3, d_k=d_v=4): every product is
    # B*h*L_q*L_k*d_k = 2*3*7*5*4 = 840 MACs = 1680 FLOPs; forward 2 of them, backward 5.
    measured = count_flops(SDPA(), *_qkv(2, 3, 7, 5, 4))
    assert measured.forward == 2 * 1680
    assert measured.backward == 5 * 1680


def test_meta_device_runs_the_unfused_math_path():
    # On the meta device SDPA decomposes into two bmm's (forward 2 x 600 MACs) and its
    # backward into four (dP, dV, dQ, dK: no recomputation): 4 * 1200 = 4800 FLOPs.
    measured = count_flops(SDPA(), *_qkv(2, 3, 5, 5, 4, device="meta"))
    assert measured.forward == 2400
    assert measured.backward == 4 * 1200
    assert set(measured.forward_by_op) == set(measured.backward_by_op) == {"aten.bmm"}


def test_conv_and_linear_by_hand():
    # Conv2d(3, 8, 3, padding=1) on a 1x3x6x6 image: 6*6 outputs * 8 channels * 3*3*3 MACs
    # = 7776 MACs = 15552 FLOPs. Linear(8, 10) on the 8 pooled features: 80 MACs = 160.
    # Backward: the image needs no gradient, so the conv has only its weight gradient
    # (15552); the linear has input and weight gradients (2 * 160).
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 10))
    measured = count_flops(model, torch.randn(1, 3, 6, 6))
    assert isinstance(measured, MeasuredFlops)
    assert measured.forward == 15552 + 160
    assert measured.backward == 15552 + 2 * 160
    assert measured.forward_by_op == {"aten.convolution": 15552, "aten.addmm": 160}


def test_forward_only():
    measured = count_flops(nn.Linear(4, 3), torch.randn(2, 4), backward=False)
    assert (measured.forward, measured.backward, measured.backward_by_op) == (2 * 2 * 4 * 3, 0, {})


def test_elementwise_only_model_counts_zero_without_error():
    measured = count_flops(nn.Sequential(nn.ReLU(), nn.LayerNorm(4)), torch.randn(2, 4, requires_grad=True))
    assert (measured.forward, measured.backward) == (0, 0)


class _Call(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


# aten ops that do multiply-accumulates but have no formula in FlopCounterMode (checked
# against torch.utils.flop_counter's registry): each must be reported, not counted as 0.
UNCOUNTED = {
    "aten.dot": lambda a: torch.dot(a[0], a[1]),
    "aten.vdot": lambda a: torch.vdot(a[0], a[1]),
    "aten.mv": lambda a: torch.mv(a, a[0]),
    "aten.addmv": lambda a: torch.addmv(a[0], a, a[1]),
    "aten.addbmm": lambda a: torch.addbmm(a, a[None], a[None]),
}


@pytest.mark.parametrize("op", sorted(UNCOUNTED))
def test_uncounted_aten_op_raises_naming_it(op):
    with pytest.raises(UncountedOpError, match=op.replace(".", r"\.")):
        count_flops(_Call(UNCOUNTED[op]), torch.randn(4, 4, requires_grad=True))


@torch.library.custom_op("costmodel_test::tiny_mm", mutates_args=())
def tiny_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


@tiny_mm.register_fake
def _(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.new_empty(a.shape[0], b.shape[1])


def test_uncounted_custom_op_raises_naming_it():
    with pytest.raises(UncountedOpError, match="costmodel_test.tiny_mm"):
        count_flops(_Call(lambda a: tiny_mm(a, a)), torch.randn(3, 3), backward=False)


class _MvInBackward(torch.autograd.Function):
    """Identity forward; its backward multiplies by a matrix with aten.mv (uncounted)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.mv(torch.eye(grad.shape[0]), grad)


def test_uncounted_op_in_backward_raises():
    x = torch.randn(4, requires_grad=True)
    forward_only = count_flops(_Call(_MvInBackward.apply), x, backward=False)
    assert forward_only.forward == 0
    with pytest.raises(UncountedOpError, match=r"aten\.mv"):
        count_flops(_Call(_MvInBackward.apply), x)


def test_count_params_excludes_buffers_and_frozen():
    # BatchNorm2d(4): weight + bias = 8 trainable; running mean/var are buffers.
    # Linear(4, 2): 4*2 + 2 = 10, frozen here, so not counted.
    frozen = nn.Linear(4, 2).requires_grad_(False)
    assert count_params(nn.Sequential(nn.BatchNorm2d(4), frozen)) == 8
