"""``costmodel converge RESULTS.json [--confidence C] [--tolerance DELTA] [--json]``: fit F19 rates.

RESULTS.json holds ``"curves"``: a list of ``{"model": name, "seed": s, "steps": [...],
"losses": [...]}`` (as ``python -m costmodel.validation.convergence`` writes). Every curve
is refitted here (:func:`costmodel.convergence.fit_rate`); the report gives ``eps`` with
its confidence interval per curve, the mean and spread per model over seeds, whether
``eps_vit < eps_conv`` held, and the iterations ``T(eps, delta)`` and the training FLOPs
they cost when the file gives the per-image training FLOPs and the batch size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from costmodel.convergence import check_tolerance, fit_rate, summarize
from costmodel.errors import CostModelError, InvalidConfigError


def register(sub: Any) -> None:
    conv = sub.add_parser("converge", help="fit convergence rates eps (F19) to the loss curves of a results file")
    conv.add_argument("results", help="JSON with a 'curves' list of {model, seed, steps, losses}")
    conv.add_argument("--confidence", type=float, default=0.95, help="of the interval on eps (default 0.95)")
    conv.add_argument("--tolerance", type=float, default=0.01,
                      help="delta of T(eps, delta): the excess loss left, as a fraction (default 0.01)")
    conv.add_argument("--min-loss", type=float,
                      help="lower bound of the fitted asymptote (default: the file's fit_options, else none)")
    conv.add_argument("--json", action="store_true", help="print the fits as JSON")
    conv.set_defaults(func=cmd_converge)


def load_results(path: str) -> dict[str, Any]:
    """The results file, checked to hold curves."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidConfigError("results", path, "no such file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidConfigError("results", path, f"cannot be read as JSON ({exc})") from None
    curves = data.get("curves") if isinstance(data, dict) else None
    if not isinstance(curves, list) or not curves:
        raise InvalidConfigError("results", path, "has no 'curves' list of {model, seed, steps, losses}")
    for i, curve in enumerate(curves):
        if not isinstance(curve, dict) or not {"steps", "losses"} <= curve.keys():
            raise InvalidConfigError(f"curves[{i}]", curve if not isinstance(curve, dict) else sorted(curve),
                                     "needs 'steps' and 'losses'")
    return data


def fit_curves(data: dict[str, Any], *, confidence: float = 0.95, tolerance: float = 0.01,
               min_loss: float | None = None) -> list[dict[str, Any]]:
    """One row per curve: model, seed, the fit (or the error that prevented it), ``T(eps, delta)``.

    ``min_loss`` (default: ``fit_options.min_loss`` of the file) bounds the fitted asymptote.
    """
    if min_loss is None:
        min_loss = data.get("fit_options", {}).get("min_loss")
    delta = check_tolerance(tolerance, "--tolerance")
    if not 0 < confidence < 1:
        raise InvalidConfigError("--confidence", confidence, "must lie strictly between 0 and 1")
    models = data.get("models", {})
    batch = data.get("batch")
    rows = []
    for i, curve in enumerate(data["curves"]):
        row: dict[str, Any] = {"model": str(curve.get("model", curve.get("name", f"curve{i}"))),
                               "seed": curve.get("seed")}
        try:
            fit = fit_rate(curve["steps"], curve["losses"], confidence=confidence, min_loss=min_loss)
        except CostModelError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        row.update(eps=fit.eps, eps_low=fit.eps_low, eps_high=fit.eps_high, r_squared=fit.r_squared,
                   loss_inf=fit.loss_inf, iterations=fit.iterations(delta))
        per_image = models.get(row["model"], {}).get("training_flops_per_image")
        if per_image is not None and batch is not None:
            row["training_flops"] = row["iterations"] * int(batch) * int(per_image)
        rows.append(row)
    return rows


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: ``eps`` mean, std and range over seeds; the ``eps_vit < eps_conv`` comparison."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        rates = [r["eps"] for r in rows if r["model"] == name and "eps" in r]
        if rates:
            out[name] = vars(summarize(rates))
    if "convnet" in out and "vit" in out:
        conv = {r["seed"]: r["eps"] for r in rows if r["model"] == "convnet" and "eps" in r}
        vit = {r["seed"]: r["eps"] for r in rows if r["model"] == "vit" and "eps" in r}
        seeds = sorted(set(conv) & set(vit), key=str)
        out["eps_vit_lt_eps_conv"] = {"mean": out["vit"]["mean"] < out["convnet"]["mean"],
                                      "all_seeds": all(vit[s] < conv[s] for s in seeds), "seeds": seeds}
    return out


