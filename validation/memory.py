"""Measured memory of real training steps: saved tensors, tracked peaks, process RSS, CUDA peaks.

Three measurements, from the same configs as :func:`costmodel.memory.footprint.training_memory`:

* :func:`measure_saved`: every tensor autograd saves for the backward pass, seen by
  ``torch.autograd.graph.saved_tensors_hooks`` during ``model(images)`` and still held by
  the graph when it returns, deduplicated by storage (``q``, ``k``, ``v`` slices of one
  ``qkv`` output are one storage; a residual stream saved by three ops is one) and
  counted at the storage's full size. Parameter
  and buffer storages are left out (they are the weights, held anyway); the image and
  the low-precision weight copies that autocast makes are in. Runs on fake tensors
  (``FakeTensorMode``), so even ViT-H/14 costs seconds and allocates nothing.
* :func:`~costmodel.validation.peaks.measure_tracked_peak`: ``torch.distributed._tools.mem_tracker.MemTracker`` over
  one steady-state training step (after a warm-up step), by category (parameters,
  gradients, optimizer state, activations, temporaries); also on fake tensors. It sees
  every tensor an operator returns, not the scratch memory inside kernels.
* :func:`~costmodel.validation.peaks.measure_rss_peak` (CPU ground truth) and
  :func:`~costmodel.validation.peaks.measure_cuda_peak`: the whole
  process (on CUDA, ``torch.cuda.max_memory_allocated`` over the step minus what stays
  allocated). On CPU a fresh subprocess runs with ``MALLOC_MMAP_THRESHOLD_=65536`` and
  ``MALLOC_TRIM_THRESHOLD_=0`` (glibc serves every block of 64 KiB or more with its own
  ``mmap`` and returns it on ``free``, so the resident set follows the live tensors),
  does a warm-up step at batch 1 (optimizer state, one-time library allocations), then
  resets the kernel's high-water mark (``/proc/self/clear_refs``), runs one step at the
  batch measured and reads ``VmHWM``. The memory of the step is that peak minus the
  resident set left after the model, optimizer and batch are deleted, so the interpreter
  and the libraries are not counted and the weights, optimizer state and batch are.
  Several cases can run one after the other in one subprocess
  (:func:`~costmodel.validation.peaks.measure_rss_peaks`), each against its own after-deletion baseline.

A training step is ``zero_grad(set_to_none=True)``, ``loss = cross_entropy(model(x), y)``,
``loss.backward()``, ``optimizer.step()``, with the model in training mode; mixed
precision runs the forward pass under ``torch.autocast(device, dtype)`` with float32
weights. ``checkpoint=True`` wraps every block (:func:`block_paths`) in
``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from costmodel.validation.build import build, example_input
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.checkpoint import checkpoint

from costmodel.core.errors import InvalidConfigError
from costmodel.models.base import ArchConfig
from costmodel.tracing.saved import SavedTensorLog, storage_keys

#: torch dtype of each ``dtype`` name; ``float32`` runs without autocast.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: environment of the RSS subprocess (see the module docstring)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def make_optimizer(name: str, params: Any) -> torch.optim.Optimizer:
    """``sgd`` (plain), ``momentum`` (SGD, momentum 0.9), ``adam``, ``adamw``, PyTorch defaults otherwise."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3)
    if name == "momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-4)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-4)
    raise InvalidConfigError("optimizer", name, "must be one of sgd, momentum, adam, adamw")


