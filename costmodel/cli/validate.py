"""``costmodel validate [--device cpu|cuda] [--models ...] [--batch N] [--memory ...]``.

With ``--memory`` it compares the memory model with measured peaks and saved tensors
(:mod:`costmodel.validation.memory_report`) instead of the FLOP counts.
"""

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
    mem = val.add_argument_group("memory (with --memory)")
    mem.add_argument("--memory", action="store_true",
                     help="validate saved activations and peak training memory instead of FLOPs "
                          "(default models: resnet18 resnet50 vit_s_16 vit_b_16 convnext_tiny)")
    mem.add_argument("--batches", nargs="+", type=positive_int, default=[1, 8, 32], metavar="N")
    mem.add_argument("--optimizers", nargs="+", default=["sgd", "adam"], choices=("sgd", "momentum", "adam", "adamw"))
    mem.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    mem.add_argument("--checkpoint", action="store_true", help="checkpoint every block")
    mem.add_argument("--method", choices=("rss", "memtracker", "cuda"),
                     help="peak measurement (default: rss on cpu, cuda on cuda)")
    val.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    if args.memory:
        return _validate_memory(args)
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




def _validate_memory(args: argparse.Namespace) -> int:
    from costmodel.validation.memory_report import (
        DEFAULT_PRESETS,
        format_memory_table,
        run_memory_validation,
        write_memory_results,
    )

    models = args.models or list(DEFAULT_PRESETS)
    for name in models:
        if name not in PRESETS:
            raise UnknownPresetError("preset", name, PRESETS)

    def done(batch: list) -> None:  # save each preset's records as soon as they are measured
        write_memory_results(batch, args.device, args.output)
        for r in batch:
            print(f"  {r.preset} batch {r.batch} {r.optimizer or ''} {r.quantity}: "
                  f"{'FAILED ' + r.error if r.error else 'done'}", flush=True)

    records = run_memory_validation(models, device=args.device, batches=args.batches, optimizers=args.optimizers,
                                    dtype=args.dtype, checkpoint=args.checkpoint, method=args.method, progress=done)
    print(format_memory_table(records))
    path = write_memory_results(records, args.device, args.output)
    print(f"\nresults written to {path}")
    return 0
