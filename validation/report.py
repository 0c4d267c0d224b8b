"""Predicted versus measured, on real modules: the ``costmodel validate`` run.

For every preset (or config), :func:`run_validation` builds the real module on the
device, runs one forward and one backward pass on a random image batch under
``FlopCounterMode`` (:func:`costmodel.validation.flops.count_flops`, real tensors, no
fake or meta shortcut), and compares parameters, forward FLOPs and backward FLOPs with
``costmodel.models.cost(config, batch=batch)``. A case that fails (out of memory, an
uncounted op, a cost that cannot be computed) is recorded with its error message and the
run goes on.

:func:`write_results` keeps the records in ``validation/results/<device>.json`` under the
key ``"flops"`` (other keys, e.g. ``"memory"`` or ``"time"`` written by other tools, are
kept), replacing the atomic file in one ``os.replace``.

The memory part (:mod:`costmodel.validation.memory_report`, re-exported here) compares
:func:`costmodel.memory.training_memory` with measured peaks and saved tensors and keeps
its records under the key ``"memory"`` of the same file.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from costmodel.errors import CostModelError
from costmodel.models import cost
from costmodel.models.base import ArchConfig
from costmodel.models.presets import get_preset
from costmodel.validation.build import build, example_input
from costmodel.validation.flops import count_flops, count_params

#: quantity -> unit, in table order
QUANTITIES: dict[str, str] = {"params": "param", "forward_flops": "FLOP", "backward_flops": "FLOP"}

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class ResultsFileError(CostModelError):
    """A results file that cannot be read (corrupt JSON or the wrong shape)."""


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


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


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
        except Exception as exc:  # out of memory, uncounted op, ...: record it and go on
            error = _error(exc)
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


def read_results(path: str | os.PathLike[str], *, missing_ok: bool = False) -> dict[str, Any]:
    """The results file as a dict; ``{}`` for a missing file when ``missing_ok``.

    Raises :class:`ResultsFileError` naming the file and the problem if it is not a JSON
    object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                               f"fix or delete it") from exc
    if not isinstance(data, dict):
        raise ResultsFileError(f"{path} holds a JSON {type(data).__name__}, expected an object of result sections")
    return data


def _record_to_json(record: ValidationRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    if data["rel_error"] is not None and not math.isfinite(data["rel_error"]):
        data["rel_error"] = None  # JSON has no infinity; predicted and measured remain
    return data


def records_from_results(data: dict[str, Any]) -> list[ValidationRecord]:
    """The FLOP records of a results dict (as :func:`read_results` returns it)."""
    try:
        return [ValidationRecord(**row) for row in data.get("flops", {}).get("records", [])]
    except (TypeError, AttributeError) as exc:
        raise ResultsFileError(f"the 'flops' section has an unexpected shape: {exc}") from exc


def write_results(records: Sequence[ValidationRecord], device: str,
                  path: str | os.PathLike[str] | None = None) -> Path:
    """Merge ``records`` into the ``"flops"`` section of the results file, atomically.

    A new record replaces the stored one of the same (preset, batch, quantity); other
    stored records and every other top-level key are kept. The file is written to a
    temporary file in the same folder and moved over the old one with ``os.replace``, so
    a reader never sees half a file. Returns the path written.
    """
    target = Path(path) if path is not None else default_path(device)
    data = read_results(target, missing_ok=True)
    old = records_from_results(data)
    key = lambda r: (r.preset, r.batch, r.quantity)  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in records})
    data["flops"] = {
        "device": device,
        "torch": torch.__version__,
        "records": [_record_to_json(r) for r in sorted(merged.values(), key=lambda r: (key(r)[:2], _order(r)))],
    }
    return write_atomically(target, data)


def write_atomically(target: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON to ``target`` through a temporary file and one ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _order(record: ValidationRecord) -> int:
    return list(QUANTITIES).index(record.quantity) if record.quantity in QUANTITIES else len(QUANTITIES)


# -- table -----------------------------------------------------------------------------
def _number(value: int | None, unit: str) -> str:
    return "-" if value is None else f"{value:,} {unit}"


def _rel(record: ValidationRecord) -> str:
    if record.error is not None:
        return "FAILED"
    if record.rel_error is None:
        return "-"
    return "exact" if record.predicted == record.measured else f"{record.rel_error:+.3e}"


def format_table(records: Sequence[ValidationRecord]) -> str:
    """A plain-text table: predicted and measured with units, relative error, time; errors below."""
    header = ("preset", "device", "batch", "quantity", "predicted", "measured", "rel. error", "time")
    rows = [header]
    for r in records:
        rows.append((r.preset, r.device, str(r.batch), r.quantity, _number(r.predicted, r.unit),
                     _number(r.measured, r.unit), _rel(r), "-" if r.seconds is None else f"{r.seconds:.2f} s"))
    right = {2, 4, 5, 6, 7}
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    exact = sum(r.ok for r in records)
    lines.append(f"\n{exact} of {len(records)} quantities exact.")
    failures = {(r.preset, r.error) for r in records if r.error is not None}
    lines.extend(f"FAILED {preset}: {error}" for preset, error in sorted(failures))
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
