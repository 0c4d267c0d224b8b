"""``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot PATH] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from costmodel.cli.common import fmt, positive_int, resolve_model
from costmodel.errors import InvalidConfigError
from costmodel.models import FAMILIES


def register(sub: Any) -> None:
    comp = sub.add_parser("compare", help="compare models over a field and find crossovers")
    comp.add_argument("models", nargs="+", help="two or more presets or families")
    comp.add_argument("--over", default="image_size", help="the field that varies (default image_size)")
    comp.add_argument("--range", default="64:2048", help="MIN:MAX of that field")
    comp.add_argument("--metric", default="forward_flops",
                      help="forward_flops, backward_flops, training_flops or params")
    comp.add_argument("--batch", type=positive_int, default=1)
    comp.add_argument("--points", type=positive_int, default=8, help="table rows")
    comp.add_argument("--plot", metavar="PATH", help="write a PNG or SVG plot")
    comp.add_argument("--json", action="store_true")
    comp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from costmodel.compare import compare

    lo, hi = _parse_range(args.range)
    models = [resolve_model(m) if m in FAMILIES else m for m in args.models]
    result = compare(models, over=args.over, lo=lo, hi=hi, metric=args.metric, batch=args.batch)
    names = result.names
    grid = result.grid(args.points)
    if args.json:
        print(json.dumps({
            "over": result.over, "metric": result.metric, "unit": result.unit, "batch": result.batch,
            "models": list(names),
            "table": [{"value": v, **{n: int(result.exact(i, v).magnitude) for i, n in enumerate(names)}}
                      for v in grid],
            "crossovers": [{"value": c.first_valid, "root": c.root_float,
                            "cheaper_after": names[0] if c.cheaper_after == "a" else names[1]}
                           for c in result.crossovers],
        }, indent=2))
    else:
        print(f"{result.metric} at batch {result.batch} over {result.over} (valid every {result.step})\n")
        print(f"{result.over:>10} " + " ".join(f"{n:>16}" for n in names))
        for v in grid:
            cells = " ".join(f"{fmt(int(result.exact(i, v).magnitude), result.unit):>16}"
                             for i in range(len(names)))
            print(f"{v:>10} {cells}")
        print()
        if not result.crossovers:
            cheaper = names[0] if result.exact(0, grid[-1]) < result.exact(1, grid[-1]) else names[1]
            print(f"no crossover of {names[0]} and {names[1]} in {lo}:{hi}: {cheaper} is cheaper throughout")
        for c in result.crossovers:
            winner = names[0] if c.cheaper_after == "a" else names[1]
            root = f" (root {c.root_float:.1f})" if c.root is not None else ""
            print(f"crossover at {result.over} = {c.first_valid}{root}: {winner} is cheaper from there on")
    if args.plot:
        from costmodel.plot import plot_comparison

        plot_comparison(result, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _parse_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        low, high = int(lo), int(hi)
    except ValueError:
        raise InvalidConfigError("--range", text, "must look like MIN:MAX with integers, e.g. 64:2048") from None
    if not sep or low <= 0 or low > high:
        raise InvalidConfigError("--range", text, "must be MIN:MAX with 0 < MIN <= MAX")
    return low, high


