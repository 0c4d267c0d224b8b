"""Attention cores (F3, F8, Performer), excluding the Q/K/V/output projections.

The projections are :func:`costmodel.ops.dense.linear`; these functions count what
happens between them, per layer, for ``batch`` sequences and ``heads`` heads of width
``head_dim`` (``d_k = d / h``).

References
----------
* Vaswani et al., "Attention Is All You Need", 2017, Eq. 1 (F3).
* Wang et al., "Linformer: Self-Attention with Linear Complexity", 2020, Eq. 7 (F8):
  keys and values are projected along the sequence by ``E, F`` of shape ``k x L``.
* Choromanski et al., "Rethinking Attention with Performers", ICLR 2021, Eq. 4-5 and
  Lemma 1 (FAVOR+ positive random features).
* PyTorch ``torch/utils/flop_counter.py``: ``sdpa_flop_count`` (two bmm-sized products
  forward; causal masking does not change the count) and ``sdpa_backward_flop_count``
  (four products backward).
"""

from __future__ import annotations

from typing import Any

import sympy

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.precision import Precision, op_trace, weight_copy
from costmodel.cost.trace import Trace
from costmodel.cost.traffic import F32, Gemm, Traffic
from costmodel.cost.value import Cost
from costmodel.ops.dense import matmul
from costmodel.ops.pointwise import softmax


def softmax_attention(*, batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any,
                      causal: bool = False, fused: bool = True,
                      convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
                      q_storage: Any = 0, kv_storage: Any = 0, kv_heads_merge: bool = False) -> Cost:
    r"""Scaled dot-product attention :math:`\mathrm{softmax}(Q K^T / \sqrt{d_k}) V` (F3).

    .. math::
        F_{fwd} = 2 \cdot 2\, B h L_q L_{kv} d_k, \qquad
        F_{bwd} = \begin{cases} 2.5\, F_{fwd} & \text{fused} \\ 2 F_{fwd} & \text{explicit} \end{cases}

    Forward: the scores ``Q K^T`` and the weighted sum ``A V``. Backward of an explicit
    implementation (``softmax(q @ k.T) @ v``, probabilities kept): the gradients of both
    operands of both products. A fused kernel (``F.scaled_dot_product_attention``,
    flash/memory-efficient) keeps no probabilities and recomputes the scores in the
    backward pass: one product more (``sdpa_backward_flop_count`` in PyTorch). A causal
    mask (F17) is counted as full attention, as FlopCounterMode counts it: the dense
    kernels still compute the masked half. Under ``FULL`` the softmax over
    ``B h L_q L_kv`` scores is added. With a ``precision`` the cost carries the memory
    trace of :func:`attention_trace`. Traffic: fused, one ``attention`` kernel
    (:func:`costmodel.ops.attention.attention_traffic`, on the ``scores`` part); explicit, two
    ``bmm`` (:func:`costmodel.ops.dense.matmul_traffic`) and the softmax.

    Examples
    --------
    >>> softmax_attention(batch=1, heads=12, q_len=197, kv_len=197, head_dim=64).forward_flops
    119221248
    """
    bh = batch * heads  # a causal mask does not change the count
    scores = matmul(batch=bh, n=q_len, k=head_dim, m=kv_len, precision=precision)
    if fused:  # the backward pass recomputes the scores
        scores += Cost(backward_flops=scores.forward_flops)
    weighted = matmul(batch=bh, n=q_len, k=kv_len, m=head_dim, precision=precision)
    probabilities = softmax(bh * q_len * kv_len, convention, precision=precision)
    if fused:  # one kernel: its traffic on the scores, its other parts of the same kind
        c = precision.compute_bytes if precision is not None else F32
        scores = scores.with_traffic(attention_traffic(c, batch=batch, heads=heads, q_len=q_len, kv_len=kv_len,
                                                       head_dim=head_dim))
        weighted = weighted.with_traffic(Traffic.op("attention", launches=0))
        probabilities = probabilities.with_traffic(Traffic.op("attention", launches=0))
    cost = Cost.group({
        "scores": scores,
        "softmax": probabilities,
        "weighted_sum": weighted,
    })
    if precision is None:
        return cost
    return cost.with_trace(attention_trace(precision, batch=batch, heads=heads, q_len=q_len, kv_len=kv_len,
                                           head_dim=head_dim, causal=causal, fused=fused, q_storage=q_storage,
                                           kv_storage=kv_storage, kv_heads_merge=kv_heads_merge))


