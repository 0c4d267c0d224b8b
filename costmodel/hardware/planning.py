"""Training plans: time per step, time to train, memory per GPU, fit, bottleneck, GPU-hours, price.

One training step on one device (:mod:`costmodel.hardware.step`) is the sum over the ops of
the model's breakdown tree of their roofline times (:mod:`costmodel.hardware.profiles`),
forward and backward, plus the optimizer update::

    t_step = sum_ops [t_fwd(op) + t_bwd(op)] + t_opt

with each op's FLOPs from the ``full`` convention (true grouped-convolution counts,
elementwise arithmetic) and its bytes from :mod:`costmodel.cost.traffic`. On ``n`` GPUs with
data parallelism each GPU runs ``batch / n`` images; the gradient all-reduce
(:mod:`costmodel.hardware.parallel`) overlaps the backward pass (PyTorch DDP's bucketed
all-reduce; Li et al., "PyTorch Distributed", VLDB 2020), ZeRO-3/FSDP's gathers the
forward and backward passes, and only the part that sticks out is added::

    t = t_fwd + t_bwd + t_opt / s + max(0, t_comm - t_overlap)

(``s`` = ``n`` when the optimizer state is sharded, else 1). Training time is
``epochs * ceil(dataset_size / batch)`` steps.

Examples
--------
>>> parse_count("1.28M"), parse_count("50k"), parse_count("1e6")
(1280000, 50000, 1000000)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from costmodel import display
from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import CPU, DeviceSpec, canonical_dtype
from costmodel.hardware.gpu_step import kernel_step_time, uses_kernel_model
from costmodel.hardware.lookup import get_device, profile_for
from costmodel.hardware.parallel import (
    OPTIMIZER_STATES,
    MemoryPerGPU,
    ModelStates,
    Price,
    check_gpus,
    gpu_hours,
    memory_per_gpu,
    parse_price,
    per_gpu_batch,
    strategy_name,
)
from costmodel.hardware.settings import ExecutionSettings
from costmodel.hardware.step import StepTime, step_time

_SUFFIX = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9}


def parse_count(text: Any, field_name: str = "dataset_size") -> int:
    """``"1.28M"`` -> 1280000 (suffixes k, M, G; or a plain or scientific number), a positive integer."""
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
    else:
        # no overlapping repeats (``[0-9]*\.?[0-9]+`` backtracked quadratically on long digit strings)
        match = re.fullmatch(r"\s*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*([kKMGB]?)\s*",
                             str(text)) if len(str(text)) <= 200 else None
        if not match:
            raise InvalidConfigError(field_name, text, "must be a count such as 1281167, 1.28M or 50k")
        value = float(match[1]) * _SUFFIX[match[2]]
    if not math.isfinite(value) or value > 1e30:
        raise InvalidConfigError(field_name, text, "is too large a count (at most 1e30)")
    if value != int(value) or value <= 0:
        raise InvalidConfigError(field_name, text, "must be a positive whole number")
    return int(value)


# -- ops of one step ---------------------------------------------------------------------
# -- memory ----------------------------------------------------------------------------
def step_memory(config: Any, *, batch: int, optimizer: str = "adamw", dtype: str = "fp32") -> tuple[ModelStates, float]:
    """One device's memory for a step at ``batch``: the model states and everything else at the peak.

    From :func:`costmodel.memory.footprint.training_memory` (validated against measured peaks):
    weights (with buffers), float32 gradients and optimizer state are the states the
    sharding strategies divide; the rest of the peak (saved activations, transients,
    the input batch) stays with each device. Their sum is the single-device peak.
    """
    from costmodel.memory.footprint import training_memory

    names = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}
    m = training_memory(config, batch=batch, optimizer=optimizer, dtype=names[canonical_dtype(dtype)]).evaluate()
    grads = 4.0 * int(cost_params(config))
    states = ModelStates(params=float(m.weights), grads=grads, optimizer=float(m.optimizer_state))
    return states, max(0.0, float(m.peak) - states.total)


def cost_params(config: Any) -> int:
    from costmodel.models import cost

    return int(cost(config, batch=1).params)


# -- the plan --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TrainingPlan(display.Displayable):
    """Everything ``costmodel plan`` reports; :meth:`to_json` for ``--json``."""

    model: str
    device: str
    dtype: str
    gpus: int
    batch: int
    per_gpu_batch: int
    epochs: int
    dataset_size: int
    optimizer: str
    strategy: str
    steps_per_epoch: int
    step: StepTime
    memory: MemoryPerGPU
    memory_capacity: float
    training_flops_per_step: float
    price: Price | None = None
    profile_source: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def step_time_s(self) -> float:
        return self.step.seconds

    @property
    def train_time_s(self) -> float:
        return self.total_steps * self.step.seconds

    @property
    def fits(self) -> bool:
        return self.memory.total <= self.memory_capacity

    @property
    def gpu_hours(self) -> float:
        return gpu_hours(self.train_time_s, self.gpus)

    @property
    def cost(self) -> tuple[float, str] | None:
        return None if self.price is None else (self.gpu_hours * self.price.amount, self.price.currency)

    @property
    def bottleneck(self) -> str:
        return self.step.bottleneck

    def to_json(self) -> dict[str, Any]:
        cost = self.cost
        return {
            "model": self.model, "device": self.device, "dtype": self.dtype, "gpus": self.gpus,
            "batch": self.batch, "per_gpu_batch": self.per_gpu_batch, "epochs": self.epochs,
            "dataset_size": self.dataset_size, "optimizer": self.optimizer, "strategy": self.strategy,
            "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
            "step_time_s": self.step_time_s, "train_time_s": self.train_time_s,
            "forward_s": self.step.forward_s, "backward_s": self.step.backward_s,
            "optimizer_s": self.step.optimizer_s, "communication_s": self.step.communication_s,
            "exposed_communication_s": self.step.exposed_communication_s,
            "training_flops_per_step": self.training_flops_per_step,
            "training_flops_total": self.training_flops_per_step * self.total_steps,
            "memory_per_gpu_bytes": self.memory.as_dict(), "memory_capacity_bytes": self.memory_capacity,
            "fits": self.fits, "bottleneck": self.bottleneck, "gpu_hours": self.gpu_hours,
            "cost": None if cost is None else {"amount": cost[0], "currency": cost[1]},
            "time_by_kind_s": self.step.by_kind(), "profile": self.profile_source, "notes": list(self.notes),
        }

    def _display_tables(self) -> tuple[display.Table, ...]:
        fmt = display.format_value
        capacity = f"of {fmt(self.memory_capacity, 'byte')}: {'fits' if self.fits else 'does NOT fit'}"
        rows = [display.row("batch", f"{self.batch} ({self.per_gpu_batch} per GPU)"),
                display.row("steps", f"{self.total_steps:,} ({self.epochs} epoch(s) of {self.steps_per_epoch:,} "
                                     f"steps, {self.dataset_size:,} images each)"),
                display.row("step time", self.step_time_s, "s"), display.row("training time", self.train_time_s, "s"),
                display.row("training FLOPs", self.training_flops_per_step * self.total_steps, "flop",
                            note=f"({fmt(self.training_flops_per_step, 'flop')} per step)"),
                display.row("memory per GPU", self.memory.total, "byte", note=capacity),
                display.row("bottleneck", self.bottleneck), display.row("GPU-hours", f"{fmt(self.gpu_hours)} GPU-h")]
        if self.cost is not None:
            amount = f"{self.cost[0]:,.2f}" if self.cost[0] >= 0.01 or self.cost[0] == 0 else f"{self.cost[0]:.2g}"
            rows.append(display.row("cost", f"{amount} {self.cost[1]} at {self.price}"))
        title = (f"TrainingPlan: {self.model} on {self.gpus} x {self.device} "
                 f"({self.dtype}, {self.optimizer}, {self.strategy})")
        plan_table = display.Table(title, tuple(rows), notes=(f"rates: {self.profile_source}", *self.notes))
        return (plan_table, self.step._display_tables()[0], self.memory._display_tables()[0])


def plan(model: Any, *, device: str | DeviceSpec = "h100", gpus: int = 1, batch: int, epochs: int = 1,
         dataset_size: Any = 1_281_167, dtype: str = "fp32", optimizer: str = "adamw", strategy: str = "ddp",
         price: str | Price | None = None, profile_path: str | None = None, memory_format: str = "nchw",
         compiled: bool = False) -> TrainingPlan:
    """A training plan for ``model`` (a preset name or a config) on ``gpus`` devices.

    Parameters
    ----------
    batch : int
        Global batch; it must split evenly over the GPUs.
    dataset_size : int or str
        Images per epoch (``"1.28M"``; ImageNet-1k's training set is 1,281,167).
    dtype : fp32, tf32, bf16 or fp16
        Compute dtype (bf16/fp16: mixed precision with fp32 master weights).
    strategy : ddp, zero1, zero2, zero3 (fsdp)
    price : str or Price, optional
        Per GPU-hour with a currency (``"2.50 USD/h"``).
    profile_path : str, optional
        A calibrated profile file to use instead of the device's default.
    memory_format, compiled
        How the step runs on a GPU (:class:`~costmodel.hardware.settings.ExecutionSettings`;
        fp32 uses TF32 for convolutions only, as PyTorch does by default). A GPU with an SM
        count and fitted constants and no calibrated profile is timed by the kernel model
        (:mod:`costmodel.hardware.gpu_step`); other devices by the per-kind roofline.
    """
    from costmodel.models import cost
    from costmodel.models.base import ArchConfig
    from costmodel.models.presets import get_preset

    traced = callable(getattr(model, "model_cost", None))  # a traced model (costmodel.tracing) stands for a config
    config = model if isinstance(model, ArchConfig) or traced else get_preset(str(model))
    name = model if isinstance(model, str) else str(getattr(model, "name", type(model).__name__))
    gpus = check_gpus(gpus)
    dtype = canonical_dtype(dtype)
    strategy = strategy_name(strategy)
    if optimizer not in OPTIMIZER_STATES:
        raise InvalidConfigError("optimizer", optimizer, f"must be one of {', '.join(OPTIMIZER_STATES)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise InvalidConfigError("epochs", epochs, "must be a positive integer")
    local_batch = per_gpu_batch(batch, gpus)
    images = parse_count(dataset_size)
    price_value = parse_price(price) if price is not None else None
    device_name = device.name if isinstance(device, DeviceSpec) else str(device).strip().lower()
    profile = profile_for(device, dtype, profile_path)
    spec = profile.spec() if device_name == CPU or profile_path else get_device(device)
    if gpus > 1 and device_name == CPU:
        raise InvalidConfigError("gpus", gpus, "the 'cpu' device is this one machine: use --gpus 1")
    link = spec.link_bandwidth.to("byte/s").magnitude if spec.link_bandwidth is not None else None
    params = int(cost(config, batch=1).params)
    if profile_path is None and device_name != CPU and uses_kernel_model(spec, dtype):
        settings = ExecutionSettings(dtype=dtype, optimizer=optimizer, memory_format=memory_format, compiled=compiled)
        step = kernel_step_time(config, batch=local_batch, spec=spec, settings=settings, gpus=gpus, strategy=strategy)
        source = (f"GPU kernel model (tiles, waves, bandwidth, launches; {spec.generation} constants fitted on "
                  f"published measurements), {settings.memory_format}{', compiled' if compiled else ''}")
        profile = replace(profile, source=source)
    else:
        step = step_time(config, batch=local_batch, profile=profile, optimizer=optimizer, gpus=gpus,
                         strategy=strategy, link_bandwidth=link, params=params)
    states, rest = step_memory(config, batch=local_batch, optimizer=optimizer, dtype=dtype)
    memory = memory_per_gpu(states, gpus=gpus, strategy=strategy, activations=rest)
    flops = float(cost(config, batch=batch, convention="full").training_flops)
    notes = []
    if profile.threads:
        notes.append(f"calibrated with {profile.threads} CPU thread(s), {profile.clock} clock")
    return TrainingPlan(model=name, device=spec.name, dtype=dtype, gpus=gpus, batch=batch, per_gpu_batch=local_batch,
                        epochs=epochs, dataset_size=images, optimizer=optimizer, strategy=strategy,
                        steps_per_epoch=math.ceil(images / batch), step=step, memory=memory,
                        memory_capacity=spec.memory.to("byte").magnitude, training_flops_per_step=flops,
                        price=price_value, profile_source=profile.source, notes=tuple(notes))


__all__ = ["parse_count", "step_memory", "TrainingPlan", "plan"]
