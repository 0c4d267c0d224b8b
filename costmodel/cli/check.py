"""``costmodel check FILE [--budget NAME ...] [--json]``: cost budgets, for CI.

``FILE`` is a TOML file of ``[budget.NAME]`` tables, or a ``pyproject.toml`` with
``[tool.costmodel.budget.NAME]`` tables (format: :mod:`costmodel.testing.budgets`). One row per
limit: the model's value, the limit, and the headroom ``(limit - value) / limit``. Exit status
0 when every limit holds, 1 when any is exceeded, 2 when the file is malformed (the error
names the budget and the key). JSON: ``{"ok": bool, "results": [{"budget", "limit_name",
"value", "limit", "unit", "headroom", "holds"}]}`` with values in the base unit (``param``,
``flop``, ``byte``, ``s``) and the headroom a fraction.
"""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import add_command, print_json, print_table, show_quantity

EXAMPLES = ("costmodel check budgets.toml",
            "costmodel check pyproject.toml --budget backbone --json")


def register(sub: Any) -> None:
    p = add_command(sub, "check", "check cost budgets (params, FLOPs, memory, step time) from a TOML file", EXAMPLES,
                    "exit status: 0 every limit holds, 1 a limit is exceeded, 2 the file is malformed")
    p.add_argument("file", help="a TOML file of [budget.NAME] tables, or a pyproject.toml with [tool.costmodel]")
    p.add_argument("--budget", action="append", metavar="NAME", help="check only this budget (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """Check the budgets of ``args.file``: 0 when all hold, 1 when any is exceeded."""
    from costmodel.testing.budgets import LIMITS, check_budgets

    report = check_budgets(args.file, tuple(args.budget or ()))
    if args.json:
        print_json(report.to_json())
        return 0 if report.ok else 1
    rows = [(r.budget, LIMITS[r.limit_name][0], show_quantity(r.value, r.unit), show_quantity(r.limit, r.unit),
             f"{100 * r.headroom:+.1f} %", "ok" if r.holds else "EXCEEDED") for r in report.results]
    print_table(f"cost budgets of {args.file}", ("budget", "quantity", "value", "limit", "headroom", "status"),
                rows, align="llrrrl")
    exceeded = report.exceeded
    if exceeded:
        print(f"\n{len(exceeded)} limit(s) exceeded: " + ", ".join(f"{r.budget}.{r.limit_name}" for r in exceeded))
    return 0 if report.ok else 1


__all__ = ["register", "cmd_check"]
