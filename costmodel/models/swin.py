"""Swin Transformer (v1) as torchvision defines it: config and exact cost.

References
----------
* Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
  ICCV 2021, Sec. 3.1 (patch partition, linear embedding, patch merging), Sec. 3.2 (W-MSA,
  SW-MSA, Eq. 1-3), Eq. 4 (relative position bias), Sec. 3.3 (Swin-T/S/B).
* torchvision ``models/swin_transformer.py``: ``features`` = ``Conv2d(3, C, P, stride P)`` +
  permute + ``LayerNorm``; per stage ``SwinTransformerBlock`` s (``norm1``,
  ``ShiftedWindowAttention`` with ``qkv`` ``3d x d`` + bias, ``proj`` + bias and a
  ``(2M-1)^2 x h`` bias table, ``norm2``, MLP ``d -> 4d -> d`` with GELU; shift ``M // 2`` on
  every second block) and ``PatchMerging`` (pad to even, concatenate 2x2 neighbours,
  ``LayerNorm(4d)``, ``Linear(4d, 2d, bias=False)``); final ``norm``, average pool, ``head``.
  ``shifted_window_attention`` pads the map on the bottom and right to a multiple of the
  window (``qkv`` and ``proj`` run on the padded tokens), and drops the shift along a side
  the window covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.checks import check_divides
from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, size_field, sizes_field
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.dense import linear
from costmodel.ops.norm import layer_norm
from costmodel.ops.pointwise import gelu, residual_add
from costmodel.ops.pool import avg_pool2d
from costmodel.ops.windowed import layout_copies, padded_grid, shift_applies, window_attention_block

MERGE = 2  #: patch merging halves each side (rounding up: the map is padded to even sides)


@dataclass(frozen=True, kw_only=True)
class SwinConfig(ArchConfig):
    """A Swin Transformer (v1) as torchvision defines it (Liu et al. 2021).

    Parameters
    ----------
    patch_size : int
        Side of the patch partition (4); the image must be at least one patch.
    embed_dim : int
        Width ``C`` of the first stage; stage ``i`` is ``C 2^i`` wide.
    depths, num_heads : tuple of int
        Blocks and heads per stage; every stage's width must be a multiple of its heads.
    window_size : int
        Side ``M`` of the attention windows (7). A map smaller than the window is padded
        up to it, as torchvision does.
    mlp_ratio : int
        MLP expansion (4).
    image_size : int or (height, width)
        May be symbolic: the sizes are then floor and ceiling expressions.
    """

    family = "swin"

    patch_size: Any = size_field(4)
    embed_dim: Any = size_field(96)
    depths: tuple[Any, ...] = sizes_field((2, 2, 6, 2))
    num_heads: tuple[Any, ...] = sizes_field((3, 6, 12, 24))
    window_size: Any = size_field(7)
    mlp_ratio: Any = size_field(4)
    num_classes: Any = size_field(1000)
    image_size: Any = image_field(224)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        if len(self.depths) != len(self.num_heads):
            raise InvalidConfigError("num_heads", self.num_heads,
                                     f"must have one entry per stage of depths={self.depths}")
        for i, heads in enumerate(self.num_heads):
            check_divides("embed_dim", self.embed_dim * 2**i, heads, f"num_heads[{i}]")
        for side in self.image_hw:
            if isinstance(side, int) and isinstance(self.patch_size, int) and side < self.patch_size:
                raise InvalidConfigError("image_size", self.image_size,
                                         f"is smaller than one patch (patch_size={self.patch_size})")

    @property
    def stages(self) -> int:
        return len(self.depths)

    @property
    def image_step(self) -> int:
        """Image sides for which ``divisible=True`` is exact: ``P 2^(s-1) M`` (224 for the presets)."""
        return int(self.patch_size * 2 ** (self.stages - 1) * self.window_size)


def _ceil_half(size: Any, divisible: bool) -> Any:
    if isinstance(size, int):
        return -(-size // MERGE)
    return sympy.sympify(size) / MERGE if divisible else sympy.ceiling(sympy.sympify(size) / MERGE)


def stage_sizes(config: SwinConfig, *, divisible: bool = False) -> list[tuple[Any, Any]]:
    r"""Token grid ``(h_i, w_i)`` of every stage.

    .. math::
        h_0 = \lfloor H / P \rfloor, \qquad h_{i+1} = \lceil h_i / 2 \rceil

    (the patch conv floors; patch merging pads odd sides). With ``divisible=True``:
    ``H / (P 2^i)``, exact when ``P 2^{s-1}`` divides the image sides.
    """
    size = tuple(conv_out_size(side, config.patch_size, config.patch_size, divisible=divisible)
                 for side in config.image_hw)
    sizes = [size]
    for _ in range(config.stages - 1):
        size = tuple(_ceil_half(side, divisible) for side in size)
        sizes.append(size)
    return [(s[0], s[1]) for s in sizes]


def block_cost(config: SwinConfig, *, dim: Any, heads: Any, grid: tuple[Any, Any], shifted: bool, batch: Any,
               convention: Convention, divisible: bool, precision: Precision | None) -> Cost:
    r"""One ``SwinTransformerBlock`` on an ``h x w`` token grid of width ``d``.

    .. math::
        \mathrm{MACs} = B \big(4 h_p w_p d^2 + 2 h_p w_p M^2 d + 2 r h w d^2\big), \qquad
        h_p = M \lceil h / M \rceil

    (Swin Eq. 1 on the padded grid for the attention; the MLP on the real tokens).
    Params: ``4d`` (norms) ``+ 4 d^2 + 4 d`` (qkv, proj) ``+ (2M-1)^2 h`` (bias table)
    ``+ 2 r d^2 + r d + d`` (MLP). Parts ``norm1``, ``attn/...``, ``add1``, ``norm2``,
    ``mlp/{fc1,act,fc2}``, ``add2``.
    """
    rows = batch * grid[0] * grid[1]
    hidden = config.mlp_ratio * dim
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    attn = window_attention_block(batch=batch, dim=dim, heads=heads, grid=grid, window=config.window_size,
                                  shifted=shifted, divisible=divisible, **memory)
    mlp = Cost.group({
        "fc1": linear(rows=rows, in_features=dim, out_features=hidden, input_rank=4, **memory),
        "act": gelu(rows * hidden, **memory),
        "fc2": linear(rows=rows, in_features=hidden, out_features=dim, input_rank=4, **memory),
    })
    return Cost.group({
        "norm1": layer_norm(rows=rows, features=dim, **memory),
        "attn": attn,
        "add1": residual_add(rows * dim, convention),
        "norm2": layer_norm(rows=rows, features=dim, **memory),
        "mlp": mlp,
        "add2": residual_add(rows * dim, convention),
    })


def patch_merging(*, dim: Any, batch: Any, out: tuple[Any, Any], convention: Convention,
                  precision: Precision | None) -> Cost:
    r"""``PatchMerging``: ``LayerNorm(4d)`` and ``Linear(4d, 2d, bias=False)`` on the ``\lceil h/2 \rceil
    \lceil w/2 \rceil`` merged tokens. The padding (``F.pad``, a new tensor) and the ``torch.cat`` of the
    four strided neighbours are two copies of the padded map (traffic only:
    :func:`~costmodel.ops.windowed.layout_copies`; float32 under autocast, the residual stream).
    Backward: each of the four strided slices ``x[..., i::2, j::2, :]`` is two slices, so two
    ``slice_backward`` (a quarter into a zero-filled half, 0.75 passes; the half into a
    zero-filled whole, 1.5), autograd sums the four (3 adds of 3 passes) and the padding's
    backward copies the gradient out (2): 20 passes over the padded map.

    .. math:: \mathrm{MACs} = 8 B h' w' d^2, \qquad \mathrm{params} = 8 d + 8 d^2
    """
    rows = batch * out[0] * out[1]
    f_bytes = precision.bytes("float32") if precision is not None else 4
    return Cost.group({
        "concat": layout_copies(rows * 4 * dim, f_bytes, 2, backward_passes=20),
        "norm": layer_norm(rows=rows, features=4 * dim, convention=convention, precision=precision),
        "reduction": linear(rows=rows, in_features=4 * dim, out_features=2 * dim, bias=False, convention=convention,
                            precision=precision),
    })


def cost(config: SwinConfig, *, batch: Any, convention: Convention, divisible: bool = False,
         precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of a Swin Transformer: ``patch_embed``, ``stage<i>`` (``blocks``), ``merge<i>``, ``norm``, ``head``.

    Blocks alternate unshifted and shifted windows; they cost the same products (the
    shift adds only the mask, an add counted under ``FULL``), so a stage of ``n`` blocks
    is ``ceil(n / 2)`` unshifted and ``floor(n / 2)`` shifted blocks.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cost(SwinConfig(), batch=1, convention=FLOP_COUNTER).params   # swin_t, torchvision: 28,288,354
    28288354
    """
    sizes = stage_sizes(config, divisible=divisible)
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    dim = config.embed_dim
    grid = sizes[0]
    image = config.image_hw
    parts: dict[str, Cost] = {"patch_embed": Cost.group({
        "conv": conv2d(batch=batch, in_channels=config.in_channels, out_channels=dim, out_size=grid,
                       kernel_size=config.patch_size, input_grad=False, in_size=image, input_role="float32",
                       **memory),
        "norm": layer_norm(rows=batch * grid[0] * grid[1], features=dim, **memory),
    })}
    for i, (depth, heads) in enumerate(zip(config.depths, config.num_heads, strict=True)):
        width, grid = dim * 2**i, sizes[i]
        shape: dict[str, Any] = dict(dim=width, heads=heads, grid=grid, batch=batch, divisible=divisible, **memory)
        plain = block_cost(config, shifted=False, **shape)
        shifted = block_cost(config, shifted=True, **shape)
        pairs, odd = _halves(depth)
        stage = (plain + shifted) * pairs if pairs != 0 else Cost()
        if odd != 0:
            stage = stage + plain * odd
        parts[f"stage{i}"] = stage.named("blocks")
        if i + 1 < config.stages:
            parts[f"merge{i}"] = patch_merging(dim=width, batch=batch, out=sizes[i + 1], **memory)
    width, grid = dim * 2 ** (config.stages - 1), sizes[-1]
    rows = batch * grid[0] * grid[1]
    parts["norm"] = layer_norm(rows=rows, features=width, **memory)
    parts["head"] = Cost.group({
        "pool": avg_pool2d(outputs=batch * width, window=grid[0] * grid[1], **memory),
        "fc": linear(rows=batch, in_features=width, out_features=config.num_classes, **memory),
    })
    return Cost.group(parts)


def _halves(depth: Any) -> tuple[Any, Any]:
    """``(floor(n / 2), n mod 2)``: pairs of (unshifted, shifted) blocks and a last unshifted one."""
    if isinstance(depth, int):
        return depth // 2, depth % 2
    n = sympy.sympify(depth)
    return sympy.floor(n / 2), n - 2 * sympy.floor(n / 2)


__all__ = ["SwinConfig", "stage_sizes", "block_cost", "patch_merging", "cost", "padded_grid", "shift_applies"]
