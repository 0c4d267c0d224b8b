"""Costs of any PyTorch module, traced with PyTorch's own symbolic shapes.

``trace_module(module, input_shape=(3, 224, 224))`` runs the module once on a fake input
whose batch, height and width are symbols (``FakeTensorMode`` with a ``ShapeEnv``: nothing
is allocated) and returns the same :class:`~costmodel.cost.value.Cost` the families give:
forward and backward FLOPs, parameters, saved activations, bytes moved and op kinds, as
SymPy expressions in ``B``, ``H``, ``W``, broken down by module path, in a
:class:`~costmodel.tracing.model.TracedModel` that stands where a config stands;
``from_module(...)`` is its :class:`~costmodel.cost.value.Cost` directly.

torch is imported only when a module is traced: ``import costmodel.tracing`` stays light.
Public names are re-exported here lazily (PEP 562).
"""

from __future__ import annotations

from typing import Any

from costmodel.core.lazy import Exports

_EXPORTS = Exports(__name__, {
    "from_module": "trace",
    "trace_module": "trace",
    "TracedModel": "model",
    "load_module": "spec",
    "ModuleSpecError": "spec",
    "SymbolicShapeError": "sympy_bridge",
    "to_sympy": "sympy_bridge",
    "DIMS": "sympy_bridge",
})


def __getattr__(name: str) -> Any:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()


__all__ = _EXPORTS.names()
