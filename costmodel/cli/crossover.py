"""``costmodel crossover A B [C ...] --over FIELD [--range LO:HI] [--metric M] [--batch N] [--json]``.

Prints every point where the models change order, exactly (the closed forms are
polynomial in the field), with which model is cheaper after it. ``--json`` prints a list
of objects ``{"value", "root", "root_exact", "cheaper_after", "dearer_after", "observable"}``:
``value`` is the first valid value of the field from which on the order holds (in the
field's unit: px for ``image_size``, images for ``batch``), ``root`` the real crossing.
"""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import add_command, print_json, print_table, show_field
from costmodel.cli.compare import add_model_arguments, crossover_lines, crossover_records, run_compare

EXAMPLES = ("costmodel crossover resnet50 vit_ti_16 --over image_size",
            "costmodel crossover resnet50 vit_ti_16 vit_s_16 --json",
            "costmodel crossover resnet18 vit_ti_16 --over batch --metric peak_training_bytes")


def register(sub: Any) -> None:
    cross = add_command(sub, "crossover", "the points where one model starts to cost more than another", EXAMPLES)
    add_model_arguments(cross, default_range="1:inf")
    cross.set_defaults(func=cmd_crossover)


def interval_rows(result: Any) -> list[tuple[str, str, str, str]]:
    """One row per interval of every pair: the pair, where the interval starts and ends, the cheaper model."""
    rows = []
    for pair, found in result.pairs.items():
        label = f"{result.names[pair[0]]} vs {result.names[pair[1]]}"
        for iv in found.intervals:
            rows.append((label, _end(result.over, iv.lo), _end(result.over, iv.hi), result.winner(pair, iv.cheaper)))
    return rows


def _end(over: str, value: Any) -> str:
    import sympy

    if value == sympy.oo:
        return "inf"
    number = sympy.sympify(value)
    return show_field(over, int(number) if number.is_Integer else float(number))


def cmd_crossover(args: argparse.Namespace) -> int:
    """Every crossover of every pair, as a table of intervals and one line per crossover."""
    result = run_compare(args)
    if args.json:
        print_json(crossover_records(result))
        return 0
    title = (f"{result.metric} at batch {result.batch} over {result.over} "
             f"(valid every {show_field(result.over, result.step)}): who is cheaper where")
    print_table(title, ("models", "from", "to", "cheaper"), interval_rows(result), align="lrrl")
    print()
    for line in crossover_lines(result):
        print(line)
    return 0


__all__ = ["register", "cmd_crossover", "interval_rows"]
