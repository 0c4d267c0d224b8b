"""MobileNetV2 and MobileNetV3 (large, small) as torchvision defines them: configs and exact costs.

References
----------
* Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, Table 2.
* Howard et al., "Searching for MobileNetV3", ICCV 2019, Tables 1-2 (large, small).
* torchvision ``models/mobilenetv2.py`` (``InvertedResidual``: hidden width
  ``round(C_in t)``, ReLU6; stem ``3x3/2`` to ``_make_divisible(32 w)``; last ``1x1`` conv to
  ``_make_divisible(1280 max(1, w))``; pool, dropout, linear) and ``models/mobilenetv3.py``
  (``InvertedResidualConfig`` widths ``_make_divisible(c w, 8)``, SE with
  ``_make_divisible(E // 4, 8)`` channels, ReLU and a hardsigmoid gate; stem ``3x3/2`` to 16
  channels with hardswish; last ``1x1`` conv to ``6 x`` the last width with hardswish; head
  ``Linear(., 1280 | 1024)``, hardswish, dropout, ``Linear(., n)``). Dropout is the identity here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, choice_field, image_field, ratio_field, size_field
from costmodel.models.mbconv import (
    Excite,
    WidthScaled,
    check_multiplier,
    conv_norm_act,
    exact_fraction,
    inverted_residual,
    make_divisible,
)
from costmodel.ops.activations import gate
from costmodel.ops.dense import linear
from costmodel.ops.pool import avg_pool2d

#: MobileNetV2 (Sandler et al. Table 2): expansion t, width c, repeats n, stride s
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))

#: MobileNetV3 blocks (Howard et al. Tables 1-2, torchvision ``_mobilenet_v3_conf``): input, kernel,
#: expanded, output, SE, activation (RE: ReLU, HS: hardswish), stride
V3_BLOCKS = {
    "large": ((16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
              (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
              (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
              (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1),
              (112, 3, 672, 112, True, "HS", 1), (112, 5, 672, 160, True, "HS", 2),
              (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1)),
    "small": ((16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
              (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
              (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
              (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)),
}
V3_LAST = {"large": 1280, "small": 1024}  #: width of the head's hidden linear
ACT = {"RE": "relu", "HS": "hardswish"}


def _check_image(config: MobileNetV2Config | MobileNetV3Config) -> None:
    for side in config.image_hw:
        if isinstance(side, int) and side < 1:
            raise InvalidConfigError("image_size", config.image_size, "must be positive")


@dataclass(frozen=True, kw_only=True)
class MobileNetV2Config(WidthScaled, ArchConfig):
    """MobileNetV2 as torchvision defines it; ``width_mult`` scales every width (rounded to 8)."""

    family = "mobilenet_v2"

    width_mult: Any = ratio_field(1)
    image_size: Any = image_field(224)
    num_classes: Any = size_field(1000)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        check_multiplier("width_mult", self.width_mult)
        _check_image(self)

    @property
    def last_channels(self) -> int:
        return make_divisible(1280 * max(exact_fraction(self.width_mult), exact_fraction(1)))


@dataclass(frozen=True, kw_only=True)
class MobileNetV3Config(WidthScaled, ArchConfig):
    """MobileNetV3 large or small as torchvision defines it; ``width_mult`` scales every width."""

    family = "mobilenet_v3"

    variant: str = choice_field("large", ("large", "small"))
    width_mult: Any = ratio_field(1)
    image_size: Any = image_field(224)
    num_classes: Any = size_field(1000)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        check_multiplier("width_mult", self.width_mult)
        _check_image(self)

    @property
    def last_channels(self) -> int:
        """Width of the last ``1x1`` conv: 6 times the last block's output."""
        return 6 * self.channels(V3_BLOCKS[self.variant][-1][3])


def head(*, batch: Any, channels: Any, hidden: Any, num_classes: Any, size: tuple[Any, Any],
         convention: Convention, precision: Precision | None) -> Cost:
    r"""Global average pool, then ``Linear(C, n)``, or (``hidden``) ``Linear(C, h)``, hardswish, ``Linear(h, n)``.

    .. math:: F_{fwd} = 2 B (C h + h n), \quad \mathrm{params} = C h + h + h n + n
    """
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    parts = {"pool": avg_pool2d(outputs=batch * channels, window=size[0] * size[1], **memory)}
    if hidden is None:
        parts["fc"] = linear(rows=batch, in_features=channels, out_features=num_classes, **memory)
        return Cost.group(parts)
    parts["fc1"] = linear(rows=batch, in_features=channels, out_features=hidden, **memory)
    parts["act"] = gate("hardswish", batch * hidden, inplace=True, **memory)
    parts["fc2"] = linear(rows=batch, in_features=hidden, out_features=num_classes, **memory)
    return Cost.group(parts)


