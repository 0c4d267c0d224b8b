"""The worker side of the time validation: one measured training step, in its own process.

:mod:`costmodel.validation.timing` runs ``python -m costmodel.validation.timing --worker``
once per case; that process calls :func:`worker_main`, which times the case with
:func:`measure_step` and prints the samples as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from costmodel.core.errors import InvalidConfigError


def measure_step(config: Any, batch: int, *, device: str = "cpu", optimizer: str = "adamw", repeats: int = 5,
                 warmup: int = 1, clock: str = "wall", dtype: str = "fp32") -> dict[str, Any]:
    """Forward and training-step seconds of ``config`` at ``batch``: samples, medians, minima.

    ``dtype``: ``fp32``; ``tf32`` (TF32 matmuls and convolutions on CUDA); ``bf16`` or
    ``fp16``: the forward pass and the loss under ``torch.autocast`` (mixed precision with
    float32 weights). Returns ``{"forward_s": [...], "step_s": [...], "wall_step_s":
    [...]}`` (sorted samples).
    """
    import contextlib

    import torch
    import torch.nn.functional as F
    from costmodel.validation.build import build, example_input

    from costmodel.hardware.devices import canonical_dtype

    dtype = canonical_dtype(dtype)
    device_type = torch.device(device).type
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = dtype == "tf32"
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    autocast = (lambda: torch.autocast(device_type, dtype=low)) if low is not None else contextlib.nullcontext
    if repeats < 1 or warmup < 0:
        raise InvalidConfigError("repeats", repeats, "need repeats >= 1 and warmup >= 0")
    torch.manual_seed(0)
    with torch.device(device):
        model = build(config)
    model.train()
    images = example_input(config, batch, device=device)
    labels = torch.randint(0, int(getattr(config, "num_classes", 1000)), (batch,), device=device)
    opt = make_optimizer(optimizer, model.parameters())
    sync = (lambda: torch.cuda.synchronize(device)) if str(device).startswith("cuda") else (lambda: None)
    timer = time.process_time if clock == "cpu" else time.perf_counter

    def step() -> tuple[float, float, float]:
        sync()
        wall0, t0 = time.perf_counter(), timer()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(model(images), labels)
        sync()
        t1 = timer()
        loss.backward()
        opt.step()
        sync()
        t2 = timer()
        return t1 - t0, t2 - t0, time.perf_counter() - wall0

    for _ in range(warmup):
        step()
    samples = [step() for _ in range(repeats)]
    return {"forward_s": sorted(s[0] for s in samples), "step_s": sorted(s[1] for s in samples),
            "wall_step_s": sorted(s[2] for s in samples)}


def make_optimizer(name: str, params: Any) -> Any:
    """The torch optimizer of ``name`` (``sgd``, ``momentum``, ``adam``, ``adamw``)."""
    import torch

    makers = {"sgd": lambda p: torch.optim.SGD(p, lr=1e-3), "momentum": lambda p: torch.optim.SGD(p, lr=1e-3,
                                                                                                 momentum=0.9),
              "adam": lambda p: torch.optim.Adam(p, lr=1e-4), "adamw": lambda p: torch.optim.AdamW(p, lr=1e-4)}
    if name not in makers:
        raise InvalidConfigError("optimizer", name, f"must be one of {', '.join(makers)}")
    return makers[name](params)


def worker_main(args: argparse.Namespace) -> int:
    """Measure the one case of ``args`` (``model``, ``batch``, ...) and print the samples as JSON."""
    import torch

    from costmodel.hardware.calibrate import use_heap_allocator
    from costmodel.models.presets import get_preset

    if args.device == "cpu":
        use_heap_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure_step(get_preset(args.model), args.batch, device=args.device, optimizer=args.optimizer,
                          repeats=args.repeats, warmup=args.warmup, clock=args.clock, dtype=args.dtype)
    print(json.dumps(result))
    return 0


__all__ = ["measure_step", "make_optimizer", "worker_main"]
