"""Vision Transformer: config and exact cost (as torchvision's ``VisionTransformer``).

References
----------
* Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021, Eq. 1-4 (patch
  embedding, class token, position embedding, pre-LN encoder blocks, head).
* torchvision ``models/vision_transformer.py``: ``conv_proj`` (``Conv2d``, kernel and
  stride ``P``, with bias), ``class_token`` ``(1, 1, d)``, ``pos_embedding``
  ``(1, N_p + 1, d)``, ``EncoderBlock`` (``ln_1``, ``nn.MultiheadAttention`` with
  ``in_proj`` ``3d x d`` + bias and ``out_proj`` ``d x d`` + bias, ``ln_2``, MLP
  ``Linear(d, mlp_dim)``, GELU, ``Linear(mlp_dim, d)``), final ``ln`` applied to every
  token, ``heads.head`` ``Linear(d, num_classes)`` on the class token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.checks import check_divides
from costmodel.core.conventions import Convention
from costmodel.core.validity import require
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.trace import residual
from costmodel.cost.traffic import F32, Traffic
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, choice_field, flag_field, image_field, ratio_field, size_field
from costmodel.ops.attention import linformer_attention, performer_attention, softmax_attention
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.dense import linear
from costmodel.ops.norm import layer_norm
from costmodel.ops.pointwise import gelu, residual_add, split_traffic

ATTENTION_VARIANTS = ("full", "causal", "linformer", "performer")


@dataclass(frozen=True, kw_only=True)
class ViTConfig(ArchConfig):
    """A ViT as torchvision defines ``VisionTransformer`` (Dosovitskiy et al. 2021).

    Conv patch embedding (F15), class token, learned position embedding, ``depth``
    pre-LN blocks (F4: LN, multi-head self-attention, residual; LN, GELU MLP, residual),
    final LN, linear head on the class token.

    Parameters
    ----------
    image_size : int or (height, width)
    patch_size : int
        Must divide both image sides.
    width : int
        Embedding dimension ``d``; ``heads`` must divide it.
    depth, heads : int
    mlp_ratio : rational
        Hidden width of the MLP is ``mlp_ratio * width`` (must be an integer).
    attention : {"full", "causal", "linformer", "performer"}
    linformer_rank, performer_features : int
        ``k`` and ``m`` of the efficient variants (used only by that variant).
    position_embedding : bool
        Learned position embedding (F15); off only to study equivariance (F14).
    fused_attention : bool
        ``F.scaled_dot_product_attention`` (as torchvision's ``nn.MultiheadAttention``
        uses): no probabilities kept, scores recomputed in the backward pass. False:
        the explicit ``softmax(q @ k.T) @ v``.
    """

    family = "vit"

    image_size: Any = image_field(224)
    patch_size: Any = size_field(16)
    width: Any = size_field(768)
    depth: Any = size_field(12)
    heads: Any = size_field(12)
    mlp_ratio: Any = ratio_field(4)
    num_classes: Any = size_field(1000)
    in_channels: Any = size_field(3)
    attention: str = choice_field("full", ATTENTION_VARIANTS)
    linformer_rank: Any = size_field(256)
    performer_features: Any = size_field(256)
    position_embedding: bool = flag_field(True)
    fused_attention: bool = flag_field(True)

    def _check(self) -> None:
        check_divides("width", self.width, self.heads, "heads")
        for side in self.image_hw:
            check_divides("image_size", side, self.patch_size, "patch_size")
        hidden = sympy.sympify(self.mlp_ratio) * self.width
        require("mlp_ratio", self.mlp_ratio, f"mlp_ratio * width = {hidden} must be an integer",
                sympy.Eq(sympy.Mod(hidden, 1), 0))

    @property
    def grid(self) -> tuple[Any, Any]:
        """Patches along height and width."""
        height, width = self.image_hw
        return (_exact_div(height, self.patch_size), _exact_div(width, self.patch_size))

    @property
    def num_patches(self) -> Any:
        """``N_p = H W / P^2`` (F15)."""
        gh, gw = self.grid
        return gh * gw

    @property
    def tokens(self) -> Any:
        """Sequence length ``L = N_p + 1`` (patches plus the class token)."""
        return self.num_patches + 1

    @property
    def head_dim(self) -> Any:
        return _exact_div(self.width, self.heads)

    @property
    def mlp_dim(self) -> Any:
        hidden = sympy.sympify(self.mlp_ratio) * self.width
        return int(hidden) if hidden.is_Integer else hidden


def _exact_div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return sympy.sympify(a) / b


def patch_grid(config: ViTConfig, *, divisible: bool = False) -> tuple[Any, Any]:
    r"""Patches along height and width: the output size of the ``P x P``, stride ``P`` conv.

    .. math:: g_h = \left\lfloor \frac{H - P}{P} \right\rfloor + 1 = \lfloor H / P \rfloor

    Exact integers for integer sizes; a floor for symbolic ones (``floor(R P / P) = R``
    simplifies), or ``H / P`` with ``divisible=True`` (the config already rejects a
    patch that decidably does not divide).
    """
    patch = config.patch_size
    grid = []
    for side in config.image_hw:
        if divisible and not (isinstance(side, int) and isinstance(patch, int)):
            grid.append(sympy.sympify(side) / patch)
            continue
        size = conv_out_size(side, patch, patch)
        if isinstance(size, sympy.Expr):  # floor((R P - P) / P) -> floor(R - 1) -> R - 1
            size = size.replace(lambda e: isinstance(e, sympy.floor), lambda e: sympy.floor(sympy.expand(e.args[0])))
        grid.append(size)
    return (grid[0], grid[1])


def embedding_cost(config: ViTConfig, *, batch: Any, grid: tuple[Any, Any], tokens: Any,
                   convention: Convention, precision: Precision | None = None) -> Cost:
    r"""Patch embedding, class token and position embedding (Dosovitskiy et al., Eq. 1).

    .. math::
        \mathrm{MACs} = B N_p P^2 C d, \quad
        \mathrm{params} = (P^2 C d + d) + d + L d\,[\text{pos. emb.}]

    The image needs no gradient, so the patch conv's backward is its weight gradient only.
    The class token is concatenated (no arithmetic; traffic :func:`class_token_traffic`);
    the position embedding is an add over ``B L d`` values (``FULL`` only; traffic: it
    reads the stream and the table and writes the stream, and its backward sums the
    stream's gradient over the batch into the table's). Memory: the conv keeps the image (a 16-bit
    copy under mixed precision); the concatenation with the float32 class token makes
    the token stream float32.
    """
    image = (grid[0] * config.patch_size, grid[1] * config.patch_size)
    parts = {
        "patch_embed": conv2d(batch=batch, in_channels=config.in_channels, out_channels=config.width,
                              out_size=grid, kernel_size=config.patch_size, input_grad=False,
                              convention=convention, in_size=image, precision=precision,
                              input_role="float32"),
        "class_token": Cost(params=config.width).with_traffic(class_token_traffic(
            precision.compute_bytes if precision is not None else F32, batch=batch, tokens=tokens,
            width=config.width)),
    }
    if config.position_embedding:
        stream, table = batch * tokens * config.width, tokens * config.width
        parts["pos_embed"] = (residual_add(stream, convention) + Cost(params=table)).with_traffic(
            Traffic.op("elementwise", forward=F32 * (2 * stream + table), backward=F32 * (stream + table)))
    return Cost.group(parts)


def class_token_traffic(c: int, *, batch: Any, tokens: Any, width: Any) -> Traffic:
    r"""Traffic of prepending the class token (``torch.cat``, float32 result) and of its gradient.

    .. math::
        Q_{fwd} = c\,B (L - 1) d + 4\,(B d + B L d), \qquad Q_{bwd} = 4\,(B d + d)

    Forward reads the patch tokens and the expanded class token and writes the float32
    stream; backward sums the class token's gradient over the batch (the patches'
    gradient is a view of the stream's).
    """
    return Traffic.op("elementwise", forward=c * batch * (tokens - 1) * width + F32 * (batch * width
                                                                                     + batch * tokens * width),
                      backward=F32 * (batch * width + width))


def attention_cost(config: ViTConfig, *, batch: Any, tokens: Any, convention: Convention,
                   precision: Precision | None = None) -> Cost:
    r"""Multi-head self-attention of one block: ``qkv``, the core, ``proj``, residual add.

    .. math::
        \mathrm{MACs} = 3 B L d^2 + B L d^2 + \mathrm{core}, \quad
        \mathrm{params} = (3 d^2 + 3 d) + (d^2 + d) + \mathrm{core}

    ``qkv`` has torchvision's ``in_proj`` shape (``3d x d`` + bias), ``proj`` its
    ``out_proj``; ``split`` (no arithmetic) cuts its output into ``q``, ``k``, ``v``, whose
    gradients the backward pass concatenates (:func:`costmodel.ops.pointwise.split_traffic`).
    The core is :func:`~costmodel.ops.attention.softmax_attention` for
    ``"full"`` and ``"causal"`` (a causal mask is counted as full attention, as
    FlopCounterMode counts it), :func:`~costmodel.ops.attention.linformer_attention` or
    :func:`~costmodel.ops.attention.performer_attention` (which has no fused kernel:
    ``fused_attention`` does not apply to it).

    Memory: ``qkv`` keeps its float32 input (the first layer norm's output, or its 16-bit
    copy); the core keeps the ``qkv`` output storage (``q``, ``k``, ``v`` are views of it)
    where it reads them as views; the fused kernel's output is the very tensor ``proj``
    keeps, so it is counted once, by the core.
    """
    rows, d = batch * tokens, config.width
    shape = dict(batch=batch, heads=config.heads, head_dim=config.head_dim, convention=convention,
                 precision=precision)
    qkv_storage = rows * 3 * d
    if config.attention in ("full", "causal"):
        core = softmax_attention(q_len=tokens, kv_len=tokens, causal=config.attention == "causal",
                                 fused=config.fused_attention, q_storage=qkv_storage, **shape)
    elif config.attention == "linformer":
        core = linformer_attention(tokens=tokens, rank=config.linformer_rank,
                                   fused=config.fused_attention, q_storage=qkv_storage, **shape)
    else:
        core = performer_attention(tokens=tokens, features=config.performer_features, q_storage=qkv_storage,
                                   **shape)
    shares_output = config.fused_attention and config.attention != "performer"
    return Cost.group({
        "qkv": linear(rows=rows, in_features=d, out_features=3 * d, convention=convention,
                      precision=precision, input_role="float32", input_rank=3),
        "split": Cost(traffic=split_traffic(precision.compute_bytes if precision is not None else F32,
                                            elements=qkv_storage)),
        "core": core,
        "proj": linear(rows=rows, in_features=d, out_features=d, convention=convention, precision=precision,
                       saves_input=not shares_output, input_rank=3),
        "residual": residual_add(rows * d, convention),
    })


def mlp_cost(config: ViTConfig, *, rows: Any, convention: Convention, precision: Precision | None = None) -> Cost:
    r"""The block's MLP: ``fc1`` (``d -> r d``), GELU, ``fc2`` (``r d -> d``), residual add.

    .. math:: \mathrm{MACs} = 2 N r d^2, \quad \mathrm{params} = 2 r d^2 + r d + d

    Memory: ``fc1`` keeps its float32 input (or a 16-bit copy), GELU its input (``fc1``'s
    output), ``fc2`` its input (GELU's output): ``N d + 2 N r d`` elements.
    """
    d, hidden = config.width, config.mlp_dim
    return Cost.group({
        "fc1": linear(rows=rows, in_features=d, out_features=hidden, convention=convention, precision=precision,
                      input_role="float32", input_rank=3),
        "act": gelu(rows * hidden, convention, precision=precision),
        "fc2": linear(rows=rows, in_features=hidden, out_features=d, convention=convention, precision=precision,
                      input_rank=3),
        "residual": residual_add(rows * d, convention),
    })


def block_cost(config: ViTConfig, *, batch: Any, tokens: Any, convention: Convention,
               precision: Precision | None = None) -> Cost:
    r"""One pre-LN encoder block (Dosovitskiy et al., Eq. 2-3).

    .. math:: x' = x + \mathrm{MSA}(\mathrm{LN}(x)), \quad y = x' + \mathrm{MLP}(\mathrm{LN}(x'))

    With full attention at batch 1 this is ``4 L d^2 + 2 L^2 d + 2 r L d^2`` MACs (F10).
    Memory: the layer norms keep the float32 residual stream ``x`` and ``x'``; while each
    residual branch runs backward, the stream's gradient waits (``B L d`` float32).
    The block is the unit of activation checkpointing (its input, kept by ``ln1``).
    """
    rows = batch * tokens
    stream = 4 * rows * config.width  # float32 in every precision
    attn = attention_cost(config, batch=batch, tokens=tokens, convention=convention, precision=precision)
    mlp = mlp_cost(config, rows=rows, convention=convention, precision=precision)
    block = Cost.group({
        "ln1": layer_norm(rows=rows, features=config.width, convention=convention, precision=precision,
                          input_role="float32"),
        "attn": attn,
        "ln2": layer_norm(rows=rows, features=config.width, convention=convention, precision=precision,
                          input_role="float32"),
        "mlp": mlp,
    })
    if precision is None:
        return block
    # mixed precision: the add promotes to float32, so the branch gets its own 16-bit gradient
    shares = not precision.mixed
    normed = precision.bytes("float32") * rows * config.width  # layer-norm outputs (float32 stream dtype)
    qkv = precision.compute_bytes * rows * 3 * config.width
    hidden = precision.compute_bytes * rows * config.mlp_dim
    # without autograd, Python arguments keep the norm's output through the branch and
    # q, k, v (views of qkv) through the attention; fc1's output lives until fc2 returns
    attn_ops = [block.part("ln1").trace, attn.part("qkv").trace.keep(normed),
                attn.part("core").trace.keep(normed + qkv), attn.part("proj").trace.keep(normed + qkv)]
    mlp_ops = [block.part("ln2").trace, mlp.part("fc1").trace.keep(normed), mlp.part("act").trace.keep(normed),
               mlp.part("fc2").trace.keep(normed + hidden)]
    trace = residual(attn_ops, stream, shares_gradient=shares).then(residual(mlp_ops, stream, shares_gradient=shares))
    return block.with_trace(trace.block(stream, inside=True))


def cost(config: ViTConfig, *, batch: Any, convention: Convention, divisible: bool = False,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of a ViT on ``batch`` images.

    .. math::
        \mathrm{cost} = \mathrm{embed} + D \cdot \mathrm{block}
                      + \mathrm{LN}(B L d) + \mathrm{Linear}(B, d \to n)

    The final layer norm runs over every token (torchvision's ``encoder.ln``); the head
    only over the class tokens. Parts: ``patch_embed``, ``class_token``, ``pos_embed``,
    ``blocks`` (one block times ``depth``: ``blocks/ln1``, ``blocks/attn/qkv``,
    ``blocks/attn/core/...``, ``blocks/attn/proj``, ``blocks/mlp/fc1``, ...), ``norm``,
    ``select`` (the class token's selection: traffic in backward only), ``head``.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> vit_b_16 = ViTConfig(patch_size=16, width=768, depth=12, heads=12)
    >>> cost(vit_b_16, batch=1, convention=FLOP_COUNTER).params   # torchvision: 86,567,656
    86567656
    """
    grid = patch_grid(config, divisible=divisible)
    tokens = grid[0] * grid[1] + 1
    embed = embedding_cost(config, batch=batch, grid=grid, tokens=tokens, convention=convention,
                           precision=precision)
    blocks = block_cost(config, batch=batch, tokens=tokens, convention=convention, precision=precision)
    rows = batch * tokens
    total: Cost = embed + (blocks * config.depth).named("blocks") + Cost.group({
        "norm": layer_norm(rows=rows, features=config.width, convention=convention, precision=precision,
                           input_role="float32"),
        # x[:, 0]: a view forward; backward ``select_backward`` writes a zero-filled gradient of
        # every token and copies the class token's in
        "select": Cost(traffic=Traffic.op("elementwise", forward=0, backward=(
            precision.bytes("float32") if precision is not None else F32) * (rows + batch) * config.width)),
        # the head reads the class token, a view into the normalised tokens: it keeps them all
        "head": linear(rows=batch, in_features=config.width, out_features=config.num_classes,
                       convention=convention, precision=precision, input_role="float32",
                       input_storage=rows * config.width),
    })
    return total


__all__ = ["ViTConfig", "ATTENTION_VARIANTS", "patch_grid", "embedding_cost", "class_token_traffic",
           "attention_cost", "mlp_cost", "block_cost", "cost"]
