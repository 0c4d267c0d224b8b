"""PixelCNN (van den Oord et al., ICML 2016, Sec. 3.4) and its sampling loops, with and without a cache.

Layout as :mod:`costmodel.models.generative.pixelcnn`: a mask-A ``K_A x K_A`` stem,
``depth`` residual blocks ``x + conv_B(ReLU(x))``, a head ``ReLU, 1x1, ReLU, 1x1`` giving
``V`` logits per sub-pixel. Masks multiply the weights in every call.

:func:`sample` generates images pixel by pixel (F16). Without a cache every step runs the
network on the whole canvas. With a cache (Ramachandran et al., ICLR 2017 workshop) each
layer is evaluated at the new pixel only: its masked conv runs on the ``K x K`` window
around the pixel, cut from the cached canvas or the cached ``ReLU`` of the block's input,
giving a ``1 x 1`` output. The masks make the window's not-yet-generated values
irrelevant, so both loops compute the same conditionals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.models.generative.pixelcnn import PixelCNNConfig


def causal_mask(kernel: int, mask_type: str) -> torch.Tensor:
    """``K x K`` 0/1 mask: rows above the centre, and the centre row left of it (plus the centre for B)."""
    mask = torch.ones(kernel, kernel)
    centre = kernel // 2
    mask[centre, centre + (mask_type == "B"):] = 0
    mask[centre + 1:, :] = 0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A ``K x K`` conv, stride 1, "same" padding, whose weights are multiplied by a causal mask."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, mask_type: str) -> None:
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2)
        self.register_buffer("mask", causal_mask(kernel, mask_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def at(self, window: torch.Tensor) -> torch.Tensor:
        """The output at one pixel from its ``(B, C_in, K, K)`` window: ``(B, C_out, 1, 1)``."""
        return F.conv2d(window, self.weight * self.mask, self.bias)


class PixelCNN(nn.Module):
    """PixelCNN over ``(B, C, H, W)`` images in ``[0, 1]``; logits ``(B, V, C, H, W)``."""

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__()
        channels, width = int(config.in_channels), int(config.width)
        self.channels, self.levels = channels, int(config.levels)
        self.stem = MaskedConv2d(channels, width, int(config.first_kernel), "A")
        self.blocks = nn.ModuleList(MaskedConv2d(width, width, int(config.kernel_size), "B")
                                    for _ in range(int(config.depth)))
        self.fc1 = nn.Conv2d(width, width, 1)
        self.out = nn.Conv2d(width, channels * self.levels, 1)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.out(F.relu(self.fc1(F.relu(x))))
        batch, _, height, width = logits.shape
        return logits.view(batch, self.levels, self.channels, height, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for conv in self.blocks:
            x = x + conv(F.relu(x))
        return self.head(x)


def window(source: torch.Tensor, row: int, col: int, kernel: int) -> torch.Tensor:
    """The ``kernel x kernel`` window of ``source`` centred on ``(row, col)``, zero-padded at borders."""
    half = kernel // 2
    height, width = source.shape[-2:]
    top, left, bottom, right = row - half, col - half, row + half + 1, col + half + 1
    crop = source[:, :, max(top, 0):min(bottom, height), max(left, 0):min(right, width)]
    return F.pad(crop, (max(-left, 0), max(right - width, 0), max(-top, 0), max(bottom - height, 0)))


class PixelCache:
    """The sampling cache: the canvas and ``ReLU`` of every block's input, at the pixels done so far."""

    def __init__(self, model: PixelCNN, canvas: torch.Tensor) -> None:
        batch, _, height, width = canvas.shape
        self.canvas = canvas
        self.acts = [canvas.new_zeros(batch, block.in_channels, height, width) for block in model.blocks]

    def elements(self) -> int:
        """Values held (compare :func:`costmodel.models.generative.pixelcnn.cache_elements`)."""
        return self.canvas.numel() + sum(a.numel() for a in self.acts)


def cached_step(model: PixelCNN, cache: PixelCache, row: int, col: int) -> torch.Tensor:
    """Logits ``(B, V, C)`` of pixel ``(row, col)``, each layer evaluated at that pixel only."""
    x = model.stem.at(window(cache.canvas, row, col, model.stem.kernel_size[0]))
    for conv, acts in zip(model.blocks, cache.acts, strict=True):
        acts[:, :, row, col] = F.relu(x)[:, :, 0, 0]
        x = x + conv.at(window(acts, row, col, conv.kernel_size[0]))
    return model.head(x)[:, :, :, 0, 0]


def draw(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One value per sub-pixel from ``(B, V, C)`` logits: ``(B, C)`` integers in ``[0, V)``."""
    batch, levels, channels = logits.shape
    probs = logits.softmax(dim=1).transpose(1, 2).reshape(batch * channels, levels)
    return torch.multinomial(probs, 1, generator=generator).view(batch, channels)


@torch.no_grad()
def sample(model: PixelCNN, batch: int, image_size: tuple[int, int], *, cache: bool = False,
           generator: torch.Generator | None = None,
           teacher: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Generate ``batch`` images in raster order, ``H W`` sequential steps (F16).

    Returns the images ``(B, C, H, W)`` in ``[0, 1]``, the logits of every step
    ``(B, V, C, H, W)`` and the values the cache held (0 without one). With ``teacher``
    (integer images ``(B, C, H, W)``) each pixel is taken from it instead of drawn, so two
    loops can be compared on the same prefix.
    """
    height, width = image_size
    levels = model.levels
    canvas = torch.zeros(batch, model.channels, height, width)
    logits = torch.zeros(batch, levels, model.channels, height, width)
    state = PixelCache(model, canvas) if cache else None
    for row in range(height):
        for col in range(width):
            step = cached_step(model, state, row, col) if state is not None else model(canvas)[:, :, :, row, col]
            logits[:, :, :, row, col] = step
            values = teacher[:, :, row, col] if teacher is not None else draw(step, generator)
            canvas[:, :, row, col] = values.to(canvas.dtype) / (levels - 1)
    return canvas, logits, state.elements() if state is not None else 0


def build(config: PixelCNNConfig) -> PixelCNN:
    """The real module of an integer ``PixelCNNConfig``."""
    return PixelCNN(config)


__all__ = ["build", "PixelCNN", "MaskedConv2d", "PixelCache", "causal_mask", "window", "cached_step", "draw",
           "sample"]
