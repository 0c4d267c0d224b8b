"""Configs per second of ``costmodel.analysis.sweeps`` against FlopCounterMode on the meta device, in one run.

For ResNet-50 and ViT-B/16, one million random configs (batch 1-256; image side 32-1023
px for ResNet-50, a multiple of 16 up to 1008 px for ViT-B/16) are swept for forward and
backward FLOPs, parameters and, when the memory model is installed, peak training
memory. The compiled expressions are built and cached by a first small call (its time is
printed as "build"), then the full sweep is timed (best of ``--repeat``). The baseline is
what a tracer needs per config: build the ``torch.nn.Module`` on the meta device and run
one forward and backward pass under ``FlopCounterMode`` (mean over ``--baseline``
configs). Prints configs/s and the speed-up per config.

    python benchmarks/bench_sweep.py [--configs 1000000] [--repeat 3] [--baseline 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def sweep_rate(model: str, batch: np.ndarray, sizes: np.ndarray, metrics: list[str], repeat: int
               ) -> tuple[float, float]:
    """(seconds to build and compile, best seconds for the whole sweep)."""
    from costmodel.analysis.sweeps import sweep

    start = time.perf_counter()
    sweep(model, batch=batch[:2], image_size=sizes[:2], metrics=metrics)
    build = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = sweep(model, batch=batch, image_size=sizes, metrics=metrics)
        best = min(best, time.perf_counter() - start)
        assert all(v.shape == batch.shape for v in out.values())
    return build, best


def tracer_seconds(model: str, batch: np.ndarray, sizes: np.ndarray, count: int) -> float:
    """Mean seconds per config to build the module on the meta device and count one training step."""
    import torch
    from costmodel.validation.build import build
    from costmodel.validation.flops import count_flops

    from costmodel.models.presets import get_preset

    total = 0.0
    for i in range(count):
        config = get_preset(model).replace(image_size=int(sizes[i]))
        start = time.perf_counter()
        with torch.device("meta"):
            module = build(config)
            x = torch.randn(int(batch[i]), 3, int(sizes[i]), int(sizes[i]))
        count_flops(module, x)
        total += time.perf_counter() - start
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=int, default=3)
    args = parser.parse_args()
    from costmodel.analysis.metrics import available

    metrics = [m for m in ("forward_flops", "backward_flops", "params", "peak_training_bytes") if m in available()]
    rng = np.random.default_rng(0)
    cases = {
        "resnet50": rng.integers(32, 1024, args.configs),
        "vit_b_16": rng.integers(2, 64, args.configs) * 16,
    }
    print(f"{args.configs:,} configs, metrics: {', '.join(metrics)}")
    print(f"{'model':<10} {'build s':>8} {'sweep s':>8} {'configs/s':>12} {'tracer s/config':>16} {'speed-up':>10}")
    for model, sizes in cases.items():
        batch = rng.integers(1, 257, args.configs)
        build, seconds = sweep_rate(model, batch, sizes, metrics, args.repeat)
        rate = args.configs / seconds
        tracer = tracer_seconds(model, batch, sizes, args.baseline)
        print(f"{model:<10} {build:>8.2f} {seconds:>8.3f} {rate:>12,.0f} {tracer:>16.4f} {tracer * rate:>10,.0f}x")


if __name__ == "__main__":
    main()
