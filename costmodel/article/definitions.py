"""The article's defining formulas F1-F6 as SymPy expressions (``shared/ARTICLE_FORMULAS.md``).

These are definitions, not costs: what a convolution, a conv layer, attention, a pre-LN
encoder block, ReLU and GELU compute. ``tests/test_article_defs.py`` checks each
numerically against the corresponding torch op on random inputs.

* F1 :data:`CONV_SUM` ``(I * F)(x, y) = sum_{i,j} I(x+i, y+j) F(i, j)``: a
  cross-correlation, as ``torch.nn.functional.conv2d`` computes (no kernel flip).
* F2 :func:`conv_layer` ``H^{l+1}_k(x, y) = sigma(sum_c (H^l_c * F_{k,c})(x, y) + b_k)``.
* F3 :func:`attention` ``softmax(Q K^T / sqrt(d_k)) V`` and :func:`multi_head_attention`
  (``h`` heads of width ``d_k = d / h``, Vaswani et al. 2017, Eq. 1 and Sec. 3.2.2).
* F4 :func:`encoder_block` ``X' = X + MSA(LN(X))``, ``X'' = X' + MLP(LN(X'))``
  (Dosovitskiy et al. 2021, Eq. 2-3).
* F5 :data:`RELU` ``max(0, x)``.
* F6 :data:`GELU` ``x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`` and :data:`GELU_TANH`
  ``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2`` (Hendrycks & Gimpel 2016, Sec. 2).

Functions on matrices take SymPy ``Matrix`` objects, symbolic or numeric, and return
SymPy matrices; :func:`symbolic_attention` builds the fully symbolic form.

Examples
--------
>>> from costmodel.article.definitions import GELU, GELU_TANH, RELU, x
>>> GELU.subs(x, 0), RELU.subs(x, -3), float(GELU.subs(x, 1))
(0, 0, 0.8413447460685429)
>>> CONV_SUM.subs(K, 2).doit()
F[0, 0]*I[x, y] + F[0, 1]*I[x, y + 1] + F[1, 0]*I[x + 1, y] + F[1, 1]*I[x + 1, y + 1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import K

x = sympy.Symbol("x", real=True)

#: F5, ReLU
RELU = sympy.Max(0, x)
#: standard normal CDF
PHI = (1 + sympy.erf(x / sympy.sqrt(2))) / 2
#: F6, exact GELU ``x Phi(x)``
GELU = x * PHI
#: coefficient of the cubic term in the tanh approximation (Hendrycks & Gimpel 2016)
GELU_CUBIC = sympy.Rational(44715, 10**6)
#: F6, tanh approximation of GELU (``torch.nn.functional.gelu(..., approximate="tanh")``)
GELU_TANH = x / 2 * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (x + GELU_CUBIC * x**3)))

_i, _j, _c = sympy.symbols("i j c", integer=True, nonnegative=True)
px, py = sympy.symbols("x y", integer=True, nonnegative=True)
image = sympy.IndexedBase("I")
kernel = sympy.IndexedBase("F")

#: F1, the convolution (cross-correlation) of image ``I`` with a ``K x K`` filter ``F`` at ``(x, y)``
CONV_SUM = sympy.Sum(image[px + _i, py + _j] * kernel[_i, _j], (_i, 0, K - 1), (_j, 0, K - 1))


def conv_sum(size: Any = K) -> sympy.Expr:
    """F1 for a ``size x size`` filter (an integer gives the expanded sum)."""
    expr = CONV_SUM.subs(K, size)
    return expr.doit() if isinstance(size, int) else expr


def conv_layer(out_channel: Any, *, in_channels: Any, size: Any = K,
               activation: Callable[[sympy.Expr], sympy.Expr] | None = None) -> sympy.Expr:
    """F2: output channel ``k`` of a conv layer at ``(x, y)``, before or after ``activation``.

    ``H^{l+1}_k(x, y) = sigma(sum_c sum_{i,j} H_c(x+i, y+j) F_{k,c}(i, j) + b_k)`` with
    ``H``, ``F``, ``b`` the IndexedBases ``H``, ``W``, ``b``.
    """
    H, W, b = sympy.IndexedBase("H"), sympy.IndexedBase("W"), sympy.IndexedBase("b")
    total = sympy.Sum(H[_c, px + _i, py + _j] * W[out_channel, _c, _i, _j],
                      (_c, 0, in_channels - 1), (_i, 0, size - 1), (_j, 0, size - 1))
    if all(isinstance(v, int) for v in (in_channels, size)):
        total = total.doit()
    pre = total + b[out_channel]
    return activation(pre) if activation is not None else pre


def _numeric(expr: sympy.Expr, *inputs: Any) -> sympy.Expr:
    """Evaluate to a float when the inputs hold floats, so that ``sqrt(2)`` and ``erf`` do not pile up."""
    if any(sympy.sympify(v).has(sympy.Float) for v in inputs):
        return expr.evalf()
    return expr


def relu(value: sympy.Expr) -> sympy.Expr:
    """F5 applied to an expression."""
    return _numeric(RELU.subs(x, value), value)


def gelu(value: sympy.Expr, *, approximate: str = "none") -> sympy.Expr:
    """F6 applied to an expression (``approximate="tanh"`` for the tanh form)."""
    if approximate not in ("none", "tanh"):
        raise InvalidConfigError("approximate", approximate, "must be 'none' or 'tanh'")
    return _numeric((GELU if approximate == "none" else GELU_TANH).subs(x, value), value)


def softmax_rows(scores: sympy.Matrix) -> sympy.Matrix:
    """Row-wise softmax ``exp(s_ij) / sum_l exp(s_il)``."""
    out = sympy.zeros(scores.rows, scores.cols)
    for r in range(scores.rows):
        exps = [sympy.exp(scores[r, c]) for c in range(scores.cols)]
        total = sum(exps)
        for c in range(scores.cols):
            out[r, c] = exps[c] / total
    return out


def attention(q: sympy.Matrix, k: sympy.Matrix, v: sympy.Matrix) -> sympy.Matrix:
    """F3, one head: ``softmax(Q K^T / sqrt(d_k)) V`` with ``d_k`` the number of columns of ``Q``."""
    if q.cols != k.cols or k.rows != v.rows:
        raise InvalidConfigError("shapes", (q.shape, k.shape, v.shape), "need Q (n x d_k), K (m x d_k), V (m x d_v)")
    scale = _numeric(1 / sympy.sqrt(q.cols), q, k)
    return softmax_rows(q * k.T * scale) * v


def symbolic_attention(tokens: int, head_dim: int) -> sympy.Matrix:
    """F3 with symbolic ``Q``, ``K``, ``V`` (``MatrixSymbol`` entries) of ``tokens x head_dim``."""
    q, k, v = (sympy.Matrix(sympy.MatrixSymbol(n, tokens, head_dim)) for n in ("Q", "K", "V"))
    return attention(q, k, v)


@dataclass(frozen=True, kw_only=True)
class BlockWeights:
    """Weights of a pre-LN encoder block, in ``y = x W^T + b`` form (as ``nn.Linear`` stores them)."""

    w_qkv: sympy.Matrix
    b_qkv: sympy.Matrix
    w_out: sympy.Matrix
    b_out: sympy.Matrix
    w_fc1: sympy.Matrix
    b_fc1: sympy.Matrix
    w_fc2: sympy.Matrix
    b_fc2: sympy.Matrix
    ln1: tuple[sympy.Matrix, sympy.Matrix]
    ln2: tuple[sympy.Matrix, sympy.Matrix]
    eps: Any = sympy.Rational(1, 10**5)


def _linear(rows: sympy.Matrix, weight: sympy.Matrix, bias: sympy.Matrix) -> sympy.Matrix:
    return rows * weight.T + sympy.ones(rows.rows, 1) * bias


def layer_norm(rows: sympy.Matrix, gamma: sympy.Matrix, beta: sympy.Matrix, eps: Any) -> sympy.Matrix:
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` per row (biased variance, as torch)."""
    out = sympy.zeros(rows.rows, rows.cols)
    n = rows.cols
    for r in range(rows.rows):
        mean = sum(rows[r, c] for c in range(n)) / n
        var = sum((rows[r, c] - mean) ** 2 for c in range(n)) / n
        for c in range(n):
            out[r, c] = (rows[r, c] - mean) / sympy.sqrt(var + eps) * gamma[c] + beta[c]
    return out


