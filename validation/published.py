"""Published GPU throughput (the anchors) and the kernel model's predictions of it.

``validation/data/gpu-throughput-published.csv`` holds 415 published measurements (timm's
RTX 3090 benchmark files, NVIDIA DeepLearningExamples' ResNet-50 tables, the DeiT,
ConvNeXt, Swin and DINO papers), each with how it was measured; its README is next to it.
:func:`load_anchors` reads every row into an :class:`Anchor` and turns what the source
says into :class:`~costmodel.hardware.settings.ExecutionSettings` (:func:`anchor_settings`);
rows whose model has no preset are skipped with the reason, so a family added to the
presets table (Swin, EfficientNet) is predicted the next time this runs.

Run ``python -m costmodel.validation.published`` (``--fit`` refits the constants first,
see :mod:`costmodel.validation.published_fit`).

Assumptions made where a source is silent (each is stated in the JSON with the row):

* paper rows with no precision ran fp32 (the DeiT/Swin/DINO throughput scripts do not
  use autocast) in NCHW, at batch :data:`PAPER_BATCH` ("largest possible" in DeiT; 128 in DINO);
* a PyTorch version that is not stated is taken as 1.8 (papers of 2021-22: no fused attention);
  NGC container 21.03 ships PyTorch 1.9;
* "A100 (variant not stated)" is the 40 GB SXM4 (1555 GB/s).
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from costmodel.core.errors import CostModelError
from costmodel.hardware.devices import DeviceSpec, datasheet_device
from costmodel.hardware.gpu_step import model_kernel_ops
from costmodel.hardware.kernels import UNITS, KernelConstants, kernel_terms
from costmodel.hardware.parallel import communication_seconds
from costmodel.hardware.settings import ExecutionSettings, pytorch_defaults

DATA = Path(__file__).parent / "data" / "gpu-throughput-published.csv"
RESULTS = Path(__file__).parent / "results" / "published.json"
PAPER_BATCH = 128
UNSTATED_VERSION = "1.8"
#: anchor GPU text (prefix) -> device name
GPU_NAMES: tuple[tuple[str, str], ...] = (
    ("RTX 3090", "rtx3090"), ("RTX 4090", "rtx4090"), ("V100", "v100"), ("A100 80GB", "a100_80gb"),
    ("A100 40GB", "a100_40gb"), ("A100 (variant not stated)", "a100_40gb"), ("T4", "t4"),
    ("H100 80GB SXM5", "h100_sxm"), ("H100 PCIe", "h100_pcie"),
)


@dataclass(frozen=True, kw_only=True)
class Anchor:
    """One published measurement, as the model reads it."""

    index: int
    model: str
    source_name: str
    mode: str
    gpu: str
    device: str
    gpus: int
    precision: str
    batch: int
    image_size: int
    memory_format: str
    framework: str
    throughput: float
    source: str
    assumptions: tuple[str, ...] = ()

    @property
    def harness(self) -> str:
        """``timm``, ``dle`` (DeepLearningExamples) or ``paper``."""
        if "timm benchmark.py" in self.framework:
            return "timm"
        if "NGC" in self.framework:
            return "dle"
        return "paper"


def _device_name(gpu: str) -> str:
    for prefix, name in GPU_NAMES:
        if gpu.startswith(prefix):
            return name
    return ""


def _version(framework: str) -> tuple[str, bool]:
    """(PyTorch version, stated?) from the framework column."""
    if "NGC 21.03" in framework:
        return "1.9", True
    match = re.search(r"PyTorch (\d+\.\d+)", framework)
    return (match[1], True) if match else (UNSTATED_VERSION, False)


def load_anchors(path: str | Path = DATA) -> list[Anchor]:
    """Every row of the anchors file, with the assumptions needed to read it."""
    out = []
    with open(path, newline="", encoding="utf-8") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            notes = []
            batch_text = row["batch_per_gpu"].strip()
            if not batch_text:
                notes.append(f"batch not stated: {PAPER_BATCH}")
            size_text = row["image_size"].strip()
            if not size_text and "equals its 384px value" in row["source"]:
                size_text = "384"
                notes.append("image size not stated: 384 (the source notes the table's rows are its 384 px values)")
            elif not size_text:
                notes.append("image size not stated: 224")
            precision = row["precision"].strip()
            if not precision:
                notes.append("precision not stated: fp32 (no autocast in the paper's script)")
            _, stated = _version(row["framework"])
            if not stated:
                notes.append(f"PyTorch version not stated: {UNSTATED_VERSION}")
            if "variant not stated" in row["gpu"]:
                notes.append("A100 variant not stated: 40GB")
            out.append(Anchor(index=index, model=row["model"].strip(), source_name=row["model_source_name"],
                              mode=row["mode"].strip(), gpu=row["gpu"], device=_device_name(row["gpu"]),
                              gpus=int(row["n_gpus"] or 1), precision=precision or "fp32",
                              batch=int(batch_text or PAPER_BATCH), image_size=int(size_text or 224),
                              memory_format=row["memory_format"], framework=row["framework"],
                              throughput=float(row["throughput_img_s"]), source=row["source"],
                              assumptions=tuple(notes)))
    return out


def anchor_settings(anchor: Anchor) -> ExecutionSettings:
    """The execution settings the anchor's source describes, PyTorch's defaults for the rest."""
    version, _ = _version(anchor.framework)
    precision = anchor.precision.lower()
    dtype = "fp16" if "fp16" in precision else "bf16" if "bf16" in precision else (
        "tf32" if "tf32" in precision else "fp32")
    fmt = anchor.memory_format.lower()
    memory_format = "channels_last" if ("channels_last" in fmt or "nhwc" in fmt) else "nchw"
    major = int(version.split(".")[0])
    return pytorch_defaults(version, dtype=dtype, memory_format=memory_format, optimizer="momentum",
                            foreach=major >= 2)


def anchor_config(anchor: Anchor) -> tuple[Any, str]:
    """(config, "") for a model the presets table has, else (None, reason)."""
    from costmodel.models.presets import get_preset

    if not anchor.device:
        return None, f"no device for GPU {anchor.gpu!r}"
    try:
        config = get_preset(anchor.model)
    except (CostModelError, KeyError):
        return None, f"no preset {anchor.model!r}"
    if anchor.image_size != getattr(config, "image_size", anchor.image_size):
        config = replace(config, image_size=anchor.image_size)
    return config, ""


def family(anchor: Anchor) -> str:
    """The model family of the anchor (``resnet``, ``vit``, ``convnext``, ...)."""
    config, _ = anchor_config(anchor)
    return str(getattr(config, "family", "") or anchor.model.split("_")[0])


@dataclass(frozen=True)
class RowTerms:
    """The efficiency-free terms of every kernel of one anchor's step, for fast refitting."""

    compute_s: tuple[float, ...]
    unit: tuple[int, ...]
    memory_s: tuple[float, ...]
    extra_s: tuple[float, ...]
    launches: tuple[float, ...]
    backward: tuple[bool, ...]
    host_launches: float
    communication_s: float
    images: int

    def seconds(self, constants: KernelConstants) -> float:
        """Predicted step seconds (``max(GPU, host) + exposed communication``)."""
        tc, cuda, dw, dwb, bw, launch, host = constants.as_tuple()
        eta = (tc, cuda, dw, dwb, 1.0)
        gpu = 0.0
        backward = 0.0
        for c, u, m, e, n, b in zip(self.compute_s, self.unit, self.memory_s, self.extra_s, self.launches,
                                    self.backward, strict=True):
            s = max(c / eta[u], m / bw) + e / bw + n * launch
            gpu += s
            backward += s if b else 0.0
        return max(gpu, self.host_launches * host) + max(0.0, self.communication_s - backward)

    def throughput(self, constants: KernelConstants) -> float:
        return self.images / self.seconds(constants)


