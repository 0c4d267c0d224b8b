"""Wall time of ``import costmodel`` and of its first use, each in fresh interpreters.

* **import**: the median over ``--runs`` fresh processes of ``python -c "import costmodel"``
  minus the median of ``python -c "pass"`` (the interpreter's own start-up), and, for
  reference, the median cumulative time that ``python -X importtime`` reports for the
  ``costmodel`` package.
* **first use**: in fresh processes that have already imported costmodel, the time of
  ``costmodel.models.cost(PRESETS["resnet50"], batch=1)`` (loads SymPy and pint and
  builds the closed form), median over ``--first-use-runs``.

Prints each with its unit and the ratio to the import target (0.5 s), and exits with
status 1 when the import (either measure) takes longer than the target.

    python benchmarks/bench_import.py [--runs 10] [--first-use-runs 3] [--target 0.5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_USE = """
import time
import costmodel
start = time.perf_counter()
from costmodel.models import cost
from costmodel.models.presets import PRESETS
cost(PRESETS["resnet50"], batch=1)
print(time.perf_counter() - start)
"""
#: ``import time: self [us] | cumulative | name`` lines of ``python -X importtime``
IMPORTTIME = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\S.*)$")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True)


def process_seconds(code: str) -> float:
    """Wall seconds of one fresh ``python -c code``."""
    start = time.perf_counter()
    _run(["-c", code])
    return time.perf_counter() - start


def import_and_startup_seconds(runs: int) -> tuple[float, float]:
    """Medians of ``import costmodel`` and of ``pass`` processes, run alternately (so drifts in
    the machine's load hit both alike)."""
    imports, bares = [], []
    for _ in range(runs):
        bares.append(process_seconds("pass"))
        imports.append(process_seconds("import costmodel"))
    return statistics.median(imports), statistics.median(bares)


def importtime_seconds(module: str = "costmodel") -> float:
    """Cumulative seconds ``python -X importtime`` reports for the top-level ``module``."""
    stderr = _run(["-X", "importtime", "-c", f"import {module}"]).stderr
    for line in stderr.splitlines():
        match = IMPORTTIME.match(line)
        if match and match.group(3).strip() == module:
            return int(match.group(2)) / 1e6
    raise RuntimeError(f"python -X importtime printed no line for {module}")


def first_use_seconds(runs: int) -> float:
    return statistics.median(float(_run(["-c", FIRST_USE]).stdout.strip()) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per import median (default 10)")
    parser.add_argument("--first-use-runs", type=int, default=3, help="fresh processes for the first use (default 3)")
    parser.add_argument("--target", type=float, default=0.5, help="import budget in seconds (default 0.5)")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONPROFILEIMPORTTIME", None)
    from costmodel.core.units import ureg
    from costmodel.display import format_quantity

    def show(seconds: float) -> str:
        return format_quantity(seconds * ureg.s)

    full, bare = import_and_startup_seconds(args.runs)
    imported = full - bare  # may come out slightly negative: the noise of the start-up itself
    cumulative = statistics.median(importtime_seconds() for _ in range(args.runs))
    first = first_use_seconds(args.first_use_runs)
    target = show(args.target)
    rows = [("python start-up (python -c pass)", show(bare), f"median of {args.runs}"),
            ("import costmodel (wall, minus start-up)", show(imported),
             f"{imported / args.target:.3f}x the {target} target"),
            ("import costmodel (-X importtime)", show(cumulative), f"{cumulative / args.target:.3f}x the target"),
            ("first use: cost(resnet50, batch=1)", show(first),
             f"median of {args.first_use_runs}; loads SymPy and pint")]
    for label, value, note in rows:
        print(f"{label:<40} {value:>10}   ({note})")
    worst = max(imported, cumulative)
    if worst > args.target:
        print(f"FAIL: import costmodel takes {show(worst)}, more than {target}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
