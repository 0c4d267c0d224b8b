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

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import Precision, cast_input, op_trace, weight_copy
from costmodel.cost.trace import Trace
from costmodel.cost.traffic import F32, Gemm, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.conv import autocast_casts


def matmul(*, batch: Any = 1, n: Any, k: Any, m: Any, a_grad: bool = True, b_grad: bool = True,
           precision: Precision | None = None) -> Cost:
    r"""Cost of ``batch`` products ``(n x k) @ (k x m)`` (``bmm``; ``mm`` when batch is 1).

    .. math:: F_{fwd} = 2\,b\,n k m, \qquad F_{bwd} = 2\,b\,n k m\,([a] + [b])

    where ``[a]``, ``[b]`` are 1 when that operand needs a gradient. No parameters.
    Traffic: :func:`costmodel.ops.dense.matmul_traffic`, in the bytes of ``precision``'s
    compute dtype (float32 without one).

    Examples
    --------
    >>> matmul(batch=12, n=197, k=64, m=197).forward_flops
    59610624
    """
    fwd = 2 * batch * n * k * m
    c = precision.compute_bytes if precision is not None else F32
    return Cost(forward_flops=fwd, backward_flops=fwd * (int(a_grad) + int(b_grad)),
                traffic=matmul_traffic(c, batch=batch, n=n, k=k, m=m, a_grad=a_grad, b_grad=b_grad))


