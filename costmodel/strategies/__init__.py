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
from collections.abc import Callable
from typing import Any

import sympy
from hypothesis import assume, reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from costmodel.core.errors import InvalidConfigError
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig
from costmodel.models.base import ArchConfig
from costmodel.models.efficientnet import EfficientNetConfig
from costmodel.models.generative import ARTransformerConfig, ConvVAEConfig, PixelCNNConfig, ViTVAEConfig
from costmodel.models.mobilenet import MobileNetV2Config, MobileNetV3Config
from costmodel.models.regnet import RegNetConfig
from costmodel.models.swin import SwinConfig
from costmodel.strategies.draws import DEFAULT_IMAGE_SIZE, DRAW, Fields, side_range
from costmodel.strategies.modern import MODERN_DRAW

_DRAW: dict[type[ArchConfig], Callable[[Any, Fields, Any], ArchConfig]] = {**DRAW, **MODERN_DRAW}
_i = st.integers


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
    side_range(image_size)
    params_bound = _bound("max_params", max_params, "param")
    flops_bound = _bound("max_forward_flops", max_forward_flops, "flop")
    draw_config = _DRAW[cls]

    @st.composite
    def strategy(draw: Any) -> ArchConfig:
        try:
            config = draw_config(draw, Fields(draw, fields), image_size)
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
#: needs one draw function in ``DRAW`` (:mod:`.draws`) or ``MODERN_DRAW`` (:mod:`.modern`);
#: ``tests/test_strategies.py`` fails for a type of
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
swin_configs = STRATEGIES[SwinConfig]
efficientnet_configs = STRATEGIES[EfficientNetConfig]
mobilenet_v2_configs = STRATEGIES[MobileNetV2Config]
mobilenet_v3_configs = STRATEGIES[MobileNetV3Config]
regnet_configs = STRATEGIES[RegNetConfig]


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
           "conv_vae_configs", "vit_vae_configs", "swin_configs", "efficientnet_configs", "mobilenet_v2_configs",
           "mobilenet_v3_configs", "regnet_configs"]

# Imported before Hypothesis was (so its entry point found this module half-built): register now.
register()
