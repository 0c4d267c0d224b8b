"""Predicted versus measured memory: the ``costmodel validate --memory`` run.

For every preset (or config) and batch size it records

* ``saved_activation_bytes``: :attr:`costmodel.cost.value.Cost.saved_bytes` against the
  ``saved_tensors_hooks`` measurement (:func:`costmodel.validation.memory.measure_saved`;
  fake tensors in float32, real ones under mixed precision, whose fake kernels give
  normalisation statistics the wrong dtype). These must be equal.
* ``peak_training_bytes`` for every optimizer: :func:`costmodel.memory.footprint.training_memory`
  against the measured peak of one steady-state training step, by ``method``:
  ``"rss"`` (CPU process high-water mark, the ground truth on CPU), ``"cuda"``
  (``torch.cuda.max_memory_allocated``) or ``"memtracker"`` (``MemTracker`` on fake
  tensors, fast, tensors only).

A case that runs out of memory (or fails otherwise) is recorded with its ``error`` and
status (``"out of memory"``, ``"failed: ..."``; :mod:`costmodel.validation.outcomes`) and
the run goes on. :func:`write_memory_results` keeps the records under the key
``"memory"`` of ``validation/results/<device>.json`` (other keys kept, written atomically
by :mod:`costmodel.validation.results_io`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from costmodel.validation import memory as measure
from costmodel.validation import peaks as peak_measures
from costmodel.validation.outcomes import OK, OUT_OF_MEMORY, first_line, status_from_error
from costmodel.validation.results_io import merge_records, read_records, read_results

from costmodel.memory.footprint import memory_cost, training_memory
from costmodel.models.base import ArchConfig

#: the two memory quantities
MEMORY_QUANTITIES = ("saved_activation_bytes", "peak_training_bytes")

#: the presets of the issue's accuracy target
DEFAULT_PRESETS = ("resnet18", "resnet50", "vit_s_16", "vit_b_16", "convnext_tiny")


@dataclass(frozen=True)
class MemoryRecord:
    """One memory quantity of one case, predicted (closed form) against measured, in bytes."""

    preset: str
    device: str
    batch: int
    optimizer: str | None
    dtype: str
    checkpoint: bool
    quantity: str
    method: str
    predicted: int | None
    measured: int | None
    rel_error: float | None
    seconds: float | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """``"ok"``, ``"out of memory"`` or ``"failed: <error>"`` (from ``error``)."""
        return status_from_error(self.error)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.preset, self.batch, self.quantity, self.optimizer or "", self.dtype, self.checkpoint,
                self.method)


def _relative(predicted: int | None, measured: int | None) -> float | None:
    if predicted is None or measured is None or measured == 0:
        return None
    return (predicted - measured) / measured


def _record(name: str, device: str, batch: int, optimizer: str | None, dtype: str, checkpoint: bool,
            quantity: str, method: str, predict: Any, measure_fn: Any) -> MemoryRecord:
    predicted = measured = seconds = error = None
    start = time.perf_counter()
    try:
        predicted = int(predict())
        measured = int(measure_fn())
        seconds = time.perf_counter() - start
    except Exception as exc:  # out of memory, a failed subprocess: record it and go on
        error = first_line(exc)
    return MemoryRecord(preset=name, device=device, batch=batch, optimizer=optimizer, dtype=dtype,
                        checkpoint=checkpoint, quantity=quantity, method=method, predicted=predicted,
                        measured=measured, rel_error=_relative(predicted, measured), seconds=seconds, error=error)


def run_memory_validation(presets: Sequence[str | ArchConfig] = DEFAULT_PRESETS, *, device: str = "cpu",
                          batches: Iterable[int] = (1, 8, 32), optimizers: Iterable[str] = ("sgd", "adam"),
                          dtype: str = "float32", checkpoint: bool = False, method: str | None = None,
                          saved: bool = True, nice: int = 10, progress: Any = None) -> list[MemoryRecord]:
    """Measure each case and compare with the closed forms (see the module docstring).

    ``method`` defaults to ``"rss"`` on CPU and ``"cuda"`` on CUDA; ``"memtracker"``
    runs on fake tensors. The RSS cases of one preset run one after the other in one
    subprocess (a case that fails there is retried alone). ``progress`` (a callable) is
    given the records of each preset when they are done.
    """
    from costmodel.validation.report import _resolve

    method = method or ("cuda" if torch.device(device).type == "cuda" else "rss")
    batches, optimizers = list(batches), list(optimizers)
    records: list[MemoryRecord] = []
    for name, config in _resolve(presets):
        done: list[MemoryRecord] = []
        if saved and not checkpoint:
            for batch in batches:
                done.append(_record(name, device, batch, None, dtype, checkpoint, "saved_activation_bytes",
                                    "saved_tensors_hooks",
                                    lambda c=config, b=batch: memory_cost(c, batch=b, dtype=dtype).saved_bytes,
                                    lambda c=config, b=batch: measure.measure_saved(
                                        c, b, dtype=dtype, fake=dtype == "float32").bytes))
        cases = [(batch, optimizer) for batch in batches for optimizer in optimizers]
        measured = _peaks(config, cases, method=method, dtype=dtype, checkpoint=checkpoint, nice=nice)
        for (batch, optimizer), (value, seconds, error) in zip(cases, measured, strict=True):
            predicted, predict_error = None, None
            try:
                predicted = training_memory(config, batch=batch, optimizer=optimizer, dtype=dtype,
                                            checkpoint=checkpoint).evaluate().peak
            except Exception as exc:  # a config the model cannot evaluate
                predict_error = first_line(exc)
            done.append(MemoryRecord(preset=name, device=device, batch=batch, optimizer=optimizer, dtype=dtype,
                                     checkpoint=checkpoint, quantity="peak_training_bytes", method=method,
                                     predicted=predicted, measured=value, rel_error=_relative(predicted, value),
                                     seconds=seconds, error=error or predict_error))
        records.extend(done)
        if progress is not None:
            progress(done)
    return records


def _peaks(config: ArchConfig, cases: list[tuple[int, str]], *, method: str, dtype: str, checkpoint: bool,
           nice: int) -> list[tuple[int | None, float | None, str | None]]:
    """``(bytes, seconds, error)`` of each ``(batch, optimizer)`` case."""
    if method == "rss" and len(cases) > 1:
        start = time.perf_counter()
        try:
            found = peak_measures.measure_rss_peaks([(config, b, o, dtype, checkpoint) for b, o in cases], nice=nice)
            each = (time.perf_counter() - start) / len(cases)
            return [(m.peak, each, None) for m in found]
        except Exception:  # retry one by one, to record which case fails
            pass
    peak_fn = {"rss": peak_measures.measure_rss_peak, "cuda": peak_measures.measure_cuda_peak,
               "memtracker": peak_measures.measure_tracked_peak}[method]
    results = []
    for batch, optimizer in cases:
        options: dict[str, Any] = dict(optimizer=optimizer, dtype=dtype, checkpoint_blocks=checkpoint)
        if method == "rss":
            options["nice"] = nice
        start = time.perf_counter()
        try:
            results.append((peak_fn(config, batch, **options).peak, time.perf_counter() - start, None))
        except Exception as exc:  # out of memory, a failed subprocess: record it and go on
            results.append((None, None, first_line(exc)))
    return results


def memory_records_from_results(data: dict[str, Any], path: str | os.PathLike[str] = "results"
                                ) -> list[MemoryRecord]:
    """The memory records of a results dict (as ``read_results`` returns it), checked."""
    return read_records(data, "memory", MemoryRecord, path=path)


def write_memory_results(records: Sequence[MemoryRecord], device: str, path: Any = None) -> Path:
    """Merge ``records`` into the ``"memory"`` section of the results file, atomically.

    A new record replaces a stored one of the same case (preset, batch, quantity,
    optimizer, dtype, checkpointing, method); everything else in the file is kept.
    """
    from costmodel.validation.report import default_path

    return merge_records(Path(path) if path is not None else default_path(device), "memory", records,
                         record_type=MemoryRecord, key=lambda r: r.key,
                         header=lambda old, rows: {"device": device, "torch": torch.__version__})


def predict(record: MemoryRecord) -> int:
    """The closed form's value for a record's case (no measurement)."""
    from costmodel.models.presets import get_preset

    config = get_preset(record.preset)
    if record.quantity == "saved_activation_bytes":
        return int(memory_cost(config, batch=record.batch, dtype=record.dtype).saved_bytes)
    return training_memory(config, batch=record.batch, optimizer=record.optimizer, dtype=record.dtype,
                           checkpoint=record.checkpoint).evaluate().peak


def refresh_predictions(device: str = "cpu", path: Any = None) -> list[MemoryRecord]:
    """Recompute the predicted side of every stored preset record with the current model
    (after a change to the model; the measurements are kept) and write the file back."""
    from costmodel.validation.report import default_path

    from costmodel.models.presets import PRESETS

    target = Path(path) if path is not None else default_path(device)
    records = memory_records_from_results(read_results(target), target)
    fresh = []
    for r in records:
        if r.preset in PRESETS and r.error is None:
            predicted = predict(r)
            r = dataclasses.replace(r, predicted=predicted, rel_error=_relative(predicted, r.measured))
        fresh.append(r)
    write_memory_results(fresh, device, target)
    return fresh


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.2f} MiB"


def _rel(record: MemoryRecord) -> str:
    if record.error:
        return OUT_OF_MEMORY if record.status == OUT_OF_MEMORY else "FAILED"
    if record.predicted == record.measured:
        return "exact"
    return "-" if record.rel_error is None else f"{100 * record.rel_error:+.2f}%"


def _failure_line(r: MemoryRecord) -> str:
    what = "OUT OF MEMORY" if r.status == OUT_OF_MEMORY else "FAILED"
    optimizer = f" {r.optimizer}" if r.optimizer else ""
    return f"{what} {r.preset} batch {r.batch}{optimizer} {r.quantity}: {r.error}"


def format_memory_table(records: Sequence[MemoryRecord]) -> str:
    """A plain-text table (MiB, relative error); a summary of the largest error below."""
    from costmodel.validation.report import align_rows

    header = ("preset", "batch", "optimizer", "dtype", "ckpt", "quantity", "method", "predicted", "measured",
              "rel. error")
    rows = [header]
    for r in records:
        rows.append((r.preset, str(r.batch), r.optimizer or "-", r.dtype, "yes" if r.checkpoint else "no",
                     r.quantity, r.method, _mib(r.predicted), _mib(r.measured), _rel(r)))
    lines = align_rows(rows, right={1, 7, 8, 9})
    saved = [r for r in records if r.quantity == "saved_activation_bytes" and r.error is None]
    peaks = [r for r in records if r.quantity == "peak_training_bytes" and r.rel_error is not None]
    if saved:
        lines.append(f"\n{sum(r.predicted == r.measured for r in saved)} of {len(saved)} saved-activation "
                     f"counts exact.")
    if peaks:
        worst = max(peaks, key=lambda r: abs(r.rel_error or 0))
        lines.append(f"Peak training memory: largest error {100 * worst.rel_error:+.2f}% "
                     f"({worst.preset}, batch {worst.batch}, {worst.optimizer}).")
    lines.extend(_failure_line(r) for r in records if r.status != OK)
    return "\n".join(lines)


__all__ = ["MemoryRecord", "run_memory_validation", "write_memory_results", "format_memory_table",
           "memory_records_from_results", "refresh_predictions", "predict", "MEMORY_QUANTITIES", "DEFAULT_PRESETS"]
