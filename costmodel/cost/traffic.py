"""Memory traffic of an op: the bytes its kernels read and write, forward and backward.

A :class:`Traffic` rides on every :class:`~costmodel.cost.value.Cost` (like its memory trace):
the operator functions of :mod:`costmodel.ops` attach one to the cost of each op, tagged
with the op's *kind* (:data:`costmodel.hardware.profiles.KIND_CLASS`), and ``+`` and ``*`` of
costs compose them. The roofline (:mod:`costmodel.hardware.profiles`, :mod:`costmodel.hardware.planning`)
times every named leaf of a cost's breakdown tree as one op of that kind.

Counting rule (every op function states its terms): a kernel reads each tensor argument
once and writes each result once, in the bytes of its dtype, and the backward pass runs
the kernels autograd runs (e.g. a linear layer's backward is two products, ``dY W`` and
``dY^T X``, each reading ``dY``, plus the bias gradient, a sum over ``dY``). Caches,
which can make a kernel read less, and tiling, which can make it read more, are left to
the calibrated achievable bandwidth of the op kind.

Examples
--------
>>> from costmodel.cost.traffic import Traffic
>>> relu = Traffic.op("elementwise", forward=8 * 100, backward=12 * 100)
>>> (relu.then(relu)).forward
1600
>>> relu.repeat(3).kind, relu.then(Traffic.op("conv", forward=1)).kind
('elementwise', 'mixed')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import sympy

Expr: TypeAlias = sympy.Expr  # SymPy is untyped: an alias of Any to the checker
_ZERO = sympy.S.Zero
MIXED = "mixed"


@dataclass(frozen=True)
class Gemm:
    r"""The shape of the matrix product a forward kernel runs: ``count`` launches of ``batch``
    products ``(m x k) @ (k x n)`` (a convolution as its implicit GEMM: ``m = B H_out W_out``,
    ``n = C_out / g``, ``k = C_in k_h k_w / g``, ``batch = g``).

    Only the GPU kernel model (:mod:`costmodel.hardware.kernels`) reads it: tile and wave
    quantization follow the shape, not the FLOPs. ``window`` is a convolution's
    ``k_h k_w`` (1 for a matrix product) and ``strided`` 1 when its stride is not 1:
    cuDNN can run an unstrided 3x3 convolution as a Winograd transform. ``bias_rank`` is,
    for a linear layer with a bias, the rank of its input (2 for ``(N, d)``, 3 for
    ``(B, L, d)``, 4 for ``(B, H, W, d)``; 0 otherwise): PyTorch fuses the bias into the
    product only for some ranks, depending on its version
    (:attr:`costmodel.hardware.settings.ExecutionSettings.fused_bias_rank`).
    """

    m: Expr
    n: Expr
    k: Expr
    batch: Expr = sympy.S.One
    count: Expr = sympy.S.One
    window: Expr = sympy.S.One
    strided: Expr = sympy.S.Zero
    bias_rank: int = 0

    #: the fields that are expressions in the sizes (``bias_rank`` is a plain integer)
    EXPRESSIONS = ("m", "n", "k", "batch", "count", "window", "strided")

    def __post_init__(self) -> None:
        for name in self.EXPRESSIONS:
            object.__setattr__(self, name, sympy.sympify(getattr(self, name)))

    def map(self, fn: Callable[[Expr], Expr]) -> Gemm:
        return replace(self, **{name: fn(getattr(self, name)) for name in self.EXPRESSIONS})


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
    gemms : tuple of Gemm
        The matrix products of the forward kernels (matmul, conv, attention ops), for the
        GPU kernel model; not part of equality.
    """

    kind: str = ""
    forward: Expr = _ZERO
    backward: Expr = _ZERO
    launches: Expr = _ZERO
    gemms: tuple[Gemm, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name in ("forward", "backward", "launches"):
            object.__setattr__(self, name, sympy.sympify(getattr(self, name)))

    @staticmethod
    def op(kind: str, *, forward: Any = 0, backward: Any = 0, launches: Any = 1,
           gemms: tuple[Gemm, ...] = ()) -> Traffic:
        """The traffic of one op of ``kind`` (``gemms``: the shapes of its matrix products)."""
        return Traffic(kind=kind, forward=forward, backward=backward, launches=launches, gemms=tuple(gemms))

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
                       launches=self.launches + other.launches, gemms=self.gemms + other.gemms)

    def repeat(self, times: Any) -> Traffic:
        """``times`` repetitions (``times`` may be a symbol, e.g. the depth)."""
        if self.is_empty:
            return self
        times = sympy.sympify(times)
        return Traffic(kind=self.kind, forward=self.forward * times, backward=self.backward * times,
                       launches=self.launches * times,
                       gemms=tuple(replace(g, count=g.count * times) for g in self.gemms))

    def map(self, fn: Callable[[Expr], Expr]) -> Traffic:
        """Apply ``fn`` (e.g. a substitution) to every expression."""
        if self.is_empty:
            return self
        return Traffic(kind=self.kind, forward=fn(self.forward), backward=fn(self.backward),
                       launches=fn(self.launches), gemms=tuple(g.map(fn) for g in self.gemms))

    @property
    def total(self) -> Expr:
        """Forward plus backward bytes."""
        return self.forward + self.backward


EMPTY = Traffic()


# -- per-op closed forms -------------------------------------------------------------------
# ``c`` is the bytes of one element of the compute dtype (4 for fp32, 2 under mixed
# precision); parameters, their gradients and normalisation statistics are float32 (4).
F32 = 4


__all__ = ["Gemm", "Traffic", "EMPTY", "MIXED", "F32"]
