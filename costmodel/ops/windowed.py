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
from costmodel.cost.precision import Precision, op_trace
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.attention import explicit_views, softmax_attention
from costmodel.ops.conv import pair
from costmodel.ops.dense import linear
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
        table = (2 * wh - 1) * (2 * ww - 1) * heads
        parts["position_bias"] = Cost(params=table) + elementwise("add", scores, convention).with_traffic(
            position_bias_traffic(scores=scores, heads=heads, tokens=tokens, table=table,
                                  sequences=batch * windows))
    if shifted:
        parts["mask"] = shift_mask(scores=scores, windows=windows, tokens=tokens, convention=convention)
    return core + Cost.group(parts) if parts else core


def position_bias_traffic(*, scores: Any, heads: Any, tokens: Any, table: Any, sequences: Any = None) -> Traffic:
    r"""Bytes of torchvision's relative position bias (float32, once per block call).

    .. math::
        Q_{fwd} &= \underbrace{4 b + 8 T^2 + 4 h T^2}_{\text{gather}} + \underbrace{8 h T^2}_{\text{contiguous}}
                 + \underbrace{8 S + 4 h T^2}_{\text{add}} \\
        Q_{bwd} &= \underbrace{4 S + 4 h T^2}_{\text{sum over windows}}
                 + \underbrace{8 b + 8 T^2 + 4 h T^2}_{\text{index\_put}}

    ``S`` score elements, ``T = M_h M_w`` tokens per window, ``b`` table elements
    (``(2M_h - 1)(2M_w - 1) h``); the index is int64 (8 bytes). The gather
    ``table[index]`` and its ``permute(...).contiguous()`` (a copy unless one head) make the ``h T^2`` bias, the
    add broadcasts it over the ``B n_w`` windows; backward sums the scores' gradient over
    them and scatters it into the table's gradient (``index_put``: reads the zeroed
    gradient, the index and the values, writes the gradient). With one window in all
    (``sequences = B n_w = 1``) the broadcast is the identity and there is no sum.
    """
    bias = heads * tokens * tokens
    reduce = 0 if isinstance(sequences, int) and sequences == 1 else 1
    contiguous = 0 if heads == 1 else 8 * bias  # with one head the permute moves nothing
    forward = 4 * table + 8 * tokens * tokens + 4 * bias + contiguous + 8 * scores + 4 * bias
    backward = reduce * (4 * scores + 4 * bias) + 8 * table + 8 * tokens * tokens + 4 * bias
    return Traffic.op("elementwise", forward=forward, backward=backward, launches=3)


