"""The comparison people ask for beside the article's: Swin-T, ConvNeXt-T, EfficientNet-B0,
ResNet-50 and ViT-S/16 over image size (a section of ``docs/claims.md``, written by
:mod:`costmodel.article.claims`).

Every number is computed from the exact counts: forward FLOPs (FlopCounterMode's
convention) from the closed forms of :func:`costmodel.analysis.comparison.compare` at the
sizes where all five are exact (multiples of 224, Swin-T's ``P 2^3 M``), their scaling
exponents, and the peak training memory (float32, Adam) of the integer configs.
"""

from __future__ import annotations

from typing import Any

from costmodel.analysis.asymptotics import exponent_at, limit_exponent
from costmodel.analysis.comparison import compare
from costmodel.memory.footprint import training_memory
from costmodel.models.presets import get_preset

MODELS = ("swin_t", "convnext_tiny", "efficientnet_b0", "resnet50", "vit_s_16")
SIZES = (224, 448, 896)
BATCH = 8  #: images per training step for the memory column


def _gib(value: Any) -> str:
    return f"{float(value) / 2**30:.2f} GiB"


def section() -> list[str]:
    """Markdown lines: FLOPs and exponents, peak memory, and the crossovers of the five models."""
    result = compare(list(MODELS), over="image_size", lo=224, hi=2240)
    s = result.symbol
    lines = ["| model | forward at 224 px | at 448 px | at 896 px | exponent at 896 px | as R grows | "
             f"training peak at 224 px (batch {BATCH}) | at 448 px |", "|---|---|---|---|---|---|---|---|"]
    for name, expr in zip(result.names, result.expressions, strict=True):
        flops = " | ".join(f"{float(expr.subs(s, v)) / 1e9:.2f} GFLOP" for v in SIZES)
        peaks = " | ".join(_gib(training_memory(get_preset(name).replace(image_size=v), batch=BATCH,
                                                optimizer="adam").evaluate().peak) for v in SIZES[:2])
        lines.append(f"| {name} | {flops} | {exponent_at(expr, s, 896):.2f} | R^{limit_exponent(expr, s)} | {peaks} |")
    crossings = []
    for (i, j), found in result.pairs.items():
        for c in found:
            crossings.append(f"* {result.names[i]} vs {result.names[j]}: {result.winner((i, j), c.cheaper_after)} "
                             f"cheaper from {c.first_valid} px (root {float(c.root):.1f})")
    swin, vit = (result.expressions[result.names.index(n)] for n in ("swin_t", "vit_s_16"))
    lines += ["", "Forward-FLOP crossovers between 224 and 2240 px (first multiple of 224 past the root):", "",
              *(crossings or ["* none: the order at 224 px holds at every size"]), "",
              f"Swin-T's windowed attention keeps it a ConvNet in FLOPs (R^{limit_exponent(swin, s)}): "
              f"{float(swin.subs(s, 896) / vit.subs(s, 896)):.2f}x ViT-S/16's FLOPs at 896 px, "
              f"{float(swin.subs(s, 224) / vit.subs(s, 224)):.2f}x at 224 px, while ViT-S/16 grows as "
              f"R^{limit_exponent(vit, s)}. CPU training-step times of the five, predicted and measured: "
              "`docs/validation.md` (time) and question 6 of `docs/tutorial.md`."]
    return lines


__all__ = ["MODELS", "SIZES", "BATCH", "section"]
