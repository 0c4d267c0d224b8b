"""Predicted vs published GPU throughput: the summary tables, the JSON and the scatter plot.

``python -m costmodel.validation.published_report`` (also ``python -m costmodel.validation.published``)
predicts every anchor row whose model has a preset, with the constants of
:data:`costmodel.hardware.kernels.GENERATION_CONSTANTS`, and prints median and worst
|error| per GPU and per family, training and inference separately.

Options: ``--fit`` refits the constants on the anchors first (and prints them);
``--lofo`` adds leave-one-family-out errors (constants fitted without the family they
predict); ``--json PATH`` writes the results (default ``validation/results/published.json``
with ``--write``); ``--plot PATH`` the predicted-vs-published scatter plot; ``--print-json``
prints that JSON document on stdout instead of the tables (what ``costmodel validate
--published --json`` shows).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costmodel.validation.published import RESULTS, Anchor, Prediction, load_anchors, predict

from costmodel.core.jsonfile import write_json_atomically
from costmodel.hardware.kernels import GENERATION_CONSTANTS, KernelConstants

#: the issue's targets: median |error| over a group, and over a family
MEDIAN_TARGET = 0.20
FAMILY_TARGET = 0.30


@dataclass(frozen=True)
class Summary:
    """Median and worst |error| of a group of predictions."""

    group: str
    mode: str
    count: int
    median: float
    worst: float
    worst_row: Prediction

    def to_json(self) -> dict[str, Any]:
        a = self.worst_row.anchor
        return {"group": self.group, "mode": self.mode, "rows": self.count, "median_abs_error": self.median,
                "worst_abs_error": self.worst,
                "worst_row": f"{a.model} {a.gpu} {a.precision} {a.memory_format or 'format not stated'} "
                             f"batch {a.batch} {a.image_size}px ({a.harness})"}


def summarise(predictions: Iterable[Prediction], key: str) -> list[Summary]:
    """Summaries by ``key`` (``"gpu"`` or ``"family"``) and mode."""
    groups: dict[tuple[str, str], list[Prediction]] = defaultdict(list)
    for p in predictions:
        name = p.anchor.device if key == "gpu" else p.family
        groups[(name, p.anchor.mode)].append(p)
    out = []
    for (name, mode), rows in sorted(groups.items()):
        worst = max(rows, key=lambda p: abs(p.error))
        out.append(Summary(group=name, mode=mode, count=len(rows), median=statistics.median(abs(p.error) for p in rows),
                           worst=abs(worst.error), worst_row=worst))
    return out


def meets_targets(predictions: list[Prediction]) -> list[str]:
    """The issue's targets that do not hold (empty when all hold)."""
    failures = []
    for s in summarise(predictions, "gpu"):
        if s.median > MEDIAN_TARGET:
            failures.append(f"{s.group} {s.mode}: median |error| {s.median:.1%} > {MEDIAN_TARGET:.0%}")
    for s in summarise(predictions, "family"):
        if s.median > FAMILY_TARGET:
            failures.append(f"family {s.group} {s.mode}: median |error| {s.median:.1%} > {FAMILY_TARGET:.0%}")
    for mode in ("train", "inference"):
        rows = [abs(p.error) for p in predictions if p.anchor.mode == mode]
        if rows and statistics.median(rows) > MEDIAN_TARGET:
            failures.append(f"all {mode}: median |error| {statistics.median(rows):.1%} > {MEDIAN_TARGET:.0%}")
    return failures


def table(summaries: list[Summary], title: str) -> str:
    """A markdown table of summaries."""
    lines = [f"| {title} | mode | rows | median abs error | worst abs error | worst row |",
             "|---|---|---:|---:|---:|---|"]
    for s in summaries:
        lines.append(f"| {s.group} | {s.mode} | {s.count} | {s.median:.1%} | {s.worst:.1%} | "
                     f"{s.to_json()['worst_row']} |")
    return "\n".join(lines)


def constants_json(table_: dict[str, KernelConstants]) -> dict[str, Any]:
    return {gen: {"tensor_efficiency": c.tensor_efficiency, "cuda_efficiency": c.cuda_efficiency,
                  "depthwise_efficiency": c.depthwise_efficiency,
                  "depthwise_backward_efficiency": c.depthwise_backward_efficiency,
                  "bandwidth_efficiency": c.bandwidth_efficiency,
                  "launch_s": c.launch_s, "host_s": c.host_s, "source": c.source}
            for gen, c in sorted(table_.items())}


def row_json(p: Prediction) -> dict[str, Any]:
    a: Anchor = p.anchor
    return {"row": a.index, "model": a.model, "source_name": a.source_name, "family": p.family, "mode": a.mode,
            "gpu": a.gpu, "device": a.device, "gpus": a.gpus, "precision": a.precision, "batch": a.batch,
            "image_size": a.image_size, "memory_format": a.memory_format, "harness": a.harness,
            "published_img_s": a.throughput, "predicted_img_s": p.predicted, "error": p.error,
            "assumptions": list(a.assumptions), "source": a.source}