def linear(*, rows: Any, in_features: Any, out_features: Any, bias: bool = True,
           input_grad: bool = True, convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
           saves_input: bool = True, input_role: str = "compute", input_storage: Any = None,
           input_rank: int = 2) -> Cost:
    r"""Cost of ``y = x W^T + b`` applied to ``rows`` vectors (batch x tokens).

    .. math::
        F_{fwd} = 2\,N d_{in} d_{out}, \quad
        F_{bwd} = 2\,N d_{in} d_{out} ([\text{input grad}] + 1), \quad
        \mathrm{params} = d_{in} d_{out} + d_{out} [\text{bias}]

    ``torch.nn.functional.linear`` on an ``(B, L, d)`` input flattens it to ``B L`` rows
    and calls ``addmm`` (``mm`` without bias), so ``N = B L``; ``input_rank`` (2, 3 or 4) is
    the rank of that input, which decides on a GPU whether older PyTorch versions add the
    bias in a kernel of its own (:class:`~costmodel.cost.traffic.Gemm`). With a ``precision`` the
    cost carries the memory trace of :func:`linear_trace`; its traffic is
    :func:`costmodel.ops.dense.linear_traffic` (float32 bytes without a ``precision``).

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
    trace = Trace()
    if precision is not None:
        trace = linear_trace(precision, rows=rows, in_features=in_features, out_features=out_features,
                             params=params, bias=bias, input_grad=input_grad, saves_input=saves_input,
                             input_role=input_role, input_storage=input_storage)
    traffic = linear_traffic(precision.compute_bytes if precision is not None else F32, rows=rows,
                             in_features=in_features, out_features=out_features, bias=bias, input_grad=input_grad,
                             cast_input=precision is not None and precision.mixed and input_role == "float32",
                             input_rank=input_rank)
    return Cost(forward_flops=fwd, backward_flops=bwd, params=params, trace=trace, traffic=traffic)


def linear_trace(precision: Precision, *, rows: Any, in_features: Any, out_features: Any, params: Any,
                 bias: bool, input_grad: bool, saves_input: bool, input_role: str,
                 input_storage: Any = None) -> Trace:
    r"""What a linear layer keeps for backward (``AddmmBackward0``: ``mat1`` = the input, ``mat2`` = ``W^T``).

    .. math::
        s = b_{in} N d_{in} + [\text{mixed}]\, 2 d_{in} d_{out}, \qquad
        t = b_c N d_{out} + [\text{input grad}]\, b_c N d_{in} + [\text{mixed}]\, 2 (d_{in} d_{out} + d_{out})

    The input is counted if this op is the first to save its storage (``saves_input``),
    at the size of that whole storage (``input_storage`` elements when the input is a
    view into a larger tensor, e.g. the class token of ViT's normalised tokens). Under
    mixed precision a float32 input is cast to a compact 16-bit copy kept here, and so is
    the weight. The transient is the output gradient, the input gradient and, when mixed,
    the 16-bit weight and bias gradients before their cast to float32 (a cast input's
    gradient is cast back by the cast's own backward, which runs after).
    """
    c = precision.compute_bytes
    inputs = rows * in_features
    cast = precision.mixed and input_role == "float32"
    stored = inputs if cast or input_storage is None else input_storage
    saved = [cast_input(precision, stored, role=input_role, owned=saves_input)]
    grad_in = c * inputs if input_grad else 0
    transient = c * rows * out_features + grad_in
    weight = in_features * out_features
    live = precision.bytes(input_role) * (inputs if input_storage is None else input_storage) + c * rows * out_features
    if not precision.mixed:
        return op_trace(precision, saved=saved, params=params, transient=transient, largest=weight, live=live)
    live += c * inputs if cast else 0
    product = op_trace(precision, saved=saved, copies=weight_copy(precision, weight),
                       transient=transient + c * (weight + (out_features if bias else 0)), largest=weight, live=live)
    trace = autocast_casts(precision, params=params, weight=weight, pending=grad_in).then(product)
    if cast and input_grad:  # the input's cast runs backward last
        trace = op_trace(precision, transient=(c + 4) * inputs).then(trace)
    return trace


# -- bytes moved (forward and backward kernels) -----------------------------------------

def linear_traffic(c: int, *, rows: Any, in_features: Any, out_features: Any, bias: bool,
                   input_grad: bool, cast_input: bool = False, input_rank: int = 2) -> Traffic:
    r"""``y = x W^T + b`` on ``N`` rows (``addmm``); backward ``dY W``, ``dY^T X`` and the bias sum.

    .. math::
        Q_{fwd} = c\,(N d_{in} + d_{in} d_{out} + [b] d_{out} + N d_{out}),

        Q_{bwd} = c\,ig([	ext{input grad}](N d_{out} + d_{in} d_{out} + N d_{in})
                  + (N d_{out} + N d_{in} + d_{in} d_{out}) + [b](N d_{out} + d_{out})ig)

    ``cast_input``: under autocast a float32 input (after a layer norm, which autocast runs
    in float32) is first cast to the 16-bit dtype, ``(4 + c) N d_in`` bytes, and its
    gradient cast back in the backward pass (when the input needs one). ``input_rank``: the
    rank of the input, carried on the product's :class:`~costmodel.cost.traffic.Gemm` (the
    GPU kernel model adds a separate bias kernel where PyTorch does not fuse it).
    """
    if input_rank not in (2, 3, 4):
        raise InvalidConfigError("input_rank", input_rank, "must be 2, 3 or 4")
    x, w, y, b = rows * in_features, in_features * out_features, rows * out_features, out_features if bias else 0
    fwd = c * (x + w + b + y)
    bwd = c * ((y + w + x if input_grad else 0) + (y + x + w) + (y + b if bias else 0))
    if cast_input:  # autocast casts a float32 input to 16 bits, and its gradient back
        fwd, bwd = fwd + (F32 + c) * x, bwd + ((F32 + c) * x if input_grad else 0)
    return Traffic.op("matmul", forward=fwd, backward=bwd,
                      gemms=(Gemm(m=rows, n=out_features, k=in_features, bias_rank=input_rank if bias else 0),))


def matmul_traffic(c: int, *, batch: Any, n: Any, k: Any, m: Any, a_grad: bool, b_grad: bool) -> Traffic:
    r"""``batch`` products ``(n x k) @ (k x m)`` (``bmm``); backward one product per operand gradient.

    .. math::
        Q_{fwd} = c\,b\,(nk + km + nm), \qquad Q_{bwd} = c\,b\,([a] + [b])(nm + km + nk)
    """
    one = c * batch * (n * k + k * m + n * m)
    return Traffic.op("matmul", forward=one, backward=one * (int(a_grad) + int(b_grad)),
                      gemms=(Gemm(m=n, n=m, k=k, batch=batch),))



__all__ = ["linear_traffic", "matmul_traffic", "matmul", "linear", "linear_trace"]
