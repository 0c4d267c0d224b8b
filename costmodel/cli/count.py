"""``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import sympy

from costmodel.cli.common import breakdown_rows, config_line, fmt, positive_int, resolve_model, show
from costmodel.conventions import CONVENTIONS, get_convention
from costmodel.cost import METRIC_UNITS, Cost
from costmodel.errors import InvalidConfigError
from costmodel.models import ArchConfig, cost
from costmodel.symbols import B


def register(sub: Any) -> None:
    count = sub.add_parser("count", help="FLOPs and parameters of one model")
    count.add_argument("model", help="a preset (resnet50, vit_b_16, ...) or a family (vit, resnet, convnext, convnet)")
    count.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a config field (repeatable)")
    count.add_argument("--batch", type=positive_int, help="images per step (default 1; symbolic B with --symbolic)")
    count.add_argument("--json", action="store_true", help="print one JSON object")
    count.add_argument("--symbolic", action="store_true", help="print the closed forms")
    count.add_argument("--divisible", action="store_true", help="assume strides divide the sizes (polynomials)")
    count.add_argument("--convention", choices=sorted(CONVENTIONS), default="flop_counter")
    count.add_argument("--top", type=positive_int, default=6, help="breakdown rows to show")
    count.set_defaults(func=cmd_count)


def cmd_count(args: argparse.Namespace) -> int:
    config = resolve_model(args.model, args.set or [])
    batch = B if args.batch is None and args.symbolic else (1 if args.batch is None else args.batch)
    c = cost(config, batch=batch, convention=get_convention(args.convention), divisible=args.divisible)
    free = c.free_symbols
    if free and not args.symbolic:
        names = ", ".join(sorted(map(str, free)))
        raise InvalidConfigError("--set", names, "symbolic fields need --symbolic to print closed forms")
    if args.symbolic:
        return _print_symbolic(args, config, c)
    value = c.evaluate()
    if args.json:
        out = {"model": args.model, "config": {n: show(getattr(config, n)) for n in config.field_names()},
               "batch": batch, "convention": args.convention, **value.magnitudes(),
               "units": dict(METRIC_UNITS),
               "breakdown": {path: int(part.forward_flops) for path, part in c.parts}}
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.model}: {config_line(config)}")
    print(f"batch {batch}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
    width = 16
    print(f"{'quantity':<{width}} {'value':>14}   exact")
    for name, unit in (*METRIC_UNITS.items(), ("training_flops", "flop")):
        number = int(getattr(c, name))
        print(f"{name:<{width}} {fmt(number, unit):>14}   {number:,} {unit}")
    print(f"{'forward (MAC)':<{width}} {fmt(int(c.forward_flops) / 2, 'MAC'):>14}")
    total = int(c.forward_flops) or 1
    print(f"\nforward FLOPs by part (top {args.top}):")
    for path, flops in breakdown_rows(c, "forward_flops", args.top):
        print(f"  {path:<24} {fmt(int(flops), 'flop'):>14}  {100 * int(flops) / total:5.1f}%")
    return 0


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost) -> int:
    exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
    if args.json:
        print(json.dumps({"model": args.model, "symbolic": True, "polynomial": c.is_polynomial,
                          **{k: str(v) for k, v in exprs.items()}, "units": dict(METRIC_UNITS)}, indent=2))
        return 0
    print(f"{args.model}: {config_line(config)}")
    kind = "polynomial" if c.is_polynomial else "exact with floor divisions (use --divisible for polynomials)"
    print(f"closed forms, {kind}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
    for name, expr in exprs.items():
        print(f"{name} [{METRIC_UNITS[name]}] =\n    {expr}\n")
    return 0


