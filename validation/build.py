"""``build(config)``: the real ``torch.nn.Module`` of a costmodel config, and measuring it.

Each family has a module ``costmodel.validation.torch_models.<family>`` with a
``build(config) -> nn.Module``; this file dispatches on ``config.family``.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from costmodel.validation.flops import MeasuredFlops, count_flops, count_params
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.core.errors import InvalidConfigError
from costmodel.models.base import ArchConfig


def _require_integers(config: ArchConfig) -> None:
    for name in config.field_names():
        value = getattr(config, name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if hasattr(v, "free_symbols") and v.free_symbols:
                raise InvalidConfigError(name, value, "a real module needs integer sizes, not symbols")


def build(config: ArchConfig) -> torch.nn.Module:
    """The ``nn.Module`` for ``config`` (integer sizes only), on the current default device."""
    _require_integers(config)
    module = importlib.import_module(f"costmodel.validation.torch_models.{config.family}")
    return module.build(config)


def example_input(config: ArchConfig, batch: int, device: Any = None) -> torch.Tensor:
    """A random image batch of the config's size."""
    height, width = config.image_hw
    return torch.randn(batch, config.in_channels, int(height), int(width), device=device)


def measure_flops(config: ArchConfig, batch: int, *, backward: bool = True) -> tuple[MeasuredFlops, int]:
    """FlopCounterMode counts and the parameter count of one step, on fake CPU tensors.

    Fake tensors (``FakeTensorMode``) carry shapes and dispatch exactly like real CPU
    tensors (so ``scaled_dot_product_attention`` takes the fused CPU kernel, as in a real
    run) but allocate nothing, so even ViT-H/14 costs seconds. The meta device is not used
    because it dispatches attention to the unfused math path.
    """
    real_input = example_input(config, batch)
    with FakeTensorMode(allow_non_fake_inputs=False) as mode:
        model = build(config)
        x = mode.from_tensor(real_input)
        measured = count_flops(model, x, backward=backward)
        params = count_params(model)
    return measured, params


__all__ = ["build", "example_input", "measure_flops"]
