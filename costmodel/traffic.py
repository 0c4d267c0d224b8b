"""Memory traffic of an op: the bytes its kernels read and write, forward and backward.

A :class:`Traffic` rides on every :class:`~costmodel.cost.Cost` (like its memory trace):
the operator functions of :mod:`costmodel.ops` attach one to the cost of each op, tagged
with the op's *kind* (:data:`costmodel.roofline.KIND_CLASS`), and ``+`` and ``*`` of
costs compose them. The roofline (:mod:`costmodel.roofline`, :mod:`costmodel.plan`)
times every named leaf of a cost's breakdown tree as one op of that kind.

Counting rule (every op function states its terms): a kernel reads each tensor argument
once and writes each result once, in the bytes of its dtype, and the backward pass runs
the kernels autograd runs (e.g. a linear layer's backward is two products, ``dY W`` and
``dY^T X``, each reading ``dY``, plus the bias gradient, a sum over ``dY``). Caches,
which can make a kernel read less, and tiling, which can make it read more, are left to
the calibrated achievable bandwidth of the op kind.

Examples
--------
>>> from costmodel.traffic import Traffic
>>> relu = Traffic.op("elementwise", forward=8 * 100, backward=12 * 100)
>>> (relu.then(relu)).forward
1600
>>> relu.repeat(3).kind, relu.then(Traffic.op("conv", forward=1)).kind
('elementwise', 'mixed')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import sympy

Expr: TypeAlias = sympy.Expr  # SymPy is untyped: an alias of Any to the checker
_ZERO = sympy.S.Zero
MIXED = "mixed"


@dataclass(frozen=True)
class Traffic:
    """Bytes moved by the kernels of an op (or of a sum of ops).

    Attributes
    ----------
    kind : str
        The op kind (``"conv"``, ``"matmul"``, ...), ``""`` for no op, ``"mixed"`` for a
        sum of ops of different kinds.
    forward, backward : SymPy expression
        Bytes read plus bytes written by the forward and by the backward kernels.
    launches : SymPy expression
        Kernel launches per pass (each repetition of an op launches its kernels again).
    """

    kind: str = ""
    forward: Expr = _ZERO
    backward: Expr = _ZERO
    launches: Expr = _ZERO

    def __post_init__(self) -> None:
        for name in ("forward", "backward", "launches"):
            object.__setattr__(self, name, sympy.sympify(getattr(self, name)))

    @staticmethod
    def op(kind: str, *, forward: Any = 0, backward: Any = 0, launches: Any = 1) -> Traffic:
        """The traffic of one op of ``kind``."""
        return Traffic(kind=kind, forward=forward, backward=backward, launches=launches)

    @property
    def is_empty(self) -> bool:
        return self.kind == "" and self.forward == 0 and self.backward == 0

    def then(self, other: Traffic) -> Traffic:
        """This op's traffic plus ``other``'s; the kind is kept when both agree (or one is empty)."""
        if other.is_empty:
            return self
        if self.is_empty:
            return other
        kind = self.kind if self.kind == other.kind else MIXED
        return Traffic(kind=kind, forward=self.forward + other.forward, backward=self.backward + other.backward,
                       launches=self.launches + other.launches)

    def repeat(self, times: Any) -> Traffic:
        """``times`` repetitions (``times`` may be a symbol, e.g. the depth)."""
        if self.is_empty:
            return self
        times = sympy.sympify(times)
        return Traffic(kind=self.kind, forward=self.forward * times, backward=self.backward * times,
                       launches=self.launches * times)

    def map(self, fn: Callable[[Expr], Expr]) -> Traffic:
        """Apply ``fn`` (e.g. a substitution) to every expression."""
        if self.is_empty:
            return self
        return Traffic(kind=self.kind, forward=fn(self.forward), backward=fn(self.backward),
                       launches=fn(self.launches))

    @property
    def total(self) -> Expr:
        """Forward plus backward bytes."""
        return self.forward + self.backward


EMPTY = Traffic()


# -- per-op closed forms -------------------------------------------------------------------
# ``c`` is the bytes of one element of the compute dtype (4 for fp32, 2 under mixed
# precision); parameters, their gradients and normalisation statistics are float32 (4).
F32 = 4


def conv2d_traffic(c: int, *, inputs: Any, outputs: Any, weight: Any, bias: Any, input_grad: bool,
                   grouped: bool) -> Traffic:
    r"""A convolution (``aten.convolution`` / ``convolution_backward``), ``conv`` or ``conv_depthwise``.

    .. math::
        Q_{fwd} = c\,(X + W + b + Y), \qquad
        Q_{bwd} = c\,(dY + X + W + [	ext{input grad}]\, dX + dW + db)

    ``X``, ``Y``: input and output elements; ``W`` weight, ``b`` bias elements (0 without).
    """
    fwd = c * (inputs + weight + bias + outputs)
    bwd = c * (outputs + inputs + weight + (inputs if input_grad else 0) + weight + bias)
    return Traffic.op("conv_depthwise" if grouped else "conv", forward=fwd, backward=bwd)


def linear_traffic(c: int, *, rows: Any, in_features: Any, out_features: Any, bias: bool,
                   input_grad: bool) -> Traffic:
    r"""``y = x W^T + b`` on ``N`` rows (``addmm``); backward ``dY W``, ``dY^T X`` and the bias sum.

    .. math::
        Q_{fwd} = c\,(N d_{in} + d_{in} d_{out} + [b] d_{out} + N d_{out}),

        Q_{bwd} = c\,ig([	ext{input grad}](N d_{out} + d_{in} d_{out} + N d_{in})
                  + (N d_{out} + N d_{in} + d_{in} d_{out}) + [b](N d_{out} + d_{out})ig)
    """
    x, w, y, b = rows * in_features, in_features * out_features, rows * out_features, out_features if bias else 0
    fwd = c * (x + w + b + y)
    bwd = c * ((y + w + x if input_grad else 0) + (y + x + w) + (y + b if bias else 0))
    return Traffic.op("matmul", forward=fwd, backward=bwd)


def matmul_traffic(c: int, *, batch: Any, n: Any, k: Any, m: Any, a_grad: bool, b_grad: bool) -> Traffic:
    r"""``batch`` products ``(n x k) @ (k x m)`` (``bmm``); backward one product per operand gradient.

    .. math::
        Q_{fwd} = c\,b\,(nk + km + nm), \qquad Q_{bwd} = c\,b\,([a] + [b])(nm + km + nk)
    """
    one = c * batch * (n * k + k * m + n * m)
    return Traffic.op("matmul", forward=one, backward=one * (int(a_grad) + int(b_grad)))


def attention_traffic(c: int, *, batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any) -> Traffic:
    r"""Fused attention (``scaled_dot_product_attention``): no score matrix in memory.

    .. math::
        Q_{fwd} = c\,(2 N_q + 2 N_{kv}) + 4\,B h L_q, \qquad
        Q_{bwd} = c\,(4 N_q + 4 N_{kv}) + 4\,B h L_q

    with :math:`N_q = B h L_q d_k`, :math:`N_{kv} = B h L_{kv} d_k`: forward reads ``q, k, v``
    and writes the output and the float32 log-sum-exp per row; backward reads ``q, k, v``,
    the output, its gradient and the log-sum-exp and writes ``dq, dk, dv``.
    """
    nq, nkv, lse = batch * heads * q_len * head_dim, batch * heads * kv_len * head_dim, batch * heads * q_len
    return Traffic.op("attention", forward=c * (2 * nq + 2 * nkv) + F32 * lse,
                      backward=c * (4 * nq + 4 * nkv) + F32 * lse)


#: elements read + written per element, forward and backward, of elementwise ops:
#: ReLU/GELU read x and write y, backward reads dY and y (or x) and writes dX; a residual
#: add reads two and writes one, and its backward adds the two gradients that meet at the
#: branch point; softmax as ReLU (its backward reads dY and y).
ELEMENTWISE_ACCESSES: dict[str, tuple[int, int]] = {
    "relu": (2, 3), "gelu": (2, 3), "add": (3, 3), "softmax": (2, 3),
}


def elementwise_traffic(op: str, c: int, elements: Any, grad_elements: Any = None) -> Traffic:
    r"""An elementwise op over :math:`N` values: :math:`Q = c\,a\,N` with ``a`` from :data:`ELEMENTWISE_ACCESSES`.

    ``grad_elements``: for a residual add, the size of the tensor where the two gradients
    meet (the block's input), if it differs from the add's output (a downsampling block).
    """
    fwd, bwd = ELEMENTWISE_ACCESSES[op]
    back = elements if grad_elements is None else grad_elements
    return Traffic.op("elementwise", forward=c * fwd * elements, backward=c * bwd * back)


def scale_traffic(c: int, *, elements: Any, channels: Any) -> Traffic:
    r"""A learned per-channel scale ``gamma * x`` (ConvNeXt's layer scale).

    .. math::
        Q_{fwd} = c\,(2N) + 4 C, \qquad Q_{bwd} = c\,(6 N) + 8 C

    Backward: ``dY * gamma`` (reads ``N`` and ``C``, writes ``N``), ``dY * x`` (reads
    ``2N``, writes ``N``) and its sum over all but the channel (reads ``N``, writes ``C``).
    """
    return Traffic.op("elementwise", forward=c * 2 * elements + F32 * channels,
                      backward=c * 6 * elements + 2 * F32 * channels)


def norm_traffic(kind: str, c: int, *, elements: Any, statistics: Any, params: Any) -> Traffic:
    r"""Batch or layer norm (``native_batch_norm`` / ``native_layer_norm`` and their backward).

    .. math::
        Q_{fwd} = c\,(2N) + 4\,(P + S_{in} + S_{out}), \qquad
        Q_{bwd} = c\,(3N) + 4\,(P/2 + S + P)

    Forward reads ``x`` and writes ``y`` (``N`` values each), reads the ``P`` float32
    affine parameters and writes the float32 statistics. Batch norm (``S`` = 2 values
    per channel: mean and inverse std) also reads and writes the two running buffers in
    training mode, so ``S_in = S_out = S`` for it and ``S_in = 0, S_out = S`` for layer
    norm (2 values per row). Backward reads ``dY``, ``x``, the weight and the statistics
    (batch norm: plus the running buffers) and writes ``dX`` and the ``P`` parameter
    gradients.
    """
    if kind == "batch_norm":
        fwd = c * 2 * elements + F32 * (params + 2 * statistics)
        bwd = c * 3 * elements + F32 * (params / 2 + 2 * statistics + params)
    else:
        fwd = c * 2 * elements + F32 * (params + statistics)
        bwd = c * 3 * elements + F32 * (params + statistics + params)
    return Traffic.op(kind, forward=fwd, backward=bwd)


def max_pool_traffic(c: int, *, inputs: Any, outputs: Any) -> Traffic:
    r"""Max pooling with int64 indices (``max_pool2d_with_indices`` and its backward).

    .. math:: Q_{fwd} = c\,(X + Y) + 8 Y, \qquad Q_{bwd} = c\,(dY + X + dX) + 8 Y

    (the backward kernel is handed the input too, and scatters ``dY`` through the indices).
    """
    return Traffic.op("pool", forward=c * (inputs + outputs) + 8 * outputs,
                      backward=c * (outputs + 2 * inputs) + 8 * outputs)


def mean_pool_traffic(c: int, *, inputs: Any, outputs: Any) -> Traffic:
    r"""Global average pooling, a mean over each feature map (``elementwise`` kind).

    .. math:: Q_{fwd} = c\,(X + Y), \qquad Q_{bwd} = c\,(2 X)

    Its backward divides the gradient, broadcast to the input's shape, by ``H W``: an
    argument of ``X`` elements (a broadcast view) read, ``X`` written.
    """
    return Traffic.op("elementwise", forward=c * (inputs + outputs), backward=c * 2 * inputs)


def split_traffic(c: int, *, elements: Any) -> Traffic:
    r"""Splitting one tensor into views (``qkv`` into ``q``, ``k``, ``v``): free forward; the
    backward concatenates the gradients, :math:`Q_{bwd} = c\,(2 N)` for ``N`` elements."""
    return Traffic.op("elementwise", forward=0, backward=c * 2 * elements)


__all__ = ["Traffic", "EMPTY", "MIXED", "F32", "conv2d_traffic", "linear_traffic", "matmul_traffic",
           "attention_traffic", "ELEMENTWISE_ACCESSES", "elementwise_traffic", "scale_traffic", "norm_traffic",
           "max_pool_traffic", "mean_pool_traffic", "split_traffic"]
