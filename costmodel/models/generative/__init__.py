"""Generative families (F16-F18, F20): PixelCNN, an autoregressive transformer, two VAEs.

Each family module defines its config, ``cost(config, *, batch, convention, divisible)``
(one training step, dispatched by :func:`costmodel.models.cost`) and ``sample_cost``
(generating a batch of images). :func:`sample_cost` here dispatches the latter.

Examples
--------
>>> from costmodel.models.generative import ARTransformerConfig, sample_cost, tau
>>> from costmodel.core.symbols import d, D
>>> cfg = ARTransformerConfig(width=d, depth=D, heads=1, vocab_size=256)
>>> sample_cost(cfg, batch=1, cache=True, steps=tau).forward_flops.expand()   # F17, quadratic in tau
24*D*d**2*tau + 2*D*d*tau**2 + 2*D*d*tau + 512*d*tau
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig
from costmodel.models.generative import ar_transformer, conv_vae, pixelcnn, vit_vae
from costmodel.models.generative.ar_transformer import ARTransformerConfig
from costmodel.models.generative.common import V, Z, sum_over_steps, t, tau
from costmodel.models.generative.conv_vae import ConvVAEConfig
from costmodel.models.generative.pixelcnn import PixelCNNConfig
from costmodel.models.generative.vit_vae import ViTVAEConfig

#: config class -> family module, for the generative families.
MODULES: dict[type[ArchConfig], ModuleType] = {
    PixelCNNConfig: pixelcnn,
    ARTransformerConfig: ar_transformer,
    ConvVAEConfig: conv_vae,
    ViTVAEConfig: vit_vae,
}

#: families whose sampling is sequential, and so can use a cache.
SEQUENTIAL = (PixelCNNConfig, ARTransformerConfig)


def sample_cost(config: Any, *, batch: Any = 1, cache: bool = False, steps: Any = None,
                convention: str | Convention = FLOP_COUNTER, divisible: bool = False) -> Cost:
    """FLOPs of generating ``batch`` images with a generative ``config`` (forward passes only).

    Parameters
    ----------
    cache : bool
        Sequential families: the key/value cache of the transformer (F17), the per-layer
        activation cache of PixelCNN (F16). VAEs sample in one decoder pass and have none.
    steps : int or SymPy expression
        Transformer only: tokens to generate (default ``tau``, the whole image); a symbol
        gives the closed form in the sequence length.
    """
    from costmodel.core.checks import as_size

    module = MODULES.get(type(config))
    if module is None:
        known = ", ".join(c.__name__ for c in MODULES)
        raise InvalidConfigError("config", type(config).__name__, f"is not a generative config (known: {known})")
    if not isinstance(cache, bool):
        raise InvalidConfigError("cache", cache, "must be true or false")
    if cache and not isinstance(config, SEQUENTIAL):
        raise InvalidConfigError("cache", cache, f"{config.family} samples in one decoder pass: there is no cache")
    if steps is not None and not isinstance(config, ARTransformerConfig):
        raise InvalidConfigError("steps", steps, f"{config.family} always generates whole images")
    batch = as_size("batch", batch)
    convention = get_convention(convention)
    if isinstance(config, ARTransformerConfig):
        return ar_transformer.sample_cost(config, batch=batch, convention=convention, kv_cache=cache, steps=steps)
    if isinstance(config, PixelCNNConfig):
        return pixelcnn.sample_cost(config, batch=batch, convention=convention, cache=cache)
    sampled: Cost = module.sample_cost(config, batch=batch, convention=convention, divisible=divisible)
    return sampled


__all__ = ["ARTransformerConfig", "ConvVAEConfig", "PixelCNNConfig", "ViTVAEConfig", "MODULES", "SEQUENTIAL",
           "sample_cost", "sum_over_steps", "tau", "t", "Z", "V", "ar_transformer", "conv_vae", "pixelcnn", "vit_vae"]
