"""Nearest-neighbour upsampling (``F.interpolate(x, scale_factor=s, mode="nearest")``).

No parameters. Zero FLOPs under ``FLOP_COUNTER`` (FlopCounterMode counts none). Under
``FULL``: the forward pass copies (zero FLOPs); the backward pass sums the ``s^2``
output gradients that each input value was copied to, ``s^2 - 1`` adds per input value
(``upsample_nearest2d_backward``).
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.value import Cost


def upsample_nearest(*, inputs: Any, scale: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Upsampling ``inputs`` values by an integer ``scale`` per axis: :math:`F_{bwd} = (s^2 - 1)\,n_{in}` (``FULL``).

    Examples
    --------
    >>> from costmodel.core.conventions import FULL
    >>> upsample_nearest(inputs=10, scale=2, convention=FULL).backward_flops
    30
    """
    if not convention.count_elementwise:
        return Cost()
    return Cost(backward_flops=inputs * (scale**2 - 1))


__all__ = ["upsample_nearest"]
