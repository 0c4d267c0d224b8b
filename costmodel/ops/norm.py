"""Normalisation layers.

References
----------
* Ba, Kiros & Hinton, "Layer Normalization", 2016, Eq. 3-4: ``y = (x - mu) / sqrt(var + eps) * gamma + beta``.
* Ioffe & Szegedy, "Batch Normalization", ICML 2015, Algorithm 1 (same arithmetic per element).
* PyTorch ``nn.LayerNorm`` / ``nn.BatchNorm2d``: ``gamma`` and ``beta`` are the only
  parameters; running statistics are buffers, not parameters.

Per element (``FULL`` convention): mean 1, subtract 1, square 1, variance sum 1,
scale by the reciprocal std 1, affine 2: 7 forward; the backward (gradients of x, gamma,
beta) is counted as 12. ``FLOP_COUNTER`` counts zero, like FlopCounterMode.
"""

from __future__ import annotations

from typing import Any

from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import Cost
from costmodel.ops.pointwise import elementwise


def layer_norm(*, rows: Any, features: Any, affine: bool = True,
               convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Layer norm over the last ``features`` values of each of ``rows`` vectors.

    .. math:: \mathrm{params} = 2 d \,[\text{affine}]
    """
    params = 2 * features if affine else 0
    return elementwise("layer_norm", rows * features, convention) + Cost(params=params)


def batch_norm(*, elements: Any, channels: Any, affine: bool = True,
               convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Batch norm (training mode) over ``elements`` values of ``channels`` channels.

    .. math:: \mathrm{params} = 2 C \,[\text{affine}]
    """
    params = 2 * channels if affine else 0
    return elementwise("batch_norm", elements, convention) + Cost(params=params)


__all__ = ["layer_norm", "batch_norm"]
