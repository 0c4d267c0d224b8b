"""The draw functions of the first eight config types (ViT, ResNet, ConvNeXt, ConvNet and the
generative models) and the helpers every draw function shares (:class:`Fields`, :func:`image`).

A draw function takes Hypothesis' ``draw``, the field overrides and the allowed image sides, and
returns a valid config; :mod:`costmodel.strategies` wraps it into the public strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.base import ArchConfig
from costmodel.models.generative import ARTransformerConfig, ConvVAEConfig, PixelCNNConfig, ViTVAEConfig
from costmodel.models.vit import ATTENTION_VARIANTS

#: default range of image sides, per strategy
DEFAULT_IMAGE_SIZE = (1, 32)
_i = st.integers


class Fields:
    """The field overrides of one draw: a value fixes a field, a strategy draws it."""

    def __init__(self, draw: Any, fields: Mapping[str, Any]) -> None:
        self.draw, self.fields = draw, fields

    def __call__(self, name: str, default: SearchStrategy[Any], then: Callable[[Any], Any] | None = None) -> Any:
        """The field's value: fixed, drawn from the given strategy, or drawn from ``default`` (then ``then(it)``)."""
        if name not in self.fields:
            value = self.draw(default, label=name)
            return value if then is None else then(value)
        value = self.fields[name]
        return self.draw(value, label=name) if isinstance(value, SearchStrategy) else value

    def fixed(self, name: str) -> Any:
        """The fixed value of ``name`` (None if it is drawn)."""
        value = self.fields.get(name)
        return None if isinstance(value, SearchStrategy) else value


