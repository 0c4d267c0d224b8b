"""ConvNeXt as a real ``nn.Module``, laid out as torchvision's ``models/convnext.py``.

Same modules, same parameter names' structure and counts as torchvision's ``ConvNeXt``
(``features`` = stem, stages and downsampling layers; ``avgpool``; ``classifier``), with
the kernel size and MLP ratio of :class:`~costmodel.models.convnext.ConvNeXtConfig`
(torchvision fixes 7 and 4). Stochastic depth has drop probability 0 (the identity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.models.convnext import DOWNSAMPLE_STRIDE, STEM_STRIDE, ConvNeXtConfig, same_padding

EPS = 1e-6  #: LayerNorm epsilon of every ConvNeXt norm (torchvision)
LAYER_SCALE_INIT = 1e-6  #: initial value of the layer scale (torchvision's default)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(B, C, H, W)`` map (permute, normalise, permute back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """``x.permute(*dims)`` as a module."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class StochasticDepth(nn.Module):
    """Drop the whole residual branch of a sample with probability ``p`` ("row" mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * noise.div_(keep)


class CNBlock(nn.Module):
    """dwconv k x k -> LN -> Linear(d, r d) -> GELU -> Linear(r d, d), layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int, mlp_ratio: int, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size, padding=same_padding(kernel_size), groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=EPS),
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(),
            nn.Linear(mlp_ratio * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * LAYER_SCALE_INIT)
        self.stochastic_depth = StochasticDepth(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.stochastic_depth(self.layer_scale * self.block(x))
        result += x
        return result


class ConvNeXt(nn.Module):
    """Stem, stages with downsampling between them, pooled LayerNorm + linear head."""

    def __init__(self, config: ConvNeXtConfig) -> None:
        super().__init__()
        dims = [int(d) for d in config.dims]
        stem = nn.Sequential(
            nn.Conv2d(int(config.in_channels), dims[0], STEM_STRIDE, stride=STEM_STRIDE, bias=True),
            LayerNorm2d(dims[0], eps=EPS),
        )
        layers: list[nn.Module] = [stem]
        for i, (dim, depth) in enumerate(zip(dims, config.depths, strict=True)):
            layers.append(nn.Sequential(*(CNBlock(dim, int(config.kernel_size), int(config.mlp_ratio))
                                          for _ in range(int(depth)))))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(
                    LayerNorm2d(dim, eps=EPS),
                    nn.Conv2d(dim, dims[i + 1], DOWNSAMPLE_STRIDE, stride=DOWNSAMPLE_STRIDE),
                ))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            LayerNorm2d(dims[-1], eps=EPS), nn.Flatten(1), nn.Linear(dims[-1], int(config.num_classes)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def build(config: ConvNeXtConfig) -> nn.Module:
    """The ``nn.Module`` of an integer ``ConvNeXtConfig``."""
    return ConvNeXt(config)


__all__ = ["build", "ConvNeXt", "CNBlock", "LayerNorm2d", "Permute", "StochasticDepth"]
