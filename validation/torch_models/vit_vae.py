"""ViT-style VAE, layout as :mod:`costmodel.models.generative.vit_vae`; blocks are the ViT's own.

``forward(images)`` returns ``(logits, mu, logvar)`` with ``mu, logvar`` of shape
``(B, N_p, z_c)``. :meth:`ViTVAE.decode` on ``z ~ N(0, I)`` is sampling; its blocks
attend over the ``N_p`` latent tokens (F20).
"""

from __future__ import annotations

import torch
from costmodel.validation.torch_models.vit import Block
from torch import nn

from costmodel.models.generative.vit_vae import ViTVAEConfig


class ViTVAE(nn.Module):
    """ViT encoder (no class token) -> per-token latent -> ViT decoder -> per-token ``P x P x C`` patch."""

    def __init__(self, config: ViTVAEConfig) -> None:
        super().__init__()
        vit = config.block_config()
        width, self.patch = int(config.width), int(config.patch_size)
        self.channels, self.latent_channels = int(config.in_channels), int(config.latent_channels)
        self.grid = tuple(int(s) // self.patch for s in config.image_hw)
        tokens = self.grid[0] * self.grid[1]
        self.patch_embed = nn.Conv2d(self.channels, width, self.patch, stride=self.patch)
        self.enc_pos = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.encoder = nn.Sequential(*(Block(vit, tokens) for _ in range(int(config.depth))))
        self.enc_norm = nn.LayerNorm(width, eps=1e-6)
        self.to_latent = nn.Linear(width, 2 * self.latent_channels)
        self.from_latent = nn.Linear(self.latent_channels, width)
        self.dec_pos = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.decoder = nn.Sequential(*(Block(vit, tokens) for _ in range(int(config.decoder_depth))))
        self.dec_norm = nn.LayerNorm(width, eps=1e-6)
        self.to_pixels = nn.Linear(width, self.patch * self.patch * self.channels)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.enc_pos
        return self.to_latent(self.enc_norm(self.encoder(x))).chunk(2, dim=-1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dec_norm(self.decoder(self.from_latent(z) + self.dec_pos))
        patches = self.to_pixels(x)  # (B, N_p, P * P * C)
        (gh, gw), p, c = self.grid, self.patch, self.channels
        grid = patches.view(z.shape[0], gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return grid.reshape(z.shape[0], c, gh * p, gw * p)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(images)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar

    def decoder_params(self) -> int:
        """Parameters sampling reads: the decoder's (from_latent, dec_pos, decoder, dec_norm, to_pixels)."""
        parts = (self.from_latent, self.dec_pos, self.decoder, self.dec_norm, self.to_pixels)
        return sum(p.numel() for part in parts
                   for p in ([part] if isinstance(part, nn.Parameter) else part.parameters()))

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of ``batch`` images decoded from ``z ~ N(0, I)`` of shape ``(B, N_p, z_c)`` (F20)."""
        tokens = self.grid[0] * self.grid[1]
        return self.decode(torch.randn(batch, tokens, self.latent_channels, generator=generator))


def build(config: ViTVAEConfig) -> ViTVAE:
    """The real module of an integer ``ViTVAEConfig``."""
    return ViTVAE(config)


__all__ = ["build", "ViTVAE"]
