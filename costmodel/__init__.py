"""costmodel: exact closed-form costs of ConvNets and Vision Transformers.

``import costmodel`` is light: it imports neither torch nor matplotlib, nor even SymPy
or pint; the public names below are loaded on first use (PEP 562). The cost builder is
``costmodel.models.cost`` (``costmodel.cost`` is the module of the ``Cost`` type).

>>> import costmodel
>>> from costmodel.models import cost
>>> cost(costmodel.get_preset("resnet50"), batch=1).evaluate().params
<Quantity(25557032, 'param')>
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Convention": "costmodel.conventions",
    "FLOP_COUNTER": "costmodel.conventions",
    "FULL": "costmodel.conventions",
    "Cost": "costmodel.cost",
    "CostValue": "costmodel.cost",
    "CostModelError": "costmodel.errors",
    "InvalidConfigError": "costmodel.errors",
    "UnknownPresetError": "costmodel.errors",
    "ureg": "costmodel.units",
    "ViTConfig": "costmodel.models",
    "ResNetConfig": "costmodel.models",
    "ConvNeXtConfig": "costmodel.models",
    "ConvNetConfig": "costmodel.models",
    "get_preset": "costmodel.models.presets",
    "list_presets": "costmodel.models.presets",
    "compare": "costmodel.compare",
    "sweep": "costmodel.sweep",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [*_EXPORTS, "__version__"]
