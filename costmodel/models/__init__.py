"""Architecture configs and their exact costs.

``cost(config, batch=B)`` dispatches on the config type to the family's builder. Each
family module defines its config class and a function
``cost(config, *, batch, convention, divisible) -> Cost``.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B
from costmodel.core.validity import collecting
from costmodel.cost.value import Cost
from costmodel.models import convnet, convnext, efficientnet, mobilenet, regnet, resnet, swin, vit
from costmodel.models.base import ArchConfig
from costmodel.models.convnet import ConvNetConfig
from costmodel.models.convnext import ConvNeXtConfig
from costmodel.models.efficientnet import EfficientNetConfig
from costmodel.models.generative import MODULES as _GENERATIVE_MODULES
from costmodel.models.mobilenet import MobileNetV2Config, MobileNetV3Config
from costmodel.models.regnet import RegNetConfig
from costmodel.models.resnet import ResNetConfig
from costmodel.models.swin import SwinConfig
from costmodel.models.vit import ViTConfig

_CLASSES: tuple[type[ArchConfig], ...] = (ConvNetConfig, ResNetConfig, ConvNeXtConfig, ViTConfig, SwinConfig,
                                          EfficientNetConfig, MobileNetV2Config, MobileNetV3Config, RegNetConfig,
                                          *_GENERATIVE_MODULES)
FAMILIES: dict[str, type[ArchConfig]] = {cls.family: cls for cls in _CLASSES}

_FAMILY_MODULES = {
    ConvNetConfig: convnet,
    ResNetConfig: resnet,
    ConvNeXtConfig: convnext,
    ViTConfig: vit,
    SwinConfig: swin,
    EfficientNetConfig: efficientnet,
    MobileNetV2Config: mobilenet,
    MobileNetV3Config: mobilenet,
    RegNetConfig: regnet,
    **_GENERATIVE_MODULES,
}


def cost(config: ArchConfig, *, batch: Any = B, convention: str | Convention = FLOP_COUNTER,
         divisible: bool = False, precision: Any = None) -> Cost:
    """Exact cost of one forward and backward pass of ``config`` on ``batch`` images.

    Parameters
    ----------
    config : ArchConfig
        A ``ViTConfig``, ``ResNetConfig``, ``ConvNeXtConfig``, ``ConvNetConfig``, ``SwinConfig``,
        ``EfficientNetConfig``, ``MobileNetV2Config``, ``MobileNetV3Config`` or ``RegNetConfig``.
    batch : int or SymPy expression
        Images per step; the symbol ``B`` by default.
    convention : Convention or its name
        ``"flop_counter"`` (default, PyTorch's FlopCounterMode) or ``"full"``.
    divisible : bool
        For symbolic image sizes: assume every stride divides the size it meets, giving
        floor-free polynomials (``Cost.is_polynomial`` tells which you got).
    precision : Precision or its name, optional
        Attach the memory trace of that precision (``"float32"``, ``"bfloat16"``, ...) and
        count the traffic in its bytes (the ViT, ResNet, ConvNeXt and ConvNet families).
    """
    from costmodel.core.checks import as_size

    model_cost = getattr(config, "model_cost", None)
    if callable(model_cost):  # a traced model (costmodel.tracing) stands for a config
        traced: Cost = model_cost(batch=as_size("batch", batch), convention=convention, divisible=divisible,
                                         precision=precision)
        return traced
    family = _FAMILY_MODULES.get(type(config))
    if family is None:
        known = ", ".join(c.__name__ for c in _FAMILY_MODULES)
        raise InvalidConfigError("config", type(config).__name__, f"is not a model config (known: {known})")
    if not isinstance(convention, (str, Convention)):
        raise InvalidConfigError("convention", convention, "must be a convention name: flop_counter or full")
    if not isinstance(divisible, bool):
        raise InvalidConfigError("divisible", divisible, "must be true or false")
    extra: dict[str, Any] = {}
    if precision is not None:
        from costmodel.cost.precision import Precision, get_precision

        if not isinstance(precision, (str, Precision)):
            raise InvalidConfigError("precision", precision, "must be a dtype name: float32, bfloat16 or float16")
        if type(config) in _GENERATIVE_MODULES:
            raise InvalidConfigError("precision", precision, f"the {config.family} family has no memory model "
                                                             f"(vit, resnet, convnext and convnet have)")
        extra["precision"] = get_precision(precision)
    with collecting() as found:  # the rules of symbolic sizes the builders could not decide
        batch = as_size("batch", batch)
        total: Cost = family.cost(config, batch=batch, convention=get_convention(convention), divisible=divisible,
                                  **extra)
    return total.with_conditions(*config.conditions(), *found)


__all__ = ["cost", "FAMILIES", "ArchConfig", "ConvNetConfig", "ResNetConfig", "ConvNeXtConfig", "ViTConfig",
           "SwinConfig", "EfficientNetConfig", "MobileNetV2Config", "MobileNetV3Config", "RegNetConfig"]
