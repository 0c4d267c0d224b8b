"""costmodel: exact closed-form costs of ConvNets and Vision Transformers.

``import costmodel`` is light: it imports neither torch nor matplotlib, nor even SymPy
or pint; the public names below are loaded on first use (PEP 562).

Where things live (each subpackage imports only the ones above it in this list, and
re-exports its own public names lazily, so ``from costmodel.memory import largest_batch``
works as well as the full module path):

==========================  ==============================================================
``costmodel.core``          units, canonical symbols, errors, input checks, conventions
``costmodel.display``       numbers with units, tables as text, HTML and LaTeX
``costmodel.cost``          ``Cost`` and its memory ``Trace``, ``Traffic`` and ``Precision``
``costmodel.ops``           one pure function per operator: FLOPs, bytes moved, saved tensors
``costmodel.models``        configs and ``cost(config)`` per family; presets
``costmodel.tracing``       any PyTorch module traced with symbolic shapes (``trace_module``)
``costmodel.memory``        training / inference memory; largest batch or resolution
``costmodel.hardware``      devices, profiles, roofline time, calibration, plans, multi-GPU
``costmodel.analysis``      comparisons, crossovers, asymptotics, sweeps, metrics
``costmodel.plot``          matplotlib figures
``costmodel.article``       the article's formulas F1-F21 and the claims page
``costmodel.validation``    real PyTorch modules and the predicted-vs-measured harness
``costmodel.cli``           the ``costmodel`` command
``costmodel.testing``       test helpers: ``assert_counts_match``, cost budgets, properties
``costmodel.strategies``    Hypothesis strategies per config type (``costmodel[testing]``)
==========================  ==============================================================

The cost builder is ``costmodel.models.cost`` (``costmodel.cost`` is the subpackage of the
``Cost`` type).

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
    "Convention": "costmodel.core.conventions",
    "FLOP_COUNTER": "costmodel.core.conventions",
    "FULL": "costmodel.core.conventions",
    "Cost": "costmodel.cost.value",
    "CostValue": "costmodel.cost.value",
    "CostModelError": "costmodel.core.errors",
    "InvalidConfigError": "costmodel.core.errors",
    "UnknownPresetError": "costmodel.core.errors",
    "ureg": "costmodel.core.units",
    "ViTConfig": "costmodel.models",
    "ResNetConfig": "costmodel.models",
    "ConvNeXtConfig": "costmodel.models",
    "ConvNetConfig": "costmodel.models",
    "SwinConfig": "costmodel.models",
    "EfficientNetConfig": "costmodel.models",
    "MobileNetV2Config": "costmodel.models",
    "MobileNetV3Config": "costmodel.models",
    "RegNetConfig": "costmodel.models",
    "get_preset": "costmodel.models.presets",
    "from_module": "costmodel.tracing.trace",
    "trace_module": "costmodel.tracing.trace",
    "list_presets": "costmodel.models.presets",
    "compare": "costmodel.analysis.comparison",
    "crossovers": "costmodel.analysis.crossover",
    "sweep": "costmodel.analysis.sweeps",
    "training_memory": "costmodel.memory.footprint",
    "inference_memory": "costmodel.memory.footprint",
    "largest_batch": "costmodel.memory.budget",
    "largest_resolution": "costmodel.memory.budget",
    "get_device": "costmodel.hardware.lookup",
    "step_time": "costmodel.hardware.planning",
    "plan": "costmodel.hardware.planning",
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
