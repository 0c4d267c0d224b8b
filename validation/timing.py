"""Measured time of training steps, against the roofline prediction: validation, part 3.

A training step is ``zero_grad(set_to_none=True)``, ``loss = cross_entropy(model(x), y)``,
``loss.backward()``, ``optimizer.step()`` with the model in training mode, fp32. One
measured step gives two times: the forward pass (up to the loss) and the whole step.
Each case runs ``warmup`` steps, then ``repeats`` timed ones; the medians are recorded
(the minimum too).

On CPU each case runs in a fresh subprocess with the thread count of the profile, glibc
switched to heap reuse (:func:`costmodel.hardware.calibrate.use_heap_allocator`) and, with one
thread, the process CPU time as the clock: on a machine shared with other jobs that is
the step's uncontended wall time (a thread that waits for a core is not charged); the
wall time is recorded beside it. On CUDA the clock is wall time between synchronisations.

:func:`run_time_validation` calibrates, measures every case, and repeats that for
``rounds`` rounds, so that each round's prediction uses a profile measured minutes
before its measurements; per case the medians over rounds are reported. A case whose
worker runs out of memory (an allocation failure, or killed by the OOM killer with
``SIGKILL``) or fails otherwise is recorded with its ``status`` (``"out of memory"`` or
``"failed: <reason>"``, :mod:`costmodel.validation.outcomes`) and the run goes on.
:func:`write_time_results` merges the records into ``validation/results/<device>.json``
under ``"time"`` (other keys are kept), atomically (:mod:`costmodel.validation.results_io`).

Run: ``python -m costmodel.validation.timing --models resnet18 vit_ti_16 --batches 8 32``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from costmodel.validation.outcomes import OK, WorkerFailed, status_of, subprocess_status
from costmodel.validation.results_io import merge_records, read_records, read_results
from costmodel.validation.timing_worker import make_optimizer, measure_step, worker_main

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.lookup import load_profile, save_profile
from costmodel.hardware.profiles import DeviceProfile

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: the cases the issues name (at batch 8 and 32): the four hand-written families, then Swin-T and EfficientNet-B0 (#13)
DEFAULT_MODELS = ("resnet18", "resnet50", "vit_ti_16", "vit_s_16", "vit_b_16", "convnext_tiny", "swin_t",
                  "efficientnet_b0")
DEFAULT_BATCHES = (8, 32)


def measure_in_subprocess(model: str, batch: int, *, device: str = "cpu", threads: int | None = None,
                          clock: str = "wall", optimizer: str = "adamw", repeats: int = 5, warmup: int = 1,
                          nice: int = 10, timeout: float = 3600, dtype: str = "fp32") -> dict[str, Any]:
    """:func:`measure_step` of preset ``model`` in a fresh ``nice``d Python process."""
    cmd = [sys.executable, "-m", "costmodel.validation.timing", "--worker", "--models", model,
           "--batches", str(batch), "--device", device, "--clock", clock, "--optimizer", optimizer,
           "--repeats", str(repeats), "--warmup", str(warmup), "--dtype", dtype]
    if threads:
        cmd += ["--threads", str(threads)]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = run_worker(cmd, timeout=timeout, env=env,
                      preexec_fn=(lambda: os.nice(nice)) if nice and os.name == "posix" else None)
    what = f"timing worker for {model} at batch {batch}"
    if done.returncode != 0:  # killed by the OOM killer (-9), an allocation failure, a crash
        raise WorkerFailed(what, subprocess_status(done.returncode, done.stderr))
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise WorkerFailed(what, "failed: printed no result") from None
    return result


def run_worker(cmd: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run a measuring subprocess, its output captured as text (one place to fake in tests)."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **options)


# -- predicted vs measured -------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TimeRecord:
    """One case: predicted and measured seconds of the forward pass and the training step.

    ``measured_*`` are medians over the timed steps (and, with several rounds, the median
    of the rounds' medians); ``rel_error = (predicted - measured) / measured``. ``status``
    is ``"ok"``, ``"out of memory"`` or ``"failed: <reason>"``; a case that was not
    measured has ``measured_*`` (and, if the prediction failed too, ``predicted_*``) None.
    """

    model: str
    batch: int
    device: str
    optimizer: str
    predicted_step_s: float | None = None
    measured_step_s: float | None = None
    predicted_forward_s: float | None = None
    measured_forward_s: float | None = None
    min_step_s: float | None = None
    wall_step_s: float | None = None
    rounds: int = 1
    dtype: str = "fp32"
    round_errors: tuple[float, ...] = ()
    breakdown: dict[str, float] = field(default_factory=dict)
    single_rate_step_s: float | None = None
    status: str = OK

    @property
    def ok(self) -> bool:
        """Measured and predicted."""
        return self.status == OK and self.rel_error is not None

    @property
    def rel_error(self) -> float | None:
        return relative_error(self.predicted_step_s, self.measured_step_s)

    @property
    def forward_rel_error(self) -> float | None:
        return relative_error(self.predicted_forward_s, self.measured_forward_s)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["round_errors"] = list(self.round_errors)
        data["rel_error"] = self.rel_error
        data["forward_rel_error"] = self.forward_rel_error
        return data


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    if predicted is None or measured is None or measured == 0:
        return None
    return (predicted - measured) / measured


def predict(model: str, batch: int, profile: DeviceProfile, optimizer: str = "adamw") -> dict[str, Any]:
    """Predicted forward and step seconds of preset ``model`` on ``profile`` (one device)."""
    from costmodel.hardware.step import step_time
    from costmodel.models.presets import get_preset

    st = step_time(get_preset(model), batch=batch, profile=profile, optimizer=optimizer)
    return {"forward_s": st.forward_s, "step_s": st.seconds, "breakdown": st.by_kind(),
            "single_rate_step_s": single_rate_seconds(model, batch, profile)}


def single_rate_seconds(model: str, batch: int, profile: DeviceProfile) -> float:
    """The ablation without the traffic term: training FLOPs (``full``) at one rate, the
    calibrated forward matmul rate, for every op."""
    from costmodel.models import cost
    from costmodel.models.presets import get_preset

    flops = float(cost(get_preset(model), batch=batch, convention="full").training_flops)
    return flops / profile.rate("matmul", "forward").flops


def run_time_validation(models: Sequence[str] = DEFAULT_MODELS, batches: Sequence[int] = DEFAULT_BATCHES, *,
                        device: str = "cpu", threads: int | None = 1, rounds: int = 1, repeats: int = 5,
                        warmup: int = 1, optimizer: str = "adamw", profile_path: str | None = None,
                        calibrate: bool = True, log: Any = None, dtype: str = "fp32"
                        ) -> tuple[list[TimeRecord], DeviceProfile]:
    """Calibrate, measure every (model, batch), predict it; ``rounds`` times. Returns records and
    the last profile. With ``calibrate=False`` the profile at ``profile_path`` is used throughout.

    A case whose measurement fails in every round (out of memory, a killed worker) is a
    record with that ``status``; the other cases are measured as usual.
    """
    from costmodel.hardware.calibrate import print_progress, run_calibration

    if not isinstance(rounds, int) or rounds < 1:
        raise InvalidConfigError("rounds", rounds, "must be a positive integer")
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    per_case: dict[tuple[str, int], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    failures: dict[tuple[str, int], str] = {}
    profile: DeviceProfile | None = None
    for r in range(rounds):
        if calibrate:
            log(f"round {r + 1}/{rounds}: calibrating {device} ({threads or 'default'} thread(s))")
            profile = run_calibration(device=device, dtype=dtype, threads=threads, progress=print_progress)
            if profile_path:
                save_profile(profile, profile_path)
        else:
            profile = load_profile(path=profile_path) if profile_path else load_profile(device, dtype)
        for model in models:
            for batch in batches:
                per_case.setdefault((model, batch), [])
                try:
                    measured = measure_in_subprocess(model, batch, device=device, threads=profile.threads,
                                                     clock=profile.clock, optimizer=optimizer, repeats=repeats,
                                                     warmup=warmup, dtype=profile.dtype)
                except Exception as exc:  # out of memory, a killed or crashed worker: record it, go on
                    failures[(model, batch)] = status_of(exc)
                    log(f"  {model:<14} batch {batch:>3}: {failures[(model, batch)]}")
                    continue
                predicted = predict(model, batch, profile, optimizer)
                per_case[(model, batch)].append((predicted, measured))
                p, m = predicted["step_s"], statistics.median(measured["step_s"])
                log(f"  {model:<14} batch {batch:>3}: predicted {p:8.3f} s  measured {m:8.3f} s  "
                    f"({100 * (p - m) / m:+.1f}%)")
    if profile is None:  # unreachable: rounds >= 1
        raise InvalidConfigError("rounds", rounds, "must be a positive integer")
    records = [_record(model, batch, pairs, device=device, optimizer=optimizer, profile=profile)
               if pairs else _failed_record(model, batch, failures[(model, batch)], device=device,
                                            optimizer=optimizer, profile=profile)
               for (model, batch), pairs in per_case.items()]
    return records, profile


def _record(model: str, batch: int, pairs: list[tuple[dict[str, Any], dict[str, Any]]], *, device: str,
            optimizer: str, profile: DeviceProfile) -> TimeRecord:
    """The record of a measured case: medians over its rounds."""
    med = statistics.median
    return TimeRecord(
        model=model, batch=batch, device=device, optimizer=optimizer,
        predicted_step_s=med([p["step_s"] for p, _ in pairs]),
        measured_step_s=med([med(m["step_s"]) for _, m in pairs]),
        predicted_forward_s=med([p["forward_s"] for p, _ in pairs]),
        measured_forward_s=med([med(m["forward_s"]) for _, m in pairs]),
        min_step_s=min(min(m["step_s"]) for _, m in pairs),
        wall_step_s=med([med(m["wall_step_s"]) for _, m in pairs]),
        rounds=len(pairs), dtype=profile.dtype,
        round_errors=tuple((p["step_s"] - med(m["step_s"])) / med(m["step_s"]) for p, m in pairs),
        breakdown=pairs[-1][0]["breakdown"],
        single_rate_step_s=med([p["single_rate_step_s"] for p, _ in pairs]))


def _failed_record(model: str, batch: int, status: str, *, device: str, optimizer: str,
                   profile: DeviceProfile) -> TimeRecord:
    """The record of a case that was never measured: its status, and the prediction where it can be made."""
    try:
        predicted: dict[str, Any] = predict(model, batch, profile, optimizer)
    except Exception:  # the model itself cannot be predicted either: the status says why it was not measured
        predicted = {}
    return TimeRecord(model=model, batch=batch, device=device, optimizer=optimizer,
                      predicted_step_s=predicted.get("step_s"), predicted_forward_s=predicted.get("forward_s"),
                      rounds=0, dtype=profile.dtype, breakdown=predicted.get("breakdown", {}),
                      single_rate_step_s=predicted.get("single_rate_step_s"), status=status)


# -- results file, table, plot -----------------------------------------------------------
def summary(records: Sequence[TimeRecord]) -> dict[str, float | int | None]:
    """Median and maximum absolute relative error of the step times of the measured cases."""
    errors = [abs(r.rel_error) for r in records if r.ok and r.rel_error is not None]
    return {"median_abs_error": statistics.median(errors) if errors else None,
            "max_abs_error": max(errors) if errors else None, "cases": len(errors),
            "not_measured": sum(not r.ok for r in records)}


def write_time_results(records: Sequence[TimeRecord], profile: DeviceProfile, device: str = "cpu",
                       path: str | os.PathLike[str] | None = None, note: str = "") -> Path:
    """Put the records under ``"time"`` in the results file (other keys kept), atomically.

    A record replaces the stored one of the same (model, batch, dtype, optimizer); the
    section's summary covers every stored record, its profiles keep those of other dtypes.
    """
    import torch

    def header(old: dict[str, Any], rows: list[TimeRecord]) -> dict[str, Any]:
        stored = old.get("profiles", {})
        profiles = dict(stored) if isinstance(stored, dict) else {}
        profiles[profile.dtype] = {k: v for k, v in profile.to_json().items() if k != "measurements"}
        return {"device": device, "torch": torch.__version__, "threads": profile.threads, "clock": profile.clock,
                "note": note, "summary": summary(rows), "profiles": profiles}

    target = Path(path) if path is not None else RESULTS_DIR / f"{device}.json"
    return merge_records(target, "time", records, record_type=TimeRecord,
                         key=lambda r: (r.model, r.batch, r.dtype, r.optimizer),
                         sort_key=lambda r: (r.dtype, r.model, r.batch), header=header, to_row=TimeRecord.to_json)


def records_from_file(path: str | os.PathLike[str]) -> list[TimeRecord]:
    """The time records of a results file (checked: a corrupt file is a ``ResultsFileError``)."""
    return read_records(read_results(path), "time", TimeRecord, path=path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costmodel.validation.timing", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=list(DEFAULT_BATCHES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--optimizer", default="adamw")
    parser.add_argument("--dtype", default="fp32", help="fp32, tf32 (CUDA), bf16 or fp16 (autocast)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--profile", help="profile file to write (or, with --no-calibrate, to read)")
    parser.add_argument("--no-calibrate", action="store_true")
    parser.add_argument("--output", help="results JSON (default validation/results/<device>.json)")
    parser.add_argument("--plot", help="write the predicted-vs-measured plot here")
    parser.add_argument("--note", default="")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.model, args.batch = args.models[0], args.batches[0]
        return worker_main(args)
    records, profile = run_time_validation(args.models, args.batches, device=args.device, threads=args.threads or None,
                                           rounds=args.rounds, repeats=args.repeats, warmup=args.warmup,
                                           optimizer=args.optimizer, profile_path=args.profile,
                                           calibrate=not args.no_calibrate, dtype=args.dtype)
    from costmodel.validation.timing_report import markdown_table, plot_time

    print(markdown_table(records))
    path = write_time_results(records, profile, args.device, args.output, note=args.note)
    print(f"\nresults written to {path}")
    if args.plot:
        print(f"plot written to {plot_time(records, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["measure_step", "make_optimizer", "measure_in_subprocess", "TimeRecord", "predict", "relative_error",
           "run_time_validation", "summary", "write_time_results", "records_from_file", "main", "DEFAULT_MODELS",
           "DEFAULT_BATCHES"]
