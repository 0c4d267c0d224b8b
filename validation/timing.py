"""Measured time of training steps, against the roofline prediction: validation, part 3.

A training step is ``zero_grad(set_to_none=True)``, ``loss = cross_entropy(model(x), y)``,
``loss.backward()``, ``optimizer.step()`` with the model in training mode, fp32. One
measured step gives two times: the forward pass (up to the loss) and the whole step.
Each case runs ``warmup`` steps, then ``repeats`` timed ones; the medians are recorded
(the minimum too).

On CPU each case runs in a fresh subprocess with the thread count of the profile, glibc
switched to heap reuse (:func:`costmodel.calibrate.use_heap_allocator`) and, with one
thread, the process CPU time as the clock: on a machine shared with other jobs that is
the step's uncontended wall time (a thread that waits for a core is not charged); the
wall time is recorded beside it. On CUDA the clock is wall time between synchronisations.

:func:`run_time_validation` calibrates, measures every case, and repeats that for
``rounds`` rounds, so that each round's prediction uses a profile measured minutes
before its measurements; per case the medians over rounds are reported.
:func:`write_time_results` merges the records into ``validation/results/<device>.json``
under ``"time"`` (other keys are kept), atomically.

Run: ``python -m costmodel.validation.timing --models resnet18 vit_ti_16 --batches 8 32``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from costmodel.errors import CostModelError, InvalidConfigError
from costmodel.roofline import DeviceProfile, load_profile, save_profile

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: the cases the issue names (at batch 8 and 32)
DEFAULT_MODELS = ("resnet18", "resnet50", "vit_ti_16", "vit_s_16", "vit_b_16", "convnext_tiny")
DEFAULT_BATCHES = (8, 32)


# -- measuring one case (runs in the worker process) ---------------------------------------
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

    from costmodel.hardware import canonical_dtype

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


def _worker(args: argparse.Namespace) -> int:
    import torch

    from costmodel.calibrate import use_heap_allocator
    from costmodel.models.presets import get_preset

    if args.device == "cpu":
        use_heap_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure_step(get_preset(args.model), args.batch, device=args.device, optimizer=args.optimizer,
                          repeats=args.repeats, warmup=args.warmup, clock=args.clock, dtype=args.dtype)
    print(json.dumps(result))
    return 0


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
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=(lambda: os.nice(nice)) if nice and os.name == "posix" else None)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CostModelError(f"timing worker for {model} at batch {batch} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- predicted vs measured -------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TimeRecord:
    """One case: predicted and measured seconds of the forward pass and the training step.

    ``measured_*`` are medians over the timed steps (and, with several rounds, the median
    of the rounds' medians); ``rel_error = (predicted - measured) / measured``.
    """

    model: str
    batch: int
    device: str
    optimizer: str
    predicted_step_s: float
    measured_step_s: float
    predicted_forward_s: float
    measured_forward_s: float
    min_step_s: float | None = None
    wall_step_s: float | None = None
    rounds: int = 1
    dtype: str = "fp32"
    round_errors: tuple[float, ...] = ()
    breakdown: dict[str, float] = field(default_factory=dict)
    single_rate_step_s: float | None = None

    @property
    def rel_error(self) -> float:
        return (self.predicted_step_s - self.measured_step_s) / self.measured_step_s

    @property
    def forward_rel_error(self) -> float:
        return (self.predicted_forward_s - self.measured_forward_s) / self.measured_forward_s

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["round_errors"] = list(self.round_errors)
        data["rel_error"] = self.rel_error
        data["forward_rel_error"] = self.forward_rel_error
        return data


def predict(model: str, batch: int, profile: DeviceProfile, optimizer: str = "adamw") -> dict[str, Any]:
    """Predicted forward and step seconds of preset ``model`` on ``profile`` (one device)."""
    from costmodel.models.presets import get_preset
    from costmodel.plan import step_time

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
    the last profile. With ``calibrate=False`` the profile at ``profile_path`` is used throughout."""
    from costmodel.calibrate import print_progress, run_calibration

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    per_case: dict[tuple[str, int], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    profile = None
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
                measured = measure_in_subprocess(model, batch, device=device, threads=profile.threads,
                                                 clock=profile.clock, optimizer=optimizer, repeats=repeats,
                                                 warmup=warmup, dtype=profile.dtype)
                predicted = predict(model, batch, profile, optimizer)
                per_case.setdefault((model, batch), []).append((predicted, measured))
                p, m = predicted["step_s"], statistics.median(measured["step_s"])
                log(f"  {model:<14} batch {batch:>3}: predicted {p:8.3f} s  measured {m:8.3f} s  "
                    f"({100 * (p - m) / m:+.1f}%)")
    assert profile is not None
    records = []
    for (model, batch), pairs in per_case.items():
        med = lambda xs: statistics.median(xs)  # noqa: E731
        records.append(TimeRecord(
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
            single_rate_step_s=med([p["single_rate_step_s"] for p, _ in pairs])))
    return records, profile


# -- results file, table, plot -----------------------------------------------------------
def summary(records: Sequence[TimeRecord]) -> dict[str, float]:
    """Median and maximum absolute relative error of the step times."""
    errors = [abs(r.rel_error) for r in records]
    return {"median_abs_error": statistics.median(errors), "max_abs_error": max(errors), "cases": len(errors)}


def write_time_results(records: Sequence[TimeRecord], profile: DeviceProfile, device: str = "cpu",
                       path: str | os.PathLike[str] | None = None, note: str = "") -> Path:
    """Put the records under ``"time"`` in the results file (other keys kept), atomically."""
    import torch
    from costmodel.validation.report import read_results

    target = Path(path) if path is not None else RESULTS_DIR / f"{device}.json"
    data = read_results(target, missing_ok=True)
    old = data.get("time", {})
    key = lambda r: (r["model"], r["batch"], r.get("dtype", "fp32"), r["optimizer"])  # noqa: E731
    merged = {key(r): r for r in old.get("records", [])}
    merged.update({key(r.to_json()): r.to_json() for r in records})
    rows = sorted(merged.values(), key=lambda r: (r.get("dtype", "fp32"), r["model"], r["batch"]))
    profiles = dict(old.get("profiles", {}))
    profiles[profile.dtype] = {k: v for k, v in profile.to_json().items() if k != "measurements"}
    errors = [abs(r["rel_error"]) for r in rows]
    data["time"] = {
        "device": device, "torch": torch.__version__, "threads": profile.threads, "clock": profile.clock,
        "note": note, "summary": {"median_abs_error": statistics.median(errors), "max_abs_error": max(errors),
                                  "cases": len(errors)},
        "profiles": profiles, "records": rows,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def records_from_file(path: str | os.PathLike[str]) -> list[TimeRecord]:
    """The time records of a results file."""
    from costmodel.validation.report import read_results

    rows = read_results(path).get("time", {}).get("records", [])
    names = set(TimeRecord.__dataclass_fields__)
    return [TimeRecord(**{k: (tuple(v) if k == "round_errors" else v) for k, v in row.items() if k in names})
            for row in rows]


def markdown_table(records: Sequence[TimeRecord]) -> str:
    """A Markdown table: model, batch, predicted and measured step and forward times, errors,
    and the error of the single-rate ablation where recorded."""
    ablation = all(r.single_rate_step_s for r in records)
    extra = " single rate, no traffic |" if ablation else ""
    lines = ["| model | batch | predicted step | measured step | error | predicted fwd | measured fwd | fwd error |"
             + extra, "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if ablation else "")]
    for r in records:
        cell = ""
        if ablation:
            cell = f" {100 * (r.single_rate_step_s - r.measured_step_s) / r.measured_step_s:+.1f}% |"
        lines.append(f"| {r.model} | {r.batch} | {r.predicted_step_s:.3f} s | {r.measured_step_s:.3f} s | "
                     f"{100 * r.rel_error:+.1f}% | {r.predicted_forward_s:.3f} s | {r.measured_forward_s:.3f} s | "
                     f"{100 * r.forward_rel_error:+.1f}% |" + cell)
    s = summary(records)
    lines.append(f"\nMedian |error| {100 * s['median_abs_error']:.1f}%, max {100 * s['max_abs_error']:.1f}% "
                 f"over {s['cases']} cases.")
    return "\n".join(lines)


def plot_time(records: Sequence[TimeRecord], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Left: predicted vs measured training step (log-log, y = x, +-15% band); right: the
    relative error of every case. Circles batch 8, squares batch 32."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained",
                                   gridspec_kw={"width_ratios": [1.1, 1]})
    values = [v for r in records for v in (r.measured_step_s, r.predicted_step_s)]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="predicted = measured")
    ax.fill_between([lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="grey", alpha=0.2,
                    label="±15%")
    models = list(dict.fromkeys(r.model for r in records))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    markers = {8: "o", 32: "s"}
    for model in models:
        for i, r in enumerate(x for x in records if x.model == model):
            ax.scatter([r.measured_step_s], [r.predicted_step_s], marker=markers.get(r.batch, "^"),
                       color=colours[model], label=model if i == 0 else None, zorder=3)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured training step [s]",
           ylabel="predicted training step [s]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    labels = [f"{r.model} b{r.batch}" for r in records]
    errors = [100 * r.rel_error for r in records]
    bars.barh(labels, errors, color=[colours[r.model] for r in records])
    for limit in (-15, 15):
        bars.axvline(limit, color="grey", linestyle="--", linewidth=1)
    bars.axvline(0, color="black", linewidth=1)
    bars.invert_yaxis()
    bars.set_xlabel("error of the predicted step [%]")
    bars.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title or "training step time: roofline prediction vs measurement")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


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
        return _worker(args)
    records, profile = run_time_validation(args.models, args.batches, device=args.device, threads=args.threads or None,
                                           rounds=args.rounds, repeats=args.repeats, warmup=args.warmup,
                                           optimizer=args.optimizer, profile_path=args.profile,
                                           calibrate=not args.no_calibrate, dtype=args.dtype)
    print(markdown_table(records))
    path = write_time_results(records, profile, args.device, args.output, note=args.note)
    print(f"\nresults written to {path}")
    if args.plot:
        print(f"plot written to {plot_time(records, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["measure_step", "make_optimizer", "measure_in_subprocess", "TimeRecord", "predict",
           "run_time_validation", "summary", "write_time_results", "records_from_file", "markdown_table",
           "plot_time", "main", "DEFAULT_MODELS", "DEFAULT_BATCHES"]
