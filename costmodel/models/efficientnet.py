"""EfficientNet B0-B7 (v1) as torchvision defines it: config and exact cost.

References
----------
* Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
  ICML 2019, Table 1 (the B0 stages) and Sec. 3.3 (compound scaling).
* torchvision ``models/efficientnet.py``: ``MBConvConfig`` (channels
  ``_make_divisible(c * width_mult, 8)``, layers ``ceil(n * depth_mult)``), ``MBConv``
  (expand ``1x1`` when the ratio is not 1, depthwise, ``SqueezeExcitation(E, max(1, C_in // 4),
  SiLU in place)`` with a sigmoid gate, linear ``1x1`` projection, residual add when the
  stride is 1 and the widths agree; stochastic depth is the identity at drop rate 0 and
  costs nothing), stem ``3x3/2`` conv + BN + SiLU, last ``1x1`` conv to ``4 x`` the
  last width + BN + SiLU, global average pool, dropout, linear head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, ratio_field, size_field
from costmodel.models.mbconv import (
    Excite,
    WidthScaled,
    check_multiplier,
    conv_norm_act,
    exact_fraction,
    inverted_residual,
    make_divisible,
)
from costmodel.ops.dense import linear
from costmodel.ops.pool import avg_pool2d

#: B0 stages (Tan & Le Table 1, torchvision ``_efficientnet_conf``): expand ratio, kernel,
#: stride, input width, output width, layers
B0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
)


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage after the multipliers: expand ratio, kernel, stride, widths in and out, layers."""

    expand: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    layers: int


@dataclass(frozen=True, kw_only=True)
class EfficientNetConfig(WidthScaled, ArchConfig):
    """An EfficientNet (v1) as torchvision defines it (Tan & Le 2019).

    Parameters
    ----------
    width_mult, depth_mult : rational
        Compound-scaling multipliers (B0: 1, 1; B7: 2, 3.1); numbers, > 0.
    image_size : int or (height, width)
        May be symbolic.
    """

    family = "efficientnet"

    width_mult: Any = ratio_field(1)
    depth_mult: Any = ratio_field(1)
    image_size: Any = image_field(224)
    num_classes: Any = size_field(1000)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        check_multiplier("width_mult", self.width_mult)
        check_multiplier("depth_mult", self.depth_mult)
        for side in self.image_hw:
            if isinstance(side, int) and side < 1:
                raise InvalidConfigError("image_size", self.image_size, "must be positive")

    def stages(self) -> list[Stage]:
        """The seven stages after the width and depth multipliers."""
        depth = exact_fraction(self.depth_mult)
        return [Stage(expand=e, kernel=k, stride=s, in_channels=self.channels(i), out_channels=self.channels(o),
                      layers=math.ceil(n * depth)) for e, k, s, i, o, n in B0_STAGES]

    @property
    def last_channels(self) -> int:
        """Width of the last ``1x1`` conv: 4 times the last stage's."""
        return 4 * self.stages()[-1].out_channels


def mbconv(stage: Stage, *, first: bool, batch: Any, size: tuple[Any, Any], convention: Convention,
           divisible: bool, precision: Precision | None) -> tuple[Cost, tuple[Any, Any]]:
    r"""One ``MBConv`` of ``stage`` (the first of the stage takes its input width and stride).

    Expanded width ``E = make_divisible(C_in e)``, squeeze width ``max(1, C_in // 4)``.
    """
    cin = stage.in_channels if first else stage.out_channels
    stride = stage.stride if first else 1
    expanded = make_divisible(cin * stage.expand)
    layer = inverted_residual(batch=batch, in_channels=cin, expanded=expanded, out_channels=stage.out_channels,
                              size=size, kernel=stage.kernel, stride=stride, act="silu",
                              se=Excite(squeeze=max(1, cin // 4), activation="silu", scale_activation="sigmoid"),
                              add=stride == 1 and cin == stage.out_channels, convention=convention,
                              divisible=divisible, precision=precision)
    return layer.cost, layer.size


def head(*, batch: Any, channels: Any, num_classes: Any, size: tuple[Any, Any], convention: Convention,
         precision: Precision | None) -> Cost:
    r"""Global average pool (keeps nothing) and ``Linear(C, n)`` (keeps its input, ``B C``).

    .. math:: F_{fwd} = 2 B C n, \quad \mathrm{params} = C n + n
    """
    return Cost.group({
        "pool": avg_pool2d(outputs=batch * channels, window=size[0] * size[1], convention=convention,
                           precision=precision),
        "fc": linear(rows=batch, in_features=channels, out_features=num_classes, convention=convention,
                     precision=precision),
    })


def cost(config: EfficientNetConfig, *, batch: Any, convention: Convention, divisible: bool = False,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of an EfficientNet: ``stem``, ``stage0`` ... ``stage6``, ``last``, ``head``.

    .. math:: C = C_{stem} + \sum_i \big(C_{b_i,0} + (n_i - 1) C_{b_i}\big) + C_{last} + C_{head}

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cost(EfficientNetConfig(), batch=1, convention=FLOP_COUNTER).params   # torchvision: 5,288,548
    5288548
    """
    stages = config.stages()
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    stem = conv_norm_act(in_channels=config.in_channels, out_channels=stages[0].in_channels, size=config.image_hw,
                         kernel=3, stride=2, act="silu", input_grad=False, input_role="float32", **common)
    parts: dict[str, Cost] = {"stem": stem.cost}
    size = stem.size
    for i, stage in enumerate(stages):
        first, size = mbconv(stage, first=True, size=size, **common)
        blocks = {"block0": first}
        if stage.layers > 1:
            rest, size = mbconv(stage, first=False, size=size, **common)
            blocks["blocks"] = rest * (stage.layers - 1)
        parts[f"stage{i}"] = Cost.group(blocks)
    last = conv_norm_act(in_channels=stages[-1].out_channels, out_channels=config.last_channels, size=size,
                         kernel=1, act="silu", **common)
    parts["last"] = last.cost
    parts["head"] = head(batch=batch, channels=config.last_channels, num_classes=config.num_classes,
                         size=last.size, convention=convention, precision=precision)
    return Cost.group(parts)


__all__ = ["EfficientNetConfig", "Stage", "B0_STAGES", "mbconv", "head", "cost"]