def side_range(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        lo = hi = image_size
    elif isinstance(image_size, tuple) and len(image_size) == 2 and all(isinstance(v, int) for v in image_size):
        lo, hi = image_size
    else:
        raise InvalidArgument(f"image_size={image_size!r}: give one side (an int) or a (lowest, highest) range")
    if not 1 <= lo <= hi:
        raise InvalidArgument(f"image_size={image_size!r}: need 1 <= lowest <= highest")
    return lo, hi


def image(draw: Any, image_size: Any, *, multiple: int = 1, at_least: int = 1,
           fits: Callable[[int], bool] | None = None) -> tuple[int, int]:
    """A ``(height, width)`` with sides in the range, multiples of ``multiple``, at least ``at_least``."""
    lo, hi = side_range(image_size)
    lo = max(lo, at_least)
    if fits is not None:  # the smallest side the network accepts (fits is monotone in the side)
        lo = next((s for s in range(lo, hi + 1) if fits(s)), hi + 1)
    first, last = -(-lo // multiple), hi // multiple
    if first > last:
        reject()
    side = _i(first, last)
    height = multiple * draw(side, label="height")
    width = height if draw(st.booleans(), label="square") else multiple * draw(side, label="width")
    return (height, width)


def divisor_of(width: Any, most: int) -> SearchStrategy[int]:
    return st.sampled_from(tuple(k for k in range(1, min(width, most) + 1) if width % k == 0))


def _heads_and_width(f: Fields, most_heads: int = 4, most_head_dim: int = 8) -> tuple[int, int]:
    width = f.fixed("width")
    if width is not None:
        return f("heads", divisor_of(width, most_heads)), width
    heads = f("heads", _i(1, most_heads))
    return heads, f("width", _i(1, most_head_dim), lambda k: heads * k)


def _ratio(f: Fields, width: int) -> Any:
    """``mlp_ratio`` with ``mlp_ratio * width`` an integer: hidden / width for a hidden width up to 4 width."""
    return f("mlp_ratio", _i(1, 4 * width), lambda hidden: Fraction(hidden, width))


def _has_multiple(image_size: Any, k: int) -> bool:
    lo, hi = side_range(image_size)
    return -(-lo // k) <= hi // k


def _patch(f: Fields, image_size: Any, most: int) -> Any:
    """A patch size with a multiple among the allowed sides."""
    return f("patch_size", st.sampled_from(tuple(p for p in range(1, most + 1) if _has_multiple(image_size, p))
                                           or (1,)))


def _odd(most: int) -> SearchStrategy[int]:
    return st.sampled_from(tuple(range(1, most + 1, 2)))


# -- one draw function per config type ---------------------------------------------------------
def _vit(draw: Any, f: Fields, image_size: Any) -> ViTConfig:
    heads, width = _heads_and_width(f)
    patch = _patch(f, image_size, 8)
    return ViTConfig(image_size=image(draw, image_size, multiple=patch), patch_size=patch, width=width, heads=heads,
                     depth=f("depth", _i(1, 3)), mlp_ratio=_ratio(f, width), num_classes=f("num_classes", _i(1, 10)),
                     in_channels=f("in_channels", _i(1, 3)),
                     attention=f("attention", st.sampled_from(ATTENTION_VARIANTS)),
                     linformer_rank=f("linformer_rank", _i(1, 8)), performer_features=f("performer_features", _i(1, 8)),
                     position_embedding=f("position_embedding", st.booleans()),
                     fused_attention=f("fused_attention", st.booleans()))


def _convnet_fits(kernel: int, stride: int, padding: int, dilation: int, pool: str,
                  layers: int) -> Callable[[int], bool]:
    """Whether a side leaves at least one pixel after every conv and pool (PyTorch's output size)."""
    def fits(side: int) -> bool:
        for _ in range(layers):
            side = (side + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
            if pool != "none":
                side = (side - 2) // 2 + 1
            if side < 1:
                return False
        return True
    return fits


def _convnet(draw: Any, f: Fields, image_size: Any) -> ConvNetConfig:
    groups = f("groups", _i(1, 3))
    channels = f("channels", st.lists(_i(1, 3), min_size=1, max_size=3), lambda ks: tuple(groups * k for k in ks))
    kernel, stride = f("kernel_size", _i(1, 5)), f("stride", _i(1, 2))
    padding, dilation = f("padding", _i(0, 2)), f("dilation", _i(1, 2))
    pool = f("pool", st.sampled_from(("max", "avg", "none")))
    layers = len(channels)
    hi = side_range(image_size)[1]
    if f.fixed("channels") is None:  # keep the layers the largest image can afford
        layers = max([n for n in range(1, layers + 1) if _convnet_fits(kernel, stride, padding, dilation, pool, n)(hi)],
                     default=1)
        channels = channels[:layers]
    fits = _convnet_fits(kernel, stride, padding, dilation, pool, layers)
    return ConvNetConfig(image_size=image(draw, image_size, fits=fits), in_channels=f("in_channels", _i(1, 3)),
                         channels=channels, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, bias=f("bias", st.booleans()),
                         norm=f("norm", st.sampled_from(("batch", "none"))),
                         activation=f("activation", st.sampled_from(("relu", "gelu"))), pool=pool,
                         num_classes=f("num_classes", _i(1, 10)))


def _resnet(draw: Any, f: Fields, image_size: Any) -> ResNetConfig:
    return ResNetConfig(block=f("block", st.sampled_from(("basic", "bottleneck"))),
                        layers=f("layers", st.lists(_i(1, 2), min_size=1, max_size=4), tuple),
                        width=f("width", _i(1, 8)), num_classes=f("num_classes", _i(1, 10)),
                        in_channels=f("in_channels", _i(1, 3)), image_size=image(draw, image_size))


def _most_stages(image_size: Any, first: int, most: int) -> int:
    """Stages whose smallest image (``first * 2**(stages - 1)``) fits the largest side allowed."""
    hi = side_range(image_size)[1]
    return max(1, min(most, int(math.log2(max(1, hi // first))) + 1)) if hi >= first else 1


def _convnext(draw: Any, f: Fields, image_size: Any) -> ConvNeXtConfig:
    if "dims" in f.fields:  # fixed or drawn by the caller: the stages follow
        dims = tuple(f("dims", st.nothing()))
        stages = len(dims)
    else:
        stages = draw(_i(1, _most_stages(image_size, 4, 4)), label="stages")
        dims = f("dims", st.lists(_i(1, 16), min_size=stages, max_size=stages), tuple)
    config = ConvNeXtConfig(dims=dims, depths=f("depths", st.lists(_i(1, 2), min_size=stages, max_size=stages), tuple),
                            kernel_size=f("kernel_size", _odd(7)), mlp_ratio=f("mlp_ratio", _i(1, 4)),
                            num_classes=f("num_classes", _i(1, 10)), in_channels=f("in_channels", _i(1, 3)),
                            image_size=image(draw, image_size, at_least=4 * 2 ** (stages - 1)))
    return config


def _pixelcnn(draw: Any, f: Fields, image_size: Any) -> PixelCNNConfig:
    return PixelCNNConfig(image_size=image(draw, image_size), in_channels=f("in_channels", _i(1, 3)),
                          width=f("width", _i(1, 16)), depth=f("depth", _i(0, 3)),
                          first_kernel=f("first_kernel", _odd(7)),
                          kernel_size=f("kernel_size", _odd(5)), levels=f("levels", _i(2, 256)))


def _ar_transformer(draw: Any, f: Fields, image_size: Any) -> ARTransformerConfig:
    heads, width = _heads_and_width(f)
    return ARTransformerConfig(image_size=image(draw, image_size), in_channels=f("in_channels", _i(1, 3)),
                               vocab_size=f("vocab_size", _i(1, 64)), width=width, depth=f("depth", _i(1, 3)),
                               heads=heads, mlp_ratio=_ratio(f, width))


def _conv_vae(draw: Any, f: Fields, image_size: Any) -> ConvVAEConfig:
    if "channels" in f.fields:  # fixed or drawn by the caller: the stages follow
        channels = tuple(f("channels", st.nothing()))
    else:
        fitting = tuple(n for n in range(1, 4) if _has_multiple(image_size, 2**n)) or (1,)
        stages = draw(st.sampled_from(fitting), label="stages")
        channels = tuple(draw(st.lists(_i(1, 8), min_size=stages, max_size=stages), label="channels"))
    return ConvVAEConfig(image_size=image(draw, image_size, multiple=2 ** len(channels)),
                         in_channels=f("in_channels", _i(1, 3)), channels=channels,
                         latent_dim=f("latent_dim", _i(1, 32)))


def _vit_vae(draw: Any, f: Fields, image_size: Any) -> ViTVAEConfig:
    heads, width = _heads_and_width(f)
    patch = _patch(f, image_size, 4)
    return ViTVAEConfig(image_size=image(draw, image_size, multiple=patch), in_channels=f("in_channels", _i(1, 3)),
                        patch_size=patch, width=width, depth=f("depth", _i(1, 2)),
                        decoder_depth=f("decoder_depth", _i(1, 2)), heads=heads, mlp_ratio=_ratio(f, width),
                        latent_channels=f("latent_channels", _i(1, 4)))


DRAW: dict[type[ArchConfig], Callable[[Any, Fields, Any], ArchConfig]] = {
    ViTConfig: _vit, ResNetConfig: _resnet, ConvNeXtConfig: _convnext, ConvNetConfig: _convnet,
    PixelCNNConfig: _pixelcnn, ARTransformerConfig: _ar_transformer, ConvVAEConfig: _conv_vae, ViTVAEConfig: _vit_vae,
}


