"""Configs per second of ``costmodel.sweep``, cold and hot, against FlopCounterMode on the meta device.

Cases (one million configs each, default metrics: params, forward, backward and training
FLOPs, peak training memory):

* ``vit_b_16 image_size x depth`` (issue 11's case): image side a random multiple of 16
  in 32-1008 px, depth 1-24. Few distinct points: the sweep tabulates them.
* ``resnet50 batch x image_size``: batch 1-256 and image side 32-1023 px, a quarter of a
  million distinct points (no tabulation: every point evaluated).

*Cold* is a fresh process: the first sweep call, so it includes building the closed forms
and compiling them; the import of ``costmodel.analysis.sweeps`` (SymPy, pint, numpy) is
timed before it and printed apart.
*Hot* is the best of ``--repeat`` further calls in that process. The baseline is what a
tracer needs per config: build the ``torch.nn.Module`` on the meta device and count one
forward and backward pass under ``FlopCounterMode`` (mean over ``--baseline`` configs).
Prints each rate with its ratio to the targets (cold >= 2e6 configs/s, hot >= 1e7).

    python benchmarks/bench_sweep.py [--configs 1000000] [--repeat 5] [--baseline 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

COLD_TARGET, HOT_TARGET = 2e6, 1e7
CASES = {
    "vit_b_16 image_size x depth": ("vit_b_16", "depth"),
    "resnet50 batch x image_size": ("resnet50", "batch"),
}


def arrays(case: str, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    model, other = CASES[case]
    sizes = rng.integers(2, 64, n) * 16 if model.startswith("vit") else rng.integers(32, 1024, n)
    second = rng.integers(1, 25, n) if other == "depth" else rng.integers(1, 257, n)
    return {"image_size": sizes, other: second}


def run_case(case: str, n: int, repeat: int) -> dict[str, float]:
    """In this process (fresh when called through ``--case``): cold and best hot seconds."""
    start = time.perf_counter()
    import costmodel
    import costmodel.analysis.sweeps  # noqa: F401  (SymPy, pint and numpy: timed apart from the build)

    imports = time.perf_counter() - start
    fields = arrays(case, n)
    model = CASES[case][0]
    start = time.perf_counter()
    out = costmodel.sweep(model, **fields)
    cold = time.perf_counter() - start
    hot = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        costmodel.sweep(model, **fields)
        hot = min(hot, time.perf_counter() - start)
    if any(v.shape != (n,) for v in out.values()):
        raise SystemExit(f"{case}: wrong output shape")
    return {"imports": imports, "cold": cold, "hot": hot}


def tracer_seconds(case: str, count: int) -> float:
    """Mean seconds per config to build the module on the meta device and count one training step."""
    import torch
    from costmodel.validation.build import build
    from costmodel.validation.flops import count_flops

    from costmodel.models.presets import get_preset

    model, _ = CASES[case]
    fields = arrays(case, count)
    total = 0.0
    for i in range(count):
        point = {k: int(v[i]) for k, v in fields.items()}
        batch = point.pop("batch", 1)
        config = get_preset(model).replace(**point)
        start = time.perf_counter()
        with torch.device("meta"):
            module = build(config)
            x = torch.randn(batch, 3, config.image_size, config.image_size)
        count_flops(module, x)
        total += time.perf_counter() - start
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this (fresh) process
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.configs, args.repeat)))
        return
    n = args.configs
    print(f"{n:,} configs per case; targets: cold >= {COLD_TARGET:.0e} configs/s, hot >= {HOT_TARGET:.0e}")
    print(f"{'case':<30} {'import s':>8} {'cold s':>7} {'cold configs/s':>15} {'x target':>8} {'hot s':>7} "
          f"{'hot configs/s':>14} {'x target':>8} {'tracer s/config':>15} {'hot speed-up':>13}")
    for case in CASES:
        fresh = subprocess.run([sys.executable, __file__, "--case", case, "--configs", str(n), "--repeat",
                                str(args.repeat)], capture_output=True, text=True, check=True)
        times = json.loads(fresh.stdout)
        cold, hot = n / times["cold"], n / times["hot"]
        tracer = tracer_seconds(case, args.baseline)
        print(f"{case:<30} {times['imports']:>8.3f} {times['cold']:>7.3f} {cold:>15,.0f} {cold / COLD_TARGET:>8.2f} "
              f"{times['hot']:>7.3f} "
              f"{hot:>14,.0f} {hot / HOT_TARGET:>8.2f} {tracer:>15.4f} {tracer * hot:>12,.0f}x")


if __name__ == "__main__":
    main()
