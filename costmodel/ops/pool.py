"""Pooling. No parameters; zero FLOPs under ``FLOP_COUNTER`` (FlopCounterMode counts none).

Under ``FULL``: max pooling counts ``k^2 - 1`` comparisons per output forward and one per
output backward (routing the gradient); average pooling counts ``k^2`` (adds and one
divide) per output forward and one per input element backward. Global average pooling is
average pooling with the window equal to the feature map.
"""

from __future__ import annotations

from typing import Any

from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import Cost


def max_pool2d(*, outputs: Any, kernel_size: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Max pooling with a ``k x k`` window producing ``outputs`` values: :math:`(k^2 - 1)` compares each."""
    if not convention.count_elementwise:
        return Cost()
    return Cost(forward_flops=outputs * (kernel_size**2 - 1), backward_flops=outputs)


def avg_pool2d(*, outputs: Any, window: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Average pooling over ``window`` values per output (``window = H W`` for global pooling)."""
    if not convention.count_elementwise:
        return Cost()
    return Cost(forward_flops=outputs * window, backward_flops=outputs * window)


__all__ = ["max_pool2d", "avg_pool2d"]
