"""Training and inference memory (weights, gradients, optimizer state, saved activations,
checkpointing, mixed precision) and the inverse budgets: the largest batch or resolution
that fits in a memory budget.

Public names are re-exported here lazily (PEP 562): ``from costmodel.memory import X``
imports only the module that defines ``X``.
"""

from __future__ import annotations

from costmodel.core.lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "training_memory": "footprint",
    "inference_memory": "footprint",
    "memory_cost": "footprint",
    "TrainingMemory": "footprint",
    "InferenceMemory": "footprint",
    "MemoryValue": "footprint",
    "Optimizer": "footprint",
    "OPTIMIZERS": "footprint",
    "get_optimizer": "footprint",
    "loss_trace": "footprint",
    "parse_budget": "budget",
    "largest_batch": "budget",
    "largest_resolution": "budget",
    "resolution_step": "budget",
    "Fit": "budget",
    "MAX_BATCH": "budget",
})
