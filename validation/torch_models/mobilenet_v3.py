"""MobileNetV3 (large, small) as torchvision builds it (``models/mobilenetv3.py``), from a
:class:`~costmodel.models.mobilenet.MobileNetV3Config`. Batch norms have ``eps=0.001``."""

from __future__ import annotations

from functools import partial

import torch
from costmodel.validation.torch_models.mbconv import Conv2dNormActivation, InvertedResidual, SqueezeExcitation
from torch import nn

from costmodel.models.mbconv import make_divisible
from costmodel.models.mobilenet import ACT, V3_BLOCKS, V3_LAST, MobileNetV3Config

EPS = 0.001


class MobileNetV3(nn.Module):
    def __init__(self, config: MobileNetV3Config) -> None:
        super().__init__()
        ch = config.channels
        blocks = V3_BLOCKS[config.variant]
        conv = partial(Conv2dNormActivation, eps=EPS)
        layers: list[nn.Module] = [conv(int(config.in_channels), ch(blocks[0][0]), 3, 2, activation="hardswish")]
        for cin, kernel, expanded, cout, use_se, act, stride in blocks:
            se = SqueezeExcitation(ch(expanded), make_divisible(ch(expanded) // 4), scale_activation=nn.Hardsigmoid)
            block = InvertedResidual(ch(cin), ch(expanded), ch(cout), kernel, stride, ACT[act],
                                     se if use_se else None)
            for module in block.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eps = EPS
            layers.append(block)
        layers.append(conv(ch(blocks[-1][3]), config.last_channels, 1, activation="hardswish"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        hidden = ch(V3_LAST[config.variant])
        self.classifier = nn.Sequential(nn.Linear(config.last_channels, hidden), nn.Hardswish(inplace=True),
                                        nn.Linear(hidden, int(config.num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(config: MobileNetV3Config) -> nn.Module:
    return MobileNetV3(config)


__all__ = ["MobileNetV3", "build"]
