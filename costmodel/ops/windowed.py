"""Windowed (local) self-attention, as in Swin Transformer: attention inside non-overlapping windows.

References
----------
* Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
  ICCV 2021, Sec. 3.2, Eq. 1-2: ``Omega(W-MSA) = 4 h w C^2 + 2 M^2 h w C`` MACs for an
  ``h x w`` map of width ``C`` and ``M x M`` windows (projections + attention core), and
  Eq. 4 (relative position bias ``B`` taken from a ``(2M - 1) x (2M - 1)`` table per head).
* torchvision ``models/swin_transformer.py``, ``shifted_window_attention``: the map is
  zero-padded on the bottom and right to a multiple of the window, split into windows of
  ``M^2`` tokens, and ``q.matmul(k.transpose(-2, -1))``, ``+ relative_position_bias``,
  (``+ attn_mask`` when shifted), ``softmax``, ``attn.matmul(v)`` run per window and head.
  The padded tokens take part in every product (and in the qkv and output projections).
"""

from __future__ import annotations

from typing import Any

import sympy

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.value import Cost
from costmodel.ops.attention import softmax_attention
from costmodel.ops.conv import pair
from costmodel.ops.pointwise import elementwise


def windows_along(size: Any, window: Any, *, divisible: bool = False) -> Any:
    r"""Windows along one side after padding to a multiple of the window: :math:`\lceil g / M \rceil`.

    Integers give integers; symbols a ceiling, or ``g / M`` with ``divisible=True``.

    >>> windows_along(14, 7), windows_along(15, 7)
    (2, 3)
    """
    if isinstance(size, int) and isinstance(window, int):
        return -(-size // window)
    if divisible:
        return sympy.sympify(size) / window
    return sympy.ceiling(sympy.sympify(size) / window)


def padded_grid(grid: Any, window: Any, *, divisible: bool = False) -> tuple[Any, Any]:
    """The token grid after padding each side to a multiple of the window (what the projections see)."""
    (gh, gw), (wh, ww) = pair("grid", grid), pair("window", window)
    return (windows_along(gh, wh, divisible=divisible) * wh, windows_along(gw, ww, divisible=divisible) * ww)


def windowed_attention(*, batch: Any, heads: Any, grid: Any, window: Any, head_dim: Any,
                       fused: bool = False, relative_position_bias: bool = True, shifted: bool = False,
                       divisible: bool = False, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Attention core of windowed multi-head self-attention (W-MSA / SW-MSA), projections excluded.

    .. math::
        n_w = \lceil g_h / M_h \rceil \lceil g_w / M_w \rceil, \quad N = M_h M_w, \quad
        F_{fwd} = 2 \cdot 2\, B\, n_w\, h\, N^2 d_k

    i.e. :func:`~costmodel.ops.attention.softmax_attention` over ``B n_w`` sequences of
    ``N`` tokens. On a divisible ``g x g`` grid that is ``4 B L M^2 d`` FLOPs for
    ``L = g^2`` tokens: linear in ``L`` (Swin Eq. 2: ``2 M^2 h w C`` MACs). Backward as
    :func:`softmax_attention` (explicit, probabilities kept: ``2x``; fused: ``2.5x``).
    ``fused=False`` is Swin's implementation.

    Parts: ``scores``, ``softmax``, ``weighted_sum`` (as :func:`softmax_attention`),
    ``position_bias``, ``mask``.

    Parameters
    ----------
    grid : int or (g_h, g_w)
        Token grid of the feature map.
    window : int or (M_h, M_w)
        Window size; the grid is padded up to a multiple of it.
    relative_position_bias : bool
        Swin's learned bias: ``(2 M_h - 1)(2 M_w - 1) h`` parameters, one add over the
        scores (``FULL`` only; FlopCounterMode counts no adds).
    shifted : bool
        SW-MSA: the cyclic shift costs nothing; the attention mask is one more add over
        the scores (``FULL`` only).

    Examples
    --------
    Swin-T stage 1 (56 x 56 tokens, C = 96, 3 heads, M = 7): Swin Eq. 2 gives
    ``2 M^2 h w C = 29 503 488`` MACs for the core:

    >>> windowed_attention(batch=1, heads=3, grid=56, window=7, head_dim=32).forward_flops
    59006976
    """
    (gh, gw), (wh, ww) = pair("grid", grid), pair("window", window)
    windows = windows_along(gh, wh, divisible=divisible) * windows_along(gw, ww, divisible=divisible)
    tokens = wh * ww
    core = softmax_attention(batch=batch * windows, heads=heads, q_len=tokens, kv_len=tokens,
                             head_dim=head_dim, fused=fused, convention=convention)
    scores = batch * windows * heads * tokens * tokens
    parts = {}
    if relative_position_bias:
        parts["position_bias"] = Cost(params=(2 * wh - 1) * (2 * ww - 1) * heads) + elementwise(
            "add", scores, convention)
    if shifted:
        parts["mask"] = elementwise("add", scores, convention)
    return core + Cost.group(parts) if parts else core


__all__ = ["windowed_attention", "windows_along", "padded_grid"]
