"""The article's defining formulas F1-F6 (SymPy) against torch's own ops, numerically."""

import math

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.article.definitions import (
    GELU,
    GELU_TANH,
    RELU,
    BlockWeights,
    conv_layer,
    conv_sum,
    encoder_block,
    gelu,
    image,
    kernel,
    max_abs_difference,
    multi_head_attention,
    px,
    py,
    relu,
    symbolic_attention,
    x,
)

D64 = torch.float64


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 2**16))
def test_f1_convolution_sum_is_torch_conv2d(size, extra_h, extra_w, seed):
    gen = torch.Generator().manual_seed(seed)
    img = torch.randn(size + extra_h, size + extra_w, generator=gen, dtype=D64)
    filt = torch.randn(size, size, generator=gen, dtype=D64)
    want = F.conv2d(img[None, None], filt[None, None])[0, 0]
    fn = sympy.lambdify((image, kernel, px, py), conv_sum(size), "numpy")
    got = np.array([[fn(img.numpy(), filt.numpy(), i, j) for j in range(extra_w + 1)] for i in range(extra_h + 1)])
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


def test_f2_conv_layer_is_conv2d_plus_bias_then_activation():
    torch.manual_seed(1)
    c_in, c_out, size = 2, 3, 2
    h = torch.randn(c_in, 4, 5, dtype=D64)
    w = torch.randn(c_out, c_in, size, size, dtype=D64)
    b = torch.randn(c_out, dtype=D64)
    want = F.relu(F.conv2d(h[None], w, b))[0]
    H, W, bias = sympy.IndexedBase("H"), sympy.IndexedBase("W"), sympy.IndexedBase("b")
    for k in range(c_out):
        expr = conv_layer(k, in_channels=c_in, size=size, activation=relu)
        fn = sympy.lambdify((H, W, bias, px, py), expr, "numpy")
        got = np.array([[fn(h.numpy(), w.numpy(), b.numpy(), i, j) for j in range(4)] for i in range(3)])
        np.testing.assert_allclose(got, want[k].numpy(), rtol=1e-12, atol=1e-12)


def test_f3_attention_is_scaled_dot_product_attention():
    torch.manual_seed(2)
    tokens, head_dim = 3, 2
    expr = symbolic_attention(tokens, head_dim)
    q, k, v = (sympy.MatrixSymbol(n, tokens, head_dim) for n in ("Q", "K", "V"))
    fn = sympy.lambdify((q, k, v), expr, "numpy")
    tq, tk, tv = (torch.randn(tokens, head_dim, dtype=D64) for _ in range(3))
    want = F.scaled_dot_product_attention(tq[None], tk[None], tv[None])[0]
    np.testing.assert_allclose(np.array(fn(tq.numpy(), tk.numpy(), tv.numpy()), dtype=float), want.numpy(),
                               rtol=1e-12, atol=1e-12)


def _matrix(t):
    """A SymPy matrix of a tensor's values (a 1-D tensor becomes a column)."""
    return sympy.Matrix(t.detach().numpy().tolist())


def test_f3_multi_head_attention_is_nn_multiheadattention():
    torch.manual_seed(3)
    mha = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    xs = torch.randn(1, 3, 4, dtype=D64)
    want = mha(xs, xs, xs, need_weights=False)[0][0]
    got = multi_head_attention(_matrix(xs[0]), heads=2, w_qkv=_matrix(mha.in_proj_weight),
                               b_qkv=_matrix(mha.in_proj_bias).T, w_out=_matrix(mha.out_proj.weight),
                               b_out=_matrix(mha.out_proj.bias).T)
    np.testing.assert_allclose(np.array(got.evalf(), dtype=float), want.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_f4_encoder_block_is_pre_ln_transformer_layer():
    torch.manual_seed(4)
    layer = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, activation="gelu",
                                             norm_first=True, batch_first=True).double().eval()
    xs = torch.randn(1, 3, 4, dtype=D64)
    with torch.no_grad():
        want = layer(xs)[0]
    sa = layer.self_attn
    weights = BlockWeights(
        w_qkv=_matrix(sa.in_proj_weight), b_qkv=_matrix(sa.in_proj_bias).T,
        w_out=_matrix(sa.out_proj.weight), b_out=_matrix(sa.out_proj.bias).T,
        w_fc1=_matrix(layer.linear1.weight), b_fc1=_matrix(layer.linear1.bias).T,
        w_fc2=_matrix(layer.linear2.weight), b_fc2=_matrix(layer.linear2.bias).T,
        ln1=(_matrix(layer.norm1.weight), _matrix(layer.norm1.bias)),
        ln2=(_matrix(layer.norm2.weight), _matrix(layer.norm2.bias)),
        eps=sympy.Float(layer.norm1.eps))
    got = encoder_block(_matrix(xs[0]), weights, heads=2)
    np.testing.assert_allclose(np.array(got.evalf(), dtype=float), want.numpy(), rtol=1e-9, atol=1e-10)


POINTS = [-6.0, -3.3, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.25, 0.7, 1.0, 2.5, 4.0, 9.0]


@pytest.mark.parametrize("expr, op", [
    (RELU, F.relu),
    (GELU, lambda t: F.gelu(t, approximate="none")),
    (GELU_TANH, lambda t: F.gelu(t, approximate="tanh")),
])
def test_f5_f6_activations_and_their_derivatives_match_torch(expr, op):
    t = torch.tensor(POINTS, dtype=D64, requires_grad=True)
    out = op(t)
    (grad,) = torch.autograd.grad(out.sum(), t)
    value = sympy.lambdify(x, expr, "mpmath")
    slope = sympy.lambdify(x, sympy.diff(expr, x), "mpmath")
    for p, want, want_grad in zip(POINTS, out.tolist(), grad.tolist(), strict=True):
        assert math.isclose(float(value(p)), want, rel_tol=1e-12, abs_tol=1e-14)
        if p != 0.0 or expr is not RELU:  # ReLU has no derivative at 0 (torch uses 0)
            assert math.isclose(float(slope(p)), want_grad, rel_tol=1e-10, abs_tol=1e-14)


def test_f6_gelu_is_x_times_the_normal_cdf_and_the_tanh_form_is_close():
    # Phi(x) = (1 + erf(x / sqrt 2)) / 2, so GELU(1) = Phi(1) = 0.8413447460685429 (normal table)
    assert math.isclose(float(GELU.subs(x, 1)), 0.8413447460685429, rel_tol=1e-15)
    assert sympy.limit(GELU / x, x, sympy.oo) == 1 and sympy.limit(GELU, x, -sympy.oo) == 0
    worst, where = max_abs_difference(GELU, GELU_TANH, np.linspace(-6, 6, 241))
    assert 4.0e-4 < worst < 5.0e-4 and 2.5 < abs(where) < 3.0
    assert gelu(2 * x).subs(x, 0) == 0 and relu(x - 1).subs(x, 0) == 0