def multi_head_attention(rows: sympy.Matrix, *, heads: int, w_qkv: sympy.Matrix, b_qkv: sympy.Matrix,
                         w_out: sympy.Matrix, b_out: sympy.Matrix) -> sympy.Matrix:
    """F3 over ``heads`` heads: project to Q, K, V (``d x 3d``), attend per head, concatenate, project."""
    d = rows.cols
    if d % heads:
        raise InvalidConfigError("heads", heads, f"must divide the width {d}")
    qkv = _linear(rows, w_qkv, b_qkv)
    dk = d // heads
    outs = []
    for head in range(heads):
        cols = slice(head * dk, (head + 1) * dk)
        q = qkv[:, cols]
        k = qkv[:, d + head * dk: d + (head + 1) * dk]
        v = qkv[:, 2 * d + head * dk: 2 * d + (head + 1) * dk]
        outs.append(attention(q, k, v))
    return _linear(sympy.Matrix.hstack(*outs), w_out, b_out)


def encoder_block(rows: sympy.Matrix, weights: BlockWeights, *, heads: int,
                  activation: Callable[[sympy.Expr], sympy.Expr] = gelu) -> sympy.Matrix:
    """F4, one pre-LN block: ``X' = X + MSA(LN(X))``, ``X'' = X' + MLP(LN(X'))``."""
    normed = layer_norm(rows, *weights.ln1, weights.eps)
    mid = rows + multi_head_attention(normed, heads=heads, w_qkv=weights.w_qkv, b_qkv=weights.b_qkv,
                                      w_out=weights.w_out, b_out=weights.b_out)
    hidden = _linear(layer_norm(mid, *weights.ln2, weights.eps), weights.w_fc1, weights.b_fc1)
    hidden = hidden.applyfunc(activation)
    return mid + _linear(hidden, weights.w_fc2, weights.b_fc2)


def max_abs_difference(a: sympy.Expr, b: sympy.Expr, points: Iterable[float]) -> tuple[float, float]:
    """``(max |a - b|, where)`` over the given points of ``x`` (30-digit mpmath evaluation)."""
    import mpmath

    fn = sympy.lambdify(x, a - b, "mpmath")
    best, where = -1.0, float("nan")
    with mpmath.workdps(30):
        for p in points:
            value = abs(float(fn(mpmath.mpf(p))))
            if value > best:
                best, where = value, float(p)
    return best, where


FORMULAS: dict[str, Any] = {"F1": CONV_SUM, "F2": conv_layer, "F3": attention, "F4": encoder_block,
                            "F5": RELU, "F6": GELU, "F6_tanh": GELU_TANH}

__all__ = ["x", "RELU", "PHI", "GELU", "GELU_TANH", "GELU_CUBIC", "CONV_SUM", "conv_sum", "conv_layer", "relu",
           "gelu", "softmax_rows", "attention", "symbolic_attention", "BlockWeights", "layer_norm",
           "multi_head_attention", "encoder_block", "max_abs_difference", "FORMULAS", "image", "kernel", "px", "py"]
