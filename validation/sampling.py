"""Measured sampling costs: the real step-by-step generation loops under FlopCounterMode.

:func:`measure_sampling` builds the module of a generative config, runs its own sampling
loop (:mod:`~costmodel.validation.torch_models.pixelcnn`,
:mod:`~costmodel.validation.torch_models.ar_transformer`, or one decoder pass of a VAE)
inside :func:`costmodel.validation.flops.count_flops` (FlopCounterMode with the CPU SDPA
formulas and the uncounted-op guard), and reports the FLOPs of the whole loop and the
values its cache held. :func:`costmodel.models.generative.sample_cost` must equal it
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from costmodel.validation.build import build
from costmodel.validation.flops import count_flops, count_params
from costmodel.validation.torch_models import ar_transformer, pixelcnn

from costmodel.core.errors import InvalidConfigError
from costmodel.models.generative import ARTransformerConfig, PixelCNNConfig


@dataclass(frozen=True)
class SamplingMeasurement:
    """FLOPs FlopCounterMode counted over a whole sampling run, and what it produced."""

    flops: int
    by_op: dict[str, int]
    cache_elements: int
    params: int  #: parameters the sampler reads (a VAE's decoder; the whole model otherwise)
    samples: torch.Tensor


def run_sampler(model: torch.nn.Module, config: Any, batch: int, *, cache: bool, steps: int | None,
                generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """Run the family's sampling loop once: ``(samples, cache values held)``."""
    if isinstance(config, PixelCNNConfig):
        images, _, held = pixelcnn.sample(model, batch, tuple(int(s) for s in config.image_hw), cache=cache,
                                          generator=generator)
        return images, held
    if isinstance(config, ARTransformerConfig):
        tokens, _, held = ar_transformer.sample(model, batch, kv_cache=cache, steps=steps, generator=generator)
        return tokens, held
    if cache or steps is not None:
        raise InvalidConfigError("cache", cache, f"{config.family} samples in one decoder pass")
    return model.sample(batch, generator=generator), 0


def measure_sampling(config: Any, batch: int, *, cache: bool = False, steps: int | None = None,
                     seed: int = 0) -> SamplingMeasurement:
    """Build ``config``'s module (seeded) and count one full sampling run of ``batch`` samples."""
    torch.manual_seed(seed)
    model = build(config).eval()
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {}

    def run() -> torch.Tensor:
        out["samples"], out["held"] = run_sampler(model, config, batch, cache=cache, steps=steps,
                                                  generator=generator)
        return out["samples"]

    measured = count_flops(run, backward=False)
    return SamplingMeasurement(flops=int(measured.forward), by_op=dict(measured.forward_by_op),
                               cache_elements=int(out["held"]),
                               params=(model.decoder_params() if hasattr(model, "decoder_params")
                                       else count_params(model)),
                               samples=out["samples"])


__all__ = ["SamplingMeasurement", "run_sampler", "measure_sampling"]
