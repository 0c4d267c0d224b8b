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

from costmodel.conventions import FLOP_COUNTER, Convention
from costmodel.cost import Cost
from costmodel.ops.dense import matmul
from costmodel.ops.pointwise import softmax


def softmax_attention(*, batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any,
                      causal: bool = False, fused: bool = True,
                      convention: Convention = FLOP_COUNTER) -> Cost:
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
    ``B h L_q L_kv`` scores is added.

    Examples
    --------
    >>> softmax_attention(batch=1, heads=12, q_len=197, kv_len=197, head_dim=64).forward_flops
    119221248
    """
    del causal  # same count; kept so callers state what they model
    bh = batch * heads
    scores = matmul(batch=bh, n=q_len, k=head_dim, m=kv_len)
    if fused:  # the backward pass recomputes the scores
        scores += Cost(backward_flops=scores.forward_flops)
    weighted = matmul(batch=bh, n=q_len, k=kv_len, m=head_dim)
    return Cost.group({
        "scores": scores,
        "softmax": softmax(bh * q_len * kv_len, convention),
        "weighted_sum": weighted,
    })


def linformer_attention(*, batch: Any, heads: Any, tokens: Any, head_dim: Any, rank: Any,
                        fused: bool = True, convention: Convention = FLOP_COUNTER) -> Cost:
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
    """
    width = heads * head_dim
    project = matmul(batch=batch, n=rank, k=tokens, m=width)  # E @ K, both need gradients
    core = softmax_attention(batch=batch, heads=heads, q_len=tokens, kv_len=rank,
                             head_dim=head_dim, fused=fused, convention=convention)
    projections = Cost.group({
        "project_k": project + Cost(params=rank * tokens),
        "project_v": project + Cost(params=rank * tokens),
    })
    return projections + core  # parts: project_k, project_v, scores, softmax, weighted_sum


def performer_attention(*, batch: Any, heads: Any, tokens: Any, head_dim: Any, features: Any,
                        convention: Convention = FLOP_COUNTER) -> Cost:
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
    not counted (no rate for them in :mod:`costmodel.ops.pointwise`).
    """
    bh = batch * heads
    features_q = matmul(batch=bh, n=tokens, k=head_dim, m=features, b_grad=False)
    features_k = matmul(batch=bh, n=tokens, k=head_dim, m=features, b_grad=False)
    kv = matmul(batch=bh, n=features, k=tokens, m=head_dim)
    out = matmul(batch=bh, n=tokens, k=features, m=head_dim)
    normaliser = matmul(batch=bh, n=tokens, k=features, m=1)
    return Cost.group({
        "features": features_q + features_k,
        "kv": kv,
        "out": out,
        "normaliser": normaliser,
    })


__all__ = ["softmax_attention", "linformer_attention", "performer_attention"]
