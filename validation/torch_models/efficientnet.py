"""EfficientNet (v1) as torchvision builds it (``models/efficientnet.py``), from an
:class:`~costmodel.models.efficientnet.EfficientNetConfig`: ``features`` (stem, seven
stages of ``MBConv``, last ``1x1`` conv), ``avgpool``, ``classifier``."""

from __future__ import annotations

from functools import partial

import torch
from costmodel.validation.torch_models.mbconv import Conv2dNormActivation, InvertedResidual, SqueezeExcitation
from torch import nn

from costmodel.models.efficientnet import EfficientNetConfig
from costmodel.models.mbconv import make_divisible


class EfficientNet(nn.Module):
    def __init__(self, config: EfficientNetConfig) -> None:
        super().__init__()
        stages = config.stages()
        layers: list[nn.Module] = [Conv2dNormActivation(int(config.in_channels), stages[0].in_channels, 3, 2,
                                                        activation="silu")]
        for stage in stages:
            blocks = []
            for i in range(stage.layers):
                cin = stage.in_channels if i == 0 else stage.out_channels
                se = SqueezeExcitation(make_divisible(cin * stage.expand), max(1, cin // 4),
                                       activation=partial(nn.SiLU, inplace=True))
                blocks.append(InvertedResidual(cin, make_divisible(cin * stage.expand), stage.out_channels,
                                               stage.kernel, stage.stride if i == 0 else 1, "silu", se))
            layers.append(nn.Sequential(*blocks))
        layers.append(Conv2dNormActivation(stages[-1].out_channels, config.last_channels, 1, activation="silu"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(config.last_channels, int(config.num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(config: EfficientNetConfig) -> nn.Module:
    return EfficientNet(config)


__all__ = ["EfficientNet", "build"]