def cost_v2(config: MobileNetV2Config, *, batch: Any, convention: Convention, divisible: bool,
            precision: Precision | None) -> Cost:
    r"""MobileNetV2: ``stem``, ``stage0`` ... ``stage6`` (``block0`` + repeats), ``last``, ``head``."""
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    width = config.channels(32)
    stem = conv_norm_act(in_channels=config.in_channels, out_channels=width, size=config.image_hw, kernel=3,
                         stride=2, act="relu6", input_grad=False, input_role="float32", **common)
    parts, size = {"stem": stem.cost}, stem.size
    for i, (t, c, n, s) in enumerate(V2_STAGES):
        out = config.channels(c)
        blocks: dict[str, Cost] = {}
        for j, (cin, stride) in enumerate(((width, s), (out, 1))[: min(n, 2)]):
            layer = inverted_residual(in_channels=cin, expanded=int(round(cin * t)), out_channels=out, size=size,
                                      kernel=3, stride=stride, act="relu6", se=None,
                                      add=stride == 1 and cin == out, **common)
            blocks["block0" if j == 0 else "blocks"] = layer.cost if j == 0 else layer.cost * (n - 1)
            size = layer.size
        parts[f"stage{i}"], width = Cost.group(blocks), out
    last = conv_norm_act(in_channels=width, out_channels=config.last_channels, size=size, kernel=1, act="relu6",
                         **common)
    parts["last"] = last.cost
    parts["head"] = head(batch=batch, channels=config.last_channels, hidden=None, num_classes=config.num_classes,
                         size=last.size, convention=convention, precision=precision)
    return Cost.group(parts)


def cost_v3(config: MobileNetV3Config, *, batch: Any, convention: Convention, divisible: bool,
            precision: Precision | None) -> Cost:
    r"""MobileNetV3: ``stem``, ``block0`` ... ``block{n-1}``, ``last``, ``head``."""
    common: dict[str, Any] = dict(batch=batch, convention=convention, divisible=divisible, precision=precision)
    blocks = V3_BLOCKS[config.variant]
    stem = conv_norm_act(in_channels=config.in_channels, out_channels=config.channels(blocks[0][0]),
                         size=config.image_hw, kernel=3, stride=2, act="hardswish", input_grad=False,
                         input_role="float32", **common)
    parts, size = {"stem": stem.cost}, stem.size
    for i, (cin, kernel, expanded, cout, se, act, stride) in enumerate(blocks):
        cin, expanded, cout = config.channels(cin), config.channels(expanded), config.channels(cout)
        excite = Excite(squeeze=make_divisible(expanded // 4), activation="relu", scale_activation="hardsigmoid")
        layer = inverted_residual(in_channels=cin, expanded=expanded, out_channels=cout, size=size, kernel=kernel,
                                  stride=stride, act=ACT[act], se=excite if se else None,
                                  add=stride == 1 and cin == cout, **common)
        parts[f"block{i}"], size = layer.cost, layer.size
    last = conv_norm_act(in_channels=config.channels(blocks[-1][3]), out_channels=config.last_channels, size=size,
                         kernel=1, act="hardswish", **common)
    parts["last"] = last.cost
    parts["head"] = head(batch=batch, channels=config.last_channels, hidden=config.channels(V3_LAST[config.variant]),
                         num_classes=config.num_classes, size=last.size, convention=convention, precision=precision)
    return Cost.group(parts)


def cost(config: MobileNetV2Config | MobileNetV3Config, *, batch: Any, convention: Convention,
         divisible: bool = False, precision: Precision | None = FLOAT32) -> Cost:
    """Exact cost of a MobileNetV2 or V3.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cost(MobileNetV3Config(), batch=1, convention=FLOP_COUNTER).params   # torchvision: 5,483,032
    5483032
    """
    if isinstance(config, MobileNetV2Config):
        return cost_v2(config, batch=batch, convention=convention, divisible=divisible, precision=precision)
    return cost_v3(config, batch=batch, convention=convention, divisible=divisible, precision=precision)


__all__ = ["MobileNetV2Config", "MobileNetV3Config", "V2_STAGES", "V3_BLOCKS", "head", "cost_v2", "cost_v3", "cost"]
