"""Convolution and patch embedding (F1, F2, F7, F9, F15).

References
----------
* PyTorch ``torch.nn.Conv2d`` documentation: output size
  ``floor((H + 2 p - dil (k - 1) - 1) / s) + 1``; weight shape ``(C_out, C_in / g, k_h, k_w)``.
* PyTorch ``torch/utils/flop_counter.py``: ``conv_flop_count`` (2 FLOPs per MAC, bias not
  counted) and ``conv_backward_flop`` (input gradient as a transposed convolution, weight
  gradient as a convolution of the input with the output gradient).
* Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021, Eq. 1 (patch embedding).
"""

from __future__ import annotations

from typing import Any

import sympy

from costmodel.core.checks import as_size, check_divides
from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import require
from costmodel.cost.precision import Precision, cast_input, op_trace, weight_copy
from costmodel.cost.trace import Trace
from costmodel.cost.traffic import F32, Gemm, Traffic
from costmodel.cost.value import Cost


def pair(field: str, value: Any) -> tuple[Any, Any]:
    """``(v, v)`` for a scalar, the value itself for a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidConfigError(field, value, "must be a size or a pair of sizes")
        return value[0], value[1]
    return value, value


def conv_out_size(size: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                  *, divisible: bool = False, field: str = "image_size") -> Any:
    r"""Output length of a convolution or pooling window along one axis.

    .. math:: S_{out} = \left\lfloor \frac{S + 2p - \delta (k - 1) - 1}{s} \right\rfloor + 1

    Parameters
    ----------
    size, kernel, stride, padding, dilation : int or SymPy expression
    divisible : bool
        Assume ``stride`` divides ``size`` (true for 224 px and any multiple of 32 in the
        ImageNet models). Then, for numeric kernel, stride, padding and dilation, the
        result is the floor-free ``S / s + floor(c / s) + 1`` with
        ``c = 2p - delta (k - 1) - 1``, exact whenever the assumption holds. Ignored
        for integer sizes, which are always exact.

    Examples
    --------
    >>> conv_out_size(224, 7, 2, 3)
    112
    >>> from costmodel.core.symbols import H
    >>> conv_out_size(H, 3, 2, 1, divisible=True)
    H/2
    """
    c = 2 * padding - dilation * (kernel - 1) - 1
    if all(isinstance(v, int) for v in (size, kernel, stride, padding, dilation)):
        out = (size + c) // stride + 1
        if out <= 0:
            raise InvalidConfigError(field, size, f"is too small for a window of kernel {kernel}, "
                                                  f"stride {stride}, padding {padding}, dilation {dilation}")
        return out
    if divisible and all(isinstance(v, int) for v in (stride, c)):
        out = sympy.sympify(size) / stride + c // stride + 1
    else:
        out = sympy.floor((sympy.sympify(size) + c) / stride) + 1
    require(field, size, f"is too small for a window of kernel {kernel}, stride {stride}, padding {padding}, "
                         f"dilation {dilation}", sympy.Ge(out, 1))
    return out


def conv2d(*, batch: Any, in_channels: Any, out_channels: Any, out_size: tuple[Any, Any],
           kernel_size: Any, groups: Any = 1, bias: bool = True, input_grad: bool = True,
           convention: Convention = FLOP_COUNTER, in_size: tuple[Any, Any] | None = None,
           precision: Precision | None = None, saves_input: bool = True, input_role: str = "compute",
           channels_last: bool = False) -> Cost:
    r"""Cost of a 2-D convolution (F1, F2; parameters F7).

    .. math::
        \mathrm{MACs} = B\, H_{out} W_{out}\, C_{out} \frac{C_{in}}{g} k_h k_w, \quad
        \mathrm{params} = C_{out} \frac{C_{in}}{g} k_h k_w + C_{out}\,[\text{bias}]

    Forward FLOPs are ``2 MACs`` (bias adds not counted under ``FLOP_COUNTER``).
    Backward: the input gradient (a transposed convolution, ``2 MACs``) only when
    ``input_grad``; the weight gradient ``2 MACs``, times ``g`` under the FlopCounterMode
    convention, which counts it as a dense convolution.

    Parameters
    ----------
    out_size : (H_out, W_out)
        Spatial output size, from :func:`conv_out_size`.
    kernel_size : int or pair
    input_grad : bool
        Whether the input needs a gradient (False for a network's first layer).
    in_size, precision, saves_input, input_role
        Memory (with ``precision`` and ``in_size`` given; see :func:`conv2d_trace`).
        The cost's traffic is :func:`costmodel.ops.conv.conv2d_traffic` (a ``conv`` op, or
        ``conv_depthwise`` / ``conv_depthwise_nchw`` when grouped) in the bytes of
        ``precision``'s compute dtype (float32 without one); without ``in_size`` the input
        is taken as the output's size.
    channels_last : bool
        The input has channels-last strides (ConvNeXt's blocks leave their maps so), not
        PyTorch's default contiguous NCHW. Counts and memory are the same; a grouped
        convolution runs another kernel there (on a CPU, oneDNN's NHWC depthwise backward is
        several times faster), so its traffic is of its own kind.

    Examples
    --------
    >>> conv2d(batch=1, in_channels=3, out_channels=64, out_size=(112, 112), kernel_size=7,
    ...        bias=False, input_grad=False).forward_flops   # ResNet stem: 118.0 MMAC
    236027904
    """
    kh, kw = pair("kernel_size", kernel_size)
    check_divides("in_channels", in_channels, groups, "groups")
    check_divides("out_channels", out_channels, groups, "groups")
    ho, wo = out_size
    per_group_in = sympy.sympify(in_channels) / groups
    macs = batch * ho * wo * out_channels * per_group_in * kh * kw
    fwd = 2 * macs
    weight_grad = fwd * groups if convention.dense_grouped_weight_grad else fwd
    bwd = (fwd if input_grad else 0) + weight_grad
    params = out_channels * per_group_in * kh * kw + (out_channels if bias else 0)
    if convention.count_elementwise and bias:
        outputs = batch * ho * wo * out_channels
        fwd, bwd = fwd + outputs, bwd + outputs  # bias add; bias gradient is a sum
    trace = Trace()
    if precision is not None and in_size is not None:
        trace = conv2d_trace(precision, inputs=batch * in_channels * in_size[0] * in_size[1],
                             outputs=batch * out_channels * ho * wo, weight=out_channels * per_group_in * kh * kw,
                             params=params, input_grad=input_grad, saves_input=saves_input, input_role=input_role)
    hi, wi = in_size if in_size is not None else (ho, wo)
    traffic = conv2d_traffic(precision.compute_bytes if precision is not None else F32,
                             inputs=batch * in_channels * hi * wi, outputs=batch * out_channels * ho * wo,
                             weight=out_channels * per_group_in * kh * kw, bias=out_channels if bias else 0,
                             input_grad=input_grad, grouped=groups != 1, channels_last=channels_last,
                             cast_input=precision is not None and precision.mixed and input_role == "float32",
                             gemm=Gemm(m=batch * ho * wo, n=sympy.sympify(out_channels) / groups,
                                       k=per_group_in * kh * kw, batch=groups, window=kh * kw,
                                       strided=0 if (hi, wi) == (ho, wo) else 1))
    return Cost(forward_flops=fwd, backward_flops=bwd, params=params, trace=trace, traffic=traffic)


def conv2d_trace(precision: Precision, *, inputs: Any, outputs: Any, weight: Any, params: Any,
                 input_grad: bool, saves_input: bool, input_role: str) -> Trace:
    r"""What a convolution keeps for backward (``ConvolutionBackward0``: input and weight).

    .. math::
        s = b_{in} N_{in} + [\text{mixed}]\, 2 |W|, \qquad
        t = b_c N_{out} + [\text{input grad}]\, b_c N_{in} + [\text{mixed}]\, 2 |W|

    The input is counted only if this is the first op to save its storage
    (``saves_input``); under mixed precision a float32 input (``input_role="float32"``,
    e.g. the image) is cast to a 16-bit copy that the convolution alone keeps, and the
    weight's 16-bit copy is kept too (the autocast cache). The transient ``t`` is the
    output gradient received, the input gradient produced and, when mixed, the 16-bit
    weight gradient before its cast to the float32 ``.grad``; a cast float32 input's
    gradient is cast back to float32 by the cast's own backward (``ToCopyBackward0``).
    ``N`` are element counts, ``b_c`` the bytes of the compute dtype. Without autograd
    the input, its cast copy and the output are alive together.
    """
    c = precision.compute_bytes
    saved = [cast_input(precision, inputs, role=input_role, owned=saves_input)]
    grad_in = c * inputs if input_grad else 0
    transient = c * outputs + grad_in
    live = precision.bytes(input_role) * inputs + c * outputs
    if not precision.mixed:
        return op_trace(precision, saved=saved, params=params, transient=transient, largest=weight, live=live)
    live += c * inputs if input_role == "float32" else 0
    conv = op_trace(precision, saved=saved, copies=weight_copy(precision, weight), transient=transient + c * weight,
                    largest=weight, live=live)
    trace = autocast_casts(precision, params=params, weight=weight, pending=grad_in).then(conv)
    if input_role == "float32" and input_grad:  # the input's cast runs backward last
        trace = op_trace(precision, transient=(c + 4) * inputs).then(trace)
    return trace


def autocast_casts(precision: Precision, *, params: Any, weight: Any, pending: Any) -> Trace:
    r"""The backward of autocast's weight casts (``ToCopyBackward0``): float32 ``.grad`` from 16-bit.

    They run right after the op that used the 16-bit copies, once it has freed them: the
    16-bit weight gradient and the new float32 gradients (``4 P``, counted here) are
    alive, with the op's input gradient (``pending`` bytes) waiting for the next op.
    """
    return op_trace(precision, params=params, transient=precision.compute_bytes * weight + pending)


def patch_embedding(*, batch: Any, image_size: tuple[Any, Any], patch_size: Any, in_channels: Any,
                    width: Any, input_grad: bool = False, convention: Convention = FLOP_COUNTER,
                    precision: Precision | None = None) -> Cost:
    r"""Cost of the ViT patch embedding (F15), a ``P x P`` convolution with stride ``P``.

    .. math::
        N_p = \frac{H W}{P^2}, \quad \mathrm{MACs} = B N_p P^2 C d, \quad
        \mathrm{params} = P^2 C d + d

    The projection ``E`` of F15 (shape ``(P^2 C) x d``) is this convolution's weight.
    ``patch_size`` must divide both image sides (checked). The image needs no gradient, so
    by default only the weight gradient is counted in the backward pass.

    Examples
    --------
    >>> patch_embedding(batch=1, image_size=(224, 224), patch_size=16, in_channels=3,
    ...                 width=768).params
    590592
    """
    height, width_px = image_size
    for field, side in (("image_size", height), ("image_size", width_px)):
        as_size(field, side)
        check_divides(field, side, patch_size, "patch_size")
    grid = (sympy.sympify(height) / patch_size, sympy.sympify(width_px) / patch_size)
    return conv2d(batch=batch, in_channels=in_channels, out_channels=width, out_size=grid,
                  kernel_size=patch_size, input_grad=input_grad, convention=convention,
                  in_size=(height, width_px), precision=precision, input_role="float32")


# -- bytes moved (forward and backward kernels) -----------------------------------------

def conv_kind(grouped: bool, channels_last: bool) -> str:
    """The op kind of a convolution (:data:`costmodel.hardware.profiles.KIND_CLASS`): dense ones are
    ``conv`` in either memory format; grouped ones ``conv_depthwise`` on a channels-last input,
    ``conv_depthwise_nchw`` on a contiguous NCHW one."""
    if not grouped:
        return "conv"
    return "conv_depthwise" if channels_last else "conv_depthwise_nchw"


def conv2d_traffic(c: int, *, inputs: Any, outputs: Any, weight: Any, bias: Any, input_grad: bool,
                   grouped: bool, gemm: Gemm | None = None, cast_input: bool = False,
                   channels_last: bool = False) -> Traffic:
    r"""A convolution (``aten.convolution`` / ``convolution_backward``): ``conv``, or when ``grouped``
    ``conv_depthwise`` on a ``channels_last`` input and ``conv_depthwise_nchw`` on a contiguous one.

    .. math::
        Q_{fwd} = c\,(X + W + b + Y), \qquad
        Q_{bwd} = c\,(dY + X + W + [	ext{input grad}]\, dX + dW + db)

    ``X``, ``Y``: input and output elements; ``W`` weight, ``b`` bias elements (0 without);
    ``gemm``: the implicit-GEMM shape, for the GPU kernel model. ``cast_input``: under
    autocast a float32 input (the image, a layer norm's output) is first cast to 16 bits,
    ``(4 + c) X`` bytes, and its gradient cast back when it needs one.
    """
    fwd = c * (inputs + weight + bias + outputs)
    bwd = c * (outputs + inputs + weight + (inputs if input_grad else 0) + weight + bias)
    if cast_input:
        fwd, bwd = fwd + (F32 + c) * inputs, bwd + ((F32 + c) * inputs if input_grad else 0)
    return Traffic.op(conv_kind(grouped, channels_last), forward=fwd, backward=bwd,
                      gemms=() if gemm is None else (gemm,))



__all__ = ["conv_kind", "conv2d_traffic", "pair", "conv_out_size", "conv2d", "conv2d_trace", "autocast_casts",
           "patch_embedding"]
