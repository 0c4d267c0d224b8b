"""Squeeze-and-excitation (Hu et al., CVPR 2018), as torchvision's ``ops.SqueezeExcitation``.

.. math::
    s = \\sigma\\big(W_2\\, \\delta(W_1\\, \\bar x + b_1) + b_2\\big), \\qquad y = s \\odot x

with :math:`\\bar x` the global average of each of the ``C`` channels (``AdaptiveAvgPool2d(1)``),
:math:`W_1` a ``1x1`` conv ``C -> S`` and :math:`W_2` a ``1x1`` conv ``S -> C`` (both with
bias), :math:`\\delta` ReLU (MobileNetV3, RegNet) or SiLU (EfficientNet), :math:`\\sigma`
sigmoid (EfficientNet, RegNet) or hardsigmoid (MobileNetV3).

References
----------
* Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018, Eq. 2-4.
* torchvision ``ops/misc.py``, ``SqueezeExcitation``: ``fc1``, ``fc2`` are ``Conv2d(., ., 1)``
  with bias; ``activation`` is built without ``inplace`` unless a partial sets it.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.precision import Precision, op_trace
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.activations import gate
from costmodel.ops.conv import conv2d
from costmodel.ops.pointwise import elementwise, relu
from costmodel.ops.pool import avg_pool2d


def channel_scale(*, batch: Any, channels: Any, size: tuple[Any, Any], convention: Convention = FLOP_COUNTER,
                  precision: Precision | None = None, scale_owned: bool = True, input_owned: bool = True,
                  forked: bool = False) -> Cost:
    r"""``s * x``: a ``(B, C, 1, 1)`` scale broadcast over a ``(B, C, H, W)`` map, no parameters.

    ``MulBackward0`` keeps both operands: the scale (if ``scale_owned``: no earlier op
    keeps it) and ``x`` (if ``input_owned``). Transient: the output gradient, ``x``'s
    gradient and the full-size product ``g x`` summed into the scale's gradient,
    :math:`3 b N`. Traffic :math:`Q_{fwd} = c\,(2N + BC)`, :math:`Q_{bwd} = c\,(6N + 2 BC)`;
    ``forked``: ``x`` also feeds another op (the squeeze's pool), so autograd adds its two
    gradients, one more kernel of :math:`c\,3N` (read both, write the sum). FULL: one
    multiply per element forward, two backward.
    """
    elements, scale = batch * channels * size[0] * size[1], batch * channels
    c = precision.compute_bytes if precision is not None else F32
    cost = elementwise("mul", elements, convention).with_traffic(
        Traffic.op("elementwise", forward=c * (2 * elements + scale),
                   backward=c * ((9 if forked else 6) * elements + 2 * scale)))
    if precision is None:
        return cost
    kept = (scale if scale_owned else 0) + (elements if input_owned else 0)
    return cost.with_trace(op_trace(precision, saved=(c * kept, kept), transient=3 * c * elements,
                                    live=c * (2 * elements + scale)))


def squeeze_excitation(*, batch: Any, channels: Any, squeeze: Any, size: tuple[Any, Any],
                       activation: str = "relu", scale_activation: str = "sigmoid",
                       convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
                       input_owned: bool = True) -> Cost:
    r"""A squeeze-excitation layer on a ``(B, C, H, W)`` map with ``S = squeeze`` hidden channels.

    .. math::
        F_{fwd} = 2 \cdot 2 B C S, \qquad \mathrm{params} = 2 C S + S + C

    (two ``1x1`` convs on a ``1 x 1`` map; the pool and the scale are not counted by
    FlopCounterMode). Both convs get an input gradient. ``activation`` is ``"relu"`` (not
    in place: it keeps its output, which ``fc2`` then reads) or ``"silu"`` (EfficientNet's
    in-place SiLU keeps a copy of ``fc1``'s output, whose storage ``fc2`` keeps);
    ``scale_activation`` ``"sigmoid"`` (keeps its output, which the multiply keeps too:
    counted once) or ``"hardsigmoid"`` (keeps its input; the multiply keeps its output).
    ``input_owned``: no earlier op keeps the map ``x`` (the multiply keeps it). Parts:
    ``pool``, ``fc1``, ``act``, ``fc2``, ``gate``, ``scale``.
    """
    pooled, hidden = batch * channels, batch * squeeze
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    one = (1, 1)
    if activation == "relu":
        act = relu(hidden, convention, precision=precision)
    else:
        act = gate(activation, hidden, inplace=True, **memory)
    return Cost.group({
        "pool": avg_pool2d(outputs=pooled, window=size[0] * size[1], **memory),
        "fc1": conv2d(batch=batch, in_channels=channels, out_channels=squeeze, out_size=one, kernel_size=1,
                      in_size=one, **memory),
        "act": act,
        "fc2": conv2d(batch=batch, in_channels=squeeze, out_channels=channels, out_size=one, kernel_size=1,
                      in_size=one, saves_input=activation != "relu", **memory),
        "gate": gate(scale_activation, pooled, **memory),
        "scale": channel_scale(batch=batch, channels=channels, size=size, scale_owned=scale_activation != "sigmoid",
                               input_owned=input_owned, forked=True, **memory),
    })


__all__ = ["channel_scale", "squeeze_excitation"]
