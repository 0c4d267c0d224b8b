"""``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``.

Memory (families with a memory model): ``saved_activation_bytes`` and
``peak_training_bytes`` of a training step with ``--optimizer``, ``--dtype`` and
``--checkpoint`` (see :mod:`costmodel.memory.footprint`).

JSON keys: ``params`` (param), ``forward_flops``, ``backward_flops`` (flop, the whole
batch), ``saved_activation_bytes``, ``peak_training_bytes`` (byte), ``units`` naming each,
``breakdown`` (forward flop per part).
"""

from __future__ import annotations

import argparse
from typing import Any

import sympy

from costmodel.cli.common import (
    add_command,
    breakdown_rows,
    config_line,
    fail,
    images,
    positive_int,
    print_json,
    print_table,
    resolve_model,
    show,
    show_exact,
    show_macs,
    show_quantity,
)
from costmodel.cli.module_spec import add_module_arguments
from costmodel.core.conventions import CONVENTIONS, get_convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B
from costmodel.cost.value import METRIC_UNITS, Cost
from costmodel.models import ArchConfig, cost

EXAMPLES = ("costmodel count resnet50",
            "costmodel count vit_b_16 --batch 32 --optimizer adamw --dtype bfloat16 --json",
            "costmodel count vit --set depth=D --set width=d --set heads=1 --symbolic",
            "costmodel count --module path/to/model.py:make --input 3x224x224 --symbolic")


def register(sub: Any) -> None:
    count = add_command(sub, "count", "FLOPs, parameters and training memory of one model", EXAMPLES)
    count.add_argument("model", nargs="?",
                       help="a preset (resnet50, vit_b_16, ...) or a family (vit, resnet, convnext, convnet)")
    add_module_arguments(count)
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
    from costmodel.cost.precision import get_precision
    from costmodel.memory.footprint import _MODULES, get_optimizer, training_memory

    get_optimizer(args.optimizer), get_precision(args.dtype)  # bad names fail for every family
    if type(config) not in _MODULES and getattr(config, "family", "") != "traced":
        return {}
    m = training_memory(config, batch=batch, optimizer=args.optimizer, dtype=args.dtype,
                        checkpoint=args.checkpoint, divisible=args.divisible)
    return {"saved_activation_bytes": m.saved_activations, "peak_training_bytes": m.peak}


