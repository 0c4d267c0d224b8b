"""ResNet (as torchvision's ``ResNet``, the V1.5 variant): config and exact cost.

References
----------
* He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1.
* torchvision ``torchvision/models/resnet.py`` (V1.5: the stride of a bottleneck is on
  its 3x3 conv; ``downsample`` = strided 1x1 conv + batch norm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.core.conventions import Convention
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.trace import residual
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, choice_field, image_field, size_field, sizes_field
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.dense import linear
from costmodel.ops.norm import batch_norm
from costmodel.ops.pointwise import elementwise_traffic, relu, residual_add
from costmodel.ops.pool import avg_pool2d, max_pool2d

EXPANSION = {"basic": 1, "bottleneck": 4}


@dataclass(frozen=True, kw_only=True)
class ResNetConfig(ArchConfig):
    """A ResNet as torchvision defines it (He et al., CVPR 2016; stride on the 3x3 conv).

    Stem: 7x7/2 conv (no bias), batch norm, ReLU, 3x3/2 max pool. Stage ``i`` has
    ``layers[i]`` blocks of ``width * 2**i`` planes (times the expansion 4 for
    bottleneck blocks); the first block of every stage but the first has stride 2, and a
    1x1 conv + batch norm shortcut where the shape changes. Global average pool, linear head.

    Parameters
    ----------
    block : {"basic", "bottleneck"}
    layers : tuple of int
        Blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50; at most 128 stages, 12 when
        any size is symbolic (see :class:`ArchConfig`).
    width : int
        Base width (64); stage ``i`` has ``width * 2**i`` planes.
    """

    family = "resnet"

    block: str = choice_field("bottleneck", tuple(EXPANSION))
    layers: tuple[Any, ...] = sizes_field((3, 4, 6, 3))
    width: Any = size_field(64)
    num_classes: Any = size_field(1000)
    image_size: Any = image_field(224)
    in_channels: Any = size_field(3)

    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]

    @property
    def num_stages(self) -> int:
        """Number of residual stages, ``len(layers)``."""
        return len(self.layers)

    def planes(self, stage: int) -> Any:
        """Bottleneck (inner) width of stage ``stage``: ``width * 2**stage``."""
        return self.width * 2**stage

    def stage_channels(self, stage: int) -> Any:
        """Output channels of stage ``stage``: ``planes * expansion``."""
        return self.planes(stage) * self.expansion


# ---------------------------------------------------------------------------------------
# Cost builder. Architecture facts from torchvision ``torchvision/models/resnet.py``
# (``conv3x3``, ``conv1x1``, ``BasicBlock``, ``Bottleneck``, ``ResNet._make_layer``).
# ---------------------------------------------------------------------------------------

Size = tuple[Any, Any]


def _out_hw(hw: Size, kernel: int, stride: int, padding: int, divisible: bool) -> Size:
    """Spatial size after a square window, per axis :func:`conv_out_size`."""
    return (conv_out_size(hw[0], kernel, stride, padding, divisible=divisible),
            conv_out_size(hw[1], kernel, stride, padding, divisible=divisible))


def conv_bn(*, batch: Any, in_channels: Any, out_channels: Any, hw: Size, kernel: int, stride: int,
            padding: int, divisible: bool, convention: Convention, input_grad: bool = True,
            precision: Precision | None = None, saves_input: bool = True, input_role: str = "compute"
            ) -> tuple[Cost, Cost, Size]:
    r"""A bias-free convolution and the batch norm after it (every conv of a ResNet).

    .. math::
        S_{out} = \lfloor (S + 2p - k) / s \rfloor + 1, \quad
        \mathrm{params} = C_{out} C_{in} k^2 + 2 C_{out}

    Returns the conv cost, the batch-norm cost and the output size. torchvision builds
    every conv with ``bias=False`` because a batch norm follows (``conv3x3``, ``conv1x1``).
    Memory: the conv keeps its input (if ``saves_input``: no earlier op keeps it), the
    batch norm the conv's output.
    """
    out = _out_hw(hw, kernel, stride, padding, divisible)
    conv = conv2d(batch=batch, in_channels=in_channels, out_channels=out_channels, out_size=out,
                  kernel_size=kernel, bias=False, input_grad=input_grad, convention=convention,
                  in_size=hw, precision=precision, saves_input=saves_input, input_role=input_role)
    bn = batch_norm(elements=batch * out_channels * out[0] * out[1], channels=out_channels,
                    convention=convention, precision=precision)
    return conv, bn, out


def stem(config: ResNetConfig, *, batch: Any, convention: Convention, divisible: bool,
         precision: Precision | None = None) -> tuple[Cost, Size]:
    r"""The stem: 7x7/2 conv (pad 3, no bias), batch norm, ReLU, 3x3/2 max pool (pad 1).

    .. math::
        S_1 = \lfloor (S - 1) / 2 \rfloor + 1, \quad S_2 = \lfloor (S_1 - 1) / 2 \rfloor + 1
        \quad (S/2 \text{ and } S/4 \text{ when 4 divides } S)

    The image needs no gradient, so the conv's backward is its weight gradient only.
    Memory: the conv keeps the image (a 16-bit copy under mixed precision), the batch
    norm the conv's output, the in-place ReLU its output, which the max pool also keeps
    (counted once), with its int64 indices.
    """
    conv, bn, hw = conv_bn(batch=batch, in_channels=config.in_channels, out_channels=config.width,
                           hw=config.image_hw, kernel=7, stride=2, padding=3, divisible=divisible,
                           convention=convention, input_grad=False, precision=precision, input_role="float32")
    elements = batch * config.width * hw[0] * hw[1]
    act = relu(elements, convention, precision=precision, inplace=True)
    pooled = _out_hw(hw, 3, 2, 1, divisible)
    pool = max_pool2d(outputs=batch * config.width * pooled[0] * pooled[1], kernel_size=3,
                      convention=convention, inputs=elements, precision=precision, saves_input=False)
    return Cost.group({"conv": conv, "bn": bn, "relu": act, "maxpool": pool}), pooled


def _residual(parts: dict[str, Cost], branch: list[Cost], *, elements: Any, precision: Precision | None,
              block_input: Any, input_saved: bool) -> Cost:
    """A residual block's cost, its memory trace in forward order: shortcut, branch, add, ReLU.

    The shortcut runs first (as torchvision computes ``identity`` first), so its backward
    runs last; while the branch runs backward, the add's gradient waits for it (``elements``
    in the compute dtype). The block is the unit of checkpointing; its input is kept by
    one of its own ops unless ``input_saved`` (the previous block's ReLU keeps it).
    """
    block = Cost.group(parts)
    if precision is None:
        return block
    c = precision.compute_bytes
    trace = residual([op.trace for op in branch[:-1]], c * elements, shares_gradient=True)
    trace = trace.then(branch[-1].trace)
    if "downsample" in parts:  # without autograd, the block's input stays referenced next to the shortcut
        trace = parts["downsample"].trace.then(trace).keep(c * block_input)
    # a recomputed block ends with the last batch norm's output, the shortcut's (a projection;
    # the identity is the kept input) and the gradient waiting for the block's output unsaved
    recompute = c * elements * (3 if "downsample" in parts else 2)
    return block.with_trace(trace.block(c * block_input, inside=not input_saved, recompute=recompute))


def _kept_input(bn: Cost, conv_input: Any, precision: Precision | None) -> Cost:
    """A batch norm whose conv's input is still referenced (``bn(conv(x))``) in a forward pass without autograd."""
    if precision is None:
        return bn
    return bn.with_trace(bn.trace.keep(precision.compute_bytes * conv_input))


def basic_block(*, batch: Any, in_channels: Any, planes: Any, hw: Size, stride: int, downsample: bool,
                divisible: bool, convention: Convention, precision: Precision | None = None,
                input_saved: bool = True) -> tuple[Cost, Size]:
    r"""``BasicBlock`` (expansion 1): two 3x3 convs, the first with the stride.

    .. math::
        y = \mathrm{ReLU}(\mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x))) + \mathrm{sc}(x)),
        \quad \mathrm{params} = 9 C_{in} p + 9 p^2 + 4p \;(+\; C_{in} p + 2p)

    ``sc`` is the identity or, with ``downsample``, a strided 1x1 conv and batch norm.
    Memory: ``input_saved`` says whether an earlier op (the previous block's last ReLU)
    already keeps ``x``; otherwise the first op reading it (the shortcut conv, computed
    first, or ``conv1``) does. The in-place ReLUs keep their outputs, which the next conv
    reads without keeping them again.
    """
    conv1, bn1, out = conv_bn(batch=batch, in_channels=in_channels, out_channels=planes, hw=hw, kernel=3,
                              stride=stride, padding=1, divisible=divisible, convention=convention,
                              precision=precision, saves_input=not (input_saved or downsample))
    elements = batch * planes * out[0] * out[1]
    relu1 = relu(elements, convention, precision=precision, inplace=True)
    conv2, bn2, out = conv_bn(batch=batch, in_channels=planes, out_channels=planes, hw=out, kernel=3,
                              stride=1, padding=1, divisible=divisible, convention=convention,
                              precision=precision, saves_input=False)
    relu2 = relu(elements, convention, precision=precision, inplace=True)
    bn2 = _kept_input(bn2, elements, precision)
    parts = {"conv1": conv1, "bn1": bn1, "conv2": conv2, "bn2": bn2}
    if downsample:
        parts["downsample"] = shortcut(batch=batch, in_channels=in_channels, out_channels=planes, hw=hw,
                                       stride=stride, divisible=divisible, convention=convention,
                                       precision=precision, saves_input=not input_saved)
    parts["add"] = residual_add(elements, convention, precision=precision,
                                grad_elements=batch * in_channels * hw[0] * hw[1])
    parts["relu"] = _relus(relu(elements, convention) + relu(elements, convention), 2 * elements, 2, precision)
    branch = [conv1, bn1, relu1, conv2, bn2, relu2]
    return _residual(parts, branch, elements=elements, precision=precision,
                     block_input=batch * in_channels * hw[0] * hw[1], input_saved=input_saved), out


def bottleneck_block(*, batch: Any, in_channels: Any, planes: Any, hw: Size, stride: int,
                     downsample: bool, divisible: bool, convention: Convention,
                     precision: Precision | None = None, input_saved: bool = True) -> tuple[Cost, Size]:
    r"""``Bottleneck`` (expansion 4, ResNet V1.5): 1x1 reduce, 3x3 with the stride, 1x1 expand.

    .. math::
        \mathrm{params} = C_{in} p + 9 p^2 + 4 p^2 + 2p + 2p + 8p \;(+\; 4 C_{in} p + 8p)

    The stride sits on the 3x3 conv (torchvision's V1.5; the paper's V1 puts it on the
    first 1x1). ``downsample`` adds the strided 1x1 conv + batch norm shortcut. Memory
    as :func:`basic_block`.
    """
    out_channels = planes * 4
    conv1, bn1, mid = conv_bn(batch=batch, in_channels=in_channels, out_channels=planes, hw=hw, kernel=1,
                              stride=1, padding=0, divisible=divisible, convention=convention,
                              precision=precision, saves_input=not (input_saved or downsample))
    relu1 = relu(batch * planes * mid[0] * mid[1], convention, precision=precision, inplace=True)
    conv2, bn2, out = conv_bn(batch=batch, in_channels=planes, out_channels=planes, hw=mid, kernel=3,
                              stride=stride, padding=1, divisible=divisible, convention=convention,
                              precision=precision, saves_input=False)
    relu2 = relu(batch * planes * out[0] * out[1], convention, precision=precision, inplace=True)
    conv3, bn3, out = conv_bn(batch=batch, in_channels=planes, out_channels=out_channels, hw=out, kernel=1,
                              stride=1, padding=0, divisible=divisible, convention=convention,
                              precision=precision, saves_input=False)
    inner = batch * planes * (mid[0] * mid[1] + out[0] * out[1])  # the two inner ReLUs
    elements = batch * out_channels * out[0] * out[1]
    relu3 = relu(elements, convention, precision=precision, inplace=True)
    bn2 = _kept_input(bn2, batch * planes * mid[0] * mid[1], precision)
    bn3 = _kept_input(bn3, batch * planes * out[0] * out[1], precision)
    parts = {"conv1": conv1, "bn1": bn1, "conv2": conv2, "bn2": bn2, "conv3": conv3, "bn3": bn3}
    if downsample:
        parts["downsample"] = shortcut(batch=batch, in_channels=in_channels, out_channels=out_channels,
                                       hw=hw, stride=stride, divisible=divisible, convention=convention,
                                       precision=precision, saves_input=not input_saved)
    parts["add"] = residual_add(elements, convention, precision=precision,
                                grad_elements=batch * in_channels * hw[0] * hw[1])
    parts["relu"] = _relus(relu(inner + elements, convention), inner + elements, 3, precision)
    branch = [conv1, bn1, relu1, conv2, bn2, relu2, conv3, bn3, relu3]
    return _residual(parts, branch, elements=elements, precision=precision,
                     block_input=batch * in_channels * hw[0] * hw[1], input_saved=input_saved), out


def _relus(cost: Cost, elements: Any, kernels: int, precision: Precision | None) -> Cost:
    """A block's ReLUs as one leaf (their memory is in the branch's trace): traffic in the bytes of the
    compute dtype (under autocast they run on batch norm's 16-bit outputs), one launch per ReLU."""
    c = precision.compute_bytes if precision is not None else F32
    traffic = elementwise_traffic("relu", c, elements)
    return cost.with_traffic(Traffic.op(traffic.kind, forward=traffic.forward, backward=traffic.backward,
                                        launches=kernels))


def shortcut(*, batch: Any, in_channels: Any, out_channels: Any, hw: Size, stride: int, divisible: bool,
             convention: Convention, precision: Precision | None = None, saves_input: bool = True) -> Cost:
    r"""Projection shortcut (torchvision ``downsample``): 1x1 conv with the stride, batch norm.

    .. math:: \mathrm{params} = C_{in} C_{out} + 2 C_{out}

    Used when ``stride != 1`` or ``C_in != planes * expansion`` (``ResNet._make_layer``).
    """
    conv, bn, _ = conv_bn(batch=batch, in_channels=in_channels, out_channels=out_channels, hw=hw, kernel=1,
                          stride=stride, padding=0, divisible=divisible, convention=convention,
                          precision=precision, saves_input=saves_input)
    return Cost.group({"conv": conv, "bn": bn})


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def stage(config: ResNetConfig, index: int, *, batch: Any, hw: Size, convention: Convention,
          divisible: bool, precision: Precision | None = None) -> tuple[Cost, Size]:
    r"""Stage ``index`` (torchvision ``layer{index+1}``): ``layers[index]`` blocks.

    .. math:: C_{stage} = C_{block_0} + (n - 1)\, C_{block}

    ``block0`` takes the stage's input (stride 2 except in the first stage, and a
    projection shortcut where the stride or the channel count changes); the other
    ``n - 1`` blocks are identical (stride 1, identity shortcut), so their total is one
    block times ``n - 1`` and ``n`` may be a symbol. The part ``blocks`` is that total.
    """
    block = BLOCKS[config.block]
    planes = config.planes(index)
    in_channels = config.width if index == 0 else config.stage_channels(index - 1)
    stride = 1 if index == 0 else 2
    # stride 2, or (first stage) width != width * expansion: decidable without the sizes
    downsample = stride != 1 or config.expansion != 1
    # the first stage's input is the max pool's output, which the max pool does not keep
    first, out = block(batch=batch, in_channels=in_channels, planes=planes, hw=hw, stride=stride,
                       downsample=downsample, divisible=divisible, convention=convention,
                       precision=precision, input_saved=index != 0)
    parts = {"block0": first}
    repeats = config.layers[index] - 1
    if repeats != 0:
        rest, _ = block(batch=batch, in_channels=config.stage_channels(index), planes=planes, hw=out,
                        stride=1, downsample=False, divisible=divisible, convention=convention,
                        precision=precision)
        parts["blocks"] = rest * repeats
    return Cost.group(parts), out


def head(config: ResNetConfig, *, batch: Any, hw: Size, convention: Convention,
         precision: Precision | None = None) -> Cost:
    r"""Global average pool and the linear classifier.

    .. math:: F_{fwd} = 2 B C n, \quad \mathrm{params} = C n + n, \quad C = 2^{s-1} w e

    Memory: the pool (a ``mean``) keeps nothing, the classifier its input (``B C``).
    """
    channels = config.stage_channels(config.num_stages - 1)
    pool = avg_pool2d(outputs=batch * channels, window=hw[0] * hw[1], convention=convention, precision=precision)
    fc = linear(rows=batch, in_features=channels, out_features=config.num_classes, convention=convention,
                precision=precision)
    return Cost.group({"avgpool": pool, "fc": fc})


def cost(config: ResNetConfig, *, batch: Any, convention: Convention, divisible: bool,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of a ResNet: ``stem``, ``layer1`` ... ``layer{s}``, ``head``.

    .. math:: C = C_{stem} + \sum_{i=1}^{s} C_{layer_i} + C_{head}

    Square or ``(H, W)`` images, symbolic or integer; with ``divisible`` the floor
    divisions are dropped (exact when 32 divides both sides for four stages).

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> c = cost(ResNetConfig(), batch=1, convention=FLOP_COUNTER, divisible=False)
    >>> c.params
    25557032
    """
    parts: dict[str, Cost] = {}
    parts["stem"], hw = stem(config, batch=batch, convention=convention, divisible=divisible, precision=precision)
    for i in range(config.num_stages):
        parts[f"layer{i + 1}"], hw = stage(config, i, batch=batch, hw=hw, convention=convention,
                                           divisible=divisible, precision=precision)
    parts["head"] = head(config, batch=batch, hw=hw, convention=convention, precision=precision)
    return Cost.group(parts)


__all__ = ["ResNetConfig", "EXPANSION", "BLOCKS", "cost", "stem", "stage", "head", "basic_block",
           "bottleneck_block", "shortcut", "conv_bn"]