def shift_mask(*, scores: Any, windows: Any, tokens: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""The attention mask of a shifted block (SW-MSA): one add over the ``S`` scores (``FULL`` only),
    and the kernels torchvision runs to build the mask at every call (float32; ``m = n_w T^2``
    mask elements, ``n_w T`` padded tokens; no backward: the mask needs no gradient).

    .. math::
        Q_{fwd} = \underbrace{16\, n_w T + 4 m}_{\text{partition, subtract}} + \underbrace{10 m}_{\ne 0,\ = 0}
                  + \underbrace{18 m}_{\text{2 masked\_fill}} + \underbrace{4 m + 8 S}_{\text{add}}

    The region map is split into windows (a copy), the pairwise difference of region
    labels is an ``n_w x T x T`` tensor, ``!= 0`` and ``== 0`` give boolean masks (1 byte)
    for two ``masked_fill`` (read, mask, write), and the add reads the scores and the
    mask broadcast over the batch. The build does not depend on the batch.
    """
    mask = windows * tokens * tokens
    forward = 16 * windows * tokens + 4 * mask + 10 * mask + 18 * mask + 4 * mask + 8 * scores
    return elementwise("add", scores, convention).with_traffic(
        Traffic.op("elementwise", forward=forward, backward=0, launches=7))


def shift_applies(padded: tuple[Any, Any], window: Any) -> Any:
    r"""Whether a shifted block really shifts: torchvision drops the shift along a side the window
    covers (:math:`M \ge h_p`), so the mask is used when :math:`h_p > M` or :math:`w_p > M`.

    A bool for integers; a SymPy 0/1 ``Piecewise`` for symbols.
    """
    (ph, pw), (wh, ww) = padded, pair("window", window)
    return _indicator(sympy.Or(sympy.Gt(ph, wh), sympy.Gt(pw, ww)))


def _indicator(condition: Any) -> Any:
    """``condition`` as a bool where SymPy decides it (integer sizes), else a 0/1 ``Piecewise``."""
    if condition in (sympy.true, sympy.false):
        return bool(condition)
    return sympy.Piecewise((1, condition), (0, True))


def partition_moves(grid: Any, window: Any, *, divisible: bool = False) -> Any:
    r"""Whether the window partition (and its reverse) copies: 1, else 0.

    torchvision splits the padded ``h_p x w_p`` map with ``view(B, h_p/M_h, M_h, w_p/M_w, M_w, C)
    .permute(0, 1, 3, 2, 4, 5)``; the permute swaps the window rows with the windows along
    the width, which moves nothing when either has size 1 (one window across, as in
    Swin-T's last stage, or one-row windows): then ``reshape`` is a view. 0 or 1 for
    integers; a SymPy 0/1 ``Piecewise`` for symbols.
    """
    (_, gw), (wh, ww) = pair("grid", grid), pair("window", window)
    condition = sympy.And(sympy.Gt(windows_along(gw, ww, divisible=divisible), 1), sympy.Gt(wh, 1))
    moves = _indicator(condition)
    return int(moves) if isinstance(moves, bool) else moves


def layout_copies(elements: Any, element_bytes: Any, copies: Any, *, backward_passes: Any = None) -> Cost:
    r"""``copies`` memory-bound copy kernels of an ``elements``-long tensor (``permute(...).reshape``,
    ``torch.roll``, ``F.pad``, ``torch.cat``): no FLOPs, traffic only.

    .. math:: Q_{fwd} = Q_{bwd} = 2\, n_{copies}\, b\, E

    Each copy reads and writes the tensor once; its backward is the same copy (or roll, or
    slice) of the gradient (``backward_passes``: passes over the tensor in backward where
    that differs, default ``2 n_copies``). One kernel launch per copy in each direction.
    """
    moved = 2 * copies * element_bytes * elements
    back = moved if backward_passes is None else backward_passes * element_bytes * elements
    return Cost().with_traffic(Traffic.op("elementwise", forward=moved, backward=back, launches=copies))


def window_attention_block(*, batch: Any, dim: Any, heads: Any, grid: tuple[Any, Any], window: Any,
                           shifted: bool = False, divisible: bool = False, convention: Convention = FLOP_COUNTER,
                           precision: Precision | None = None) -> Cost:
    r"""torchvision's ``ShiftedWindowAttention`` (v1) on an ``h x w`` grid of width ``d``: pad, (shift),
    ``qkv``, scale ``q``, :func:`windowed_attention` (explicit, relative position bias), ``proj``.

    .. math::
        N_p = B h_p w_p, \quad \mathrm{MACs} = 3 N_p d^2 + 2 N_p M^2 d + N_p d^2, \quad
        \mathrm{params} = 4 d^2 + 4 d + (2M - 1)^2 h

    ``qkv`` and ``proj`` run on the padded grid :func:`padded_grid`. Under ``FULL`` the
    scaling of ``q`` (one multiply per element) and, where :func:`shift_applies`, the
    mask add are counted. Parts ``qkv``, ``scale``, ``core/...``, ``proj``.

    Traffic (:func:`layout_copies`, no FLOPs): torchvision's ``shifted_window_attention``
    copies the token tensor with ``F.pad`` (always a new tensor: ``constant_pad_nd`` clones
    when no pad is positive), ``torch.roll`` (shifted blocks where :func:`shift_applies`; a
    roll over two dims is two copies: ATen rolls one dim after the other) and the window
    partition ``permute(...).reshape`` (where :func:`partition_moves`) before ``qkv`` (float32 under autocast: the
    ``LayerNorm`` output), and after ``proj`` with the window reverse and the roll back;
    ``torch.matmul`` makes contiguous copies of the scaled ``q`` (the product keeps ``q``'s
    permuted strides), ``k^T`` and ``v`` (where
    :func:`~costmodel.ops.attention.explicit_views` is false) and the heads are merged by
    ``transpose(1, 2).reshape`` (a copy, but a view with one head). Backward, the gradient of the ``qkv`` output's
    ``reshape(...).permute(2, 0, 3, 1, 4)`` is one copy of ``3 N_p d`` values (with or
    without the forward copies); the heads' merge copies the gradient back only where the
    forward copied ``q``, ``k``, ``v``; ``q, k, v = qkv[0], qkv[1], qkv[2]``
    costs three ``select_backward`` (each reads a gradient of ``N_p d`` and writes a
    zero-filled ``3 N_p d`` one) and two adds of those (``9 N_p d`` each): ``30 N_p d``
    values. Parts ``partition``, ``qkv_copies``, ``unbind``, ``merge_heads``, ``reverse``;
    the shift mask (:func:`shift_mask`) is ``core/mask``.

    Memory (float32; checked with ``saved_tensors_hooks``): ``qkv`` keeps the padded,
    window-partitioned input (a copy: ``N_p d``); the scaling of ``q`` keeps nothing (a
    scalar); ``q k^T`` keeps the scaled ``q`` and a contiguous copy of ``k^T`` (``N_p d``
    each), the softmax its output (``B n_w h M^4``), ``attn @ v`` a contiguous copy of ``v``
    (the probabilities are already kept); ``proj`` keeps the merged heads (``N_p d``).
    Where ``torch.matmul`` folds ``(B n_w, h)`` without copying
    (:func:`~costmodel.ops.attention.explicit_views`: one head, or one window in all),
    ``k^T`` and ``v`` are views of the ``qkv`` output, kept whole (``3 N_p d``). Mixed
    precision: adding the float32 bias table promotes the scores to float32, so the
    probabilities are float32, and ``attn @ v`` keeps a 16-bit copy of them as well.
    """
    ph, pw = padded_grid(grid, window, divisible=divisible)
    (wh, ww) = pair("window", window)
    rows = batch * ph * pw
    head_dim = sympy.sympify(dim) / heads if not (isinstance(dim, int) and isinstance(heads, int)) else dim // heads
    windows = windows_along(grid[0], wh, divisible=divisible) * windows_along(grid[1], ww, divisible=divisible)
    scores = rows * heads * wh * ww
    mask = shift_applies((ph, pw), window) if shifted else False
    roll = int(mask) if isinstance(mask, bool) else mask  # 0/1, or a 0/1 Piecewise for symbolic sizes
    core = windowed_attention(batch=batch, heads=heads, grid=grid, window=window, head_dim=head_dim, fused=False,
                              shifted=False, divisible=divisible, convention=convention)
    if mask is not False:
        core = core + Cost.group({"mask": shift_mask(scores=scores, windows=windows, tokens=wh * ww,
                                                     convention=convention) * roll})
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    c_bytes = precision.compute_bytes if precision is not None else F32
    # q * d_k^-1/2 reads and writes q; its backward reads and writes q's gradient
    scale = elementwise("mul", rows * dim, convention).with_traffic(
        Traffic.op("elementwise", forward=c_bytes * 2 * rows * dim, backward=c_bytes * 2 * rows * dim))
    qkv = linear(rows=rows, in_features=dim, out_features=3 * dim, input_rank=3, **memory)
    proj = linear(rows=rows, in_features=dim, out_features=dim, input_rank=3, **memory)
    if precision is not None:
        c, f = precision.compute_bytes, precision.bytes("float32")
        # q, k^T, v copies, or (views) q and the qkv output storage
        tokens = (4 if explicit_views(batch * windows, heads) else 3) * rows * dim
        # the float32 bias makes the scores float32: the softmax keeps float32 probabilities,
        # and under autocast ``attn @ v`` keeps its own 16-bit copy of them
        saved = [(c * tokens, tokens), (f * scores, scores)]
        if precision.mixed:
            saved.append((c * scores, scores))
        core = core.with_trace(op_trace(precision, saved=saved, transient=c * rows * dim * 4 + 2 * f * scores,
                                        live=c * 3 * rows * dim + 2 * f * scores))
    f_bytes = precision.bytes("float32") if precision is not None else F32
    kv = 0 if explicit_views(batch * windows, heads) else 3
    moves = partition_moves(grid, window, divisible=divisible)
    return Cost.group({"partition": layout_copies(rows * dim, f_bytes, 1 + moves + 2 * roll), "qkv": qkv,
                       "scale": scale,
                       "qkv_copies": layout_copies(rows * dim, c_bytes, kv, backward_passes=6),
                       "unbind": Cost().with_traffic(Traffic.op("elementwise", forward=0,
                                                                backward=30 * c_bytes * rows * dim, launches=5)),
                       "core": core,
                       "merge_heads": layout_copies(rows * dim, c_bytes, 0 if heads == 1 else 1,
                                                    backward_passes=2 if kv else 0),
                       "proj": proj,
                       "reverse": layout_copies(rows * dim, c_bytes, moves + 2 * roll)})


__all__ = ["layout_copies", "partition_moves", "position_bias_traffic", "shift_mask", "windowed_attention",
           "windows_along", "padded_grid", "shift_applies", "window_attention_block"]