def results_json(predictions: list[Prediction], skipped: list[tuple[Anchor, str]], table_: dict[str, KernelConstants],
                 lofo: dict[str, list[Prediction]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "what": "GPU throughput predicted by costmodel's kernel model vs published measurements (images/s)",
        "anchors": "validation/data/gpu-throughput-published.csv",
        "constants": constants_json(table_),
        "targets": {"median_abs_error_per_gpu_and_mode": MEDIAN_TARGET, "family_median_abs_error": FAMILY_TARGET},
        "failures": meets_targets(predictions),
        "by_gpu": [s.to_json() for s in summarise(predictions, "gpu")],
        "by_family": [s.to_json() for s in summarise(predictions, "family")],
        "rows": [row_json(p) for p in predictions],
        "skipped": [{"row": a.index, "model": a.model, "gpu": a.gpu, "reason": r} for a, r in skipped],
    }
    if lofo is not None:
        out["leave_one_family_out"] = {f: [s.to_json() for s in summarise(rows, "gpu")] for f, rows in lofo.items()}
    return out


def scatter(predictions: list[Prediction], path: str | Path) -> Path:
    """Predicted vs published throughput, log-log, one colour per family, the +-20 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    markers = {"train": "o", "inference": "^"}
    families = sorted({p.family for p in predictions})
    colors = dict(zip(families, plt.get_cmap("tab10").colors, strict=False))
    for fam in families:
        for mode, marker in markers.items():
            rows = [p for p in predictions if p.family == fam and p.anchor.mode == mode]
            if rows:
                ax.scatter([p.anchor.throughput for p in rows], [p.predicted for p in rows], s=14, marker=marker,
                           color=colors[fam], alpha=0.7, label=f"{fam} {mode}")
    low = min(min(p.anchor.throughput, p.predicted) for p in predictions) * 0.8
    high = max(max(p.anchor.throughput, p.predicted) for p in predictions) * 1.25
    line = [low, high]
    ax.plot(line, line, color="black", lw=1)
    ax.fill_between(line, [v * 0.8 for v in line], [v * 1.2 for v in line], color="grey", alpha=0.15, label="+-20 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("published throughput (images/s)")
    ax.set_ylabel("predicted throughput (images/s)")
    ax.set_title("GPU kernel model vs published measurements")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target


def main(argv: list[str] | None = None) -> int:
    from costmodel.validation.published_fit import fit_all, leave_one_family_out

    parser = argparse.ArgumentParser(prog="python -m costmodel.validation.published",
                                     description="predicted vs published GPU throughput")
    parser.add_argument("--fit", action="store_true", help="refit the constants on the anchors first")
    parser.add_argument("--lofo", action="store_true", help="also report leave-one-family-out errors")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--write", action="store_true", help=f"write the results to {RESULTS}")
    parser.add_argument("--plot", default=None, help="write the scatter plot (PNG) here")
    parser.add_argument("--print-json", action="store_true",
                        help="print the results as one JSON document instead of the tables (nothing else on stdout)")
    args = parser.parse_args(argv)
    anchors = load_anchors()
    constants = fit_all(anchors) if args.fit else dict(GENERATION_CONSTANTS)
    if args.fit:
        for gen, c in sorted(constants.items()):
            print(f"{gen}: " + ", ".join(f"{k}={v:.4g}" for k, v in constants_json({gen: c})[gen].items()
                                         if k != "source"))
    predictions, skipped = predict(anchors, constants)
    if args.print_json:
        document = results_json(predictions, skipped, constants, None)
        print(json.dumps(document, indent=2))
        return 1 if document["failures"] else 0
    print(table(summarise(predictions, "gpu"), "GPU"))
    print()
    print(table(summarise(predictions, "family"), "family"))
    print(f"\n{len(predictions)} rows predicted, {len(skipped)} skipped "
          f"({', '.join(sorted({r for _, r in skipped}))})")
    lofo = None
    if args.lofo:
        families = sorted({p.family for p in predictions})
        lofo = {}
        for fam, table_ in leave_one_family_out(anchors, families).items():
            rows, _ = predict([p.anchor for p in predictions if p.family == fam], table_)
            lofo[fam] = rows
            print(f"\nleave out {fam} (constants fitted without it):")
            print(table(summarise(rows, "gpu"), "GPU"))
    failures = meets_targets(predictions)
    print("\ntargets: " + ("all hold" if not failures else "; ".join(failures)))
    target = args.json or (str(RESULTS) if args.write else None)
    if target:
        write_json_atomically(Path(target), results_json(predictions, skipped, constants, lofo))
        print(f"wrote {target}")
    if args.plot:
        print(f"wrote {scatter(predictions, args.plot)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
