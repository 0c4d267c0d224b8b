"""Per-operator formulas against FlopCounterMode on real torch ops (independent measurement)."""

import pytest
import sympy
import torch
from costmodel.validation.flops import count_flops, count_params
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import FULL, InvalidConfigError
from costmodel.core.symbols import H
from costmodel.ops import conv2d, conv_out_size, linear, matmul, patch_embedding

torch.set_grad_enabled(True)


class _Leaf(torch.nn.Module):
    """Wrap a layer; when ``input_grad`` the input is a leaf that needs a gradient."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@given(
    batch=st.integers(1, 3), cin_per_group=st.integers(1, 4), cout_per_group=st.integers(1, 4),
    groups=st.integers(1, 3), kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
    size=st.tuples(st.integers(5, 19), st.integers(5, 19)), bias=st.booleans(), input_grad=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_conv2d_matches_flop_counter(batch, cin_per_group, cout_per_group, groups, kernel, stride, padding,
                                     dilation, size, bias, input_grad):
    cin, cout = cin_per_group * groups, cout_per_group * groups
    layer = torch.nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation,
                            groups=groups, bias=bias)
    x = torch.randn(batch, cin, *size, requires_grad=input_grad)
    try:
        out = layer(x)
    except RuntimeError:  # window larger than the padded input: the formula must refuse too
        with pytest.raises(InvalidConfigError):
            for axis in range(2):
                conv_out_size(size[axis], kernel[axis], stride, padding, dilation)
        return
    out_size = tuple(conv_out_size(size[a], kernel[a], stride, padding, dilation) for a in range(2))
    assert out_size == tuple(out.shape[2:])
    measured = count_flops(layer, x)
    predicted = conv2d(batch=batch, in_channels=cin, out_channels=cout, out_size=out_size, kernel_size=kernel,
                       groups=groups, bias=bias, input_grad=input_grad)
    assert predicted.forward_flops == measured.forward
    assert predicted.backward_flops == measured.backward
    assert predicted.params == count_params(layer)


@given(rows=st.integers(1, 4), tokens=st.integers(1, 5), fin=st.integers(1, 9), fout=st.integers(1, 9),
       bias=st.booleans(), input_grad=st.booleans())
@settings(max_examples=30, deadline=None)
def test_linear_matches_flop_counter_on_2d_and_3d_inputs(rows, tokens, fin, fout, bias, input_grad):
    layer = torch.nn.Linear(fin, fout, bias=bias)
    for shape, n in (((rows, fin), rows), ((rows, tokens, fin), rows * tokens)):
        x = torch.randn(*shape, requires_grad=input_grad)
        measured = count_flops(layer, x)
        predicted = linear(rows=n, in_features=fin, out_features=fout, bias=bias, input_grad=input_grad)
        assert (predicted.forward_flops, predicted.backward_flops) == (measured.forward, measured.backward)
        assert predicted.params == count_params(layer)


def test_bmm_by_hand():
    a = torch.randn(3, 4, 5, requires_grad=True)
    b = torch.randn(3, 5, 6, requires_grad=False)

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.bmm(x, b)

    measured = count_flops(M(), a)
    # 3 products of (4x5)(5x6): 3*4*5*6 = 360 MACs = 720 FLOPs; backward only dA (b needs none)
    assert measured.forward == 720 and measured.backward == 720
    c = matmul(batch=3, n=4, k=5, m=6, b_grad=False)
    assert (c.forward_flops, c.backward_flops) == (720, 720)


def test_patch_embedding_f15_by_hand():
    # ViT-B/16 at 224: 196 patches, each a (16*16*3) x 768 product: 196*768*768 MACs
    c = patch_embedding(batch=1, image_size=(224, 224), patch_size=16, in_channels=3, width=768)
    assert c.forward_flops == 2 * 196 * 768 * 768
    assert c.backward_flops == c.forward_flops  # weight gradient only: the image needs none
    assert c.params == 16 * 16 * 3 * 768 + 768
    with pytest.raises(InvalidConfigError, match=r"image_size=225: must be divisible by patch_size=16"):
        patch_embedding(batch=1, image_size=(225, 224), patch_size=16, in_channels=3, width=768)


def test_conv_out_size_symbolic_and_divisible_forms():
    exact = conv_out_size(H, 3, 2, 1)
    poly = conv_out_size(H, 3, 2, 1, divisible=True)
    assert poly == H / 2
    for h in range(2, 200, 2):
        assert exact.subs(H, h) == poly.subs(H, h) == (h + 2 - 3) // 2 + 1
    assert any(exact.subs(H, h) != poly.subs(H, h) for h in range(3, 50, 2))  # odd sizes differ
    assert isinstance(exact, sympy.Expr) and exact.has(sympy.floor)


def test_full_convention_adds_bias_terms_by_hand():
    base = conv2d(batch=2, in_channels=3, out_channels=4, out_size=(5, 5), kernel_size=3)
    full = conv2d(batch=2, in_channels=3, out_channels=4, out_size=(5, 5), kernel_size=3, convention=FULL)
    assert full.forward_flops - base.forward_flops == 2 * 4 * 5 * 5  # one add per output
    groups = dict(batch=1, in_channels=4, out_channels=4, out_size=(3, 3), kernel_size=3, groups=4, bias=False)
    # FlopCounterMode counts the weight gradient of a grouped conv as dense (x groups); FULL does not
    assert conv2d(**groups).backward_flops - conv2d(**groups, convention=FULL).backward_flops == 3 * 2 * 9 * 4 * 9


def test_conv_errors_name_field_and_value():
    with pytest.raises(InvalidConfigError, match=r"in_channels=6: must be divisible by groups=4"):
        conv2d(batch=1, in_channels=6, out_channels=8, out_size=(3, 3), kernel_size=3, groups=4)
    with pytest.raises(InvalidConfigError, match=r"image_size=2: is too small for a window of kernel 5"):
        conv_out_size(2, 5)
