"""The draw functions of the modern families: Swin, EfficientNet, MobileNetV2/V3 and RegNet.

Each draws small, valid configs (the shapes of the ``small_configs`` of their unit tests):

* Swin: 1 to 3 stages, 1 or 2 heads dividing every stage's width, a patch of 2 or 4, windows of 2,
  3 or 5, so that the default image sides (up to 32) give maps the window does not divide
  (padding) and last-stage maps smaller than the window;
* EfficientNet, MobileNet: width multipliers of 1/10 to 7/20 (every width is then 8 to 40
  channels after rounding to 8), EfficientNet depth multipliers 1/4 or 2/5 (one block a stage);
* RegNet: 1 to 5 blocks from ``w_0`` 8 or 16, slopes 4 to 12.5, multipliers 1.5 to 2.5.

The image sides are any in the range: these networks accept a 1-pixel image (every strided
conv is padded); Swin needs one patch.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from costmodel.models import EfficientNetConfig, MobileNetV2Config, MobileNetV3Config, RegNetConfig, SwinConfig
from costmodel.models.base import ArchConfig
from costmodel.strategies.draws import Fields, divisor_of, image, side_range

#: small width multipliers (the unit tests' ones)
WIDTH_MULTS = (Fraction(1, 10), Fraction(1, 4), Fraction(3, 10), Fraction(7, 20))


def _stages(draw: Any, f: Fields, names: tuple[str, ...], most: int) -> int:
    """The number of stages: that of a per-stage field the caller gives, or drawn in ``[1, most]``."""
    for name in names:
        if name in f.fields:
            return len(f(name, st.nothing()))
    return int(draw(st.integers(1, most), label="stages"))


def _swin(draw: Any, f: Fields, image_size: Any) -> SwinConfig:
    stages = _stages(draw, f, ("depths", "num_heads"), 3)
    dim = f.fixed("embed_dim")
    if dim is None:
        dim = f("embed_dim", st.sampled_from((2, 4, 8)))
    heads = f("num_heads", st.tuples(*(divisor_of(dim * 2**i, 2) for i in range(stages))), tuple)
    hi = side_range(image_size)[1]
    patch = f("patch_size", st.sampled_from(tuple(p for p in (2, 4) if p <= hi) or (1,)))
    return SwinConfig(patch_size=patch, embed_dim=dim,
                      depths=f("depths", st.lists(st.integers(1, 2), min_size=stages, max_size=stages), tuple),
                      num_heads=heads, window_size=f("window_size", st.sampled_from((2, 3, 5))),
                      mlp_ratio=f("mlp_ratio", st.integers(1, 4)), num_classes=f("num_classes", st.integers(1, 10)),
                      in_channels=f("in_channels", st.integers(1, 3)),
                      image_size=image(draw, image_size, at_least=patch if isinstance(patch, int) else 1))


def _efficientnet(draw: Any, f: Fields, image_size: Any) -> EfficientNetConfig:
    return EfficientNetConfig(width_mult=f("width_mult", st.sampled_from(WIDTH_MULTS)),
                              depth_mult=f("depth_mult", st.sampled_from((Fraction(1, 4), Fraction(2, 5)))),
                              image_size=image(draw, image_size), num_classes=f("num_classes", st.integers(1, 10)),
                              in_channels=f("in_channels", st.integers(1, 3)))


def _mobilenet_v2(draw: Any, f: Fields, image_size: Any) -> MobileNetV2Config:
    return MobileNetV2Config(width_mult=f("width_mult", st.sampled_from(WIDTH_MULTS)),
                             image_size=image(draw, image_size), num_classes=f("num_classes", st.integers(1, 10)),
                             in_channels=f("in_channels", st.integers(1, 3)))


def _mobilenet_v3(draw: Any, f: Fields, image_size: Any) -> MobileNetV3Config:
    return MobileNetV3Config(variant=f("variant", st.sampled_from(("large", "small"))),
                             width_mult=f("width_mult", st.sampled_from(WIDTH_MULTS)),
                             image_size=image(draw, image_size), num_classes=f("num_classes", st.integers(1, 10)),
                             in_channels=f("in_channels", st.integers(1, 3)))


def _regnet(draw: Any, f: Fields, image_size: Any) -> RegNetConfig:
    return RegNetConfig(depth=f("depth", st.integers(1, 5)), w_0=f("w_0", st.sampled_from((8, 16))),
                        w_a=f("w_a", st.sampled_from((4, 8, Fraction(25, 2)))),
                        w_m=f("w_m", st.sampled_from((Fraction(3, 2), 2, Fraction(5, 2)))),
                        group_width=f("group_width", st.sampled_from((4, 8))),
                        bottleneck=f("bottleneck", st.just(1)), se=f("se", st.booleans()),
                        se_ratio=f("se_ratio", st.just(Fraction(1, 4))),
                        stem_width=f("stem_width", st.sampled_from((8, 16))),
                        image_size=image(draw, image_size), num_classes=f("num_classes", st.integers(1, 10)),
                        in_channels=f("in_channels", st.integers(1, 3)))


MODERN_DRAW: dict[type[ArchConfig], Callable[[Any, Fields, Any], ArchConfig]] = {
    SwinConfig: _swin, EfficientNetConfig: _efficientnet, MobileNetV2Config: _mobilenet_v2,
    MobileNetV3Config: _mobilenet_v3, RegNetConfig: _regnet,
}
