"""The ``costmodel`` command.

``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``
``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot out.png] [--json]``
``costmodel validate [--device cpu|cuda] [--models ...] [--batch N]``

MODEL is a preset (``costmodel count resnet50``) or a family (``vit``, ``resnet``,
``convnext``, ``convnet``) whose fields are set with ``--set``. Errors are one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

import sympy

from costmodel.conventions import CONVENTIONS, get_convention
from costmodel.cost import METRIC_UNITS, Cost
from costmodel.errors import CostModelError, InvalidConfigError, UnknownPresetError
from costmodel.models import FAMILIES, ArchConfig, cost
from costmodel.models.presets import PRESETS
from costmodel.symbols import B
from costmodel.units import ureg


def resolve_model(name: str, settings: Sequence[str] = ()) -> ArchConfig:
    """A preset or a family's default config, with ``FIELD=VALUE`` settings applied."""
    if name in PRESETS:
        config = PRESETS[name]
    elif name in FAMILIES:
        config = FAMILIES[name]()
    else:
        raise UnknownPresetError("model", name, list(PRESETS) + list(FAMILIES))
    changes: dict[str, Any] = {}
    for item in settings:
        field, sep, text = item.partition("=")
        field = field.strip()
        if not sep or not field or not text.strip():
            raise InvalidConfigError("--set", item, "must look like FIELD=VALUE, e.g. --set layers=2,2,2,2")
        changes[field] = type(config).parse_field(field, text)
    return config.replace(**changes) if changes else config


def _fmt(value: Any, unit: str) -> str:
    q = ureg.Quantity(value, unit)
    compact = q.to_compact()
    return f"{compact:.4g~P}" if compact.magnitude != value else f"{q:~P}"


def _config_line(config: ArchConfig) -> str:
    fields = ", ".join(f"{n}={_show(getattr(config, n))}" for n in config.field_names())
    return f"{type(config).__name__}({fields})"


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _breakdown_rows(c: Cost, metric: str, top: int) -> list[tuple[str, Any]]:
    rows = [(path, getattr(part, metric)) for path, part in c.parts]
    rows.sort(key=lambda r: -int(r[1]))
    return rows[:top]


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
        out = {"model": args.model, "config": {n: _show(getattr(config, n)) for n in config.field_names()},
               "batch": batch, "convention": args.convention, **value.magnitudes(),
               "units": dict(METRIC_UNITS),
               "breakdown": {path: int(part.forward_flops) for path, part in c.parts}}
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.model}: {_config_line(config)}")
    print(f"batch {batch}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
    width = 16
    print(f"{'quantity':<{width}} {'value':>14}   exact")
    for name, unit in (*METRIC_UNITS.items(), ("training_flops", "flop")):
        number = int(getattr(c, name))
        print(f"{name:<{width}} {_fmt(number, unit):>14}   {number:,} {unit}")
    print(f"{'forward (MAC)':<{width}} {_fmt(int(c.forward_flops) / 2, 'MAC'):>14}")
    total = int(c.forward_flops) or 1
    print(f"\nforward FLOPs by part (top {args.top}):")
    for path, flops in _breakdown_rows(c, "forward_flops", args.top):
        print(f"  {path:<24} {_fmt(int(flops), 'flop'):>14}  {100 * int(flops) / total:5.1f}%")
    return 0


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost) -> int:
    exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
    if args.json:
        print(json.dumps({"model": args.model, "symbolic": True, "polynomial": c.is_polynomial,
                          **{k: str(v) for k, v in exprs.items()}, "units": dict(METRIC_UNITS)}, indent=2))
        return 0
    print(f"{args.model}: {_config_line(config)}")
    kind = "polynomial" if c.is_polynomial else "exact with floor divisions (use --divisible for polynomials)"
    print(f"closed forms, {kind}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
    for name, expr in exprs.items():
        print(f"{name} [{METRIC_UNITS[name]}] =\n    {expr}\n")
    return 0


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
            cells = " ".join(f"{_fmt(int(result.exact(i, v).magnitude), result.unit):>16}"
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


def cmd_validate(args: argparse.Namespace) -> int:
    from costmodel.validation.report import format_table, run_validation, write_results

    models = args.models or sorted(PRESETS)
    for name in models:
        if name not in PRESETS:
            raise UnknownPresetError("preset", name, PRESETS)
    records = run_validation(models, device=args.device, batch=args.batch)
    print(format_table(records))
    path = write_results(records, args.device, args.output)
    print(f"\nresults written to {path}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="costmodel", description="Exact costs of ConvNets and ViTs.")
    sub = parser.add_subparsers(dest="command", required=True)

    count = sub.add_parser("count", help="FLOPs and parameters of one model")
    count.add_argument("model", help="a preset (resnet50, vit_b_16, ...) or a family (vit, resnet, convnext, convnet)")
    count.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a config field (repeatable)")
    count.add_argument("--batch", type=_positive_int, help="images per step (default 1; symbolic B with --symbolic)")
    count.add_argument("--json", action="store_true", help="print one JSON object")
    count.add_argument("--symbolic", action="store_true", help="print the closed forms")
    count.add_argument("--divisible", action="store_true", help="assume strides divide the sizes (polynomials)")
    count.add_argument("--convention", choices=sorted(CONVENTIONS), default="flop_counter")
    count.add_argument("--top", type=_positive_int, default=6, help="breakdown rows to show")
    count.set_defaults(func=cmd_count)

    comp = sub.add_parser("compare", help="compare models over a field and find crossovers")
    comp.add_argument("models", nargs="+", help="two or more presets or families")
    comp.add_argument("--over", default="image_size", help="the field that varies (default image_size)")
    comp.add_argument("--range", default="64:2048", help="MIN:MAX of that field")
    comp.add_argument("--metric", default="forward_flops",
                      help="forward_flops, backward_flops, training_flops or params")
    comp.add_argument("--batch", type=_positive_int, default=1)
    comp.add_argument("--points", type=_positive_int, default=8, help="table rows")
    comp.add_argument("--plot", metavar="PATH", help="write a PNG or SVG plot")
    comp.add_argument("--json", action="store_true")
    comp.set_defaults(func=cmd_compare)

    val = sub.add_parser("validate", help="predicted vs measured (FlopCounterMode) on real modules")
    val.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    val.add_argument("--models", nargs="+", metavar="PRESET", help="presets to run (default: all)")
    val.add_argument("--batch", type=_positive_int, default=1)
    val.add_argument("--output", metavar="PATH", help="results file (default validation/results/<device>.json)")
    val.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CostModelError as exc:
        parser.exit(2, f"costmodel: error: {exc}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
