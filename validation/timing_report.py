"""The time validation's report: the Markdown table of docs/validation.md and the predicted-vs-measured plot.

:mod:`costmodel.validation.timing` measures and records the cases; this module shows them
(``python -m costmodel.validation.timing`` prints the table and writes the plot).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from costmodel.validation.outcomes import OK
from costmodel.validation.timing import TimeRecord, relative_error, summary

from costmodel.core.errors import InvalidConfigError


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}%"


def markdown_table(records: Sequence[TimeRecord]) -> str:
    """A Markdown table: model, batch, predicted and measured step and forward times, errors,
    and the error of the single-rate ablation where recorded. A case that was not measured
    shows its status (``out of memory``, ``failed: ...``) in the measured column."""
    ablation = all(r.single_rate_step_s for r in records if r.ok)
    extra = " single rate, no traffic |" if ablation else ""
    lines = ["| model | batch | predicted step | measured step | error | predicted fwd | measured fwd | fwd error |"
             + extra, "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if ablation else "")]
    for r in records:
        cell = ""
        if ablation:
            single = relative_error(r.single_rate_step_s, r.measured_step_s) if r.ok else None
            cell = f" {_percent(single)} |"
        measured = _seconds(r.measured_step_s) if r.status == OK else r.status.replace("|", "/")
        lines.append(f"| {r.model} | {r.batch} | {_seconds(r.predicted_step_s)} | {measured} | "
                     f"{_percent(r.rel_error)} | {_seconds(r.predicted_forward_s)} | "
                     f"{_seconds(r.measured_forward_s)} | {_percent(r.forward_rel_error)} |" + cell)
    s = summary(records)
    notes = []
    if s["cases"]:
        notes.append(f"Median |error| {100 * float(s['median_abs_error'] or 0):.1f}%, "
                     f"max {100 * float(s['max_abs_error'] or 0):.1f}% over {s['cases']} cases.")
    if s["not_measured"]:
        notes.append(f"{s['not_measured']} case(s) not measured: "
                     + "; ".join(f"{r.model} batch {r.batch}: {r.status}" for r in records if not r.ok) + ".")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


def plot_time(records: Sequence[TimeRecord], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Left: predicted vs measured training step (log-log, y = x, +-15% band); right: the
    relative error of every case. Circles batch 8, squares batch 32."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in records if r.ok]  # the measured cases
    if not records:
        raise InvalidConfigError("records", "[]", "no measured case to plot")
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained",
                                   gridspec_kw={"width_ratios": [1.1, 1]})
    values = [float(v) for r in records for v in (r.measured_step_s, r.predicted_step_s) if v is not None]
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
    errors = [100 * (r.rel_error or 0.0) for r in records]
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


__all__ = ["markdown_table", "plot_time"]
