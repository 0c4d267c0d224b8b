"""``costmodel crossover A B [C ...] --over FIELD [--range LO:HI] [--metric M] [--batch N] [--json]``.

Prints every point where the models change order, exactly (the closed forms are
polynomial in the field), with which model is cheaper after it. ``--json`` prints a list
of objects ``{"value", "root", "root_exact", "cheaper_after", "dearer_after", "observable"}``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from costmodel.cli.compare import add_model_arguments, crossover_lines, crossover_records, run_compare


def register(sub: Any) -> None:
    cross = sub.add_parser("crossover", help="the points where one model starts to cost more than another")
    cross.add_argument("models", nargs="+", help="two or more presets or families")
    add_model_arguments(cross, default_range="1:inf")
    cross.set_defaults(func=cmd_crossover)


def cmd_crossover(args: argparse.Namespace) -> int:
    result = run_compare(args)
    if args.json:
        print(json.dumps(crossover_records(result), indent=2))
        return 0
    hi = "inf" if str(result.hi) == "oo" else result.hi
    print(f"{result.metric} at batch {result.batch} over {result.over} in {result.lo}:{hi} "
          f"(valid every {result.step})")
    for pair, found in result.pairs.items():
        print(f"  {found.summary(result.names[pair[0]], result.names[pair[1]])}")
    print()
    for line in crossover_lines(result):
        print(line)
    return 0


__all__ = ["register", "cmd_crossover"]