def explicit_views(batch: Any, heads: Any) -> bool:
    """Whether ``q @ k^T`` of explicit attention sees *views* of ``q``, ``k``, ``v`` (no copies).

    ``torch.matmul`` folds ``(B, h)`` into one batch dimension with ``reshape``; for
    heads split from one ``(B, L, h d_k)`` tensor that is a view only when ``B = 1`` or
    ``h = 1`` (otherwise the strides do not merge and it copies). Symbolic sizes are
    taken as larger than 1.
    """
    return any(isinstance(v, int) and v == 1 for v in (batch, heads))


def attention_trace(precision: Precision, *, batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any,
                    causal: bool, fused: bool, q_storage: Any = 0, kv_storage: Any = 0,
                    kv_heads_merge: bool = False) -> Trace:
    r"""What the attention core keeps for backward, and its transient.

    ``q_storage`` and ``kv_storage`` are the elements of the storages ``q`` and ``k``,
    ``v`` are views of that no earlier op saves (ViT: ``q``, ``k``, ``v`` all view the
    ``qkv`` output, ``3 B L d``, given as ``q_storage``).

    Fused (``ScaledDotProductFlashAttentionForCpuBackward0``): those storages, the output
    and the float32 log-sum-exp of every query row:

    .. math:: s = b_c (S_q + S_{kv} + B h L_q d_k) + 4 B h L_q

    Explicit (``softmax(q k^T / sqrt(d_k)) v``): the two ``bmm`` keep their operands and
    the softmax its output, so the probabilities are kept once, plus (causal) the boolean
    mask. ``torch.matmul`` folds ``(B, h)`` with ``reshape``: ``q`` (and ``k``, ``v``
    unless ``kv_heads_merge``) are then contiguous copies, unless
    :func:`explicit_views`, when the storages themselves are kept:

    .. math:: s = b_c (B h L_q d_k + 2 B h L_{kv} d_k + B h L_q L_{kv}) + L_q L_{kv} [\text{causal}]

    Transient: the output gradient and the gradients of ``q``, ``k``, ``v`` (explicit:
    also two score-sized gradients).
    """
    c = precision.compute_bytes
    bh = batch * heads
    q, kv, out = bh * q_len * head_dim, bh * kv_len * head_dim, bh * q_len * head_dim
    grads = q + 2 * kv
    if fused:
        lse = bh * q_len
        inputs = q_storage + kv_storage
        return op_trace(precision, saved=[(c * (inputs + out), inputs + out), (4 * lse, lse)],
                        transient=c * (out + grads), live=c * (grads + out))
    scores = bh * q_len * kv_len
    views = explicit_views(batch, heads)
    copies = (q_storage if views else q) + (kv_storage if views or kv_heads_merge else 2 * kv)
    saved = [(c * (copies + scores), copies + scores)]
    if causal:
        saved.append((precision.bytes("bool") * q_len * kv_len, q_len * kv_len))
    return op_trace(precision, saved=saved, transient=c * (out + grads + 2 * scores),
                    live=c * (2 * grads + 2 * scores + out))


