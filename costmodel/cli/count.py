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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costmodel.cli.common import (
    add_command,
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
from costmodel.core.conventions import CONVENTIONS
from costmodel.core.errors import InvalidConfigError

if TYPE_CHECKING:
    import sympy

    from costmodel.cost.value import Cost
    from costmodel.models import ArchConfig

EXAMPLES = ("costmodel count resnet50",
            "costmodel count vit_b_16 --batch 32 --optimizer adamw --dtype bfloat16 --json",
            "costmodel count vit --set depth=D --set width=d --set heads=1 --symbolic",
            "costmodel count --module path/to/model.py:make --input 3x224x224 --symbolic")
#: unit of each count field
UNITS = {"forward_flops": "flop", "backward_flops": "flop", "params": "param",
         "saved_activation_bytes": "byte", "peak_training_bytes": "byte"}
_METRICS = ("forward_flops", "backward_flops", "params")


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


@dataclass(frozen=True)
class Counts:
    """The integers ``costmodel count`` prints for one model at one batch."""

    config_line: str
    config: dict[str, str]
    batch: int
    values: dict[str, int]  # forward_flops, backward_flops, params, and the memory fields where modelled
    parts: list[tuple[str, int]]  # forward FLOPs of each top-level part, in model order

    @property
    def memory(self) -> dict[str, int]:
        return {k: v for k, v in self.values.items() if k not in _METRICS}


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


def cached_counts(args: argparse.Namespace) -> Counts | None:
    """The counts of a preset at default settings from :mod:`~costmodel.cli.preset_cache`, else None."""
    from costmodel.cli import preset_cache

    defaults = all(getattr(args, k) == v for k, v in preset_cache.DEFAULTS.items())
    if args.set or args.symbolic or args.divisible or args.checkpoint or not defaults:
        return None
    entry = preset_cache.lookup(args.model)
    if entry is None:
        return None
    batch = 1 if args.batch is None else args.batch
    return Counts(config_line=entry["config_line"], config=entry["config"], batch=batch,
                  values={k: preset_cache.evaluate(entry["counts"][k], batch) for k in preset_cache.FIELDS
                          if k in entry["counts"]},
                  parts=[(path, preset_cache.evaluate(v, batch)) for path, v in entry["parts"]])


def computed_counts(args: argparse.Namespace, config: ArchConfig, c: Cost, batch: int) -> Counts:
    """The counts of ``c`` (the cost of ``config``), memory included, computed from the closed forms."""
    values = {name: int(getattr(c, name)) for name in _METRICS}
    values.update({name: int(expr) for name, expr in _memory(args, config, batch).items()})
    return Counts(config_line=config_line(config), config={n: show(getattr(config, n)) for n in config.field_names()},
                  batch=batch, values=values, parts=[(path, int(part.forward_flops)) for path, part in c.parts])


def cmd_count(args: argparse.Namespace) -> int:
    """Count one model: a table, ``--json`` or ``--symbolic`` closed forms."""
    if args.module:
        return cmd_count_module(args)
    if args.model is None:
        fail("count: the following arguments are required: model (or --module PKG.MOD:FACTORY)")
    counts = cached_counts(args)
    if counts is None:
        from costmodel.core.conventions import get_convention
        from costmodel.core.symbols import B
        from costmodel.models import cost

        config = resolve_model(args.model, args.set or [])
        batch = B if args.batch is None and args.symbolic else (1 if args.batch is None else args.batch)
        c = cost(config, batch=batch, convention=get_convention(args.convention), divisible=args.divisible)
        free = c.free_symbols
        if free and not args.symbolic:
            names = ", ".join(sorted(map(str, free)))
            raise InvalidConfigError("--set", names, "symbolic fields need --symbolic to print closed forms")
        if args.symbolic:
            return _print_symbolic(args, config, c, _memory(args, config, batch))
        counts = computed_counts(args, config, c, batch)
    if args.json:
        print_json(count_json(args, counts))
        return 0
    print(f"{args.model}: {counts.config_line}")
    print(f"batch of {images(counts.batch)}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
    print_table(None, ("quantity", "value", "exact"), metric_rows(counts.values), align="lrr")
    if counts.memory:
        checkpointing = ", checkpointed" if args.checkpoint else ""
        print_table(f"memory of a training step ({args.optimizer}, {args.dtype}{checkpointing})",
                    ("quantity", "value", "exact"),
                    [(name, show_quantity(n, "byte"), show_exact(n, "byte")) for name, n in counts.memory.items()],
                    align="lrr")
    print_table(f"forward FLOPs by part (top {args.top})", ("part", "forward", "share"),
                part_rows(counts.parts, counts.values["forward_flops"], args.top), align="lrr")
    return 0


def cmd_count_module(args: argparse.Namespace) -> int:
    """``count --module SPEC``: the traced model's counts, closed forms and limits."""
    import sympy

    from costmodel.cli.module_spec import traced_model
    from costmodel.core.conventions import get_convention
    from costmodel.core.symbols import B
    from costmodel.cost.value import METRIC_UNITS
    from costmodel.models import cost

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
        values = {name: int(getattr(c, name)) for name in _METRICS}
        memory_values = {name: int(expr) for name, expr in memory.items()}
        parts = [(path, int(part.forward_flops)) for path, part in c.parts]
        if args.json:
            print_json({"model": args.module, "input": list(traced.input_shape), "batch": batch,
                        "convention": args.convention, **values, **memory_values,
                        "units": {**METRIC_UNITS, **dict.fromkeys(memory_values, "byte")},
                        "breakdown": dict(parts), "limits": limits, "unknown_ops": traced.unknown_ops})
            return 0
        print(f"{args.module}: traced at {'x'.join(map(str, traced.input_shape))}")
        print(f"batch of {images(batch)}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
        print_table(None, ("quantity", "value", "exact"), metric_rows(values), align="lrr")
        if memory_values:
            print_table(f"memory of a training step ({args.optimizer}, {args.dtype})", ("quantity", "value", "exact"),
                        [(n, show_quantity(v, "byte"), show_exact(v, "byte")) for n, v in memory_values.items()],
                        align="lrr")
        print_table(f"forward FLOPs by part (top {args.top})", ("part", "forward", "share"),
                    part_rows(parts, values["forward_flops"], args.top), align="lrr")
    for line in limits:
        print(f"note: {line}")
    return 0


def count_json(args: argparse.Namespace, counts: Counts) -> dict[str, Any]:
    """The ``--json`` object of ``costmodel count``."""
    out: dict[str, Any] = {
        "model": args.model, "config": counts.config, "batch": counts.batch, "convention": args.convention,
        **counts.values, "units": {name: UNITS[name] for name in counts.values},
        "breakdown": dict(counts.parts)}
    if counts.memory:
        out["memory"] = {"optimizer": args.optimizer, "dtype": args.dtype, "checkpoint": args.checkpoint}
    return out


def metric_rows(values: dict[str, int], names: tuple[str, ...] = (*_METRICS, "training_flops"),
                ) -> list[tuple[str, str, str]]:
    """Rows ``(name, value with prefix, exact value)`` of ``names``, and the forward MACs."""
    values = {**values, "training_flops": values["forward_flops"] + values["backward_flops"]}
    rows = []
    for name in names:
        number = values[name]
        rows.append((name, show_quantity(number, UNITS.get(name, "flop")), show_exact(number, UNITS.get(name, "flop"))))
    macs = values["forward_flops"] // 2
    rows.append(("forward MACs", show_macs(macs), show_exact(macs, "MAC")))
    return rows


def part_rows(parts: list[tuple[str, int]], total: int, top: int) -> list[tuple[str, str, str]]:
    """The ``top`` parts by forward FLOPs, with their share of the total."""
    largest = sorted(parts, key=lambda item: -item[1])[:top]
    return [(path, show_quantity(flops, "flop"), f"{100 * flops / (total or 1):.1f} %") for path, flops in largest]


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost,
                    memory: dict[str, sympy.Expr] | None = None) -> int:
    import sympy

    from costmodel.cost.value import METRIC_UNITS

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


__all__ = ["register", "cmd_count", "Counts", "cached_counts", "computed_counts", "count_json", "metric_rows",
           "part_rows"]
