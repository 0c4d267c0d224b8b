"""Autoregressive transformer over image tokens (F17), with and without a key/value cache.

.. math:: p(x) = \\prod_{t=1}^{\\tau} p(x_t \\mid x_{<t}), \\qquad \\tau = C H W

An image is a sequence of ``tau`` sub-pixel tokens in raster order (channels innermost),
each its intensity quantised to ``V`` levels, as Image GPT models pixels (Chen et al.,
"Generative Pretraining from Pixels", ICML 2020, Sec. 2-3; iGPT quantises colours to a
palette instead). The network is a GPT-2 style decoder (Radford et al. 2019; nanoGPT's
``model.py``): a token embedding of ``V + 1`` entries (the last is the start token), a
learned position embedding of ``tau`` rows, ``depth`` pre-LN blocks with causal
multi-head attention (``F.scaled_dot_product_attention``) and a GELU MLP, a final
LayerNorm and a bias-free head ``d -> V``.

Training is one causal pass over ``[start, x_1, ..., x_{tau-1}]`` predicting
``x_1..x_tau``. Sampling runs ``tau`` sequential steps (F17):

* without a cache, step ``t`` re-runs the network on the ``t``-token prefix
  (attention ``t x t``), then the head on the last position;
* with a key/value cache, step ``t`` runs the network on the newest token only: its
  query attends over the ``t`` cached keys and values (``O(t d)``), the projections and
  MLP cost ``O(d^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.checks import as_size, check_divides
from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import require
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, ratio_field, size_field
from costmodel.models.generative.common import forward_only, sum_cost_over_steps, t
from costmodel.ops.attention import softmax_attention
from costmodel.ops.dense import linear
from costmodel.ops.norm import layer_norm
from costmodel.ops.pointwise import gelu, residual_add, softmax


@dataclass(frozen=True, kw_only=True)
class ARTransformerConfig(ArchConfig):
    """A decoder-only transformer generating ``C x H x W`` images token by token.

    Parameters
    ----------
    image_size : int or (height, width)
        ``(1, tau)`` with ``in_channels=1`` models a plain sequence of length ``tau``.
    in_channels : int
    vocab_size : int
        ``V`` token values (intensity levels of a sub-pixel).
    width, depth, heads : int
        ``d``, ``D`` and ``h``; ``heads`` must divide ``width``.
    mlp_ratio : rational
        MLP hidden width ``r d`` (an integer).
    """

    family = "ar_transformer"

    image_size: Any = image_field(32)
    in_channels: Any = size_field(1)
    vocab_size: Any = size_field(256)
    width: Any = size_field(256)
    depth: Any = size_field(8)
    heads: Any = size_field(8)
    mlp_ratio: Any = ratio_field(4)

    def _check(self) -> None:
        check_divides("width", self.width, self.heads, "heads")
        hidden = sympy.sympify(self.mlp_ratio) * self.width
        require("mlp_ratio", self.mlp_ratio, f"mlp_ratio * width = {hidden} must be an integer",
                sympy.Eq(sympy.Mod(hidden, 1), 0))

    @property
    def sequence_length(self) -> Any:
        """``tau = C H W`` tokens (one per sub-pixel)."""
        height, width = self.image_hw
        return self.in_channels * height * width

    @property
    def head_dim(self) -> Any:
        return self.width // self.heads if isinstance(self.width, int) and isinstance(self.heads, int) \
            else sympy.sympify(self.width) / self.heads

    @property
    def mlp_dim(self) -> Any:
        hidden = sympy.sympify(self.mlp_ratio) * self.width
        return int(hidden) if hidden.is_Integer else hidden


def block_cost(config: ARTransformerConfig, *, batch: Any, q_len: Any, kv_len: Any,
               convention: Convention) -> Cost:
    r"""One pre-LN decoder block on ``q_len`` new tokens attending over ``kv_len`` tokens.

    .. math::
        \mathrm{MACs} = B q (4 d^2 + 2 r d^2) + 2 B q\,k_v d, \quad
        \mathrm{params} = 12 d^2 + 13 d \;(r = 4)

    Training and uncached sampling have ``q = k_v`` (a causal mask, counted as full
    attention as FlopCounterMode counts it); a cached step has ``q = 1``, ``k_v = t``.
    Parts: ``ln1``, ``attn`` (``qkv``, ``core``, ``proj``, ``residual``), ``ln2``, ``mlp``
    (``fc1``, ``act``, ``fc2``, ``residual``).
    """
    rows, d, hidden = batch * q_len, config.width, config.mlp_dim
    attn = Cost.group({
        "qkv": linear(rows=rows, in_features=d, out_features=3 * d, convention=convention),
        "core": softmax_attention(batch=batch, heads=config.heads, q_len=q_len, kv_len=kv_len,
                                  head_dim=config.head_dim, causal=True, convention=convention),
        "proj": linear(rows=rows, in_features=d, out_features=d, convention=convention),
        "residual": residual_add(rows * d, convention),
    })
    mlp = Cost.group({
        "fc1": linear(rows=rows, in_features=d, out_features=hidden, convention=convention),
        "act": gelu(rows * hidden, convention),
        "fc2": linear(rows=rows, in_features=hidden, out_features=d, convention=convention),
        "residual": residual_add(rows * d, convention),
    })
    return Cost.group({
        "ln1": layer_norm(rows=rows, features=d, convention=convention),
        "attn": attn,
        "ln2": layer_norm(rows=rows, features=d, convention=convention),
        "mlp": mlp,
    })


def network_cost(config: ARTransformerConfig, *, batch: Any, q_len: Any, kv_len: Any, head_rows: Any,
                 convention: Convention) -> Cost:
    r"""Embeddings, ``depth`` blocks, final LayerNorm and head on ``head_rows`` positions per sequence.

    .. math:: \mathrm{params} = (V + 1) d + \tau d + D\,\mathrm{block} + 2 d + d V

    The embedding lookups are gathers (zero FLOPs in every convention); adding the
    position embedding is ``B q d`` adds under ``FULL``. Parts: ``embed``, ``blocks``,
    ``norm``, ``head``.
    """
    d, rows, out_rows = config.width, batch * q_len, batch * head_rows
    embed = Cost.group({
        "tokens": Cost(params=(config.vocab_size + 1) * d),
        "positions": residual_add(rows * d, convention) + Cost(params=config.sequence_length * d),
    })
    blocks = block_cost(config, batch=batch, q_len=q_len, kv_len=kv_len, convention=convention) * config.depth
    return Cost.group({
        "embed": embed,
        "blocks": blocks,
        "norm": layer_norm(rows=out_rows, features=d, convention=convention),
        "head": linear(rows=out_rows, in_features=d, out_features=config.vocab_size, bias=False,
                       convention=convention),
    })


def cost(config: ARTransformerConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""One training step: a causal pass over all ``tau`` positions of ``batch`` images, forward and backward.

    .. math::
        F_{fwd} = 2 B \left[ D \left( (4 + 2r)\,\tau d^2 + 2 \tau^2 d \right) + \tau d V \right]

    Every linear layer needs its input gradient (the first block's input is the token
    embedding, a parameter). The cross-entropy loss is not counted.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cfg = ARTransformerConfig(image_size=(1, 4), vocab_size=3, width=2, depth=1, heads=1)
    >>> cost(cfg, batch=1, convention=FLOP_COUNTER).forward_flops   # 2 (12*4*4 + 2*16*2 + 4*2*3)
    560
    """
    del divisible
    tokens = config.sequence_length
    return network_cost(config, batch=batch, q_len=tokens, kv_len=tokens, head_rows=tokens, convention=convention)


