"""Convolutional VAE (Kingma & Welling, ICLR 2014), layout as :mod:`costmodel.models.generative.conv_vae`.

``forward(images)`` returns ``(logits, mu, logvar)``: the reconstruction logits
``(B, C, H, W)`` and the posterior's parameters ``(B, Z)``, all a training step needs for
the ELBO (F18). :meth:`ConvVAE.decode` on ``z ~ N(0, I)`` is sampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.models.generative.conv_vae import KERNEL, SCALE, ConvVAEConfig


class ConvVAE(nn.Module):
    """Stride-2 conv encoder, linear ``mu`` / ``log sigma^2``, linear + upsample-conv decoder."""

    def __init__(self, config: ConvVAEConfig) -> None:
        super().__init__()
        channels = [int(config.in_channels), *(int(c) for c in config.channels)]
        height, width = (int(s) for s in config.image_hw)
        factor = SCALE ** (len(channels) - 1)
        self.map_shape = (channels[-1], height // factor, width // factor)
        flat = channels[-1] * self.map_shape[1] * self.map_shape[2]
        self.latent_dim = int(config.latent_dim)
        self.encoder = nn.ModuleList(nn.Conv2d(c_in, c_out, KERNEL, stride=SCALE, padding=1)
                                     for c_in, c_out in zip(channels, channels[1:], strict=False))
        self.to_latent = nn.Linear(flat, 2 * self.latent_dim)
        self.from_latent = nn.Linear(self.latent_dim, flat)
        self.decoder = nn.ModuleList(nn.Conv2d(c_in, c_out, KERNEL, padding=1)
                                     for c_in, c_out in zip(channels[:0:-1], channels[-2::-1], strict=True))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images
        for conv in self.encoder:
            x = F.relu(conv(x))
        return self.to_latent(x.flatten(1)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.from_latent(z)).view(z.shape[0], *self.map_shape)
        for i, conv in enumerate(self.decoder):
            x = conv(F.interpolate(x, scale_factor=SCALE, mode="nearest"))
            if i < len(self.decoder) - 1:
                x = F.relu(x)
        return x

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(images)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar

    def decoder_params(self) -> int:
        """Parameters sampling reads: the decoder's (from_latent, decoder)."""
        parts = (self.from_latent, self.decoder)
        return sum(p.numel() for part in parts
                   for p in ([part] if isinstance(part, nn.Parameter) else part.parameters()))

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of ``batch`` images decoded from ``z ~ N(0, I)`` (F20)."""
        return self.decode(torch.randn(batch, self.latent_dim, generator=generator))


def build(config: ConvVAEConfig) -> ConvVAE:
    """The real module of an integer ``ConvVAEConfig``."""
    return ConvVAE(config)


__all__ = ["build", "ConvVAE"]
