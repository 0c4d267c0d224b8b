"""The article's forms (F7, F9-F12) against the exact counts, by leading term."""

import pytest
import sympy

from costmodel import InvalidConfigError
from costmodel.article.forms import F7, F9, F10, F11, F12, M, N_map, agrees_asymptotically, big_o, leading_term
from costmodel.core.symbols import C_in, C_out, K, L, d, h, r
from costmodel.ops import conv2d, linear, softmax_attention


def test_f7_f11_equal_the_conv_operator_params():
    conv = conv2d(batch=1, in_channels=C_in, out_channels=C_out, out_size=(M, N_map), kernel_size=K)
    assert sympy.expand(conv.params - F7.exact) == 0
    assert F11.exact == F7.exact
    assert agrees_asymptotically(F7.exact, F7.article, K)


def test_f9_exact_is_the_conv_operator_and_grows_as_the_article_says_in_map_size():
    conv = conv2d(batch=1, in_channels=C_in, out_channels=C_out, out_size=(M, N_map), kernel_size=K)
    assert sympy.expand(conv.forward_flops - F9.exact) == 0
    assert agrees_asymptotically(F9.exact, F9.article, M)
    assert agrees_asymptotically(F9.exact, F9.article, K)
    # but not in channels: the article's form has no C_in
    with pytest.raises(InvalidConfigError, match="does not depend"):
        agrees_asymptotically(F9.exact, F9.article, C_in)


def test_f10_exact_layer_count_and_where_the_big_o_holds():
    dk = d / h
    layer = (linear(rows=L, in_features=d, out_features=3 * d)
             + softmax_attention(batch=1, heads=h, q_len=L, kv_len=L, head_dim=dk)
             + linear(rows=L, in_features=d, out_features=d)
             + linear(rows=L, in_features=d, out_features=r * d)
             + linear(rows=L, in_features=r * d, out_features=d))
    assert sympy.expand(layer.forward_flops - F10.exact) == 0
    # hand derivation: scores + weighted sum = 2 L^2 d MACs -> 4 L^2 d FLOPs dominates in L
    assert leading_term(F10.exact, L) == 4 * L**2 * d
    assert agrees_asymptotically(F10.exact, F10.article, L)
    # in the width the projections win: exact ~ d^2, the article's L^2 d is only linear in d
    assert not agrees_asymptotically(F10.exact, F10.article, d)
    assert big_o(F10.exact, d) == sympy.Order(d**2, (d, sympy.oo))


def test_f12_attention_matrix_dominates_in_tokens():
    assert agrees_asymptotically(F12.exact, F12.article, L)
    assert leading_term(F12.exact, L) == h * L**2


def test_leading_term_handles_floors_and_non_polynomials():
    R = sympy.Symbol("R", positive=True, integer=True)
    assert leading_term(3 * sympy.floor(R / 2) ** 2 + R, R) == sympy.Rational(3, 4) * R**2
    assert leading_term(sympy.sqrt(R**2 + 1) * R, R) == R**2
    with pytest.raises(InvalidConfigError, match="var=2: must be a SymPy symbol"):
        leading_term(R, 2)
