"""Wall time of the ``costmodel`` command in fresh processes, against the latency targets.

Targets (issue 11): ``costmodel --help`` and every ``costmodel COMMAND --help`` under
0.2 s; ``costmodel count PRESET`` and ``costmodel count PRESET --json`` under 0.5 s, end
to end. Each command runs ``--runs`` times (after one warm-up); the median is printed with
its ratio to the target, and ``python -c pass`` as the interpreter's own floor.

    python benchmarks/bench_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

HELP_TARGET, COUNT_TARGET = 0.2, 0.5


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    command = shutil.which("costmodel") or sys.exit("costmodel is not installed (pip install -e .)")
    from costmodel.cli import SUBCOMMANDS

    names = [module.__name__.rsplit(".", 1)[1] for module in SUBCOMMANDS]
    names = ["generate-cost" if n == "generate" else n for n in names]
    cases: list[tuple[str, list[str], float]] = [("python -c pass", [sys.executable, "-c", "pass"], HELP_TARGET),
                                                 ("costmodel --help", [command, "--help"], HELP_TARGET)]
    cases += [(f"costmodel {n} --help", [command, n, "--help"], HELP_TARGET) for n in names]
    cases += [(f"costmodel count {p}{j}", [command, "count", p, *j.split()], COUNT_TARGET)
              for p in ("resnet50", "vit_b_16") for j in ("", " --json")]
    print(f"{'command':<36} {'median s':>9} {'target s':>9} {'ratio':>6}")
    for label, argv, target in cases:
        seconds = median_seconds(argv, args.runs)
        print(f"{label:<36} {seconds:>9.3f} {target:>9.1f} {seconds / target:>6.2f}")


if __name__ == "__main__":
    main()
