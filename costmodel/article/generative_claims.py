"""The F14-F21 section of ``docs/claims.md``: the article's generative claims, with numbers.

:func:`section` is called by :mod:`costmodel.article.claims` when it renders the page. Costs
come from the generative families (:mod:`costmodel.models.generative`), the convergence
rates from the stored experiment ``validation/results/convergence.json`` (written by
``python -m costmodel.validation.convergence``). Details and plots: ``docs/generative.md``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import sympy

from costmodel.article.forms import leading_term
from costmodel.core.symbols import n
from costmodel.models import ViTConfig, cost
from costmodel.models.generative import ARTransformerConfig, ConvVAEConfig, PixelCNNConfig, ViTVAEConfig, Z, sample_cost
from costmodel.models.generative.common import tau


def _results_file() -> Path:
    """``results/convergence.json`` of the ``costmodel.validation`` package (found, not imported)."""
    spec = importlib.util.find_spec("costmodel.validation")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(folders[0] if folders else ".") / "results" / "convergence.json"


RESULTS = _results_file()


def _g(flops: Any) -> str:
    return f"{float(flops) / 1e9:,.2f} GFLOP"


def _positional_lines() -> list[str]:
    vit = cost(ViTConfig(), batch=1)
    pos = vit.part("pos_embed").params
    share = float(pos / vit.params)
    return [
        "**F14 (ConvNets keep spatial coherence): right, exactly.** A conv stack commutes with "
        "translations away from the borders; `tests/test_equivariance.py` checks it on real modules.",
        "",
        "**F15 (ViTs need positional embeddings): right.** Without them a ViT is permutation-equivariant "
        "over patches (shuffling patches shuffles its tokens the same way; checked in the same test), so it "
        f"cannot know where a patch was. They are cheap: {int(pos):,} parameters in ViT-B/16 at 224 px, "
        f"{share:.2%} of its {int(vit.params):,}, and zero FLOPs in the FlopCounterMode convention.",
    ]


def _sequential_lines() -> list[str]:
    pixel = PixelCNNConfig()
    full, cached = (sample_cost(pixel, batch=1, cache=c).forward_flops for c in (False, True))
    ar = ARTransformerConfig()
    ar_full, ar_cached = (sympy.expand(sample_cost(ar, batch=1, cache=c, steps=tau).forward_flops)
                          for c in (False, True))
    steps = ar.image_size * ar.image_size if isinstance(ar.image_size, int) else None
    ar_full_n, ar_cached_n = (sample_cost(ar, batch=1, cache=c).forward_flops for c in (False, True))
    return [
        f"**F16 (PixelCNN samples in `H W` sequential steps): right.** The default PixelCNN "
        f"({pixel.image_size}x{pixel.image_size}, width {pixel.width}, depth {pixel.depth}) needs "
        f"{pixel.image_size ** 2} sequential passes: {_g(full)} per image with full passes, {_g(cached)} with "
        f"a per-layer activation cache ({float(full / cached):,.0f}x less), but the {pixel.image_size ** 2} "
        "steps stay sequential either way.",
        "",
        f"**F17 (transformers generate sequences naturally): right about the cost shape.** For the "
        f"default image-token transformer (width {ar.width}, depth {ar.depth}), sampling `tau` tokens costs",
        "",
        f"* without a key/value cache: `{ar_full}` FLOPs (cubic in `tau`),",
        f"* with a key/value cache: `{ar_cached}` FLOPs (quadratic: step `t` attends over `t` tokens).",
        "",
        f"At `tau = {steps}` (a whole {ar.image_size}x{ar.image_size} image) that is {_g(ar_full_n)} vs "
        f"{_g(ar_cached_n)}. The step count (`tau` sequential steps) is the same as PixelCNN's: the article's "
        "'edge' of transformers in sequential generation is not a cost advantage.",
    ]


def _latent_lines() -> list[str]:
    conv = sample_cost(ConvVAEConfig(image_size=16, channels=(4, 8), latent_dim=Z)).forward_flops
    vit_config = ViTVAEConfig(image_size=(4, 4 * n), patch_size=4, width=16, heads=2, decoder_depth=3,
                              latent_channels=2)
    vit = sympy.expand(sample_cost(vit_config).forward_flops.subs(n, Z / 2))
    return [
        "**F18/F20 (latent exploration: ConvNet/VAE `O(Z)`, ViT `O(Z^2)`): right for these designs.** "
        f"The conv VAE's sampling cost has leading term `{leading_term(conv, Z)}` in the latent size `Z` "
        "(its decoder's first layer is linear in `Z`); a ViT VAE whose latent is a token sequence attends over "
        f"it, leading term `{leading_term(vit, Z)}`. The quadratic term is a design choice (attention over "
        "latent tokens), not a law: a ViT decoder fed a single latent vector would be linear too.",
    ]


def _convergence_lines() -> list[str]:
    if not RESULTS.exists():
        return ["**F19:** no stored experiment; run `python -m costmodel.validation.convergence`."]
    data = json.loads(RESULTS.read_text())
    summary = data["summary"]
    conv, vit = summary["convnet"], summary["vit"]
    held = summary["eps_vit_lt_eps_conv"]["all_seeds"]
    verdict = "held" if held else "did not hold"
    return [
        "**F19 (`eps_vit < eps_conv`): held on the one task we could run, which is not the article's.** "
        f"Fitting `loss_t - loss_inf = (loss_0 - loss_inf)(1 - eps)^t` to real training curves "
        f"({data['dataset']}; {data['optimizer']}, lr {data['lr']}, batch {data['batch']}, "
        f"{data['steps']} steps, seeds {data['seeds']}) of a ConvNet and a ViT of matched training FLOPs "
        f"gave `eps_conv = {conv['mean']:.4f} +- {conv['std']:.4f}` and `eps_vit = {vit['mean']:.4f} +- "
        f"{vit['std']:.4f}`: the claim {verdict} on every seed. It is a classification loss on 8x8 digits, "
        "not image generation, and the geometric model fits only roughly (see `docs/generative.md`); "
        "the article gives no task, data or tolerance, so as stated the claim is too vague to test.",
        "",
        "**F21 (`T = tau delta`, `delta_conv > delta_vit`): too vague to test.** `costmodel.article.convergence` "
        "has the form, but the article defines neither `delta` nor how to measure it; no experiment here "
        "can confirm or refute it.",
    ]


def section() -> str:
    """Markdown answering F14-F21 with computed numbers."""
    lines = [
        "See [generative.md](generative.md) for the closed forms, the measured curves and the fits.",
        "",
        *_positional_lines(), "",
        *_sequential_lines(), "",
        *_latent_lines(), "",
        *_convergence_lines(),
    ]
    return "\n".join(lines)


__all__ = ["section", "RESULTS"]
