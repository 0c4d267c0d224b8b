"""``costmodel converge RESULTS.json [--confidence C] [--tolerance DELTA] [--json]``: fit F19 rates.

RESULTS.json holds ``"curves"``: a list of ``{"model": name, "seed": s, "steps": [...],
"losses": [...]}`` (as ``python -m costmodel.validation.convergence`` writes). Every curve
is refitted here (:func:`costmodel.article.convergence.fit_rate`); the report gives ``eps`` with
its confidence interval per curve, the mean and spread per model over seeds, whether
``eps_vit < eps_conv`` held, and the iterations ``T(eps, delta)`` and the training FLOPs
they cost when the file gives the per-image training FLOPs and the batch size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

from costmodel.cli.common import add_command, finite_float, print_json, print_table, show_quantity
from costmodel.core.errors import CostModelError, InvalidConfigError

EXAMPLES = ("costmodel converge validation/results/convergence.json",
            "costmodel converge validation/results/convergence.json --confidence 0.9 --tolerance 0.05 --json")


def register(sub: Any) -> None:
    conv = add_command(sub, "converge", "fit convergence rates eps (F19) to the loss curves of a results file",
                       EXAMPLES, "The file is what 'python -m costmodel.validation.convergence' writes.")
    conv.add_argument("results", help="JSON with a 'curves' list of {model, seed, steps, losses}")
    conv.add_argument("--confidence", type=finite_float, default=0.95, help="of the interval on eps (default 0.95)")
    conv.add_argument("--tolerance", type=finite_float, default=0.01,
                      help="delta of T(eps, delta): the excess loss left, as a fraction (default 0.01)")
    conv.add_argument("--min-loss", type=finite_float,
                      help="lower bound of the fitted asymptote (default: the file's fit_options, else none)")
    conv.add_argument("--json", action="store_true", help="print the fits as JSON")
    conv.set_defaults(func=cmd_converge)


def load_results(path: str) -> dict[str, Any]:
    """The results file, checked to hold curves."""
    try:
        data: Any = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidConfigError("results", path, "no such file") from None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidConfigError("results", path, f"cannot be read as JSON ({type(exc).__name__}: {exc})") from None
    curves = data.get("curves") if isinstance(data, dict) else None
    if not isinstance(curves, list) or not curves:
        raise InvalidConfigError("results", path, "has no 'curves' list of {model, seed, steps, losses}")
    for i, curve in enumerate(curves):
        if not isinstance(curve, dict) or not {"steps", "losses"} <= curve.keys():
            raise InvalidConfigError(f"curves[{i}]", curve if not isinstance(curve, dict) else sorted(curve),
                                     "needs 'steps' and 'losses'")
    checked: dict[str, Any] = data
    return checked


def fit_curves(data: dict[str, Any], *, confidence: float = 0.95, tolerance: float = 0.01,
               min_loss: float | None = None) -> list[dict[str, Any]]:
    """One row per curve: model, seed, the fit (or the error that prevented it), ``T(eps, delta)``.

    ``min_loss`` (default: ``fit_options.min_loss`` of the file) bounds the fitted asymptote.
    """
    from costmodel.article.convergence import check_tolerance, fit_rate

    if min_loss is None:
        min_loss = _table(data, "fit_options").get("min_loss")
    delta = check_tolerance(tolerance, "--tolerance")
    if not 0 < confidence < 1:
        raise InvalidConfigError("--confidence", confidence, "must lie strictly between 0 and 1")
    models = _table(data, "models")
    batch = data.get("batch")
    rows = []
    for i, curve in enumerate(data["curves"]):
        row: dict[str, Any] = {"model": str(curve.get("model", curve.get("name", f"curve{i}"))),
                               "seed": curve.get("seed")}
        try:
            fit = fit_rate(curve["steps"], curve["losses"], confidence=confidence, min_loss=min_loss)
        except (CostModelError, TypeError, ValueError, ArithmeticError) as exc:  # a curve that is not numbers
            row["error"] = str(exc)
            rows.append(row)
            continue
        row.update(eps=fit.eps, eps_low=fit.eps_low, eps_high=fit.eps_high, r_squared=fit.r_squared,
                   loss_inf=fit.loss_inf, iterations=fit.iterations(delta))
        per_image = _table(models, row["model"]).get("training_flops_per_image")
        if isinstance(per_image, (int, float)) and isinstance(batch, (int, float)):
            row["training_flops"] = row["iterations"] * int(batch) * int(per_image)
        rows.append(row)
    return rows


def _table(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when it is a JSON object, else an empty one."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: ``eps`` mean, std and range over seeds; the ``eps_vit < eps_conv`` comparison."""
    from costmodel.article.convergence import summarize

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
    """The report ``costmodel converge`` prints, as text (plain ASCII tables)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_report(data, confidence=confidence, tolerance=tolerance, min_loss=min_loss)
    return buffer.getvalue().rstrip("\n")


def print_report(data: dict[str, Any], *, confidence: float = 0.95, tolerance: float = 0.01,
                 min_loss: float | None = None) -> None:
    """Print the fits (one row per curve), the spread over seeds and the ``eps_vit < eps_conv`` verdict."""
    rows = fit_curves(data, confidence=confidence, tolerance=tolerance, min_loss=min_loss)
    title = (f"F19 geometric fits, loss_t = loss_inf + A (1 - eps)^t; {100 * confidence:g} % intervals; "
             f"T = iterations to delta = {tolerance:g}")
    table = []
    for r in rows:
        if "error" in r:
            table.append((r["model"], str(r["seed"]), "no fit", r["error"], "", "", ""))
            continue
        flops = show_quantity(r["training_flops"], "flop") if "training_flops" in r else "-"
        table.append((r["model"], str(r["seed"]), f"{r['eps']:.5f} /step",
                      f"[{r['eps_low']:.5f}, {r['eps_high']:.5f}] /step", f"{r['r_squared']:.3f}",
                      f"{r['iterations']:,.0f} steps", flops))
    print_table(title, ("model", "seed", "eps", "interval", "R^2", "T", "training FLOPs"), table, align="lrrrrrr")
    summary = summarize_rows(rows)
    for name, s in summary.items():
        if name != "eps_vit_lt_eps_conv":
            print(f"{name:<10} eps = {s['mean']:.5f} ± {s['std']:.5f} per step (std over {len(s['values'])} seeds, "
                  f"range {s['low']:.5f}..{s['high']:.5f})")
    for line in _measured_targets(data):
        print(line)
    verdict = summary.get("eps_vit_lt_eps_conv")
    if verdict:
        print(f"eps_vit < eps_conv: {'holds' if verdict['mean'] else 'does not hold'} for the means; "
              f"{'holds' if verdict['all_seeds'] else 'does not hold'} seed by seed")


def _measured_targets(data: dict[str, Any]) -> list[str]:
    """Lines for the measured steps (and training FLOPs) to the file's target accuracy, if recorded."""
    target = data.get("target_accuracy")
    curves = [c for c in data["curves"] if "steps_to_target" in c]
    if not isinstance(target, (int, float)) or isinstance(target, bool) or not curves:
        return []
    lines = []
    for name in dict.fromkeys(str(c.get("model")) for c in curves):
        mine = [c for c in curves if str(c.get("model")) == name]
        steps = [c["steps_to_target"] for c in mine]
        shown = ", ".join("never" if s is None else str(s) for s in steps)
        reached = [c["flops_to_target"] for c in mine if isinstance(c.get("flops_to_target"), (int, float))]
        mean = sum(reached) / len(reached) if reached and len(reached) == len(mine) else None
        flops = f"; mean {show_quantity(mean, 'flop')} of training" if mean is not None else ""
        lines.append(f"{name:<10} steps to {100 * target:g} % test accuracy (measured): {shown}{flops}")
    return lines


def cmd_converge(args: argparse.Namespace) -> int:
    """Refit every curve of the results file and print the fits (or ``--json``).

    Exit status 0 when every curve was fitted, 1 when some could not be, 2 (an error
    naming the file) when none could.
    """
    data = load_results(args.results)
    rows = fit_curves(data, confidence=args.confidence, tolerance=args.tolerance, min_loss=args.min_loss)
    failed = [r for r in rows if "error" in r]
    if len(failed) == len(rows):
        raise InvalidConfigError("results", args.results, f"no curve could be fitted ({len(rows)} tried; "
                                                           f"first: {failed[0]['error']})")
    if args.json:
        print_json({"confidence": args.confidence, "tolerance": args.tolerance, "fits": rows,
                    "summary": summarize_rows(rows)})
    else:
        print_report(data, confidence=args.confidence, tolerance=args.tolerance, min_loss=args.min_loss)
    return 1 if failed else 0


__all__ = ["register", "cmd_converge", "load_results", "fit_curves", "summarize_rows", "format_report",
           "print_report"]
