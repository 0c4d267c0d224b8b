"""``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot PATH] [--json]``.

JSON keys: ``over``, ``over_unit`` (the unit of the field's values, e.g. ``px``),
``metric``, ``unit`` (of every value in ``table``), ``batch``, ``models``, ``step``,
``table`` (one object per row: ``value`` and one exact integer per model) and
``crossovers`` (as ``costmodel crossover --json`` prints them).
"""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import (
    FIELD_UNITS,
    MAX_INT,
    MAX_POINTS,
    add_command,
    bounded_int,
    checked,
    note,
    parse_int,
    positive_int,
    print_json,
    print_table,
    resolve_model,
    show_field,
    show_quantity,
)
from costmodel.cli.module_spec import add_module_arguments, traced_model
from costmodel.core.errors import InvalidConfigError

EXAMPLES = ("costmodel compare resnet50 vit_ti_16 --over image_size --range 64:2048 --plot comparison.png",
            "costmodel compare resnet18 vit_ti_16 --over batch --range 1:64 --metric peak_training_bytes",
            "costmodel compare resnet50 convnext_tiny vit_s_16 --range 64:512 --json")
METRICS = ("forward_flops (default), backward_flops, training_flops, params, peak_training_bytes, "
           "saved_activation_bytes")


def add_model_arguments(parser: argparse.ArgumentParser, *, default_range: str) -> None:
    """Arguments shared by ``compare`` and ``crossover``."""
    parser.add_argument("models", nargs="*", help="two or more presets or families (with --module, one or more)")
    add_module_arguments(parser)
    parser.add_argument("--over", default="image_size", help="the field that varies (default image_size; "
                                                             "or width, depth, batch, ...)")
    parser.add_argument("--range", default=default_range, help=f"MIN:MAX of that field (default {default_range}; "
                                                               "MAX may be 'inf' for crossover)")
    parser.add_argument("--metric", default="forward_flops", help=METRICS)
    parser.add_argument("--batch", type=positive_int, default=1, help="images per step (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def register(sub: Any) -> None:
    comp = add_command(sub, "compare", "compare models over a field: a table of exact costs and the crossovers",
                       EXAMPLES)
    add_model_arguments(comp, default_range="64:2048")
    comp.add_argument("--points", type=bounded_int(MAX_POINTS), default=8,
                      help=f"table rows (default 8, at most {MAX_POINTS})")
    comp.add_argument("--plot", metavar="PATH", help="write a PNG or SVG plot")
    comp.set_defaults(func=cmd_compare)


def run_compare(args: argparse.Namespace) -> Any:
    """The :class:`~costmodel.analysis.comparison.Comparison` the arguments ask for."""
    from costmodel.analysis.comparison import compare
    from costmodel.models import FAMILIES

    lo, hi = parse_range(args.range)
    models: list[Any] = [resolve_model(m) if m in FAMILIES else m for m in args.models]
    names = list(args.models)
    if args.module:  # a traced PyTorch model joins the comparison
        models.append(traced_model(args.module, args.input))
        names.append(args.module)
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
    """One line per crossover (or per pair without one), every value with the field's unit."""
    lines = []
    unit = FIELD_UNITS.get(result.over)
    suffix = f" {unit}" if unit else ""
    span = f"{show_field(result.over, result.lo)} to {_show_hi(result.over, result.hi)}"
    for pair, found in result.pairs.items():
        a, b = result.names[pair[0]], result.names[pair[1]]
        if not found:
            last = found.intervals[-1].cheaper if found.intervals else "tie"
            who = result.winner(pair, last)
            lines.append(f"no crossover of {a} and {b} for {result.over} from {span}: {who} is cheaper throughout")
        for c in found:
            winner = result.winner(pair, c.cheaper_after)
            root = f" (root {c.root_float:.1f}{suffix})" if c.root is not None else ""
            where = show_field(result.over, c.first_valid if c.first_valid is not None else c.root_float)
            hidden = "" if c.observable else " [not visible at valid sizes: another crossover follows first]"
            other = f" than {b if winner == a else a}" if len(result.names) > 2 else ""
            lines.append(f"crossover at {result.over} = {where}{root}: {winner} is cheaper{other} from there on"
                         f"{hidden}")
    return lines


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare models: a table over the field's range, then every crossover."""
    import sympy

    if parse_range(args.range)[1] == sympy.oo:
        raise InvalidConfigError("--range", args.range, "compare needs a finite MAX for its table "
                                 "(use 'costmodel crossover' to search up to inf)")
    if args.plot is not None and not args.plot.strip():
        raise InvalidConfigError("--plot", args.plot, "must be a file path ending in .png or .svg")
    result = run_compare(args)
    names = result.names
    grid = result.grid(args.points)
    values = [[int(result.exact(i, v).magnitude) for i in range(len(names))] for v in grid]
    if args.json:
        print_json({
            "over": result.over, "over_unit": FIELD_UNITS.get(result.over), "metric": result.metric,
            "unit": result.unit, "batch": result.batch, "models": list(names), "step": result.step,
            "table": [{"value": v, **dict(zip(names, row, strict=True))} for v, row in zip(grid, values, strict=True)],
            "crossovers": crossover_records(result),
        })
    else:
        title = (f"{result.metric} at batch {result.batch} over {result.over} "
                 f"(valid every {show_field(result.over, result.step)})")
        rows = [(show_field(result.over, v), *(show_quantity(n, result.unit) for n in row))
                for v, row in zip(grid, values, strict=True)]
        print_table(title, (result.over, *names), rows, align="r" * (len(names) + 1))
        print()
        for line in crossover_lines(result):
            print(line)
    if args.plot is not None:
        from costmodel.plot import plot_comparison

        try:
            checked("--plot", args.plot, lambda: plot_comparison(result, args.plot))
        except InvalidConfigError as exc:  # name the option, not the library's argument
            raise InvalidConfigError("--plot", args.plot, exc.reason) from None
        note(f"plot written to {args.plot}", to_stderr=args.json)
    return 0


def _show_hi(over: str, hi: Any) -> str:
    import sympy

    return "inf" if hi == sympy.oo else show_field(over, hi)


def parse_range(text: str) -> tuple[int, Any]:
    """``"64:2048"`` -> ``(64, 2048)``; ``"1:inf"`` or ``"1:"`` -> ``(1, sympy.oo)``.

    >>> parse_range("64:2048")
    (64, 2048)
    >>> parse_range("1:inf")
    (1, oo)
    """
    import sympy

    lo, sep, hi = text.partition(":")
    if not sep:
        raise InvalidConfigError("--range", text, "must look like MIN:MAX with integers, e.g. 64:2048")
    try:
        low = parse_int(lo, "--range", high=MAX_INT)
        high: Any = sympy.oo if hi.strip().lower() in ("", "inf", "oo") else parse_int(hi, "--range", high=MAX_INT)
    except InvalidConfigError as exc:
        raise InvalidConfigError("--range", text, f"must look like MIN:MAX with integers up to {MAX_INT:.0e}, "
                                 f"e.g. 64:2048 ({exc.value!r} {exc.reason})") from None
    if low <= 0 or bool(low > high):
        raise InvalidConfigError("--range", text, "must be MIN:MAX with 0 < MIN <= MAX")
    return low, high


__all__ = ["register", "cmd_compare", "parse_range", "run_compare", "crossover_records", "crossover_lines",
           "add_model_arguments"]
