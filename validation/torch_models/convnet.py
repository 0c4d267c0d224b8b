"""Plain ConvNet from a :class:`~costmodel.models.convnet.ConvNetConfig`.

Each layer: ``nn.Conv2d`` (groups 1 for the first layer), optional ``nn.BatchNorm2d``,
``nn.ReLU`` / ``nn.GELU``, optional ``nn.MaxPool2d(2)`` / ``nn.AvgPool2d(2)``; then
``nn.AdaptiveAvgPool2d(1)``, flatten and ``nn.Linear``.
"""

from __future__ import annotations

import torch
from torch import nn

from costmodel.models.convnet import POOL_KERNEL, ConvNetConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}
POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def conv_block(config: ConvNetConfig, index: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(
        int(config.layer_in_channels(index)), int(config.channels[index]), int(config.kernel_size),
        stride=int(config.stride), padding=int(config.padding), dilation=int(config.dilation),
        groups=int(config.layer_groups(index)), bias=config.bias,
    )]
    if config.norm == "batch":
        layers.append(nn.BatchNorm2d(int(config.channels[index])))
    layers.append(ACTIVATIONS[config.activation]())
    if config.pool != "none":
        layers.append(POOLS[config.pool](POOL_KERNEL))
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    def __init__(self, config: ConvNetConfig):
        super().__init__()
        self.features = nn.Sequential(*(conv_block(config, i) for i in range(len(config.channels))))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(int(config.channels[-1]), int(config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def build(config: ConvNetConfig) -> nn.Module:
    """The ``nn.Module`` of an integer ``ConvNetConfig``."""
    return ConvNet(config)


__all__ = ["ConvNet", "build"]
