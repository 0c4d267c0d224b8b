"""``costmodel fit MODEL --memory 80GiB [--optimizer ...] [--dtype ...] [--checkpoint] [--over ...] [--json]``.

Prints the largest batch (or, with ``--over image_size``, the largest square image side
at ``--batch``) whose training step fits the memory budget, with the memory it uses and
what one more would need. When nothing fits, or the answer is beyond the search bound
(10**30; ``exceeds`` holds the bound and ``value`` is null), it says so and exits with status 1.

JSON keys: ``field``, ``value`` (images or px), ``fits``, ``memory_bytes``,
``budget_bytes``, ``next_value``, ``next_memory_bytes``, ``smallest``,
``smallest_memory_bytes``, ``step``, ``batch``, the options, and ``at_peak`` (bytes by
kind at the peak of the step that fits).
"""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import (
    add_command,
    checked,
    config_line,
    fail,
    positive_int,
    print_json,
    print_table,
    resolve_model,
    show_exact,
    show_quantity,
)
from costmodel.cli.module_spec import add_module_arguments, traced_model
from costmodel.core.errors import InvalidConfigError

EXAMPLES = ("costmodel fit vit_l_16 --memory 80GiB --optimizer adamw --dtype bfloat16",
            "costmodel fit vit_b_16 --memory 24GB --over image_size --batch 8 --checkpoint",
            "costmodel fit resnet50 --memory 16GiB --json")


def register(sub: Any) -> None:
    fit = add_command(sub, "fit", "the largest batch (or image size) whose training step fits a memory budget",
                      EXAMPLES, "Exit status 1 (with the memory the smallest one needs) when nothing fits.")
    fit.add_argument("model", nargs="?",
                     help="a preset (resnet50, vit_b_16, ...) or a family (vit, resnet, convnext, convnet)")
    add_module_arguments(fit)
    fit.add_argument("--memory", required=True, metavar="SIZE", help="the budget with a unit, e.g. 80GiB, 16GB")
    fit.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a config field (repeatable)")
    fit.add_argument("--optimizer", default="adam", help="sgd, momentum, adam or adamw (default adam)")
    fit.add_argument("--dtype", default="float32", help="float32, or bfloat16/float16 mixed precision")
    fit.add_argument("--checkpoint", action="store_true", help="activation checkpointing of every block")
    fit.add_argument("--over", default="batch", choices=("batch", "image_size"), help="what to maximise")
    fit.add_argument("--batch", type=positive_int, default=1, help="the batch when maximising image_size")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_fit)


def cmd_fit(args: argparse.Namespace) -> int:
    """The largest batch or image side that fits; status 1 when nothing does."""
    from costmodel.cost.precision import get_precision
    from costmodel.memory.budget import largest_batch, largest_resolution, parse_budget
    from costmodel.memory.footprint import get_optimizer, training_memory

    if args.module:  # a traced PyTorch model, at the image size it was traced at
        args.model = args.module
        traced = traced_model(args.module, args.input)
        config = traced.replace(image_size=traced.input_shape[1:]) if args.over == "batch" else traced
    elif args.model is None:
        fail("fit: the following arguments are required: model (or --module PKG.MOD:FACTORY)")
    else:
        config = resolve_model(args.model, args.set or [])
    try:
        budget = checked("--memory", args.memory, lambda: parse_budget(args.memory))
    except InvalidConfigError as exc:  # name the option as typed
        raise InvalidConfigError("--memory", args.memory, exc.reason) from None
    get_optimizer(args.optimizer), get_precision(args.dtype)  # name errors first
    options = dict(optimizer=args.optimizer, dtype=args.dtype, checkpoint=args.checkpoint)
    if args.over == "batch":
        result = largest_batch(config, budget, **options)
        at = dict(batch=result.value) if result.fits else None
    else:
        result = largest_resolution(config, budget, batch=args.batch, **options)
        at = dict(batch=args.batch) if result.fits else None
    detail = None
    if at is not None:
        sized = config if args.over == "batch" else config.replace(image_size=result.value)
        detail = training_memory(sized, batch=at["batch"], **options).evaluate()
    if args.json:
        out = {"model": args.model, "field": result.field, "value": result.value, "fits": result.fits,
               "memory_bytes": result.memory, "budget_bytes": result.budget, "next_value": result.next_value,
               "next_memory_bytes": result.next_memory, "smallest": result.smallest,
               "smallest_memory_bytes": result.smallest_memory, "step": result.step, "exceeds": result.exceeds,
               "batch": at["batch"] if at else (None if args.over == "batch" else args.batch), **options}
        if detail is not None:
            out["at_peak"] = detail.at_peak
        print_json(out)
        return 0 if result.fits else 1
    print(f"{args.model}: {config_line(config) if not args.module else str(config).splitlines()[0]}")
    checkpointing = "activation checkpointing" if args.checkpoint else "no checkpointing"
    print(f"{args.optimizer}, {args.dtype}, {checkpointing}; budget {args.memory} = "
          f"{show_quantity(budget, 'byte')} ({show_exact(budget, 'byte')})\n")
    print(result.message())
    if detail is not None:
        peak = detail.at_peak
        rows = [("weights", detail.weights), ("optimizer state", detail.optimizer_state), ("inputs", detail.inputs),
                ("activations", peak["activations"]), ("gradients", peak["gradients"]),
                ("transient", peak["transient"]), ("peak", detail.peak)]
        print_table(f"memory at the peak ({peak['phase']})", ("part", "memory", "exact"),
                    [(name, show_quantity(n, "byte"), show_exact(n, "byte")) for name, n in rows], align="lrr")
    return 0 if result.fits else 1


__all__ = ["register", "cmd_fit"]
