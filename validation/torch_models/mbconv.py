"""The layers torchvision's efficient ConvNets share, written out (no torchvision import).

``Conv2dNormActivation`` and ``SqueezeExcitation`` as in torchvision ``ops/misc.py``;
``InvertedResidual`` is the MBConv block of EfficientNet and MobileNetV2/V3
(``models/efficientnet.py``, ``mobilenetv2.py``, ``mobilenetv3.py``). Module names and
parameter shapes follow torchvision's. Dropout and stochastic depth are left out (the
identity: drop rate 0, or evaluation mode).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: the activation of each name, as ``Conv2dNormActivation`` builds it (in place)
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "silu": nn.SiLU,
}


class Conv2dNormActivation(nn.Sequential):
    """``Conv2d(k, stride, padding (k - 1) // 2, groups, bias=False)``, ``BatchNorm2d``, activation in place."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, activation: str | None = "relu", eps: float = 1e-5) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_channels, eps=eps),
        ]
        if activation is not None:
            layers.append(ACTIVATIONS[activation](inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """``x * gate(fc2(act(fc1(avgpool(x)))))`` with ``1x1`` convs (bias) ``fc1: C -> S``, ``fc2: S -> C``."""

    def __init__(self, input_channels: int, squeeze_channels: int, activation: Callable[[], nn.Module] = nn.ReLU,
                 scale_activation: Callable[[], nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    """Expand ``1x1`` (if the width changes), depthwise ``k x k``, SE (optional), linear ``1x1``, add.

    ``inplace_add``: EfficientNet and MobileNetV3 add the input in place (``result += x``),
    MobileNetV2 out of place (``x + conv(x)``); no difference to the costs.
    """

    def __init__(self, in_channels: int, expanded: int, out_channels: int, kernel: int, stride: int,
                 activation: str, se: nn.Module | None = None, inplace_add: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(Conv2dNormActivation(in_channels, expanded, 1, activation=activation))
        layers.append(Conv2dNormActivation(expanded, expanded, kernel, stride, groups=expanded,
                                           activation=activation))
        if se is not None:
            layers.append(se)
        layers.append(Conv2dNormActivation(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.inplace_add = inplace_add
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if not self.use_res_connect:
            return result
        if self.inplace_add:
            result += x
            return result
        return x + result


class Classifier(nn.Sequential):
    """Global average pool, flatten, then the given linear layers (and activations)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), *layers)


__all__ = ["ACTIVATIONS", "Conv2dNormActivation", "SqueezeExcitation", "InvertedResidual", "Classifier"]