def linformer_attention(*, batch: Any, heads: Any, tokens: Any, head_dim: Any, rank: Any,
                        fused: bool = True, convention: Convention = FLOP_COUNTER,
                        precision: Precision | None = None, q_storage: Any = 0) -> Cost:
    r"""Linformer attention (F8): keys and values projected to ``k`` positions first.

    .. math::
        K' = E K,\; V' = F V \quad (E, F \in \mathbb{R}^{k \times L}, \text{shared by heads}),

        F_{fwd} = 2 \cdot 2\,B L k d + 2 \cdot 2\,B h L k d_k

    ``O(L k d)`` instead of ``O(L^2 d)``. Parameters ``2 k L`` (``E`` and ``F``, no
    bias, one pair per layer: the paper's "headwise" sharing, Sec. 4). Because ``E``
    acts along the sequence it commutes with the split into heads, so ``E K`` is one
    ``(k x L) @ (L x d)`` product per sequence; its backward computes the gradients of
    both ``E`` (a parameter) and ``K``. The attention of the ``L`` queries over the
    ``k`` projected keys is :func:`softmax_attention` (fused or explicit). Parts:
    ``project_k``, ``project_v``, ``scores``, ``softmax``, ``weighted_sum``.

    Memory: ``torch.matmul`` computes ``E K`` as ``K^T E^T`` (``MmBackward0``), keeping a
    contiguous copy of ``K^T`` (``B L d``; for ``B = 1`` or ``d = 1`` a view of ``q_storage``, the
    ``qkv`` output, counted once) and ``E`` (under mixed precision its 16-bit copy); the
    core keeps ``q``'s storage and the projected ``K'``, ``V'`` (``2 B k d``), which fold
    their heads without copying.
    """
    width = heads * head_dim
    project = matmul(batch=batch, n=rank, k=tokens, m=width, precision=precision) + Cost(params=rank * tokens)
    # E @ K folds K^T (B, d, L) into (B d, L): a view of the qkv storage only when B = 1 or d = 1
    # (a fold with a size-1 dimension keeps the strides; CI's fuzzer found the d = 1, B = 2 case)
    views = any(isinstance(v, (int, sympy.Integer)) and v == 1 for v in (batch, width))
    core = softmax_attention(batch=batch, heads=heads, q_len=tokens, kv_len=rank,
                             head_dim=head_dim, fused=fused, convention=convention, precision=precision,
                             q_storage=0 if views else q_storage, kv_storage=2 * batch * rank * width,
                             kv_heads_merge=True)
    project_k = project_v = project
    if precision is not None:
        c, inputs = precision.compute_bytes, batch * tokens * width
        transient = c * (batch * rank * width + inputs + rank * tokens)
        copies = [(c * q_storage, q_storage), (0, 0)] if views else [(c * inputs, inputs)] * 2
        traces = [op_trace(precision, saved=kept, copies=weight_copy(precision, rank * tokens), params=rank * tokens,
                           transient=transient, largest=rank * tokens, live=c * (inputs + batch * rank * width))
                  for kept in copies]
        project_k, project_v = project.with_trace(traces[0]), project.with_trace(traces[1])
    projections = Cost.group({"project_k": project_k, "project_v": project_v})
    return projections + core  # parts: project_k, project_v, scores, softmax, weighted_sum


def performer_attention(*, batch: Any, heads: Any, tokens: Any, head_dim: Any, features: Any,
                        convention: Convention = FLOP_COUNTER, precision: Precision | None = None,
                        q_storage: Any = 0) -> Cost:
    r"""Performer FAVOR+ attention with ``m`` positive random features.

    .. math::
        \phi(x) = \tfrac{1}{\sqrt m} \exp(\Omega x - \lVert x \rVert^2 / 2), \quad
        \mathrm{out} = \frac{\phi(Q) (\phi(K)^T V)}{\phi(Q) (\phi(K)^T \mathbf 1_L)}

    Products per head: ``Q Omega^T`` and ``K Omega^T`` (``L d_k m`` MACs each; ``Omega``
    is a fixed random buffer, so it gets no gradient), ``phi(K)^T V`` and
    ``phi(Q) (phi(K)^T V)`` (``L m d_k`` MACs each) and the normaliser
    ``phi(Q) (phi(K)^T 1)`` (``L m`` MACs; ``phi(K)^T 1`` itself is a sum, not a
    product). Queries and keys are scaled by ``d_k^{-1/4}`` first so that
    ``phi(q)^T phi(k)`` estimates ``exp(q^T k / sqrt(d_k))``. Linear in ``L``. No
    parameters. Under ``FULL`` the feature map's ``exp`` and the final division are
    not counted (no rate for them in :mod:`costmodel.ops.pointwise`), nor is their
    traffic (only the products').
    """
    bh, p = batch * heads, precision
    features_q = matmul(batch=bh, n=tokens, k=head_dim, m=features, b_grad=False, precision=p)
    features_k = matmul(batch=bh, n=tokens, k=head_dim, m=features, b_grad=False, precision=p)
    kv = matmul(batch=bh, n=features, k=tokens, m=head_dim, precision=p)
    out = matmul(batch=bh, n=tokens, k=features, m=head_dim, precision=p)
    normaliser = matmul(batch=bh, n=tokens, k=features, m=1, precision=p)
    cost = Cost.group({
        "features": features_q + features_k,
        "kv": kv,
        "out": out,
        "normaliser": normaliser,
    })
    if precision is None:
        return cost
    return cost.with_trace(performer_trace(precision, batch=batch, heads=heads, tokens=tokens, head_dim=head_dim,
                                           features=features, q_storage=q_storage))


