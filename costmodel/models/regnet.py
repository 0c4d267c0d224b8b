"""RegNet X and Y (Radosavovic et al. 2020) as torchvision defines them: config and exact cost.

References
----------
* Radosavovic, Kosaraju, Girshick, He & Dollar, "Designing Network Design Spaces", CVPR 2020,
  Sec. 3.3 (the quantized linear rule ``u_j = w_0 + w_a j``, ``s_j = round(log(u_j / w_0) / log w_m)``,
  ``w_j = 8 round(w_0 w_m^{s_j} / 8)``), Sec. 3.1 (the X block: ``1x1``, grouped ``3x3``
  with group width ``g``, ``1x1``, bottleneck ratio ``b``) and Sec. 5 (Y: squeeze-excitation).
* torchvision ``models/regnet.py``: ``BlockParams.from_init_params`` (stages where the
  width changes; ``_adjust_widths_groups_compatibilty``), ``SimpleStemIN`` (``3x3/2`` conv to
  32, BN, ReLU), ``ResBottleneckBlock`` (projection ``1x1`` with the stride + BN where the
  width or stride changes, ``BottleneckTransform`` a-b-(se)-c, add, ReLU in place; SE width
  ``round(se_ratio C_in)`` with ReLU and a sigmoid gate), pool and ``fc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import FLOAT32, Precision, op_trace
from costmodel.cost.trace import residual
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, flag_field, image_field, ratio_field, size_field
from costmodel.models.mbconv import Excite, check_multiplier, conv_norm_act, exact_fraction, make_divisible
from costmodel.ops.activations import activation
from costmodel.ops.dense import linear
from costmodel.ops.excitation import squeeze_excitation
from costmodel.ops.pointwise import residual_add
from costmodel.ops.pool import avg_pool2d

QUANT = 8  #: widths are multiples of 8
STRIDE = 2  #: every stage halves the map


#: the deepest RegNet accepted (blocks, all stages): the quantized linear rule runs once per block
MAX_DEPTH = 1000


@dataclass(frozen=True, kw_only=True)
class RegNetStage:
    """One stage: width, depth, group width, bottleneck ratio."""

    width: int
    depth: int
    group_width: int
    bottleneck: Fraction


@dataclass(frozen=True, kw_only=True)
class RegNetConfig(ArchConfig):
    """A RegNet from its quantized linear parameters (``depth``, ``w_0``, ``w_a``, ``w_m``), as torchvision.

    Parameters
    ----------
    depth : int
        Blocks in all (``d``).
    w_0 : int
        Initial width, a multiple of 8.
    w_a, w_m : rational
        Slope (>= 0) and multiplier (> 1) of the width rule.
    group_width : int
        Channels per group of the ``3x3`` conv.
    bottleneck : rational
        Bottleneck ratio ``b`` (1 for every torchvision preset).
    se : bool
        RegNetY (squeeze-excitation of width ``round(se_ratio C_in)``); False: RegNetX.
    """

    family = "regnet"

    depth: Any = size_field(16)
    w_0: Any = size_field(48)
    w_a: Any = ratio_field(27.89)
    w_m: Any = ratio_field(2.09)
    group_width: Any = size_field(8)
    bottleneck: Any = ratio_field(1)
    se: bool = flag_field(True)
    se_ratio: Any = ratio_field(0.25)
    stem_width: Any = size_field(32)
    image_size: Any = image_field(224)
    num_classes: Any = size_field(1000)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        for name in ("depth", "w_0", "w_a", "w_m", "group_width", "bottleneck", "se_ratio", "stem_width"):
            check_multiplier(name, getattr(self, name))
        if self.depth > MAX_DEPTH:
            raise InvalidConfigError("depth", self.depth, f"must be at most {MAX_DEPTH}: a RegNet's widths are laid "
                                                          "out block by block (torchvision's deepest preset has 27)")
        if self.w_0 % QUANT != 0:
            raise InvalidConfigError("w_0", self.w_0, f"must be a multiple of {QUANT} (torchvision's rule)")
        if exact_fraction(self.w_m) <= 1:
            raise InvalidConfigError("w_m", self.w_m, "must be greater than 1")
        for side in self.image_hw:
            if isinstance(side, int) and side < 1:
                raise InvalidConfigError("image_size", self.image_size, "must be positive")

    @property
    def image_step(self) -> int:
        """Image sides for which ``divisible=True`` is exact: multiples of the total stride, 32."""
        return 32

    def stages(self) -> list[RegNetStage]:
        r"""Stage widths and depths from the quantized linear rule (torchvision ``from_init_params``).

        .. math::
            u_j = w_0 + w_a j, \quad s_j = \mathrm{round}\Big(\frac{\log(u_j / w_0)}{\log w_m}\Big), \quad
            w_j = 8\, \mathrm{round}(w_0 w_m^{s_j} / 8)

        Consecutive blocks of one width form a stage; the bottleneck width ``w b`` is then
        rounded to a multiple of the group width ``min(g, w b)`` (``_make_divisible``).
        Computed in double precision (torchvision uses float32; the presets agree).
        """
        w_0, w_a, w_m = float(self.w_0), float(exact_fraction(self.w_a)), float(exact_fraction(self.w_m))
        widths = []
        for j in range(int(self.depth)):
            exponent = round(math.log((w_0 + w_a * j) / w_0) / math.log(w_m))
            widths.append(int(round(w_0 * w_m**exponent / QUANT) * QUANT))
        stages: list[list[int]] = []
        for width in widths:
            if stages and stages[-1][0] == width:
                stages[-1][1] += 1
            else:
                stages.append([width, 1])
        b = exact_fraction(self.bottleneck)
        result = []
        for width, depth in stages:
            inner = int(width * b)
            group = min(int(self.group_width), inner)
            result.append(RegNetStage(width=int(make_divisible(inner, group) / b), depth=depth, group_width=group,
                                      bottleneck=b))
        return result


def bottleneck_block(*, batch: Any, in_channels: Any, stage: RegNetStage, stride: int, size: tuple[Any, Any],
                     config: RegNetConfig, convention: Convention, divisible: bool,
                     precision: Precision | None) -> tuple[Cost, tuple[Any, Any]]:
    r"""``ResBottleneckBlock``: ``proj`` (if needed), ``a`` ``1x1``, ``b`` grouped ``3x3`` (stride), SE, ``c`` ``1x1``.

    .. math::
        w_b = \mathrm{round}(w b), \quad \mathrm{groups} = w_b / g, \quad
        \mathrm{MACs} = B (H W C_{in} w_b + H' W' (9 w_b g + w_b w)) + \ldots

    Memory: the block's input is kept by the previous block's in-place ReLU (or the
    stem's); each in-place ReLU keeps its output, which the next conv reads; the SE keeps
    the pooled map, its ReLU output, its gate and the map it scales (already kept by
    ``b``'s ReLU); the final add's output is kept by the block's ReLU. With a projection,
    the branch's gradient of ``x`` waits while the projection runs backward, and the two
    are then summed into a new tensor (three of ``x``'s size alive).
    """
    width = stage.width
    inner = int(round(width * stage.bottleneck))
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    parts: dict[str, Cost] = {}
    project = in_channels != width or stride != 1
    if project:
        parts["proj"] = conv_norm_act(in_channels=in_channels, out_channels=width, size=size, kernel=1,
                                      stride=stride, act=None, input_owned=False, **common).cost
    a = conv_norm_act(in_channels=in_channels, out_channels=inner, size=size, kernel=1, act="relu",
                      input_owned=False, **common)
    b = conv_norm_act(in_channels=inner, out_channels=inner, size=a.size, kernel=3, stride=stride,
                      groups=inner // stage.group_width, act="relu", input_owned=False, **common)
    parts["a"], parts["b"] = a.cost, b.cost
    if config.se:
        excite = Excite(squeeze=int(round(exact_fraction(config.se_ratio) * in_channels)))
        parts["se"] = squeeze_excitation(batch=batch, channels=inner, squeeze=excite.squeeze, size=b.size,
                                         input_owned=False, convention=convention, precision=precision)
    c = conv_norm_act(in_channels=inner, out_channels=width, size=b.size, kernel=1, act=None,
                      input_owned=config.se, **common)
    parts["c"] = c.cost
    elements = batch * width * c.size[0] * c.size[1]
    parts["add"] = residual_add(elements, convention, precision=precision,
                                grad_elements=batch * in_channels * size[0] * size[1])
    parts["relu"] = activation("relu", elements, convention, precision=precision)
    block = Cost.group(parts)
    if precision is None:
        return block, c.size
    branch = [parts[name].trace for name in ("a", "b", "se", "c") if name in parts]
    trace = residual(branch, precision.compute_bytes * elements, shares_gradient=True)
    if project:
        # while the projection runs backward, the branch's gradient of x waits for it; then the
        # two are summed into a third tensor of x's size
        grad_x = precision.compute_bytes * batch * in_channels * size[0] * size[1]
        trace = op_trace(precision, transient=3 * grad_x).then(parts["proj"].trace.hold(grad_x)).then(trace)
    return block.with_trace(trace.then(parts["relu"].trace)), c.size


def cost(config: RegNetConfig, *, batch: Any, convention: Convention, divisible: bool = False,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of a RegNet: ``stem``, ``block1`` ... ``block{s}`` (torchvision's stage names), ``head``.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cost(RegNetConfig(), batch=1, convention=FLOP_COUNTER).params   # regnet_y_400mf: 4,344,144
    4344144
    """
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    stem = conv_norm_act(in_channels=config.in_channels, out_channels=config.stem_width, size=config.image_hw,
                         kernel=3, stride=STRIDE, act="relu", input_grad=False, input_role="float32", **common)
    parts: dict[str, Cost] = {"stem": stem.cost}
    size, width = stem.size, config.stem_width
    for i, stage in enumerate(config.stages()):
        first, size = bottleneck_block(in_channels=width, stage=stage, stride=STRIDE, size=size, config=config,
                                       **common)
        blocks = {"block0": first}
        if stage.depth > 1:
            rest, size = bottleneck_block(in_channels=stage.width, stage=stage, stride=1, size=size, config=config,
                                          **common)
            blocks["blocks"] = rest * (stage.depth - 1)
        parts[f"block{i + 1}"], width = Cost.group(blocks), stage.width
    parts["head"] = Cost.group({
        "pool": avg_pool2d(outputs=batch * width, window=size[0] * size[1], convention=convention,
                           precision=precision),
        "fc": linear(rows=batch, in_features=width, out_features=config.num_classes, convention=convention,
                     precision=precision),
    })
    return Cost.group(parts)


__all__ = ["MAX_DEPTH", "RegNetConfig", "RegNetStage", "bottleneck_block", "cost"]
