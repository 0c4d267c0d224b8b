"""Vision Transformer config (as torchvision's ``VisionTransformer``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.checks import check_divides
from costmodel.errors import InvalidConfigError
from costmodel.models.base import ArchConfig, choice_field, flag_field, image_field, ratio_field, size_field

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
        if hidden.is_number and not hidden.is_integer:
            raise InvalidConfigError("mlp_ratio", self.mlp_ratio,
                                     f"mlp_ratio * width = {hidden} must be an integer")

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


__all__ = ["ViTConfig", "ATTENTION_VARIANTS"]
