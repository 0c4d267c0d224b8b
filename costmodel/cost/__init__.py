"""The value types a cost is made of: :class:`Cost` (FLOPs, parameters, breakdown tree),
its memory :class:`~costmodel.cost.trace.Trace`, its bytes moved
(:class:`~costmodel.cost.traffic.Traffic`) and the :class:`~costmodel.cost.precision.Precision`
that sets the bytes of each element.

Public names are re-exported here lazily (PEP 562): ``from costmodel.cost import X``
imports only the module that defines ``X``.
"""

from __future__ import annotations

from costmodel.core.lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Cost": "value",
    "CostValue": "value",
    "METRIC_UNITS": "value",
    "Number": "value",
    "Trace": "trace",
    "Peak": "trace",
    "prune": "trace",
    "max_of": "trace",
    "residual": "trace",
    "Traffic": "traffic",
    "MIXED": "traffic",
    "F32": "traffic",
    "Precision": "precision",
    "FLOAT32": "precision",
    "BFLOAT16": "precision",
    "FLOAT16": "precision",
    "PRECISIONS": "precision",
    "PARAM_BYTES": "precision",
    "ROLES": "precision",
    "get_precision": "precision",
    "role_bytes": "precision",
    "cast_input": "precision",
    "saved_input": "precision",
    "weight_copy": "precision",
    "op_trace": "precision",
})
