"""Measured peak memory of a real training step: MemTracker, process RSS, CUDA.

* :func:`measure_tracked_peak`: ``torch.distributed._tools.mem_tracker.MemTracker`` over
  one steady-state training step (after a warm-up step), by category (parameters,
  gradients, optimizer state, activations, temporaries); on fake tensors. It sees every
  tensor an operator returns, not the scratch memory inside kernels.
* :func:`measure_rss_peak` (CPU ground truth) and :func:`measure_cuda_peak`: the whole
  process, as :mod:`costmodel.validation.memory` describes (fresh subprocess with glibc's
  mmap threshold lowered, high-water mark reset after a warm-up step, peak minus the
  resident set left after deleting model, optimizer and batch). Several cases can run one
  after the other in one subprocess (:func:`measure_rss_peaks`), each against its own
  after-deletion baseline: ``python -m costmodel.validation.peaks rss REQUESTS``.

The training step is :class:`costmodel.validation.memory.Trainer`'s.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from costmodel.validation.build import example_input

#: torch dtype of each ``dtype`` name; ``float32`` runs without autocast.
from costmodel.validation.memory import MALLOC_ENV, dtype_of, make_optimizer, make_trainer
from costmodel.validation.outcomes import WorkerFailed, subprocess_status
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.models.base import ArchConfig


# -- peak of a training step -------------------------------------------------------------
@dataclass(frozen=True)
class PeakMeasurement:
    """Peak memory of one steady-state training step.

    Attributes
    ----------
    peak : int
        Bytes at the peak (for RSS: the high-water mark minus the resident set left after
        deleting the model, optimizer and batch).
    method : {"memtracker", "rss", "cuda"}
    by_category : dict
        MemTracker only: bytes by category at the peak (``Parameter``, ``Gradient``, ...).
    baseline : int
        RSS/CUDA only: bytes still held after everything was deleted (not in ``peak``).
    """

    peak: int
    method: str
    by_category: dict[str, int] = field(default_factory=dict)
    baseline: int = 0


def measure_tracked_peak(config: ArchConfig, batch: int, *, optimizer: str = "sgd", dtype: str = "float32",
                         checkpoint_blocks: bool = False, fake: bool = True) -> PeakMeasurement:
    """Peak of one training step (after a warm-up step) by MemTracker, on fake tensors by default."""
    from torch.distributed._tools.mem_tracker import MemTracker

    mode = FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext()
    with mode:
        trainer = make_trainer(config, batch, optimizer=optimizer, dtype=dtype, checkpoint_blocks=checkpoint_blocks)
        tracker = MemTracker()
        tracker.track_external(trainer.model, trainer.optimizer, trainer.images, trainer.labels)
        with tracker:
            trainer.step()
            trainer.optimizer.zero_grad(set_to_none=True)
            tracker.reset_mod_stats()
            tracker._peak_mem = {}
            tracker._peak_mem_snap = {}
            trainer.step()
        snapshot = tracker.get_tracker_snapshot("peak")
    device = next(iter(snapshot))
    categories = {str(k.value if hasattr(k, "value") else k): int(v) for k, v in snapshot[device].items()}
    total = categories.pop("Total")
    return PeakMeasurement(peak=total, method="memtracker", by_category=categories)


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _high_water_mark() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_high_water_mark() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _rss_in_this_process(config: ArchConfig, batch: int, optimizer: str, dtype: str,
                         checkpoint_blocks: bool) -> PeakMeasurement:
    trainer = make_trainer(config, 1, optimizer=optimizer, dtype=dtype, checkpoint_blocks=checkpoint_blocks)
    trainer.step()  # warm-up: optimizer state, one-time library allocations
    trainer.images = example_input(config, batch)
    trainer.labels = torch.zeros(batch, dtype=torch.long)
    trainer.optimizer.zero_grad(set_to_none=True)
    gc.collect()
    _reset_high_water_mark()
    trainer.step()
    peak = _high_water_mark()
    del trainer
    gc.collect()
    baseline = _rss()
    return PeakMeasurement(peak=peak - baseline, method="rss", baseline=baseline)


def measure_rss_peak(config: ArchConfig, batch: int, *, optimizer: str = "sgd", dtype: str = "float32",
                     checkpoint_blocks: bool = False, timeout: float | None = None,
                     nice: int = 0) -> PeakMeasurement:
    """Peak resident memory of one training step on CPU, in a fresh subprocess (see the module docstring)."""
    return measure_rss_peaks([(config, batch, optimizer, dtype, checkpoint_blocks)], timeout=timeout, nice=nice)[0]


def measure_rss_peaks(cases: list[tuple[ArchConfig, int, str, str, bool]], *, timeout: float | None = None,
                      nice: int = 0) -> list[PeakMeasurement]:
    """:func:`measure_rss_peak` of several ``(config, batch, optimizer, dtype, checkpoint)`` cases, one
    after the other in one subprocess (each measured against the resident set left after it)."""
    requests = []
    for config, batch, optimizer, dtype, checkpoint_blocks in cases:
        dtype_of(dtype)
        make_optimizer(optimizer, [torch.zeros(1, requires_grad=True)])  # names checked before starting
        requests.append({"config": _config_to_json(config), "batch": batch, "optimizer": optimizer,
                         "dtype": dtype, "checkpoint": checkpoint_blocks})
    env = {**os.environ, **MALLOC_ENV}
    command = [sys.executable, "-m", "costmodel.validation.peaks", "rss", json.dumps(requests)]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:  # killed by the OOM killer (-9), an allocation failure, a crash
        raise WorkerFailed(f"RSS subprocess (exit {done.returncode})", subprocess_status(done.returncode, done.stderr))
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise WorkerFailed("RSS subprocess", "failed: printed no result")
    return [PeakMeasurement(**row) for row in json.loads(lines[-1])]


def measure_cuda_peak(config: ArchConfig, batch: int, *, optimizer: str = "sgd", dtype: str = "float32",
                      checkpoint_blocks: bool = False) -> PeakMeasurement:
    """``torch.cuda.max_memory_allocated`` over one training step (after a warm-up step), minus what stays allocated."""
    device = torch.device("cuda")
    trainer = make_trainer(config, batch, optimizer=optimizer, dtype=dtype, checkpoint_blocks=checkpoint_blocks,
                           device=device)
    trainer.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    trainer.step()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    del trainer
    gc.collect()
    baseline = torch.cuda.memory_allocated(device)
    return PeakMeasurement(peak=peak - baseline, method="cuda", baseline=baseline)


def _config_to_json(config: ArchConfig) -> dict[str, Any]:
    values = {}
    for name in config.field_names():
        value = getattr(config, name)
        if isinstance(value, tuple):
            value = [int(v) for v in value]
        elif not isinstance(value, (bool, str)):
            value = str(value) if not hasattr(value, "is_Integer") or not value.is_Integer else int(value)
            value = int(value) if str(value).lstrip("-").isdigit() else value
        values[name] = value
    return {"family": config.family, "fields": values}


def _config_from_json(data: dict[str, Any]) -> ArchConfig:
    from fractions import Fraction

    from costmodel.models import FAMILIES

    cls = FAMILIES[data["family"]]
    fields = {}
    for name, value in data["fields"].items():
        if isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, str) and name in ("mlp_ratio",):
            value = Fraction(value)
        fields[name] = value
    return cls(**fields)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costmodel.validation.peaks")
    parser.add_argument("what", choices=("rss",))
    parser.add_argument("requests", help="JSON list of {config, batch, optimizer, dtype, checkpoint}")
    args = parser.parse_args(argv)
    results = []
    for request in json.loads(args.requests):
        result = _rss_in_this_process(_config_from_json(request["config"]), int(request["batch"]),
                                      request["optimizer"], request["dtype"], bool(request["checkpoint"]))
        results.append(asdict(result))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
