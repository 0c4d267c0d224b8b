"""MobileNetV2 as torchvision builds it (``models/mobilenetv2.py``), from a
:class:`~costmodel.models.mobilenet.MobileNetV2Config`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from costmodel.validation.torch_models.mbconv import Conv2dNormActivation, InvertedResidual
from torch import nn

from costmodel.models.mobilenet import V2_STAGES, MobileNetV2Config


class MobileNetV2(nn.Module):
    def __init__(self, config: MobileNetV2Config) -> None:
        super().__init__()
        width = config.channels(32)
        layers: list[nn.Module] = [Conv2dNormActivation(int(config.in_channels), width, 3, 2, activation="relu6")]
        for t, c, n, s in V2_STAGES:
            out = config.channels(c)
            for i in range(n):
                layers.append(InvertedResidual(width, int(round(width * t)), out, 3, s if i == 0 else 1, "relu6",
                                               inplace_add=False))
                width = out
        layers.append(Conv2dNormActivation(width, config.last_channels, 1, activation="relu6"))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(config.last_channels, int(config.num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def build(config: MobileNetV2Config) -> nn.Module:
    return MobileNetV2(config)


__all__ = ["MobileNetV2", "build"]
