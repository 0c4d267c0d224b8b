"""RegNet X / Y as torchvision builds it (``models/regnet.py``), from a
:class:`~costmodel.models.regnet.RegNetConfig`: ``stem``, ``trunk_output`` (``block1`` ...),
``avgpool``, ``fc``."""

from __future__ import annotations

from collections import OrderedDict

import torch
from costmodel.validation.torch_models.mbconv import Conv2dNormActivation, SqueezeExcitation
from torch import nn

from costmodel.models.mbconv import exact_fraction
from costmodel.models.regnet import STRIDE, RegNetConfig, RegNetStage


class BottleneckTransform(nn.Sequential):
    """``a`` ``1x1``, ``b`` grouped ``3x3`` with the stride, ``se`` (RegNetY), ``c`` ``1x1`` (no activation)."""

    def __init__(self, width_in: int, stage: RegNetStage, stride: int, se_width: int | None) -> None:
        inner = int(round(stage.width * stage.bottleneck))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["a"] = Conv2dNormActivation(width_in, inner, 1)
        layers["b"] = Conv2dNormActivation(inner, inner, 3, stride, groups=inner // stage.group_width)
        if se_width is not None:
            layers["se"] = SqueezeExcitation(inner, se_width)
        layers["c"] = Conv2dNormActivation(inner, stage.width, 1, activation=None)
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    def __init__(self, width_in: int, stage: RegNetStage, stride: int, se_width: int | None) -> None:
        super().__init__()
        self.proj = None
        if width_in != stage.width or stride != 1:
            self.proj = Conv2dNormActivation(width_in, stage.width, 1, stride, activation=None)
        self.f = BottleneckTransform(width_in, stage, stride, se_width)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x) + self.f(x) if self.proj is not None else x + self.f(x)
        return self.activation(x)


class RegNet(nn.Module):
    def __init__(self, config: RegNetConfig) -> None:
        super().__init__()
        self.stem = Conv2dNormActivation(int(config.in_channels), int(config.stem_width), 3, STRIDE)
        width = int(config.stem_width)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        for i, stage in enumerate(config.stages()):
            blocks = []
            for j in range(stage.depth):
                cin = width if j == 0 else stage.width
                se = int(round(exact_fraction(config.se_ratio) * cin)) if config.se else None
                blocks.append(ResBottleneckBlock(cin, stage, STRIDE if j == 0 else 1, se))
            stages[f"block{i + 1}"] = nn.Sequential(*blocks)
            width = stage.width
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, int(config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(x.flatten(start_dim=1))


def build(config: RegNetConfig) -> nn.Module:
    return RegNet(config)


__all__ = ["RegNet", "ResBottleneckBlock", "BottleneckTransform", "build"]
