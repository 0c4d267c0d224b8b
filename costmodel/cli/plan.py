"""``costmodel plan MODEL --device h100 --gpus 8 --batch 1024 --epochs 300 --dataset-size 1.28M [--json]``.

JSON keys (see :meth:`costmodel.hardware.planning.TrainingPlan.to_json`): times end in ``_s``
(seconds: ``step_time_s``, ``train_time_s``, ``forward_s``, ...), memory in ``_bytes``
(``memory_per_gpu_bytes``, ``memory_capacity_bytes``), FLOPs in ``training_flops_*``,
``gpu_hours`` in GPU-hours and ``cost`` as ``{"amount", "currency"}``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from costmodel.cli.common import add_command, checked, fail, integer, print_json, print_table, show_quantity
from costmodel.cli.module_spec import add_module_arguments, traced_model
from costmodel.core.errors import InvalidConfigError

EXAMPLES = ("costmodel plan resnet50 --device h100 --gpus 8 --batch 1024 --epochs 90 --dataset-size 1.28M",
            "costmodel plan vit_b_16 --device a100 --gpus 8 --batch 4096 --epochs 300 --dtype bf16 "
            "--strategy zero2 --price '2.50 USD/h'",
            "costmodel plan resnet18 --device cpu --batch 32 --json   # after 'costmodel calibrate'")


def register(sub: Any) -> None:
    p = add_command(sub, "plan", "time per step, time to train, memory per GPU, fit, bottleneck, price", EXAMPLES)
    p.add_argument("model", nargs="?", help="a preset (resnet50, vit_b_16, ...)")
    add_module_arguments(p)
    p.add_argument("--device", default="h100", help="h100, h200, a100, v100, l4, cpu (this machine as calibrated), "
                                                    "or a device from --device-file")
    p.add_argument("--device-file", metavar="PATH", help="TOML or JSON file of extra devices")
    p.add_argument("--gpus", type=integer, default=1, help="data-parallel GPUs (default 1)")
    p.add_argument("--batch", type=integer, required=True, help="global batch (split evenly over the GPUs)")
    p.add_argument("--epochs", type=integer, default=1, help="passes over the dataset (default 1)")
    p.add_argument("--dataset-size", default="1281167", help="images per epoch, e.g. 1.28M (default ImageNet-1k)")
    p.add_argument("--dtype", default="fp32", help="fp32 (default), tf32, bf16 or fp16 (mixed precision)")
    p.add_argument("--optimizer", default="adamw", choices=("sgd", "momentum", "adam", "adamw"))
    p.add_argument("--strategy", default="ddp", help="ddp, zero1, zero2, zero3 or fsdp")
    p.add_argument("--price", help="price per GPU-hour with a currency, e.g. '2.50 USD/h'")
    p.add_argument("--memory-format", default="nchw", choices=("nchw", "channels_last"),
                   help="GPU activation layout (default nchw, PyTorch's default)")
    p.add_argument("--compiled", action="store_true", help="torch.compile: elementwise chains fused (GPU)")
    p.add_argument("--profile", metavar="PATH", help="a calibrated profile file to use")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_plan)


def _price(text: str | None) -> Any:
    from costmodel.hardware.parallel import parse_price

    if text is None:
        return None
    price = checked("--price", text, lambda: parse_price(text))
    if not math.isfinite(price.amount):
        raise InvalidConfigError("--price", text, "must be a finite amount per GPU-hour")
    return price


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan a training run: a table of times, memory, fit and cost (or ``--json``)."""
    from costmodel.hardware.device_files import load_device_file
    from costmodel.hardware.planning import parse_count, plan

    if args.device_file:
        checked("--device-file", args.device_file, lambda: load_device_file(args.device_file))
    images = checked("--dataset-size", args.dataset_size,
                     lambda: parse_count(args.dataset_size, "--dataset-size"))
    model: Any = args.model
    if args.module:  # a traced PyTorch model, at the image size it was traced at
        traced = traced_model(args.module, args.input)
        model = traced.replace(image_size=traced.input_shape[1:])
    elif args.model is None:
        fail("plan: the following arguments are required: model (or --module PKG.MOD:FACTORY)")
    result = plan(model, device=args.device, gpus=args.gpus, batch=args.batch, epochs=args.epochs,
                  dataset_size=images, dtype=args.dtype, optimizer=args.optimizer,
                  strategy=args.strategy, price=_price(args.price), profile_path=args.profile,
                  memory_format=args.memory_format, compiled=args.compiled)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"{result.model} on {result.gpus} x {result.device} ({result.dtype}, {result.optimizer}, {result.strategy})")
    print(f"rates: {result.profile_source}\n")
    print(f"batch {result.batch:,} images ({result.per_gpu_batch:,} per GPU), {result.epochs:,} epochs of "
          f"{result.dataset_size:,} images: {result.total_steps:,} steps\n")
    print_table(None, ("quantity", "value"), summary_rows(result), align="ll")
    total = result.step_time_s or 1.0
    shares = [(kind, _s(seconds), f"{100 * seconds / total:.1f} %") for kind, seconds in result.step.by_kind().items()]
    print_table("step time by op kind", ("kind", "time", "share"), shares, align="lrr")
    for line in result.notes:
        print(f"\nnote: {line}")
    return 0


def summary_rows(result: Any) -> list[tuple[str, str]]:
    """The rows of the plan's main table: every number with its unit."""
    step, memory = result.step, result.memory
    rows = [
        ("time per step", _s(result.step_time_s)),
        ("  forward", _s(step.forward_s)),
        ("  backward", _s(step.backward_s)),
        ("  optimizer", _s(step.optimizer_s)),
        ("  communication", f"{_s(step.communication_s)} ({_s(step.exposed_communication_s)} exposed)"),
        ("time to train", _s(result.train_time_s)),
        ("training FLOPs", show_quantity(result.training_flops_per_step * result.total_steps, "flop")),
        ("memory per GPU", f"{_b(memory.total)} of {_b(result.memory_capacity)}"),
        ("  weights / grads / optimizer", f"{_b(memory.params)} / {_b(memory.grads)} / {_b(memory.optimizer)}"),
        ("  activations", _b(memory.activations)),
        ("fits", "yes" if result.fits else "NO"),
        ("bottleneck", result.bottleneck),
        ("GPU time", f"{result.gpu_hours:,.1f} GPU-h"),
    ]
    if result.cost is not None:
        amount, currency = result.cost
        rows.append(("cost", f"{amount:,.2f} {currency} at {result.price.amount:g} {currency} per GPU-hour"))
    return rows


def _s(seconds: float) -> str:
    return show_quantity(seconds, "s")


def _b(n: float) -> str:
    return show_quantity(n, "byte")


__all__ = ["register", "cmd_plan", "summary_rows"]
