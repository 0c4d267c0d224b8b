"""Efficient attention trade-offs: full vs Linformer vs Performer vs windowed, in FLOPs and memory.

One transformer layer of width ``d``, ``h`` heads and MLP ratio ``r`` is costed with each
attention core, as a function of the sequence length ``L``:

============  ===============================================  ======================
variant       forward FLOPs of the core (batch 1)              attention elements
============  ===============================================  ======================
full          ``4 L^2 d``                                      ``h L^2`` (fused: ``h L``)
linformer     ``8 L k d`` (``E K``, ``F V``, then attention)   ``h L k`` (fused: ``h L``)
performer     ``8 L m d + 2 h L m``                            ``2 h L m``
windowed      ``4 L M^2 d`` (``M x M`` windows)                ``h L M^2`` (fused: ``h L``)
============  ===============================================  ======================

So Linformer beats full attention past ``L = 2 k``, Performer past
``L = 2 m + m / (2 d_k)``, windowed attention past ``L = M^2`` (one window); the layer's
projections and MLP (``24 L d^2`` for ``r = 4``) are the same for all four and dominate
until ``L = 6 d``. :func:`crossover` finds these points exactly (or symbolically), and
:func:`image_side` turns a token count into the first image side (a multiple of the
patch) past it.

"Attention elements" is what the article's F12 calls the ``L^2`` memory term: the
elements of the attention-weight matrices an explicit implementation materialises per
layer (Linformer: ``L x k`` per head; Performer: the feature maps ``phi(Q)``, ``phi(K)``,
``L x m`` per head; windowed: ``M^2 x M^2`` per window and head). A fused kernel (flash /
memory-efficient SDPA) keeps only one log-sum-exp per row and head.

The windowed variant in ``L`` assumes a square token grid that the window divides (so
``L / M^2`` windows); :func:`costmodel.ops.windowed.windowed_attention` gives exact
counts with padding for any grid. Linformer's ``E, F`` are ``k x L``: its parameters
grow with ``L`` and tie the model to one sequence length.

Examples
--------
>>> from costmodel.analysis.efficient_attention import crossover, AttentionShape
>>> [c.first_valid for c in crossover("full", "performer", shape=AttentionShape(width=768, heads=12))]
[515]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sympy

from costmodel.analysis.crossover import Crossovers, SymbolicCrossover, crossovers, symbolic_crossovers
from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.symbols import L
from costmodel.cost.value import Cost
from costmodel.ops.attention import linformer_attention, performer_attention, softmax_attention
from costmodel.ops.dense import linear
from costmodel.ops.windowed import windowed_attention

VARIANTS = ("full", "linformer", "performer", "windowed")
METRICS = ("forward_flops", "backward_flops", "training_flops", "params", "attention_elements")
SCOPES = ("core", "layer")


@dataclass(frozen=True, kw_only=True)
class AttentionShape:
    """The transformer layer the attention variants share (sizes may be SymPy symbols).

    Defaults: ViT-B (``d = 768``, 12 heads, MLP ratio 4), Linformer rank and Performer
    features 256 (the papers' defaults), 7 x 7 windows (Swin), batch 1, fused kernels.
    """

    width: Any = 768
    heads: Any = 12
    rank: Any = 256
    features: Any = 256
    window: Any = 7
    mlp_ratio: Any = 4
    batch: Any = 1
    fused: bool = True

    @property
    def head_dim(self) -> Any:
        return sympy.sympify(self.width) / self.heads

    def replace(self, **changes: Any) -> AttentionShape:
        return replace(self, **changes)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise UnknownPresetError("attention variant", variant, VARIANTS)


def core_cost(variant: str, tokens: Any = L, shape: AttentionShape = AttentionShape(),
              convention: Convention = FLOP_COUNTER) -> Cost:
    """The attention core of one layer (projections excluded) over ``tokens`` tokens."""
    _check_variant(variant)
    common = dict(batch=shape.batch, heads=shape.heads, head_dim=shape.head_dim, convention=convention)
    if variant == "full":
        return softmax_attention(q_len=tokens, kv_len=tokens, fused=shape.fused, **common)
    if variant == "linformer":
        return linformer_attention(tokens=tokens, rank=shape.rank, fused=shape.fused, **common)
    if variant == "performer":
        return performer_attention(tokens=tokens, features=shape.features, **common)
    side = sympy.sqrt(sympy.sympify(tokens))
    return windowed_attention(grid=(side, side), window=shape.window, fused=shape.fused,
                              relative_position_bias=False, divisible=True, **common)


def layer_cost(variant: str, tokens: Any = L, shape: AttentionShape = AttentionShape(),
               convention: Convention = FLOP_COUNTER) -> Cost:
    """One pre-LN layer: qkv and output projections, the core, and the MLP (parts ``qkv``, ``core``, ``proj``, ``mlp``).

    Norms, activations and residual adds are left out (zero under FlopCounterMode).
    """
    rows, d = shape.batch * tokens, shape.width
    hidden = sympy.sympify(shape.mlp_ratio) * d
    return Cost.group({
        "qkv": linear(rows=rows, in_features=d, out_features=3 * d, convention=convention),
        "core": core_cost(variant, tokens, shape, convention),
        "proj": linear(rows=rows, in_features=d, out_features=d, convention=convention),
        "mlp": linear(rows=rows, in_features=d, out_features=hidden, convention=convention)
        + linear(rows=rows, in_features=hidden, out_features=d, convention=convention),
    })


def attention_elements(variant: str, tokens: Any = L, shape: AttentionShape = AttentionShape()) -> sympy.Expr:
    """Elements of the attention-weight matrices (or their substitute) of one layer (see the module doc)."""
    _check_variant(variant)
    bh = shape.batch * shape.heads
    if variant == "performer":
        return sympy.sympify(2 * bh * tokens * shape.features)
    if shape.fused:
        return sympy.sympify(bh * tokens)
    per_row = {"full": tokens, "linformer": shape.rank, "windowed": sympy.sympify(shape.window) ** 2}[variant]
    return sympy.sympify(bh * tokens * per_row)


def metric(variant: str, name: str = "forward_flops", *, tokens: Any = L, shape: AttentionShape = AttentionShape(),
           scope: str = "core", convention: Convention = FLOP_COUNTER) -> sympy.Expr:
    """One metric (:data:`METRICS`) of a variant, for the ``core`` or the whole ``layer``."""
    if name not in METRICS:
        raise UnknownPresetError("metric", name, METRICS)
    if scope not in SCOPES:
        raise UnknownPresetError("scope", scope, SCOPES)
    if name == "attention_elements":
        return attention_elements(variant, tokens, shape)
    cost = (core_cost if scope == "core" else layer_cost)(variant, tokens, shape, convention)
    return sympy.expand(getattr(cost, name))


def crossover(variant_a: str, variant_b: str, *, shape: AttentionShape = AttentionShape(),
              name: str = "forward_flops", scope: str = "core", lo: Any = 1, hi: Any = sympy.oo
              ) -> Crossovers | list[SymbolicCrossover]:
    """Sequence lengths where ``variant_b`` starts (or stops) being cheaper than ``variant_a``.

    Numeric shapes give :class:`~costmodel.analysis.crossover.Crossovers` in ``L`` (first integer
    length past each root); symbolic shapes (``width=d``, ``rank=k``) give closed-form
    roots, e.g. ``L = 2 k`` for full vs Linformer.
    """
    a = metric(variant_a, name, shape=shape, scope=scope)
    b = metric(variant_b, name, shape=shape, scope=scope)
    if (a.free_symbols | b.free_symbols) - {L}:
        return symbolic_crossovers(a, b, L)
    return crossovers(a, b, L, lo=lo, hi=hi)


def image_side(tokens: Any, patch: int, *, class_token: bool = True) -> int:
    """The first square image side (a multiple of ``patch``) whose token count exceeds ``tokens``.

    Tokens are ``(R / P)^2`` patches, plus one class token when ``class_token``.

    >>> image_side(514.0, 16)   # more than 514 tokens: 23 x 23 patches + 1
    368
    """
    if not isinstance(patch, int) or patch <= 0:
        raise InvalidConfigError("patch", patch, "must be a positive integer")
    need = sympy.sympify(tokens) - (1 if class_token else 0)  # patches must exceed this
    side = int(sympy.floor(sympy.sqrt(sympy.Max(need, 0)))) + 1 if need >= 0 else 1
    return side * patch


def tradeoff_table(lengths: list[int], *, shape: AttentionShape = AttentionShape(), scope: str = "core",
                   variants: tuple[str, ...] = VARIANTS) -> list[dict[str, Any]]:
    """Rows ``{"tokens", "variant", "forward_flops", "attention_elements"}`` for integer lengths."""
    rows = []
    for n in lengths:
        for variant in variants:
            rows.append({
                "tokens": n, "variant": variant,
                "forward_flops": metric(variant, "forward_flops", tokens=n, shape=shape, scope=scope),
                "attention_elements": attention_elements(variant, n, shape),
            })
    return rows


__all__ = ["AttentionShape", "VARIANTS", "METRICS", "core_cost", "layer_cost", "attention_elements", "metric",
           "crossover", "image_side", "tradeoff_table"]
