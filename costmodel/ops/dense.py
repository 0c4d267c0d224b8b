"""Linear layers and (batched) matrix products.

References
----------
* PyTorch ``torch/utils/flop_counter.py``: ``mm_flop``, ``addmm_flop``, ``bmm_flop``
  (``2 n k m`` FLOPs for an ``(n x k) @ (k x m)`` product; the bias of ``addmm`` is not
  counted). The backward of ``C = A B`` is ``dA = dC B^T`` and ``dB = A^T dC``, one
  product of the same size each, for every operand that needs a gradient.
"""

from __future__ import annotations

from typing import Any

from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import Cost


def matmul(*, batch: Any = 1, n: Any, k: Any, m: Any, a_grad: bool = True, b_grad: bool = True) -> Cost:
    r"""Cost of ``batch`` products ``(n x k) @ (k x m)`` (``bmm``; ``mm`` when batch is 1).

    .. math:: F_{fwd} = 2\,b\,n k m, \qquad F_{bwd} = 2\,b\,n k m\,([a] + [b])

    where ``[a]``, ``[b]`` are 1 when that operand needs a gradient. No parameters.

    Examples
    --------
    >>> matmul(batch=12, n=197, k=64, m=197).forward_flops
    59610624
    """
    fwd = 2 * batch * n * k * m
    return Cost(forward_flops=fwd, backward_flops=fwd * (int(a_grad) + int(b_grad)))


def linear(*, rows: Any, in_features: Any, out_features: Any, bias: bool = True,
           input_grad: bool = True, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Cost of ``y = x W^T + b`` applied to ``rows`` vectors (batch x tokens).

    .. math::
        F_{fwd} = 2\,N d_{in} d_{out}, \quad
        F_{bwd} = 2\,N d_{in} d_{out} ([\text{input grad}] + 1), \quad
        \mathrm{params} = d_{in} d_{out} + d_{out} [\text{bias}]

    ``torch.nn.functional.linear`` on an ``(B, L, d)`` input flattens it to ``B L`` rows
    and calls ``addmm`` (``mm`` without bias), so ``N = B L``.

    Examples
    --------
    >>> linear(rows=1, in_features=2048, out_features=1000).params   # ResNet-50 head
    2049000
    """
    cost = matmul(n=rows, k=in_features, m=out_features, a_grad=input_grad, b_grad=True)
    params = in_features * out_features + (out_features if bias else 0)
    fwd, bwd = cost.forward_flops, cost.backward_flops
    if convention.count_elementwise and bias:
        fwd, bwd = fwd + rows * out_features, bwd + rows * out_features
    return Cost(forward_flops=fwd, backward_flops=bwd, params=params)


__all__ = ["matmul", "linear"]
