"""Autoregressive transformer over image tokens (F17), GPT-2 style, and its sampling loops.

Layout as :mod:`costmodel.models.generative.ar_transformer` (nanoGPT's ``model.py``
shapes): token embedding ``(V + 1) x d`` (index ``V`` is the start token), position
embedding ``tau x d``, pre-LN blocks with causal ``F.scaled_dot_product_attention``, final
LayerNorm, bias-free head ``d -> V``. An image becomes ``tau = C H W`` tokens: each
sub-pixel in ``[0, 1]`` quantised to ``V`` levels, raster order, channels innermost.

:func:`sample` generates token by token. Without a cache step ``t`` re-runs the network
on the ``t``-token prefix and keeps the last position's logits. With a key/value cache
step ``t`` runs it on the newest token only, whose query attends over the ``t`` keys and
values cached so far.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.models.generative.ar_transformer import ARTransformerConfig


class KVCache:
    """Keys and values of one layer, ``(B, h, t, d_k)`` each, grown by one token per step."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys is not None:
            k, v = torch.cat([self.keys, k], dim=2), torch.cat([self.values, v], dim=2)
        self.keys, self.values = k, v
        return k, v

    def elements(self) -> int:
        return 0 if self.keys is None else self.keys.numel() + self.values.numel()


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: ``qkv`` ``d -> 3d``, SDPA, ``proj`` ``d -> d``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = (t.reshape(batch, tokens, self.heads, -1).transpose(1, 2)
                   for t in self.qkv(x).split(width, dim=-1))
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            if tokens != 1:
                raise ValueError("a cached step takes exactly one new token")
            k, v = cache.append(k, v)
            y = F.scaled_dot_product_attention(q, k, v)  # the newest token sees every cached one
        return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))


class Block(nn.Module):
    """``x + attn(LN(x))``, then ``x + MLP(LN(x))`` with a GELU MLP of ``r d`` hidden units."""

    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ARTransformer(nn.Module):
    """Decoder-only transformer; ``forward(images)`` gives the training logits ``(B, tau, V)``."""

    def __init__(self, config: ARTransformerConfig) -> None:
        super().__init__()
        width, self.vocab = int(config.width), int(config.vocab_size)
        self.channels = int(config.in_channels)
        self.image_size = tuple(int(s) for s in config.image_hw)
        self.tokens = int(config.sequence_length)
        self.tok_emb = nn.Embedding(self.vocab + 1, width)
        self.pos_emb = nn.Parameter(torch.randn(self.tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, int(config.heads), int(config.mlp_dim))
                                    for _ in range(int(config.depth)))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.vocab, bias=False)

    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in ``[0, 1]`` -> ``(B, tau)`` integer tokens (raster order, channels innermost)."""
        levels = (images.clamp(0, 1) * (self.vocab - 1)).round().long()
        return levels.permute(0, 2, 3, 1).reshape(images.shape[0], -1)

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, tau)`` tokens -> ``(B, C, H, W)`` images in ``[0, 1]``."""
        height, width = self.image_size
        grid = tokens.view(tokens.shape[0], height, width, self.channels).permute(0, 3, 1, 2)
        return grid.float() / (self.vocab - 1)

    def start(self, batch: int) -> torch.Tensor:
        return torch.full((batch, 1), self.vocab, dtype=torch.long)

    def logits(self, idx: torch.Tensor, *, last_only: bool = False) -> torch.Tensor:
        """Logits of the next token after every prefix of ``idx`` (or only after the whole of it)."""
        x = self.tok_emb(idx) + self.pos_emb[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        if last_only:
            x = x[:, -1:]
        return self.head(self.ln_f(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        targets = self.tokenize(images)
        inputs = torch.cat([self.start(images.shape[0]), targets[:, :-1]], dim=1)
        return self.logits(inputs)

    def step(self, token: torch.Tensor, position: int, caches: list[KVCache]) -> torch.Tensor:
        """Logits ``(B, V)`` after feeding one token ``(B, 1)`` at ``position``, growing the caches."""
        x = self.tok_emb(token) + self.pos_emb[position: position + 1]
        for block, cache in zip(self.blocks, caches, strict=True):
            x = block(x, cache)
        return self.head(self.ln_f(x))[:, -1]


@torch.no_grad()
def sample(model: ARTransformer, batch: int, *, kv_cache: bool = False, steps: int | None = None,
           generator: torch.Generator | None = None,
           teacher: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Generate ``steps`` tokens (default ``tau``) for ``batch`` sequences, one per step (F17).

    Returns the tokens ``(B, steps)``, the logits of every step ``(B, steps, V)`` and the
    values held by the key/value caches at the end (0 without them). With ``teacher``
    (tokens ``(B, >= steps)``) each token is taken from it instead of drawn.
    """
    steps = model.tokens if steps is None else steps
    caches = [KVCache() for _ in model.blocks] if kv_cache else None
    tokens = model.start(batch)
    all_logits = []
    for position in range(steps):
        if caches is not None:
            logits = model.step(tokens[:, -1:], position, caches)
        else:
            logits = model.logits(tokens, last_only=True)[:, -1]
        all_logits.append(logits)
        if teacher is not None:
            nxt = teacher[:, position]
        else:
            nxt = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)[:, 0]
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
    held = sum(c.elements() for c in caches) if caches is not None else 0
    return tokens[:, 1:], torch.stack(all_logits, dim=1), held


def build(config: ARTransformerConfig) -> ARTransformer:
    """The real module of an integer ``ARTransformerConfig``."""
    return ARTransformer(config)


__all__ = ["build", "ARTransformer", "Block", "CausalSelfAttention", "KVCache", "sample"]
