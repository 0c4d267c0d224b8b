"""Named counting conventions.

Reasonable people count FLOPs differently. costmodel makes the choice explicit and
switchable; every builder takes ``convention=``.

``FLOP_COUNTER`` (the default)
    Exactly what PyTorch's ``torch.utils.flop_counter.FlopCounterMode`` reports, so every
    count can be checked against a real run: only matmul-type operators (convolution,
    ``mm``/``addmm``/``bmm``, scaled-dot-product attention) are counted, at 2 FLOPs per
    multiply-accumulate; bias adds, normalisation, activations, softmax, pooling and
    residual adds count zero. Backward FLOPs are the input-gradient and weight-gradient
    products of each op (none for the input gradient of an op whose input needs no
    gradient, e.g. the first convolution). One quirk is reproduced on purpose:
    FlopCounterMode counts the weight gradient of a *grouped* convolution as if it were
    dense (``groups`` times the true count; see ``conv_backward_flop`` in
    ``torch/utils/flop_counter.py``).

``FULL``
    The matmul-type counts with the true grouped weight-gradient count, plus the
    elementwise and normalisation operators, each at the per-element cost tabulated in
    :mod:`costmodel.ops.pointwise` (e.g. ReLU 1, GELU 8, softmax 5, layer norm 8 FLOPs
    per element forward).
"""

from __future__ import annotations

from dataclasses import dataclass

from costmodel.core.errors import UnknownPresetError


@dataclass(frozen=True, kw_only=True)
class Convention:
    """How FLOPs are counted.

    Parameters
    ----------
    name : str
        Short name, as used on the command line.
    count_elementwise : bool
        Count activations, normalisation, softmax, pooling and residual adds.
    dense_grouped_weight_grad : bool
        Count a grouped convolution's weight gradient as a dense one (FlopCounterMode).
    """

    name: str
    count_elementwise: bool
    dense_grouped_weight_grad: bool


FLOP_COUNTER = Convention(name="flop_counter", count_elementwise=False, dense_grouped_weight_grad=True)
FULL = Convention(name="full", count_elementwise=True, dense_grouped_weight_grad=False)

CONVENTIONS: dict[str, Convention] = {c.name: c for c in (FLOP_COUNTER, FULL)}


def get_convention(name: str | Convention) -> Convention:
    """A convention by name (or the convention itself)."""
    if isinstance(name, Convention):
        return name
    if name not in CONVENTIONS:
        raise UnknownPresetError("convention", name, CONVENTIONS)
    return CONVENTIONS[name]


__all__ = ["Convention", "FLOP_COUNTER", "FULL", "CONVENTIONS", "get_convention"]
