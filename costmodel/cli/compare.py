"""``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot PATH] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import sympy

from costmodel.cli.common import fmt, positive_int, resolve_model
from costmodel.errors import InvalidConfigError
from costmodel.models import FAMILIES


def add_model_arguments(parser: argparse.ArgumentParser, *, default_range: str) -> None:
    """Arguments shared by ``compare`` and ``crossover``."""
    parser.add_argument("--over", default="image_size", help="the field that varies (default image_size; "
                                                             "or width, depth, batch, ...)")
    parser.add_argument("--range", default=default_range, help=f"MIN:MAX of that field (default {default_range}; "
                                                               "MAX may be 'inf')")
    parser.add_argument("--metric", default="forward_flops",
                        help="forward_flops (default), backward_flops, training_flops, params, "
                             "peak_training_bytes, saved_activation_bytes")
    parser.add_argument("--batch", type=positive_int, default=1)
    parser.add_argument("--json", action="store_true")


def register(sub: Any) -> None:
    comp = sub.add_parser("compare", help="compare models over a field and find crossovers")
    comp.add_argument("models", nargs="+", help="two or more presets or families")
    add_model_arguments(comp, default_range="64:2048")
    comp.add_argument("--points", type=positive_int, default=8, help="table rows")
    comp.add_argument("--plot", metavar="PATH", help="write a PNG or SVG plot")
    comp.set_defaults(func=cmd_compare)


def run_compare(args: argparse.Namespace) -> Any:
    from costmodel.compare import compare

    lo, hi = parse_range(args.range)
    models = [resolve_model(m) if m in FAMILIES else m for m in args.models]
    names = list(args.models)
    return compare(models, over=args.over, lo=lo, hi=hi, metric=args.metric, batch=args.batch, names=names)


def crossover_records(result: Any) -> list[dict[str, Any]]:
    """JSON objects of every pair's crossovers: value, root, which model is cheaper after."""
    records = []
    for pair, found in result.pairs.items():
        for c in found:
            records.append({
                "value": c.first_valid if c.first_valid is not None else c.root_float,
                "root": c.root_float, "root_exact": None if c.root is None else str(c.root),
                "cheaper_after": result.winner(pair, c.cheaper_after),
                "dearer_after": result.winner(pair, "b" if c.cheaper_after == "a" else "a"),
                "observable": c.observable,
            })
    return records


def crossover_lines(result: Any) -> list[str]:
    """One line per crossover (or per pair without one)."""
    lines = []
    for pair, found in result.pairs.items():
        a, b = result.names[pair[0]], result.names[pair[1]]
        if not found:
            last = found.intervals[-1].cheaper if found.intervals else "tie"
            who = result.winner(pair, last)
            lines.append(f"no crossover of {a} and {b} in {result.lo}:{_show_hi(result.hi)}: "
                         f"{who} is cheaper throughout")
        for c in found:
            winner = result.winner(pair, c.cheaper_after)
            root = f" (root {c.root_float:.1f})" if c.root is not None else ""
            where = c.first_valid if c.first_valid is not None else f"{c.root_float:.4g}"
            note = "" if c.observable else " [not visible at valid sizes: another crossover follows first]"
            other = f" than {b if winner == a else a}" if len(result.names) > 2 else ""
            lines.append(f"crossover at {result.over} = {where}{root}: {winner} is cheaper{other} from there on{note}")
    return lines


def cmd_compare(args: argparse.Namespace) -> int:
    result = run_compare(args)
    names = result.names
    grid = result.grid(args.points)
    if args.json:
        print(json.dumps({
            "over": result.over, "metric": result.metric, "unit": result.unit, "batch": result.batch,
            "models": list(names), "step": result.step,
            "table": [{"value": v, **{n: int(result.exact(i, v).magnitude) for i, n in enumerate(names)}}
                      for v in grid],
            "crossovers": crossover_records(result),
        }, indent=2))
    else:
        print(f"{result.metric} at batch {result.batch} over {result.over} (valid every {result.step})\n")
        print(f"{result.over:>10} " + " ".join(f"{n:>16}" for n in names))
        for v in grid:
            cells = " ".join(f"{fmt(int(result.exact(i, v).magnitude), result.unit):>16}"
                             for i in range(len(names)))
            print(f"{v:>10} {cells}")
        print()
        for line in crossover_lines(result):
            print(line)
    if getattr(args, "plot", None):
        from costmodel.plot import plot_comparison

        plot_comparison(result, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _show_hi(hi: Any) -> str:
    return "inf" if hi == sympy.oo else str(hi)


def parse_range(text: str) -> tuple[int, Any]:
    """``"64:2048"`` -> ``(64, 2048)``; ``"1:inf"`` or ``"1:"`` -> ``(1, sympy.oo)``."""
    lo, sep, hi = text.partition(":")
    try:
        low = int(lo)
        high: Any = sympy.oo if hi.strip().lower() in ("", "inf", "oo") else int(hi)
    except ValueError:
        raise InvalidConfigError("--range", text, "must look like MIN:MAX with integers, e.g. 64:2048") from None
    if not sep or low <= 0 or bool(low > high):
        raise InvalidConfigError("--range", text, "must be MIN:MAX with 0 < MIN <= MAX")
    return low, high


__all__ = ["register", "cmd_compare", "parse_range", "run_compare", "crossover_records", "crossover_lines",
           "add_model_arguments"]
