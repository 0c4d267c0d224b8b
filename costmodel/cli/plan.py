"""``costmodel plan MODEL --device h100 --gpus 8 --batch 1024 --epochs 300 --dataset-size 1.28M [--json]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from costmodel.cli.common import fmt


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="time per step, time to train, memory per GPU, fit, bottleneck, price")
    p.add_argument("model", help="a preset (resnet50, vit_b_16, ...)")
    p.add_argument("--device", default="h100", help="h100, h200, a100, v100, l4, cpu (this machine as calibrated), "
                                                    "or a device from --device-file")
    p.add_argument("--device-file", metavar="PATH", help="TOML or JSON file of extra devices")
    p.add_argument("--gpus", type=int, default=1, help="data-parallel GPUs (default 1)")
    p.add_argument("--batch", type=int, required=True, help="global batch (split evenly over the GPUs)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--dataset-size", default="1281167", help="images per epoch, e.g. 1.28M (default ImageNet-1k)")
    p.add_argument("--dtype", default="fp32", help="fp32 (default), tf32, bf16 or fp16 (mixed precision)")
    p.add_argument("--optimizer", default="adamw", choices=("sgd", "momentum", "adam", "adamw"))
    p.add_argument("--strategy", default="ddp", help="ddp, zero1, zero2, zero3 or fsdp")
    p.add_argument("--price", help="price per GPU-hour with a currency, e.g. '2.50 USD/h'")
    p.add_argument("--profile", metavar="PATH", help="a calibrated profile file to use")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from costmodel.hardware import load_device_file
    from costmodel.plan import plan

    if args.device_file:
        load_device_file(args.device_file)
    result = plan(args.model, device=args.device, gpus=args.gpus, batch=args.batch, epochs=args.epochs,
                  dataset_size=args.dataset_size, dtype=args.dtype, optimizer=args.optimizer,
                  strategy=args.strategy, price=args.price, profile_path=args.profile)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    step = result.step
    print(f"{result.model} on {result.gpus} x {result.device} ({result.dtype}, {result.optimizer}, {result.strategy})")
    print(f"rates: {result.profile_source}\n")
    print(f"batch {result.batch} ({result.per_gpu_batch} per GPU), {result.epochs} epochs of "
          f"{result.dataset_size:,} images: {result.total_steps:,} steps\n")
    rows = [
        ("time per step", _seconds(result.step_time_s)),
        ("  forward", _seconds(step.forward_s)),
        ("  backward", _seconds(step.backward_s)),
        ("  optimizer", _seconds(step.optimizer_s)),
        ("  communication", f"{_seconds(step.communication_s)} ({_seconds(step.exposed_communication_s)} exposed)"),
        ("time to train", _duration(result.train_time_s)),
        ("training FLOPs", fmt(result.training_flops_per_step * result.total_steps, "flop")),
        ("memory per GPU", f"{fmt(result.memory.total, 'byte')} of {fmt(result.memory_capacity, 'byte')}"),
        ("  weights/grads/optimizer", f"{fmt(result.memory.params, 'byte')} / {fmt(result.memory.grads, 'byte')} / "
                                      f"{fmt(result.memory.optimizer, 'byte')}"),
        ("  activations", fmt(result.memory.activations, "byte")),
        ("fits", "yes" if result.fits else "NO"),
        ("bottleneck", result.bottleneck),
        ("GPU-hours", f"{result.gpu_hours:,.1f}"),
    ]
    if result.cost is not None:
        rows.append(("cost", f"{result.cost[0]:,.2f} {result.cost[1]} at {result.price}"))
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print("\nstep time by op kind:")
    total = result.step_time_s or 1.0
    for kind, seconds in step.by_kind().items():
        print(f"  {kind:<20} {_seconds(seconds):>10}  {100 * seconds / total:5.1f}%")
    for note in result.notes:
        print(f"\nnote: {note}")
    return 0


def _seconds(s: float) -> str:
    if s == 0:
        return "0 s"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.3f} s"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days ({s / 3600:,.0f} h)"
