"""ResNet as torchvision builds it (V1.5), from a :class:`~costmodel.models.resnet.ResNetConfig`.

Layer layout from torchvision ``torchvision/models/resnet.py`` (module names match, so a
torchvision state dict of the same architecture would load): stem ``conv1`` 7x7/2 pad 3
(no bias), ``bn1``, ReLU, ``maxpool`` 3x3/2 pad 1; ``layer1`` .. ``layer{s}`` of
``BasicBlock`` / ``Bottleneck``; ``avgpool`` (adaptive, 1x1) and ``fc``. The base width
64 and the 3 image channels are config fields here (``width``, ``in_channels``).
"""

from __future__ import annotations

import torch
from torch import nn

from costmodel.models.resnet import ResNetConfig


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)  # V1.5: the stride is on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    def __init__(self, config: ResNetConfig):
        super().__init__()
        block = BLOCKS[config.block]
        width = int(config.width)
        self.conv1 = nn.Conv2d(int(config.in_channels), width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = width
        self.stage_names = []
        for i, blocks in enumerate(config.layers):
            planes = width * 2**i
            layer, channels = self._make_layer(block, channels, planes, int(blocks), stride=1 if i == 0 else 2)
            name = f"layer{i + 1}"
            self.add_module(name, layer)
            self.stage_names.append(name)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, int(config.num_classes))

    @staticmethod
    def _make_layer(block: type[nn.Module], in_channels: int, planes: int, blocks: int,
                    stride: int) -> tuple[nn.Sequential, int]:
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [block(in_channels, planes, stride, downsample)]
        layers += [block(out_channels, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers), out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def build(config: ResNetConfig) -> nn.Module:
    """The ``nn.Module`` of an integer ``ResNetConfig``."""
    return ResNet(config)


__all__ = ["ResNet", "BasicBlock", "Bottleneck", "build"]