def dtype_of(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise InvalidConfigError("dtype", name, f"must be one of {', '.join(DTYPES)}")
    return DTYPES[name]


# -- checkpointing ---------------------------------------------------------------------
class Checkpointed(nn.Module):
    """``block`` run under non-reentrant activation checkpointing (its input kept, the rest recomputed)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(self.block, x, use_reentrant=False)


def block_paths(model: nn.Module, config: ArchConfig) -> list[str]:
    """Dotted names of the blocks that ``checkpoint=True`` wraps: the repeated blocks of each family.

    ViT: ``blocks.<i>``; ResNet: ``layer<s>.<i>``; ConvNeXt: the ``CNBlock`` s of
    ``features``; ConvNet: ``features.<i>`` (conv, norm, activation, pool).
    """
    family = config.family
    if family == "vit":
        return [f"blocks.{i}" for i in range(len(model.blocks))]
    if family == "resnet":
        return [f"{stage}.{i}" for stage in model.stage_names for i in range(len(getattr(model, stage)))]
    if family == "convnext":
        return [name for name, module in model.named_modules() if type(module).__name__ == "CNBlock"]
    if family == "convnet":
        return [f"features.{i}" for i in range(len(model.features))]
    raise InvalidConfigError("config", family, "checkpointing is defined for vit, resnet, convnext and convnet")


def apply_checkpointing(model: nn.Module, config: ArchConfig) -> nn.Module:
    """Wrap every block of :func:`block_paths` in :class:`Checkpointed` (in place); returns ``model``."""
    for path in block_paths(model, config):
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        parent._modules[name] = Checkpointed(parent._modules[name])
    return model


# -- one training step -----------------------------------------------------------------
@dataclass
class Trainer:
    """A model, its optimizer and a batch: :meth:`step` runs one training step."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    images: torch.Tensor
    labels: torch.Tensor
    dtype: str = "float32"

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.images.device.type, self.dtype):
            logits = self.model(self.images)
        loss = F.cross_entropy(logits.float(), self.labels)
        del logits
        loss.backward()
        self.optimizer.step()


def _autocast(device_type: str, dtype: str) -> contextlib.AbstractContextManager[Any]:
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype_of(dtype))


def make_trainer(config: ArchConfig, batch: int, *, optimizer: str = "sgd", dtype: str = "float32",
                 checkpoint_blocks: bool = False, device: Any = "cpu") -> Trainer:
    """Build the model (training mode), the optimizer and a random batch on ``device``."""
    dtype_of(dtype)
    torch.manual_seed(0)
    with torch.device(device):
        model = build(config)
    model.train()
    if checkpoint_blocks:
        apply_checkpointing(model, config)
    images = example_input(config, batch, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    return Trainer(model, make_optimizer(optimizer, model.parameters()), images, labels, dtype)


# -- saved tensors ---------------------------------------------------------------------
@dataclass(frozen=True)
class SavedMeasurement:
    """Distinct storages saved for backward by ``model(images)`` (parameters and buffers excluded).

    Attributes
    ----------
    bytes, elements : int
        Total size of the distinct storages, in bytes and in elements of each storage's dtype.
    by_dtype : dict
        Bytes per dtype name (``"float32"``, ``"bfloat16"``, ``"int64"``, ...).
    tensors : int
        Saved tensors seen (before deduplication; parameters included).
    """

    bytes: int
    elements: int
    by_dtype: dict[str, int] = field(default_factory=dict)
    tensors: int = 0


def _storage_keys(model: nn.Module) -> set[int]:
    return storage_keys((*model.parameters(), *model.buffers()))


def _measurement(log: SavedTensorLog) -> SavedMeasurement:
    """The distinct storages ``log`` still holds, summed (bytes, elements, bytes by dtype)."""
    storages = log.storages()
    by_dtype: dict[str, int] = {}
    for s in storages:
        by_dtype[s.dtype] = by_dtype.get(s.dtype, 0) + int(s.nbytes)
    return SavedMeasurement(bytes=sum(int(s.nbytes) for s in storages),
                            elements=sum(int(s.nbytes) // s.itemsize for s in storages),
                            by_dtype=dict(sorted(by_dtype.items())), tensors=log.tensors)


def saved_by(model: nn.Module, images: torch.Tensor, dtype: str = "float32") -> SavedMeasurement:
    """Run ``model(images)`` under the pack hook of :class:`SavedTensorLog` (and autocast for a low dtype)."""
    log = SavedTensorLog(_storage_keys(model))
    with torch.autograd.graph.saved_tensors_hooks(log.pack, log.unpack), _autocast(images.device.type, dtype):
        out = model(images)
    result = _measurement(log)  # while ``out`` (and so the graph) is alive
    del out
    return result


def measure_saved(config: ArchConfig, batch: int, *, dtype: str = "float32", fake: bool = True) -> SavedMeasurement:
    """Bytes saved for backward by one forward pass of ``config`` in training mode.

    ``fake=True`` (default) builds and runs the model on fake tensors: exact storage
    sizes, nothing allocated. ``fake=False`` runs real CPU tensors.
    """
    dtype_of(dtype)
    real_images = example_input(config, batch)
    if not fake:
        torch.manual_seed(0)
        model = build(config).train()
        return saved_by(model, real_images, dtype)
    with FakeTensorMode(allow_non_fake_inputs=False) as mode:
        model = build(config).train()
        return saved_by(model, mode.from_tensor(real_images), dtype)
