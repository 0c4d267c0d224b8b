"""Tracing real models symbolically, and evaluating the traced costs over many sizes.

    python benchmarks/bench_trace.py [--sizes 1000000] [--repeat 3]

For ResNet-50 (batch, height and width symbolic) and ViT-B/16 (its learned position
embedding fixes the image size: batch symbolic), builds the validation module inside
PyTorch's fake mode and traces it with :func:`costmodel.tracing.trace_module` (nothing is
allocated), printing the wall time. Then evaluates the forward FLOPs, backward FLOPs and
saved bytes of the traced Cost at ``--sizes`` random (batch, image side) points, compiled
with ``sympy.lambdify`` to NumPy (common subexpressions shared), and the same for the family's
closed form ``costmodel.models.cost``, and prints both rates (sizes/s) and their ratio; also the
traced forms with their nested floors flattened first (``canonical_floors``: PyTorch writes each
stride-2 stage as a floor of the previous floor). The two must
agree at every point (checked on the first 1000 points, exactly, with Python integers).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy

from costmodel.core.symbols import B, H, R, W
from costmodel.memory.footprint import memory_cost
from costmodel.models import cost
from costmodel.models.presets import get_preset
from costmodel.tracing import trace_module


def _functions(c: object, saved: sympy.Expr, square: dict, canonical: bool = False) -> list:
    exprs = [sympy.sympify(e).subs(square) for e in (c.forward_flops, c.backward_flops, saved)]
    if canonical:  # nested floors flattened (floor(floor(x/2)/2) = floor(x/4)), then expanded
        from costmodel.validation.symbolic import canonical_floors

        exprs = [sympy.expand(canonical_floors(e)) for e in exprs]
    return [sympy.lambdify([B, R], e, modules="numpy", cse=True) for e in exprs], exprs


def _rate(functions: list, batch: np.ndarray, side: np.ndarray, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for f in functions:
            np.broadcast_to(f(batch, side), batch.shape)
        best = min(best, time.perf_counter() - start)
    return len(batch) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from costmodel.validation.build import build

    rng = np.random.default_rng(0)
    for name in ("resnet50", "vit_b_16"):
        config = get_preset(name)
        start = time.perf_counter()
        traced = trace_module(lambda config=config: build(config), (3, 224, 224), name=name)
        trace_s = time.perf_counter() - start
        fixed = any(c.field == "image_size" for c in traced.conditions)  # ViT: the position embedding
        square = {H: 224, W: 224} if fixed else {H: R, W: R}
        side = np.full(args.sizes, 224) if fixed else rng.integers(64, 1025, args.sizes)
        batch = rng.integers(1, 257, args.sizes)
        traced_cost = traced.model_cost()
        family_config = config if fixed else config.replace(image_size=R)
        family = cost(family_config, batch=B)
        family_saved = memory_cost(family_config, batch=B).saved_bytes
        traced_fns, traced_exprs = _functions(traced_cost, traced_cost.saved_bytes, square)
        family_fns, family_exprs = _functions(family, family_saved, {})
        for b, s in zip(batch[:1000], side[:1000], strict=True):
            point = {B: int(b), R: int(s)}
            assert [e.subs(point) for e in traced_exprs] == [e.subs(point) for e in family_exprs], (name, point)
        canonical_fns, _ = _functions(traced_cost, traced_cost.saved_bytes, square, canonical=True)
        traced_rate = _rate(traced_fns, batch, side, args.repeat)
        canonical_rate = _rate(canonical_fns, batch, side, args.repeat)
        family_rate = _rate(family_fns, batch, side, args.repeat)
        print(f"{name}: traced in {trace_s:.1f} s (symbolic in {'batch' if fixed else 'batch, height, width'}); "
              f"{args.sizes:,} sizes x 3 metrics: family {family_rate:,.0f} sizes/s; traced {traced_rate:,.0f} "
              f"sizes/s (ratio {traced_rate / family_rate:.2f}), with canonical floors {canonical_rate:,.0f} "
              f"sizes/s (ratio {canonical_rate / family_rate:.2f})")


if __name__ == "__main__":
    main()