def performer_trace(precision: Precision, *, batch: Any, heads: Any, tokens: Any, head_dim: Any, features: Any,
                    q_storage: Any = 0) -> Trace:
    r"""What FAVOR+ keeps for backward (as ``favor_attention`` of the validation module computes it).

    Per query and key side: the scaled input (kept by ``x * x``), the ``exp`` output and
    the features ``phi`` (kept by the products); then ``v`` (a copy, or under
    :func:`explicit_views` the storage it views, ``q_storage``), ``phi(K)^T V``
    (``B h m d_k``), ``phi(K)^T 1`` (``B h m``), and the division's numerator
    (``B h L d_k``) and denominator (``B h L``):

    .. math:: s = b_c\,(3 B h L d_k + 4 B h L m + B h m d_k + B h m + B h L + V)

    Under mixed precision each product with ``Omega`` keeps a 16-bit copy of it (``m d_k``,
    twice). Transient (approximate): the output gradient, the gradients of ``q``, ``k``,
    ``v`` and two feature-sized gradients.
    """
    c, bh = precision.compute_bytes, batch * heads
    rows = bh * tokens
    v = q_storage if explicit_views(batch, heads) else rows * head_dim
    elements = 3 * rows * head_dim + 4 * rows * features + bh * features * head_dim + bh * features + rows + v
    omega = 2 * features * head_dim
    return op_trace(precision, saved=(c * elements, elements), copies=weight_copy(precision, omega),
                    transient=c * (4 * rows * head_dim + 2 * rows * features), buffers=4 * features * head_dim,
                    live=c * (4 * rows * head_dim + 3 * rows * features))


# -- bytes moved (forward and backward kernels) -----------------------------------------

def attention_traffic(c: int, *, batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any) -> Traffic:
    r"""Fused attention (``scaled_dot_product_attention``): no score matrix in memory.

    .. math::
        Q_{fwd} = c\,(2 N_q + 2 N_{kv}) + 4\,B h L_q, \qquad
        Q_{bwd} = c\,(4 N_q + 4 N_{kv}) + 4\,B h L_q

    with :math:`N_q = B h L_q d_k`, :math:`N_{kv} = B h L_{kv} d_k`: forward reads ``q, k, v``
    and writes the output and the float32 log-sum-exp per row; backward reads ``q, k, v``,
    the output, its gradient and the log-sum-exp and writes ``dq, dk, dv``.
    """
    nq, nkv, lse = batch * heads * q_len * head_dim, batch * heads * kv_len * head_dim, batch * heads * q_len
    products = (Gemm(m=q_len, n=kv_len, k=head_dim, batch=batch * heads),
                Gemm(m=q_len, n=head_dim, k=kv_len, batch=batch * heads))
    return Traffic.op("attention", forward=c * (2 * nq + 2 * nkv) + F32 * lse,
                      backward=c * (4 * nq + 4 * nkv) + F32 * lse, gemms=products)


#: elements read + written per element, forward and backward, of elementwise ops:
#: ReLU/GELU read x and write y, backward reads dY and y (or x) and writes dX; a residual
#: add reads two and writes one, and its backward adds the two gradients that meet at the
#: branch point; softmax as ReLU (its backward reads dY and y).



__all__ = ["attention_traffic", "softmax_attention", "linformer_attention", "performer_attention", "attention_trace",
           "explicit_views", "performer_trace"]
