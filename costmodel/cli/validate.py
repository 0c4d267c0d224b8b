"""``costmodel validate [--device cpu|cuda] [--models ...] [--batch N] [--memory ...] [--json]``.

With ``--memory`` it compares the memory model with measured peaks and saved tensors
(:mod:`costmodel.validation.memory_report`) instead of the FLOP counts. ``--json`` prints
the records as a list of objects (``predicted`` and ``measured`` in the record's
``unit``: flop, param or byte; ``rel_error`` a fraction; ``seconds`` wall time). With
``--published`` it predicts the published GPU throughput anchors instead (no GPU needed);
``--published --json`` prints that comparison as one JSON document.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from costmodel.cli.common import add_command, images, note, positive_int, print_json, print_table, show_quantity
from costmodel.core.errors import InvalidConfigError, UnknownPresetError

EXAMPLES = ("costmodel validate --models resnet18 vit_ti_16",
            "costmodel validate --memory --models resnet18 --batches 1 8 --optimizers adam",
            "costmodel validate --models vit_ti_16 --json",
            "costmodel validate --published   # GPU kernel model vs published GPU throughput")


def register(sub: Any) -> None:
    val = add_command(sub, "validate", "predicted vs measured (FlopCounterMode, memory peaks) on real modules",
                      EXAMPLES, "Needs PyTorch; results are merged into validation/results/<device>.json.")
    val.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    val.add_argument("--models", nargs="+", metavar="PRESET", help="presets to run (default: all)")
    val.add_argument("--batch", type=positive_int, default=1, help="images per step (default 1)")
    val.add_argument("--output", metavar="PATH", help="results file (default validation/results/<device>.json)")
    val.add_argument("--json", action="store_true", help="print the records as one JSON list")
    val.add_argument("--published", action="store_true",
                     help="predict the published GPU throughput anchors (no GPU needed) and print the errors")
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


def _check_presets(models: Sequence[str]) -> None:
    from costmodel.models.presets import PRESETS

    for name in models:
        if name not in PRESETS:
            raise UnknownPresetError("preset", name, PRESETS)


def _check_device(device: str) -> None:
    """Refuse a device this machine does not have (``--device cuda`` without CUDA): bad input, status 2."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InvalidConfigError("--device", device, "is not available on this machine (torch.cuda.is_available() "
                                                         "is False)")


def _check_published_alone(args: argparse.Namespace) -> None:
    """``--published`` predicts the published anchors: refuse the options it would otherwise ignore."""
    for option, given in (("--memory", args.memory), ("--models", args.models), ("--output", args.output),
                          ("--device", args.device if args.device != "cpu" else None)):
        if given:
            raise InvalidConfigError(option, given, "cannot be combined with --published (the published anchors "
                                                    "are predicted, nothing is run on a device)")


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the FLOP (or memory) validation and print predicted against measured.

    Exit status 0 when every record was measured (and, for FLOPs, matched), 1 when one
    failed (out of memory, an error, a count that differs), 2 for bad input.
    """
    _check_device(args.device)
    if args.published:
        _check_published_alone(args)
        from costmodel.validation.published_report import main  # type: ignore[import-not-found,unused-ignore]

        return int(main(["--print-json"] if args.json else []))
    if args.memory:
        return _validate_memory(args)
    from costmodel.models.presets import PRESETS
    from costmodel.validation.report import (  # type: ignore[import-not-found,unused-ignore]
        run_validation,
        write_results,
    )

    models = args.models or sorted(PRESETS)
    _check_presets(models)
    records = run_validation(models, device=args.device, batch=args.batch)
    path = write_results(records, args.device, args.output)
    if args.json:
        print_json(record_dicts(records))
    else:
        print_table(f"predicted vs measured on {args.device}",
                    ("preset", "batch", "quantity", "predicted", "measured", "rel. error", "time"),
                    [(r.preset, images(r.batch), r.quantity, _value(r.predicted, r.unit),
                      _value(r.measured, r.unit), _relative(r.error, r.rel_error), _value(r.seconds, "s"))
                     for r in records], align="lrlrrrr")
        print(f"{sum(r.ok for r in records)} of {len(records)} quantities exact.")
        for preset, error in sorted({(r.preset, r.error) for r in records if r.error is not None}):
            print(f"FAILED {preset}: {error}")
    note(f"\nresults written to {path}", to_stderr=args.json)
    return 0 if records and all(r.ok for r in records) else 1


def _validate_memory(args: argparse.Namespace) -> int:
    from costmodel.validation.memory_report import (  # type: ignore[import-not-found,unused-ignore]
        DEFAULT_PRESETS,
        run_memory_validation,
        write_memory_results,
    )

    models = args.models or list(DEFAULT_PRESETS)
    _check_presets(models)

    def done(batch: list[Any]) -> None:  # save each preset's records as soon as they are measured
        write_memory_results(batch, args.device, args.output)
        for r in batch:
            note(f"  {r.preset} batch {r.batch} {r.optimizer or ''} {r.quantity}: "
                 f"{_failure(r) + ' ' + r.error if r.error else 'done'}", to_stderr=args.json)

    records = run_memory_validation(models, device=args.device, batches=args.batches, optimizers=args.optimizers,
                                    dtype=args.dtype, checkpoint=args.checkpoint, method=args.method, progress=done)
    path = write_memory_results(records, args.device, args.output)
    if args.json:
        print_json(record_dicts(records))
    else:
        print_table(f"predicted vs measured memory on {args.device}",
                    ("preset", "batch", "optimizer", "dtype", "ckpt", "quantity", "method", "predicted", "measured",
                     "rel. error"),
                    [(r.preset, images(r.batch), r.optimizer or "-", r.dtype, "yes" if r.checkpoint else "no",
                      r.quantity, r.method, _value(r.predicted, "byte"), _value(r.measured, "byte"),
                      _relative(r.error, r.rel_error)) for r in records], align="lrllllrrrr")
        for r in records:
            if r.error:
                print(f"{_failure(r)} {r.preset} batch {r.batch} {r.quantity}: {r.error}")
    note(f"\nresults written to {path}", to_stderr=args.json)
    return 0 if records and all(r.error is None for r in records) else 1


def record_dicts(records: Sequence[Any]) -> list[dict[str, Any]]:
    """The records as JSON objects, each with its ``unit``."""
    out = []
    for r in records:
        data = dataclasses.asdict(r)
        data["unit"] = getattr(r, "unit", "byte")
        out.append(data)
    return out


def _failure(record: Any) -> str:
    """``OUT OF MEMORY`` or ``FAILED``: how a record that was not measured is shown."""
    return "OUT OF MEMORY" if record.status == "out of memory" else "FAILED"  # validation.outcomes.OUT_OF_MEMORY


def _value(value: Any, unit: str) -> str:
    return "-" if value is None else show_quantity(value, unit)


def _relative(error: str | None, rel: float | None) -> str:
    if error:
        return "FAILED"
    if rel is None:
        return "-"
    return "exact" if rel == 0 else f"{100 * rel:+.2f} %"


__all__ = ["register", "cmd_validate", "record_dicts"]