@functools.lru_cache(maxsize=1024)
def _terms(config: Any, batch: int, settings: ExecutionSettings, mode: str, device: str, gpus: int) -> RowTerms:
    spec: DeviceSpec = datasheet_device(device)
    ops = model_kernel_ops(config, batch, settings, "train" if mode == "train" else "inference")
    terms = [kernel_terms(op, spec, settings) for op in ops]
    comm = 0.0
    if gpus > 1 and mode == "train" and spec.link_bandwidth is not None:
        opt = next(op for op in ops if op.path == "optimizer")
        params = opt.bytes / (4.0 * 5)
        comm = communication_seconds(4.0 * params, gpus, spec.link_bandwidth.to("byte/s").magnitude, "ddp")
    return RowTerms(compute_s=tuple(t.compute_s for t in terms), unit=tuple(UNITS.index(t.unit) for t in terms),
                    memory_s=tuple(t.memory_s for t in terms), extra_s=tuple(t.extra_s for t in terms),
                    launches=tuple(t.launches for t in terms),
                    backward=tuple(op.direction == "backward" for op in ops),
                    host_launches=sum(op.launches for op in ops), communication_s=comm, images=batch * gpus)


def row_terms(anchor: Anchor) -> RowTerms | None:
    """The terms of ``anchor``'s step, or None when its model is not covered."""
    config, reason = anchor_config(anchor)
    if config is None:
        return None
    return _terms(config, anchor.batch, anchor_settings(anchor), anchor.mode, anchor.device, anchor.gpus)


def generation(anchor: Anchor) -> str:
    return datasheet_device(anchor.device).generation if anchor.device else ""


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """An anchor, its prediction and the relative error ``predicted / published - 1``."""

    anchor: Anchor
    family: str
    predicted: float

    @property
    def error(self) -> float:
        return self.predicted / self.anchor.throughput - 1.0

    @property
    def log_error(self) -> float:
        return math.log(self.predicted / self.anchor.throughput)


def predict(anchors: list[Anchor],
            table: dict[str, KernelConstants]) -> tuple[list[Prediction], list[tuple[Anchor, str]]]:
    """Predictions of every covered anchor with the constants of ``table``; the skipped ones with why."""
    predictions, skipped = [], []
    for anchor in anchors:
        config, reason = anchor_config(anchor)
        gen = generation(anchor)
        if config is None or gen not in table:
            skipped.append((anchor, reason or f"no kernel constants for generation {gen!r}"))
            continue
        terms = row_terms(anchor)
        if terms is None:
            continue
        predictions.append(Prediction(anchor=anchor, family=family(anchor), predicted=terms.throughput(table[gen])))
    return predictions, skipped


__all__ = ["DATA", "RESULTS", "PAPER_BATCH", "GPU_NAMES", "Anchor", "load_anchors", "anchor_settings",
           "anchor_config", "family", "RowTerms", "row_terms", "generation", "Prediction", "predict"]


if __name__ == "__main__":
    from costmodel.validation.published_report import main

    raise SystemExit(main())