def check_steps(config: ARTransformerConfig, steps: Any) -> Any:
    """``steps`` (default ``tau``): a size no larger than the position table."""
    if steps is None:
        return config.sequence_length
    steps = as_size("steps", steps)
    limit = config.sequence_length
    if isinstance(steps, int) and isinstance(limit, int) and steps > limit:
        raise InvalidConfigError("steps", steps, f"the model has position embeddings for {limit} tokens only")
    return steps


def sample_step_cost(config: ARTransformerConfig, *, batch: Any, convention: Convention, kv_cache: bool,
                     step: Any = t) -> Cost:
    r"""Step ``t`` of sampling: the network on the prefix (or, cached, the newest token), head, softmax.

    .. math::
        F_t^{\text{no cache}} = 2 B \left[ D\left((4 + 2r)\,t d^2 + 2 t^2 d\right) + d V \right], \quad
        F_t^{\text{cache}} = 2 B \left[ D\left((4 + 2r)\,d^2 + 2 t d\right) + d V \right]

    (``FLOP_COUNTER``). The head and the final LayerNorm run on the last position only.
    Parts: those of :func:`network_cost` and ``softmax`` (``B V`` values, ``FULL`` only).
    """
    q_len = 1 if kv_cache else step
    network = network_cost(config, batch=batch, q_len=q_len, kv_len=step, head_rows=1, convention=convention)
    return network + Cost.group({"softmax": softmax(batch * config.vocab_size, convention)})


def sample_cost(config: ARTransformerConfig, *, batch: Any, convention: Convention, kv_cache: bool = False,
                steps: Any = None) -> Cost:
    r"""Generating ``steps`` tokens (default ``tau``, a whole image) for ``batch`` sequences (F17).

    .. math::
        F^{\text{no cache}}(\tau) = 2 B \left[ D\left((4 + 2r) d^2 \tfrac{\tau(\tau+1)}{2}
            + 2 d \tfrac{\tau(\tau+1)(2\tau+1)}{6}\right) + \tau d V \right]

        F^{\text{cache}}(\tau) = 2 B \left[ D\left((4 + 2r) d^2 \tau
            + 2 d \tfrac{\tau(\tau+1)}{2}\right) + \tau d V \right]

    The per-step cost (:func:`sample_step_cost`) summed over ``t = 1..tau``: cubic in
    ``tau`` without a cache, quadratic with one. ``steps`` may be a symbol (e.g.
    :data:`~costmodel.models.generative.common.tau`) for the closed form in the sequence
    length. Backward FLOPs are zero; ``params`` are the model's.
    """
    steps = check_steps(config, steps)
    per_step = forward_only(sample_step_cost(config, batch=batch, convention=convention, kv_cache=kv_cache))
    params = network_cost(config, batch=1, q_len=1, kv_len=1, head_rows=1, convention=convention).params
    return sum_cost_over_steps(per_step, steps) + Cost(params=params)


def kv_cache_elements(config: ARTransformerConfig, *, batch: Any, steps: Any = None) -> Any:
    r"""Values in the key/value cache after ``steps`` tokens: :math:`2 D B \tau d`.

    Keys and values of every layer, for every token so far (``h`` heads of ``d / h``).
    Multiply by the bytes of the dtype (4 for float32) for memory.
    """
    return 2 * config.depth * batch * check_steps(config, steps) * config.width


__all__ = ["ARTransformerConfig", "block_cost", "network_cost", "cost", "check_steps", "sample_step_cost",
           "sample_cost", "kv_cache_elements"]
