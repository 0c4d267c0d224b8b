"""Hypothesis strategies for costmodel's configs and for the symbols of a ``Cost``.

Install with ``pip install 'costmodel[testing]'``. Hypothesis is imported here only (``import
costmodel`` never imports it). Every config type has one strategy (:data:`STRATEGIES`) that
draws only *valid* configs: the patch divides the image, the heads divide the width, the
stage lists have the right length, ``mlp_ratio * width`` is an integer, the image is large
enough for every stride of the network (so :func:`costmodel.models.cost` and
:func:`costmodel.validation.build` both accept the draw). The defaults keep the models small
enough to run on a CPU in milliseconds; bounds narrow them further:

* ``image_size``: one side (an ``int``) or a ``(lowest, highest)`` range of sides;
* ``max_params``, ``max_forward_flops``: a number, a string (``"2 MFLOP"``) or a pint
  quantity; draws over the bound are rejected (this costs one exact count per draw);
* any config field by name: a value fixes it, a strategy draws it (``heads=2``,
  ``attention=st.sampled_from(["full", "causal"])``). Fields that the rules tie together are
  drawn around the fixed ones (a fixed ``width`` gets its heads among its divisors).

After installation ``st.from_type(ViTConfig)`` works for every config type, without importing
costmodel first: the package's ``hypothesis`` entry point
(:mod:`costmodel.testing.hypothesis_plugin`) calls :func:`register`.

Examples
--------
>>> from hypothesis import given, settings
>>> from costmodel.strategies import configs
>>> from costmodel.models import ViTConfig, cost
>>> @settings(max_examples=5, database=None)
... @given(configs(ViTConfig, image_size=(8, 16), max_params=20_000))
... def test_params_positive(config):
...     assert 0 < cost(config, batch=1).params <= 20_000
>>> test_params_positive()
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import sympy
from hypothesis import assume, reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from costmodel.core.errors import InvalidConfigError
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.base import ArchConfig
from costmodel.models.generative import ARTransformerConfig, ConvVAEConfig, PixelCNNConfig, ViTVAEConfig
from costmodel.models.vit import ATTENTION_VARIANTS

#: default range of image sides, per strategy
DEFAULT_IMAGE_SIZE = (1, 32)
_i = st.integers


class _Fields:
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


def _side_range(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        lo = hi = image_size
    elif isinstance(image_size, tuple) and len(image_size) == 2 and all(isinstance(v, int) for v in image_size):
        lo, hi = image_size
    else:
        raise InvalidArgument(f"image_size={image_size!r}: give one side (an int) or a (lowest, highest) range")
    if not 1 <= lo <= hi:
        raise InvalidArgument(f"image_size={image_size!r}: need 1 <= lowest <= highest")
    return lo, hi


def _image(draw: Any, image_size: Any, *, multiple: int = 1, at_least: int = 1,
           fits: Callable[[int], bool] | None = None) -> tuple[int, int]:
    """A ``(height, width)`` with sides in the range, multiples of ``multiple``, at least ``at_least``."""
    lo, hi = _side_range(image_size)
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


def _divisor_of(width: Any, most: int) -> SearchStrategy[int]:
    return st.sampled_from(tuple(k for k in range(1, min(width, most) + 1) if width % k == 0))


def _heads_and_width(f: _Fields, most_heads: int = 4, most_head_dim: int = 8) -> tuple[int, int]:
    width = f.fixed("width")
    if width is not None:
        return f("heads", _divisor_of(width, most_heads)), width
    heads = f("heads", _i(1, most_heads))
    return heads, f("width", _i(1, most_head_dim), lambda k: heads * k)


def _ratio(f: _Fields, width: int) -> Any:
    """``mlp_ratio`` with ``mlp_ratio * width`` an integer: hidden / width for a hidden width up to 4 width."""
    return f("mlp_ratio", _i(1, 4 * width), lambda hidden: Fraction(hidden, width))


def _has_multiple(image_size: Any, k: int) -> bool:
    lo, hi = _side_range(image_size)
    return -(-lo // k) <= hi // k


def _patch(f: _Fields, image_size: Any, most: int) -> Any:
    """A patch size with a multiple among the allowed sides."""
    return f("patch_size", st.sampled_from(tuple(p for p in range(1, most + 1) if _has_multiple(image_size, p))
                                           or (1,)))


def _odd(most: int) -> SearchStrategy[int]:
    return st.sampled_from(tuple(range(1, most + 1, 2)))


# -- one draw function per config type ---------------------------------------------------------
def _vit(draw: Any, f: _Fields, image_size: Any) -> ViTConfig:
    heads, width = _heads_and_width(f)
    patch = _patch(f, image_size, 8)
    return ViTConfig(image_size=_image(draw, image_size, multiple=patch), patch_size=patch, width=width, heads=heads,
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


def _convnet(draw: Any, f: _Fields, image_size: Any) -> ConvNetConfig:
    groups = f("groups", _i(1, 3))
    channels = f("channels", st.lists(_i(1, 3), min_size=1, max_size=3), lambda ks: tuple(groups * k for k in ks))
    kernel, stride = f("kernel_size", _i(1, 5)), f("stride", _i(1, 2))
    padding, dilation = f("padding", _i(0, 2)), f("dilation", _i(1, 2))
    pool = f("pool", st.sampled_from(("max", "avg", "none")))
    layers = len(channels)
    hi = _side_range(image_size)[1]
    if f.fixed("channels") is None:  # keep the layers the largest image can afford
        layers = max([n for n in range(1, layers + 1) if _convnet_fits(kernel, stride, padding, dilation, pool, n)(hi)],
                     default=1)
        channels = channels[:layers]
    fits = _convnet_fits(kernel, stride, padding, dilation, pool, layers)
    return ConvNetConfig(image_size=_image(draw, image_size, fits=fits), in_channels=f("in_channels", _i(1, 3)),
                         channels=channels, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, bias=f("bias", st.booleans()),
                         norm=f("norm", st.sampled_from(("batch", "none"))),
                         activation=f("activation", st.sampled_from(("relu", "gelu"))), pool=pool,
                         num_classes=f("num_classes", _i(1, 10)))


def _resnet(draw: Any, f: _Fields, image_size: Any) -> ResNetConfig:
    return ResNetConfig(block=f("block", st.sampled_from(("basic", "bottleneck"))),
                        layers=f("layers", st.lists(_i(1, 2), min_size=1, max_size=4), tuple),
                        width=f("width", _i(1, 8)), num_classes=f("num_classes", _i(1, 10)),
                        in_channels=f("in_channels", _i(1, 3)), image_size=_image(draw, image_size))


def _most_stages(image_size: Any, first: int, most: int) -> int:
    """Stages whose smallest image (``first * 2**(stages - 1)``) fits the largest side allowed."""
    hi = _side_range(image_size)[1]
    return max(1, min(most, int(math.log2(max(1, hi // first))) + 1)) if hi >= first else 1


def _convnext(draw: Any, f: _Fields, image_size: Any) -> ConvNeXtConfig:
    if "dims" in f.fields:  # fixed or drawn by the caller: the stages follow
        dims = tuple(f("dims", st.nothing()))
        stages = len(dims)
    else:
        stages = draw(_i(1, _most_stages(image_size, 4, 4)), label="stages")
        dims = f("dims", st.lists(_i(1, 16), min_size=stages, max_size=stages), tuple)
    config = ConvNeXtConfig(dims=dims, depths=f("depths", st.lists(_i(1, 2), min_size=stages, max_size=stages), tuple),
                            kernel_size=f("kernel_size", _odd(7)), mlp_ratio=f("mlp_ratio", _i(1, 4)),
                            num_classes=f("num_classes", _i(1, 10)), in_channels=f("in_channels", _i(1, 3)),
                            image_size=_image(draw, image_size, at_least=4 * 2 ** (stages - 1)))
    return config


def _pixelcnn(draw: Any, f: _Fields, image_size: Any) -> PixelCNNConfig:
    return PixelCNNConfig(image_size=_image(draw, image_size), in_channels=f("in_channels", _i(1, 3)),
                          width=f("width", _i(1, 16)), depth=f("depth", _i(0, 3)),
                          first_kernel=f("first_kernel", _odd(7)),
                          kernel_size=f("kernel_size", _odd(5)), levels=f("levels", _i(2, 256)))


def _ar_transformer(draw: Any, f: _Fields, image_size: Any) -> ARTransformerConfig:
    heads, width = _heads_and_width(f)
    return ARTransformerConfig(image_size=_image(draw, image_size), in_channels=f("in_channels", _i(1, 3)),
                               vocab_size=f("vocab_size", _i(1, 64)), width=width, depth=f("depth", _i(1, 3)),
                               heads=heads, mlp_ratio=_ratio(f, width))


def _conv_vae(draw: Any, f: _Fields, image_size: Any) -> ConvVAEConfig:
    if "channels" in f.fields:  # fixed or drawn by the caller: the stages follow
        channels = tuple(f("channels", st.nothing()))
    else:
        fitting = tuple(n for n in range(1, 4) if _has_multiple(image_size, 2**n)) or (1,)
        stages = draw(st.sampled_from(fitting), label="stages")
        channels = tuple(draw(st.lists(_i(1, 8), min_size=stages, max_size=stages), label="channels"))
    return ConvVAEConfig(image_size=_image(draw, image_size, multiple=2 ** len(channels)),
                         in_channels=f("in_channels", _i(1, 3)), channels=channels,
                         latent_dim=f("latent_dim", _i(1, 32)))


def _vit_vae(draw: Any, f: _Fields, image_size: Any) -> ViTVAEConfig:
    heads, width = _heads_and_width(f)
    patch = _patch(f, image_size, 4)
    return ViTVAEConfig(image_size=_image(draw, image_size, multiple=patch), in_channels=f("in_channels", _i(1, 3)),
                        patch_size=patch, width=width, depth=f("depth", _i(1, 2)),
                        decoder_depth=f("decoder_depth", _i(1, 2)), heads=heads, mlp_ratio=_ratio(f, width),
                        latent_channels=f("latent_channels", _i(1, 4)))


_DRAW: dict[type[ArchConfig], Callable[[Any, _Fields, Any], ArchConfig]] = {
    ViTConfig: _vit, ResNetConfig: _resnet, ConvNeXtConfig: _convnext, ConvNetConfig: _convnet,
    PixelCNNConfig: _pixelcnn, ARTransformerConfig: _ar_transformer, ConvVAEConfig: _conv_vae, ViTVAEConfig: _vit_vae,
}


# -- bounds ----------------------------------------------------------------------------------------
def _bound(name: str, value: Any, unit: str) -> float | None:
    """A bound as a plain number of ``unit`` (a number, a string with a unit, or a pint quantity)."""
    if value is None:
        return None
    from costmodel.core.units import ureg

    try:
        quantity = ureg.Quantity(value) if isinstance(value, str) else value
        number = quantity.to(unit).magnitude if hasattr(quantity, "to") else quantity
        number = float(number)
    except Exception as exc:  # pint's errors, a bad string, a wrong dimension
        raise InvalidArgument(f"{name}={value!r}: expected a number of {unit}s or a quantity in {unit}") from exc
    if not number > 0:
        raise InvalidArgument(f"{name}={value!r}: must be positive")
    return number


def _within(config: ArchConfig, max_params: float | None, max_forward_flops: float | None) -> bool:
    from costmodel.models import cost

    c = cost(config, batch=1)
    return (max_params is None or c.params <= max_params) and (
        max_forward_flops is None or c.forward_flops <= max_forward_flops)


# -- the public strategies --------------------------------------------------------------------------
def configs(cls: type[ArchConfig], *, image_size: Any = DEFAULT_IMAGE_SIZE, max_params: Any = None,
            max_forward_flops: Any = None, **fields: Any) -> SearchStrategy[Any]:
    """Valid configs of ``cls`` (see the module docstring for the bounds and ``fields``).

    ``max_forward_flops`` bounds the forward pass of one image (batch 1).
    """
    if cls not in _DRAW:
        known = ", ".join(c.__name__ for c in _DRAW)
        raise InvalidArgument(f"no strategy for {getattr(cls, '__name__', cls)!r} (strategies exist for: {known})")
    unknown = sorted(set(fields) - set(cls.field_names()))
    if unknown:
        raise InvalidArgument(f"{cls.__name__} has no field {', '.join(unknown)} "
                              f"(fields: {', '.join(cls.field_names())})")
    _side_range(image_size)
    params_bound = _bound("max_params", max_params, "param")
    flops_bound = _bound("max_forward_flops", max_forward_flops, "flop")
    draw_config = _DRAW[cls]

    @st.composite
    def strategy(draw: Any) -> ArchConfig:
        try:
            config = draw_config(draw, _Fields(draw, fields), image_size)
        except InvalidConfigError:  # fixed fields that break a rule with the drawn ones
            reject()
        if params_bound is not None or flops_bound is not None:
            assume(_within(config, params_bound, flops_bound))
        return config

    return strategy()


def _family_strategy(cls: type[ArchConfig]) -> Callable[..., SearchStrategy[Any]]:
    def family(**kwargs: Any) -> SearchStrategy[Any]:
        return configs(cls, **kwargs)

    family.__name__ = family.__qualname__ = f"{cls.family}_configs"
    family.__doc__ = f"Valid ``{cls.__name__}`` values: ``configs({cls.__name__}, **kwargs)``."
    return family


#: config type -> its strategy function (keyword bounds as :func:`configs`). A new config type
#: needs one draw function in ``_DRAW``; ``tests/test_strategies.py`` fails for a type of
#: ``costmodel.models.FAMILIES`` that has none.
STRATEGIES: dict[type[ArchConfig], Callable[..., SearchStrategy[Any]]] = {cls: _family_strategy(cls) for cls in _DRAW}

vit_configs = STRATEGIES[ViTConfig]
resnet_configs = STRATEGIES[ResNetConfig]
convnext_configs = STRATEGIES[ConvNeXtConfig]
convnet_configs = STRATEGIES[ConvNetConfig]
pixelcnn_configs = STRATEGIES[PixelCNNConfig]
ar_transformer_configs = STRATEGIES[ARTransformerConfig]
conv_vae_configs = STRATEGIES[ConvVAEConfig]
vit_vae_configs = STRATEGIES[ViTVAEConfig]


def any_config(**kwargs: Any) -> SearchStrategy[Any]:
    """A config of any type (the same bounds for every family)."""
    return st.one_of([strategy(**kwargs) for strategy in STRATEGIES.values()])


def _mod_zero(relation: Any) -> tuple[sympy.Symbol, int] | None:
    """``(s, k)`` when ``relation`` is ``Eq(Mod(s, k), 0)`` for a symbol ``s`` and an integer ``k``."""
    if isinstance(relation, sympy.Eq) and relation.rhs == 0 and isinstance(relation.lhs, sympy.Mod):
        base, k = relation.lhs.args
        if isinstance(base, sympy.Symbol) and k.is_Integer and k > 0:
            return base, int(k)
    return None


def points(expr: Any, *, low: int = 1, high: int = 64, **symbols: Any) -> SearchStrategy[dict[Any, int]]:
    """Points ``{symbol: positive integer}`` in the symbol space of a ``Cost`` or SymPy expression.

    Each free symbol gets an integer in ``[low, high]`` unless ``symbols`` names it (a value or
    a strategy). The ``Cost``'s conditions (:mod:`costmodel.core.validity`) are obeyed: a
    divisibility rule ``Eq(Mod(s, k), 0)`` draws multiples of ``k``; a point breaking any other
    rule is rejected.

    >>> from costmodel.core.symbols import B, d
    >>> from hypothesis import find
    >>> find(points(B * d**2, low=2, high=9), lambda p: True) == {B: 2, d: 2}
    True
    """
    conditions = tuple(getattr(expr, "conditions", ()))
    free: set[Any] = set(getattr(expr, "free_symbols", set()))
    if hasattr(expr, "_all_symbols"):
        free = expr._all_symbols()
    for c in conditions:
        free = free | c.symbols
    ordered = sorted(free, key=str)
    names = {str(s) for s in ordered}
    unknown = sorted(set(symbols) - names)
    if unknown:
        raise InvalidArgument(f"no symbol {', '.join(unknown)} in the expression (it has: {', '.join(sorted(names))})")
    multiples: dict[Any, int] = {}
    for c in conditions:
        if (found := _mod_zero(c.relation)) is not None:
            multiples[found[0]] = math.lcm(multiples.get(found[0], 1), found[1])

    def one(s: Any) -> SearchStrategy[int]:
        given = symbols.get(str(s))
        if given is not None:
            return given if isinstance(given, SearchStrategy) else st.just(given)
        k = multiples.get(s, 1)
        if -(-low // k) > high // k:
            raise InvalidArgument(f"no multiple of {k} for {s} in [{low}, {high}]")
        return _i(-(-low // k), high // k).map(lambda m: m * k)

    @st.composite
    def strategy(draw: Any) -> dict[Any, int]:
        point = {s: draw(one(s), label=str(s)) for s in ordered}
        assume(all(c.holds(point) is not False for c in conditions))
        return point

    return strategy()


def register() -> None:
    """Register every config strategy with Hypothesis, so that ``st.from_type(ViTConfig)`` works.

    ``st.from_type(ArchConfig)`` draws a config of any type.

    Called by Hypothesis at import through the ``hypothesis`` entry point of this package.
    """
    for cls, strategy in STRATEGIES.items():
        st.register_type_strategy(cls, strategy())
    st.register_type_strategy(ArchConfig, any_config())


__all__ = ["configs", "points", "any_config", "register", "STRATEGIES", "DEFAULT_IMAGE_SIZE", "vit_configs",
           "resnet_configs", "convnext_configs", "convnet_configs", "pixelcnn_configs", "ar_transformer_configs",
           "conv_vae_configs", "vit_vae_configs"]

# Imported before Hypothesis was (so its entry point found this module half-built): register now.
register()
