"""``costmodel validate [--device cpu|cuda] [--models ...] [--batch N]``."""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import positive_int
from costmodel.errors import UnknownPresetError
from costmodel.models.presets import PRESETS


def register(sub: Any) -> None:
    val = sub.add_parser("validate", help="predicted vs measured (FlopCounterMode) on real modules")
    val.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    val.add_argument("--models", nargs="+", metavar="PRESET", help="presets to run (default: all)")
    val.add_argument("--batch", type=positive_int, default=1)
    val.add_argument("--output", metavar="PATH", help="results file (default validation/results/<device>.json)")
    val.set_defaults(func=cmd_validate)


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


