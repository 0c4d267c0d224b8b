"""Numeric precision of a training step: which dtype each saved tensor has, hence its bytes.

``float32``
    Everything in float32 (4 bytes).
``bfloat16`` / ``float16``
    Mixed precision as ``torch.autocast`` runs it on CPU, with float32 master weights:
    convolutions, matrix products and attention cast their inputs and weights to the low
    dtype (2 bytes) and return it; the ops that follow them (activations, pooling, batch
    and layer norm, softmax) run in the dtype they receive; adding or multiplying a
    float32 tensor promotes to float32 (the ViT residual stream after the float32 class
    token and position embedding, ConvNeXt's layer scale); normalisation statistics stay
    float32. Parameters, their gradients and the optimizer state are float32.

Each saved tensor is described by a *role* (:data:`ROLES`) whose size in bytes the
precision fixes; :meth:`Precision.bytes` converts.

References
----------
PyTorch ``aten/src/ATen/autocast_mode.cpp`` (the CPU ``lower_precision_fp`` and ``fp32``
op lists) and the automatic mixed precision documentation ("CPU Ops that can autocast to
bfloat16"). The CUDA lists differ (softmax and layer norm run in float32 there); this
module models the CPU rules, which the validation checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.core.checks import check_choice
from costmodel.cost.trace import EMPTY, Trace

#: bytes per element of each role in float32 and in a 16-bit mixed precision
ROLES: dict[str, tuple[int, int]] = {
    "compute": (4, 2),   # outputs (and cast inputs) of convolutions, products, attention
    "float32": (4, 4),   # always float32: norm statistics, logsumexp, a float32 residual stream
    "int64": (8, 8),     # max-pool indices
    "bool": (1, 1),      # masks
    "copy": (0, 2),      # low-precision copies of float32 weights, made only by autocast
}


@dataclass(frozen=True, kw_only=True)
class Precision:
    """How a training step stores numbers.

    Parameters
    ----------
    name : {"float32", "bfloat16", "float16"}
    mixed : bool
        Autocast to a 16-bit dtype with float32 master weights.
    """

    name: str
    mixed: bool

    def bytes(self, role: str) -> int:
        """Bytes per element of a tensor of ``role`` (a key of :data:`ROLES`)."""
        return ROLES[role][1 if self.mixed else 0]

    @property
    def compute_bytes(self) -> int:
        """Bytes per element of convolution and matrix-product outputs (4, or 2 when mixed)."""
        return self.bytes("compute")


FLOAT32 = Precision(name="float32", mixed=False)
BFLOAT16 = Precision(name="bfloat16", mixed=True)
FLOAT16 = Precision(name="float16", mixed=True)

PRECISIONS: dict[str, Precision] = {p.name: p for p in (FLOAT32, BFLOAT16, FLOAT16)}

#: bytes of one parameter, one parameter gradient and one optimizer-state value (float32)
PARAM_BYTES = 4


def get_precision(name: str | Precision) -> Precision:
    """A precision by name (``"float32"``, ``"bfloat16"``, ``"float16"``) or the precision itself."""
    if isinstance(name, Precision):
        return name
    return PRECISIONS[check_choice("dtype", name, tuple(PRECISIONS))]


def role_bytes(precision: Precision, **elements: Any) -> Any:
    """Bytes of tensors given as ``role=elements``, e.g. ``role_bytes(p, compute=n, float32=m)``."""
    return sum(precision.bytes(role) * count for role, count in elements.items())




# -- helpers for the operators' memory traces ------------------------------------------
def cast_input(precision: Precision, elements: Any, *, role: str = "compute", owned: bool = True) -> tuple[Any, Any]:
    """``(bytes, elements)`` an autocast op (conv, linear, matmul, attention) saves for its input.

    Under mixed precision a float32 input (``role="float32"``) is cast to a new 16-bit
    copy, which this op alone holds; otherwise the input itself is saved, counted here
    only if this op is the first to save that storage (``owned``).
    """
    if precision.mixed and role == "float32":
        return precision.compute_bytes * elements, elements
    if not owned:
        return 0, 0
    return precision.bytes(role) * elements, elements


def saved_input(precision: Precision, elements: Any, *, role: str = "compute", owned: bool = True) -> tuple[Any, Any]:
    """``(bytes, elements)`` an op that runs in its input's dtype saves for that input (if ``owned``)."""
    if not owned:
        return 0, 0
    return precision.bytes(role) * elements, elements


def weight_copy(precision: Precision, elements: Any) -> tuple[Any, Any]:
    """``(bytes, elements)`` of the 16-bit copy autocast keeps of a float32 weight (none in float32)."""
    return (precision.bytes("copy") * elements, elements) if precision.mixed else (0, 0)


def op_trace(precision: Precision | None, *, saved: tuple[Any, Any] | list[tuple[Any, Any]] = (0, 0),
             copies: tuple[Any, Any] = (0, 0), params: Any = 0, transient: Any = 0, buffers: Any = 0,
             largest: Any = 0, live: Any = 0) -> Trace:
    """The trace of one operator (see :class:`~costmodel.cost.trace.Trace`); empty when ``precision`` is None.

    ``saved`` as ``(bytes, elements)`` pairs, plus the autocast weight ``copies`` (also
    saved; :func:`weight_copy`); float32 gradients of its ``params``; ``transient`` bytes
    during its backward; ``buffers`` bytes; its ``largest`` parameter tensor (elements);
    bytes ``live`` while it runs without autograd.
    """
    if precision is None:
        return EMPTY
    pairs = ([saved] if isinstance(saved, tuple) else list(saved)) + [copies]
    return Trace.op(saved=sum(b for b, _ in pairs), elements=sum(e for _, e in pairs),
                    grads=PARAM_BYTES * params, transient=transient, buffers=buffers, largest=largest, live=live,
                    copies=copies[0])

__all__ = ["Precision", "FLOAT32", "BFLOAT16", "FLOAT16", "PRECISIONS", "PARAM_BYTES", "ROLES",
           "get_precision", "role_bytes", "cast_input", "saved_input", "weight_copy", "op_trace"]
