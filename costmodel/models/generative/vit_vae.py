"""ViT-style VAE (F18, F20): a latent of ``N_p`` tokens, attention over the latent in the decoder.

The encoder is a ViT without class token (patch embedding, position embedding, ``depth``
pre-LN blocks, LayerNorm; Dosovitskiy et al. 2021, Eq. 1-4) followed by a per-token
linear layer to ``mu`` and ``log sigma^2`` of ``z_c`` latent channels. The latent is a
sequence of ``N_p = H W / P^2`` tokens of ``z_c`` values, ``Z = N_p z_c`` in all. The
decoder embeds each latent token (``z_c -> d``), adds its own position embedding, runs
``decoder_depth`` blocks over the latent tokens, applies a LayerNorm and maps each token
to its ``P x P x C`` patch of output logits (as ViT-VQGAN's decoder does, Yu et al., ICLR
2022, Sec. 3.1, without the quantiser).

Sampling (F20) draws ``z ~ N(0, I)`` and runs the decoder once. Its attention over the
latent costs ``O(N_p^2 d) = O(Z^2 d / z_c^2)``: quadratic in the latent size when the
latent grows by tokens (larger images or smaller patches at fixed ``z_c``), linear when it
grows by channels ``z_c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.checks import check_divides
from costmodel.core.conventions import Convention
from costmodel.core.validity import require
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, ratio_field, size_field
from costmodel.models.generative.common import sampling
from costmodel.models.vit import ViTConfig, block_cost, patch_grid
from costmodel.ops.conv import conv2d
from costmodel.ops.dense import linear
from costmodel.ops.latent import reparameterize
from costmodel.ops.norm import layer_norm
from costmodel.ops.pointwise import residual_add


@dataclass(frozen=True, kw_only=True)
class ViTVAEConfig(ArchConfig):
    """A VAE whose encoder and decoder are ViT blocks over ``N_p`` patch / latent tokens.

    Parameters
    ----------
    image_size : int or (height, width)
    in_channels, patch_size : int
        ``patch_size`` must divide both image sides.
    width, heads : int
        ``d`` and ``h`` of every block (``heads`` divides ``width``).
    depth, decoder_depth : int
        Encoder and decoder blocks.
    mlp_ratio : rational
    latent_channels : int
        ``z_c`` latent values per token; ``Z = N_p z_c``.
    """

    family = "vit_vae"

    image_size: Any = image_field(32)
    in_channels: Any = size_field(1)
    patch_size: Any = size_field(4)
    width: Any = size_field(128)
    depth: Any = size_field(2)
    decoder_depth: Any = size_field(2)
    heads: Any = size_field(4)
    mlp_ratio: Any = ratio_field(4)
    latent_channels: Any = size_field(4)

    def _check(self) -> None:
        check_divides("width", self.width, self.heads, "heads")
        for side in self.image_hw:
            check_divides("image_size", side, self.patch_size, "patch_size")
        hidden = sympy.sympify(self.mlp_ratio) * self.width
        require("mlp_ratio", self.mlp_ratio, f"mlp_ratio * width = {hidden} must be an integer",
                sympy.Eq(sympy.Mod(hidden, 1), 0))

    def block_config(self) -> ViTConfig:
        """The ViT whose encoder block every block here is (full fused attention, position embedding)."""
        return ViTConfig(image_size=self.image_size, patch_size=self.patch_size, width=self.width,
                         heads=self.heads, mlp_ratio=self.mlp_ratio, in_channels=self.in_channels, depth=1)

    @property
    def num_patches(self) -> Any:
        """``N_p = H W / P^2``: patch tokens, and latent tokens."""
        return self.block_config().num_patches

    @property
    def latent_dim(self) -> Any:
        """``Z = N_p z_c``."""
        return self.num_patches * self.latent_channels


def encoder_cost(config: ViTVAEConfig, *, batch: Any, tokens: Any, grid: tuple[Any, Any],
                 convention: Convention) -> Cost:
    r"""Patch embedding, position embedding, ``depth`` blocks, LayerNorm.

    .. math:: \mathrm{params} = (P^2 C d + d) + N_p d + D\,\mathrm{block} + 2 d

    The image needs no gradient: the patch conv's backward is its weight gradient only.
    """
    vit = config.block_config()
    rows = batch * tokens
    return Cost.group({
        "patch_embed": conv2d(batch=batch, in_channels=config.in_channels, out_channels=config.width,
                              out_size=grid, kernel_size=config.patch_size, input_grad=False, convention=convention),
        "pos_embed": residual_add(rows * config.width, convention) + Cost(params=tokens * config.width),
        "blocks": block_cost(vit, batch=batch, tokens=tokens, convention=convention) * config.depth,
        "norm": layer_norm(rows=rows, features=config.width, convention=convention),
    })


def latent_cost(config: ViTVAEConfig, *, batch: Any, tokens: Any, convention: Convention) -> Cost:
    r"""Per token ``d -> 2 z_c`` (``mu``, ``log sigma^2``) and the reparameterisation.

    .. math:: \mathrm{MACs} = 2 B N_p d z_c, \quad \mathrm{params} = 2 d z_c + 2 z_c
    """
    rows = batch * tokens
    return Cost.group({
        "fc": linear(rows=rows, in_features=config.width, out_features=2 * config.latent_channels,
                     convention=convention),
        "reparameterize": reparameterize(rows * config.latent_channels, convention),
    })


def decoder_cost(config: ViTVAEConfig, *, batch: Any, tokens: Any, convention: Convention) -> Cost:
    r"""Latent tokens ``z_c -> d``, position embedding, ``decoder_depth`` blocks, LayerNorm, ``d -> P^2 C``.

    .. math::
        \mathrm{MACs} = B N_p (z_c d + D_{dec}(12 d^2) + P^2 C d) + 2 D_{dec} B N_p^2 d \quad (r = 4)

    The attention over the ``N_p`` latent tokens is the ``N_p^2`` term (F20). In
    training ``z`` depends on the encoder, so every layer needs its input gradient.
    """
    vit = config.block_config()
    rows = batch * tokens
    pixels = config.patch_size**2 * config.in_channels
    return Cost.group({
        "embed": linear(rows=rows, in_features=config.latent_channels, out_features=config.width,
                        convention=convention),
        "pos_embed": residual_add(rows * config.width, convention) + Cost(params=tokens * config.width),
        "blocks": block_cost(vit, batch=batch, tokens=tokens, convention=convention) * config.decoder_depth,
        "norm": layer_norm(rows=rows, features=config.width, convention=convention),
        "to_pixels": linear(rows=rows, in_features=config.width, out_features=pixels, convention=convention),
    })


def cost(config: ViTVAEConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""One training step (forward and backward) on ``batch`` images: ``encoder``, ``latent``, ``decoder``.

    Symbolic image sizes give a floor for the patch grid, or ``H / P`` with
    ``divisible=True``. The loss is not counted.
    """
    grid = patch_grid(config.block_config(), divisible=divisible)
    tokens = grid[0] * grid[1]
    return Cost.group({
        "encoder": encoder_cost(config, batch=batch, tokens=tokens, grid=grid, convention=convention),
        "latent": latent_cost(config, batch=batch, tokens=tokens, convention=convention),
        "decoder": decoder_cost(config, batch=batch, tokens=tokens, convention=convention),
    })


def sample_cost(config: ViTVAEConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""Generating ``batch`` images: ``z ~ N(0, I)`` of ``N_p x z_c`` values and one decoder pass (F20).

    .. math:: F = 2 B \left[ N_p (z_c d + D_{dec}(4 + 2r) d^2 + P^2 C d) + 2 D_{dec} N_p^2 d \right]

    ``O(Z^2)`` in the latent size at fixed ``z_c`` (``N_p = Z / z_c``). Backward FLOPs
    are zero; ``params`` are the decoder's.
    """
    grid = patch_grid(config.block_config(), divisible=divisible)
    decoder = decoder_cost(config, batch=batch, tokens=grid[0] * grid[1], convention=convention)
    return sampling(Cost.group({"decoder": decoder}), passes=1, params=decoder.params)


__all__ = ["ViTVAEConfig", "encoder_cost", "latent_cost", "decoder_cost", "cost", "sample_cost"]