def format_report(data: dict[str, Any], *, confidence: float = 0.95, tolerance: float = 0.01,
                  min_loss: float | None = None) -> str:
    """The table ``costmodel converge`` prints."""
    rows = fit_curves(data, confidence=confidence, tolerance=tolerance, min_loss=min_loss)
    lines = [f"F19 geometric fits, loss_t = loss_inf + A (1 - eps)^t; {100 * confidence:g}% intervals; "
             f"T = iterations to delta = {tolerance:g}", ""]
    lines.append(f"{'model':<10} {'seed':>4} {'eps':>9} {'interval':>21} {'R^2':>6} {'T':>8} {'train FLOPs':>12}")
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<10} {str(r['seed']):>4}  no fit: {r['error']}")
            continue
        flops = f"{r['training_flops']:.3g}" if "training_flops" in r else "-"
        lines.append(f"{r['model']:<10} {str(r['seed']):>4} {r['eps']:9.5f} [{r['eps_low']:9.5f}, {r['eps_high']:9.5f}]"
                     f" {r['r_squared']:6.3f} {r['iterations']:8.0f} {flops:>12}")
    summary = summarize_rows(rows)
    lines.append("")
    for name, s in summary.items():
        if name != "eps_vit_lt_eps_conv":
            lines.append(f"{name:<10} eps = {s['mean']:.5f} ± {s['std']:.5f} (std over {len(s['values'])} seeds, "
                         f"range {s['low']:.5f}..{s['high']:.5f})")
    lines.extend(_measured_targets(data))
    verdict = summary.get("eps_vit_lt_eps_conv")
    if verdict:
        lines.append(f"eps_vit < eps_conv: {'holds' if verdict['mean'] else 'does not hold'} for the means; "
                     f"{'holds' if verdict['all_seeds'] else 'does not hold'} seed by seed")
    return "\n".join(lines)


def _measured_targets(data: dict[str, Any]) -> list[str]:
    """Lines for the measured steps (and training FLOPs) to the file's target accuracy, if recorded."""
    target = data.get("target_accuracy")
    curves = [c for c in data["curves"] if "steps_to_target" in c]
    if target is None or not curves:
        return []
    lines = []
    for name in dict.fromkeys(str(c.get("model")) for c in curves):
        mine = [c for c in curves if str(c.get("model")) == name]
        steps = [c["steps_to_target"] for c in mine]
        shown = ", ".join("never" if s is None else str(s) for s in steps)
        reached = [c["flops_to_target"] for c in mine if c.get("flops_to_target") is not None]
        flops = f"; mean {sum(reached) / len(reached):.3g} training FLOPs" if len(reached) == len(mine) else ""
        lines.append(f"{name:<10} steps to {100 * target:g}% test accuracy (measured): {shown}{flops}")
    return lines


def cmd_converge(args: argparse.Namespace) -> int:
    data = load_results(args.results)
    if args.json:
        rows = fit_curves(data, confidence=args.confidence, tolerance=args.tolerance, min_loss=args.min_loss)
        print(json.dumps({"confidence": args.confidence, "tolerance": args.tolerance, "fits": rows,
                          "summary": summarize_rows(rows)}, indent=2))
        return 0
    print(format_report(data, confidence=args.confidence, tolerance=args.tolerance, min_loss=args.min_loss))
    return 0
