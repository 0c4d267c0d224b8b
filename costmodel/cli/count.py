"""``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``.

Memory (families with a memory model): ``saved_activation_bytes`` and
``peak_training_bytes`` of a training step with ``--optimizer``, ``--dtype`` and
``--checkpoint`` (see :mod:`costmodel.memory`).
"""

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
    count.add_argument("--optimizer", default="adam", help="for peak memory: sgd, momentum, adam (default), adamw")
    count.add_argument("--dtype", default="float32", help="for memory: float32, or bfloat16/float16 mixed precision")
    count.add_argument("--checkpoint", action="store_true", help="for peak memory: checkpoint every block")
    count.set_defaults(func=cmd_count)


def _memory(args: argparse.Namespace, config: ArchConfig, batch: Any) -> dict[str, sympy.Expr]:
    """``saved_activation_bytes`` and ``peak_training_bytes``; empty for a family without a memory model."""
    from costmodel.memory import _MODULES, get_optimizer, training_memory
    from costmodel.precision import get_precision

    get_optimizer(args.optimizer), get_precision(args.dtype)  # bad names fail for every family
    if type(config) not in _MODULES:
        return {}
    m = training_memory(config, batch=batch, optimizer=args.optimizer, dtype=args.dtype,
                        checkpoint=args.checkpoint, divisible=args.divisible)
    return {"saved_activation_bytes": m.saved_activations, "peak_training_bytes": m.peak}


def cmd_count(args: argparse.Namespace) -> int:
    config = resolve_model(args.model, args.set or [])
    batch = B if args.batch is None and args.symbolic else (1 if args.batch is None else args.batch)
    c = cost(config, batch=batch, convention=get_convention(args.convention), divisible=args.divisible)
    free = c.free_symbols
    if free and not args.symbolic:
        names = ", ".join(sorted(map(str, free)))
        raise InvalidConfigError("--set", names, "symbolic fields need --symbolic to print closed forms")
    memory = _memory(args, config, batch)
    if args.symbolic:
        return _print_symbolic(args, config, c, memory)
    value = c.evaluate()
    memory_values = {name: int(expr) for name, expr in memory.items()}
    if args.json:
        out = {"model": args.model, "config": {n: show(getattr(config, n)) for n in config.field_names()},
               "batch": batch, "convention": args.convention, **value.magnitudes(), **memory_values,
               "units": {**METRIC_UNITS, **dict.fromkeys(memory_values, "byte")},
               "breakdown": {path: int(part.forward_flops) for path, part in c.parts}}
        if memory_values:
            out["memory"] = {"optimizer": args.optimizer, "dtype": args.dtype, "checkpoint": args.checkpoint}
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
    if memory_values:
        print(f"\nmemory of a training step ({args.optimizer}, {args.dtype}"
              f"{', checkpointed' if args.checkpoint else ''}):")
        for name, number in memory_values.items():
            print(f"{name:<24} {number / 2**20:>12,.2f} MiB   {number:,} byte")
    total = int(c.forward_flops) or 1
    print(f"\nforward FLOPs by part (top {args.top}):")
    for path, flops in breakdown_rows(c, "forward_flops", args.top):
        print(f"  {path:<24} {fmt(int(flops), 'flop'):>14}  {100 * int(flops) / total:5.1f}%")
    return 0


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost,
                    memory: dict[str, sympy.Expr] | None = None) -> int:
    exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
    units = dict(METRIC_UNITS)
    for name, expr in (memory or {}).items():
        exprs[name], units[name] = expr, "byte"
    if args.json:
        print(json.dumps({"model": args.model, "symbolic": True, "polynomial": c.is_polynomial,
                          **{k: str(v) for k, v in exprs.items()}, "units": units}, indent=2))
        return 0
    print(f"{args.model}: {config_line(config)}")
    kind = "polynomial" if c.is_polynomial else "exact with floor divisions (use --divisible for polynomials)"
    print(f"closed forms, {kind}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
    for name, expr in exprs.items():
        print(f"{name} [{units[name]}] =\n    {expr}\n")
    return 0


