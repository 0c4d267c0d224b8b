"""Predicted versus measured, on real modules: the ``costmodel validate`` run.

For every preset (or config), :func:`run_validation` builds the real module on the
device, runs one forward and one backward pass on a random image batch under
``FlopCounterMode`` (:func:`costmodel.validation.flops.count_flops`, real tensors, no
fake or meta shortcut), and compares parameters, forward FLOPs and backward FLOPs with
``costmodel.models.cost(config, batch=batch)``. A case that fails (out of memory, an
uncounted op, a cost that cannot be computed) is recorded with its error message and
status (:mod:`costmodel.validation.outcomes`: ``"out of memory"`` or ``"failed: ..."``)
and the run goes on.

:func:`write_results` keeps the records in ``validation/results/<device>.json`` under the
key ``"flops"`` (other keys, e.g. ``"memory"`` or ``"time"`` written by other tools, are
kept), replacing the file atomically (:mod:`costmodel.validation.results_io`).

The memory part (:mod:`costmodel.validation.memory_report`, re-exported here) compares
:func:`costmodel.memory.footprint.training_memory` with measured peaks and saved tensors and keeps
its records under the key ``"memory"`` of the same file.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from costmodel.validation.build import build, example_input
from costmodel.validation.flops import count_flops, count_params
from costmodel.validation.outcomes import OK, OUT_OF_MEMORY, first_line, status_from_error
from costmodel.validation.results_io import merge_records, read_records, read_results
from costmodel.validation.results_io import write_json_atomically as write_atomically

from costmodel.core.errors import ResultsFileError
from costmodel.models import cost
from costmodel.models.base import ArchConfig
from costmodel.models.presets import get_preset

#: quantity -> unit, in table order
QUANTITIES: dict[str, str] = {"params": "param", "forward_flops": "FLOP", "backward_flops": "FLOP"}

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class ValidationRecord:
    """One quantity of one case: predicted (closed form) against measured (FlopCounterMode).

    Attributes
    ----------
    preset : str
        Preset name, or a label of the config (``"convnet(channels=(8, 16))"``).
    device : str
    batch : int
    quantity : {"params", "forward_flops", "backward_flops"}
    predicted, measured : int or None
        None where that side failed (see ``error``).
    rel_error : float or None
        ``(predicted - measured) / measured``; 0.0 for an exact match.
    seconds : float or None
        Wall time of the measured forward and backward pass (the whole case).
    error : str or None
        ``"ExceptionType: message"`` of a failed case.

    :attr:`status` says how the case ended: ``"ok"``, ``"out of memory"`` or
    ``"failed: <error>"`` (derived from ``error``, so records read back from older files
    have it too).
    """

    preset: str
    device: str
    batch: int
    quantity: str
    predicted: int | None
    measured: int | None
    rel_error: float | None
    seconds: float | None = None
    error: str | None = None

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity]

    @property
    def status(self) -> str:
        """``"ok"``, ``"out of memory"`` or ``"failed: <error>"``."""
        return status_from_error(self.error)

    @property
    def ok(self) -> bool:
        """Measured, and exactly as predicted."""
        return self.error is None and self.predicted == self.measured


def relative_error(predicted: int | None, measured: int | None) -> float | None:
    """``(predicted - measured) / measured`` (inf if only the measurement is 0)."""
    if predicted is None or measured is None:
        return None
    if measured == 0:
        return 0.0 if predicted == 0 else math.inf
    return (predicted - measured) / measured


def config_label(config: ArchConfig) -> str:
    """A short name for a config: its family and the fields that differ from the defaults."""
    changed = [f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config)
               if f.default is not dataclasses.MISSING and getattr(config, f.name) != f.default]
    return f"{config.family}({', '.join(changed)})"


def _resolve(cases: Iterable[str | ArchConfig]) -> list[tuple[str, ArchConfig]]:
    resolved = []
    for case in cases:
        if isinstance(case, ArchConfig):
            resolved.append((config_label(case), case))
        else:
            resolved.append((case, get_preset(case)))  # an unknown name fails before any run
    return resolved


def _predicted(config: ArchConfig, batch: int) -> dict[str, int]:
    values = cost(config, batch=batch).evaluate().magnitudes()
    return {q: int(values[q]) for q in QUANTITIES}


def _measure(config: ArchConfig, device: str, batch: int) -> tuple[dict[str, int], float]:
    torch.manual_seed(0)
    with torch.device(device):
        model = build(config)
    model.eval()  # batch-norm mode changes no counted (matmul-type) op
    images = example_input(config, batch, device=device)
    _synchronize(device)
    start = time.perf_counter()
    measured = count_flops(model, images)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {"params": count_params(model), "forward_flops": int(measured.forward),
            "backward_flops": int(measured.backward)}, seconds


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _release(device: str) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def run_validation(presets: Sequence[str | ArchConfig], device: str = "cpu", batch: int = 1) -> list[ValidationRecord]:
    """Measure each preset (name or config) on ``device`` and compare with the closed forms.

    Returns three records per case (params, forward FLOPs, backward FLOPs), in order.
    """
    cases = _resolve(presets)
    records: list[ValidationRecord] = []
    for name, config in cases:
        predicted: dict[str, int | None] = dict.fromkeys(QUANTITIES)
        measured: dict[str, int | None] = dict.fromkeys(QUANTITIES)
        seconds, error = None, None
        try:
            predicted = dict(_predicted(config, batch))
            measured_values, seconds = _measure(config, device, batch)
            measured = dict(measured_values)
        except Exception as exc:  # out of memory (MemoryError, torch.OutOfMemoryError), uncounted op, ...
            error = first_line(exc)  # recorded (status: "out of memory" / "failed: ..."); the run goes on
        finally:
            _release(device)
        for quantity in QUANTITIES:
            records.append(ValidationRecord(
                preset=name, device=device, batch=batch, quantity=quantity,
                predicted=predicted[quantity], measured=measured[quantity],
                rel_error=relative_error(predicted[quantity], measured[quantity]),
                seconds=seconds, error=error))
    return records


# -- results file ----------------------------------------------------------------------
def default_path(device: str) -> Path:
    return RESULTS_DIR / f"{device}.json"


def records_from_results(data: dict[str, Any], path: str | os.PathLike[str] = "results") -> list[ValidationRecord]:
    """The FLOP records of a results dict (as :func:`read_results` returns it), checked."""
    return read_records(data, "flops", ValidationRecord, path=path)


def write_results(records: Sequence[ValidationRecord], device: str,
                  path: str | os.PathLike[str] | None = None) -> Path:
    """Merge ``records`` into the ``"flops"`` section of the results file, atomically.

    A new record replaces the stored one of the same (preset, batch, quantity); other
    stored records and every other top-level key are kept. The file is written to a
    temporary file in the same folder and moved over the old one with ``os.replace``, so
    a reader never sees half a file; a stored file that cannot be read back is a
    :class:`ResultsFileError` and is left as it is. Returns the path written.
    """
    return merge_records(Path(path) if path is not None else default_path(device), "flops", records,
                         record_type=ValidationRecord, key=lambda r: (r.preset, r.batch, r.quantity),
                         sort_key=lambda r: (r.preset, r.batch, _order(r)),
                         header=lambda old, rows: {"device": device, "torch": torch.__version__})


def _order(record: ValidationRecord) -> int:
    return list(QUANTITIES).index(record.quantity) if record.quantity in QUANTITIES else len(QUANTITIES)


# -- table -----------------------------------------------------------------------------
def _number(value: int | None, unit: str) -> str:
    return "-" if value is None else f"{value:,} {unit}"


def _rel(record: ValidationRecord) -> str:
    if record.error is not None:
        return OUT_OF_MEMORY if record.status == OUT_OF_MEMORY else "FAILED"
    if record.rel_error is None:
        return "-"
    return "exact" if record.predicted == record.measured else f"{record.rel_error:+.3e}"


def align_rows(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Rows of cells as aligned text lines (columns in ``right`` right-aligned), a rule under the first."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_table(records: Sequence[ValidationRecord]) -> str:
    """A plain-text table: predicted and measured with units, relative error, time; errors below."""
    header = ("preset", "device", "batch", "quantity", "predicted", "measured", "rel. error", "time")
    rows = [header]
    for r in records:
        rows.append((r.preset, r.device, str(r.batch), r.quantity, _number(r.predicted, r.unit),
                     _number(r.measured, r.unit), _rel(r), "-" if r.seconds is None else f"{r.seconds:.2f} s"))
    lines = align_rows(rows, right={2, 4, 5, 6, 7})
    exact = sum(r.ok for r in records)
    lines.append(f"\n{exact} of {len(records)} quantities exact.")
    failures = {(r.preset, r.status, r.error) for r in records if r.status != OK}
    lines.extend(f"{'OUT OF MEMORY' if status == OUT_OF_MEMORY else 'FAILED'} {preset}: {error}"
                 for preset, status, error in sorted(failures, key=str))
    return "\n".join(lines)


from costmodel.validation.memory_report import (  # noqa: E402  (the memory part; it uses the helpers above)
    MemoryRecord,
    format_memory_table,
    memory_records_from_results,
    run_memory_validation,
    write_memory_results,
)

__all__ = ["run_validation", "write_results", "read_results", "format_table", "ValidationRecord",
           "ResultsFileError", "records_from_results", "relative_error", "config_label", "default_path",
           "QUANTITIES", "write_atomically", "MemoryRecord", "run_memory_validation", "write_memory_results",
           "format_memory_table", "memory_records_from_results"]