def cmd_count(args: argparse.Namespace) -> int:
    """Count one model: a table, ``--json`` or ``--symbolic`` closed forms."""
    if args.module:
        return cmd_count_module(args)
    if args.model is None:
        fail("count: the following arguments are required: model (or --module PKG.MOD:FACTORY)")
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
    memory_values = {name: int(expr) for name, expr in memory.items()}
    if args.json:
        print_json(count_json(args, config, c, batch, memory_values))
        return 0
    print(f"{args.model}: {config_line(config)}")
    print(f"batch of {images(batch)}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
    print_table(None, ("quantity", "value", "exact"), metric_rows(c), align="lrr")
    if memory_values:
        checkpointing = ", checkpointed" if args.checkpoint else ""
        print_table(f"memory of a training step ({args.optimizer}, {args.dtype}{checkpointing})",
                    ("quantity", "value", "exact"),
                    [(name, show_quantity(n, "byte"), show_exact(n, "byte")) for name, n in memory_values.items()],
                    align="lrr")
    print_table(f"forward FLOPs by part (top {args.top})", ("part", "forward", "share"),
                part_rows(c, args.top), align="lrr")
    return 0


def cmd_count_module(args: argparse.Namespace) -> int:
    """``count --module SPEC``: the traced model's counts, closed forms and limits."""
    from costmodel.cli.module_spec import traced_model

    traced = traced_model(args.module, args.input)
    symbolic = traced if args.symbolic else traced.replace(image_size=traced.input_shape[1:])
    batch = B if args.batch is None and args.symbolic else (1 if args.batch is None else args.batch)
    c = cost(symbolic, batch=batch, convention=get_convention(args.convention))
    memory = _memory(args, symbolic, batch)
    limits = [c.rule for c in traced.conditions if c.rule not in traced.notes] + list(traced.notes)
    if args.symbolic:
        exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
        exprs.update({"saved_activation_bytes": c.saved_bytes, **memory})
        if args.json:
            print_json({"model": args.module, "input": list(traced.input_shape), "symbolic": True,
                        **{k: str(v) for k, v in exprs.items()}, "limits": limits,
                        "unknown_ops": traced.unknown_ops})
            return 0
        print(f"{args.module}: traced at {'x'.join(map(str, traced.input_shape))}, symbolic in "
              f"{', '.join(traced.dynamic) or 'nothing'}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
        for name, expr in exprs.items():
            print(f"{name} =\n    {expr}\n")
    else:
        memory_values = {name: int(expr) for name, expr in memory.items()}
        if args.json:
            print_json({"model": args.module, "input": list(traced.input_shape), "batch": batch,
                        "convention": args.convention, **c.evaluate().magnitudes(), **memory_values,
                        "units": {**METRIC_UNITS, **dict.fromkeys(memory_values, "byte")},
                        "breakdown": {path: int(part.forward_flops) for path, part in c.parts},
                        "limits": limits, "unknown_ops": traced.unknown_ops})
            return 0
        print(f"{args.module}: traced at {'x'.join(map(str, traced.input_shape))}")
        print(f"batch of {images(batch)}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
        print_table(None, ("quantity", "value", "exact"), metric_rows(c), align="lrr")
        if memory_values:
            print_table(f"memory of a training step ({args.optimizer}, {args.dtype})", ("quantity", "value", "exact"),
                        [(n, show_quantity(v, "byte"), show_exact(v, "byte")) for n, v in memory_values.items()],
                        align="lrr")
        print_table(f"forward FLOPs by part (top {args.top})", ("part", "forward", "share"),
                    part_rows(c, args.top), align="lrr")
    for line in limits:
        print(f"note: {line}")
    return 0


def count_json(args: argparse.Namespace, config: ArchConfig, c: Cost, batch: Any,
               memory_values: dict[str, int]) -> dict[str, Any]:
    """The ``--json`` object of ``costmodel count``."""
    out: dict[str, Any] = {
        "model": args.model, "config": {n: show(getattr(config, n)) for n in config.field_names()},
        "batch": batch, "convention": args.convention, **c.evaluate().magnitudes(), **memory_values,
        "units": {**METRIC_UNITS, **dict.fromkeys(memory_values, "byte")},
        "breakdown": {path: int(part.forward_flops) for path, part in c.parts}}
    if memory_values:
        out["memory"] = {"optimizer": args.optimizer, "dtype": args.dtype, "checkpoint": args.checkpoint}
    return out


def metric_rows(c: Cost, names: tuple[str, ...] = (*METRIC_UNITS, "training_flops")) -> list[tuple[str, str, str]]:
    """Rows ``(name, value with prefix, exact value)`` of ``names``, and the forward MACs."""
    rows = []
    for name in names:
        unit = "param" if name == "params" else "flop"
        number = int(getattr(c, name))
        rows.append((name, show_quantity(number, unit), show_exact(number, unit)))
    macs = int(c.forward_flops) // 2
    rows.append(("forward MACs", show_macs(macs), show_exact(macs, "MAC")))
    return rows


def part_rows(c: Cost, top: int) -> list[tuple[str, str, str]]:
    """The ``top`` parts by forward FLOPs, with their share of the total."""
    total = int(c.forward_flops) or 1
    return [(path, show_quantity(int(flops), "flop"), f"{100 * int(flops) / total:.1f} %")
            for path, flops in breakdown_rows(c, "forward_flops", top)]


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost,
                    memory: dict[str, sympy.Expr] | None = None) -> int:
    exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
    units = dict(METRIC_UNITS)
    for name, expr in (memory or {}).items():
        exprs[name], units[name] = expr, "byte"
    if args.json:
        print_json({"model": args.model, "symbolic": True, "polynomial": c.is_polynomial,
                    **{k: str(v) for k, v in exprs.items()}, "units": units})
        return 0
    print(f"{args.model}: {config_line(config)}")
    kind = "polynomial" if c.is_polynomial else "exact with floor divisions (use --divisible for polynomials)"
    print(f"closed forms, {kind}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
    for name, expr in exprs.items():
        print(f"{name} [{units[name]}] =\n    {expr}\n")
    return 0


__all__ = ["register", "cmd_count", "count_json", "metric_rows", "part_rows"]
