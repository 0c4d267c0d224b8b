"""The convergence experiment (F19): a small ConvNet and a small ViT of matched FLOPs, trained on real digits.

Run it (a few minutes on 2 CPU cores)::

    python -m costmodel.validation.convergence            # writes validation/results/convergence.json
    python -m costmodel.validation.convergence --plot docs/figures/convergence.png
    costmodel converge validation/results/convergence.json

Data: scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``: 1797
grayscale 8 x 8 images, 10 classes, shipped inside the package, no download), scaled to
``[0, 1]``, split once into 1437 training and 360 test images (fixed permutation).

Models: costmodel's own modules (:func:`costmodel.validation.build.build`): the plain
ConvNet ``channels=(32, 64)`` and a ViT with patch 2 whose width is chosen by
:func:`match_vit` so that its training FLOPs per image (from :func:`costmodel.models.cost`)
are closest to the ConvNet's. Both are trained from the same seeds with the same optimiser
(Adam), batch size, learning rate and batch order. Every ``eval_every`` steps the loss on
the whole training set is recorded (and the test accuracy); :func:`costmodel.article.convergence.fit_rate`
fits ``eps`` to each curve. Results, with the seeds, go to ``validation/results/convergence.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from costmodel.validation.build import build
from costmodel.validation.results_io import write_json_atomically

from costmodel.article.convergence import fit_rate, summarize
from costmodel.core.errors import CostModelError
from costmodel.models import ConvNetConfig, ViTConfig, cost

RESULTS = Path(__file__).resolve().parent / "results" / "convergence.json"
SPLIT_SEED = 20231030
TEST_FRACTION = 0.2
CONVNET = ConvNetConfig(image_size=8, in_channels=1, channels=(32, 64), num_classes=10)


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as ``(x_train, y_train, x_test, y_test)``; images ``(N, 1, 8, 8)`` in ``[0, 1]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("the convergence experiment needs scikit-learn: pip install 'costmodel[convergence]'") from exc
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = int(round(TEST_FRACTION * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def training_flops(config: Any) -> int:
    """Forward plus backward FLOPs of one image (FlopCounterMode convention)."""
    return int(cost(config, batch=1).training_flops)


def match_vit(conv: ConvNetConfig = CONVNET, *, widths: Sequence[int] = range(8, 65, 2), depth: int = 2,
              heads: int = 2, patch: int = 2, mlp_ratio: int = 2) -> ViTConfig:
    """The ViT (given depth, heads, patch, MLP ratio) whose training FLOPs per image are closest to ``conv``'s."""
    target = training_flops(conv)
    height, _ = conv.image_hw
    candidates = [ViTConfig(image_size=height, patch_size=patch, in_channels=conv.in_channels, width=w, depth=depth,
                            heads=heads, mlp_ratio=mlp_ratio, num_classes=conv.num_classes)
                  for w in widths if w % heads == 0]
    return min(candidates, key=lambda v: abs(training_flops(v) - target))


class Progress:
    """A one-line text progress bar on stderr (``--no-progress`` turns it off)."""

    def __init__(self, total: int, *, enabled: bool = True, width: int = 30, every_s: float = 0.2) -> None:
        self.total, self.done, self.enabled, self.width = total, 0, enabled, width
        self.start = self.shown = time.perf_counter()
        self.every_s = every_s

    def update(self, n: int = 1, label: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if not self.enabled or (now - self.shown < self.every_s and self.done < self.total):
            return
        self.shown = now
        frac = self.done / self.total
        bar = "#" * int(frac * self.width)
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        sys.stderr.write(f"\r[{bar:<{self.width}}] {100 * frac:5.1f}% {label:<28} {elapsed:6.1f}s, eta {eta:5.1f}s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on ``(x, y)``."""
    model.eval()
    logits = model(x)
    model.train()
    return float(F.cross_entropy(logits, y)), float((logits.argmax(dim=1) == y).float().mean())


def train_curve(config: Any, data: tuple[torch.Tensor, ...], *, seed: int, steps: int, batch: int, lr: float,
                eval_every: int, progress: Progress, label: str) -> dict[str, Any]:
    """Train ``config``'s module from ``seed``; the training-set loss and test accuracy every ``eval_every`` steps."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = build(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    record: dict[str, list] = {"steps": [], "losses": [], "test_accuracy": []}

    def log(step: int) -> None:
        loss, _ = evaluate(model, x_train, y_train)
        _, acc = evaluate(model, x_test, y_test)
        record["steps"].append(step)
        record["losses"].append(loss)
        record["test_accuracy"].append(acc)

    log(0)
    perm = torch.randperm(len(y_train), generator=order)
    cursor = 0
    for step in range(1, steps + 1):
        if cursor + batch > len(perm):
            perm, cursor = torch.randperm(len(y_train), generator=order), 0
        idx = perm[cursor:cursor + batch]
        cursor += batch
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % eval_every == 0:
            log(step)
        progress.update(1, f"{label} seed {seed}")
    return record


def first_step_reaching(steps: Sequence[int], accuracy: Sequence[float], target: float) -> int | None:
    """The first recorded step whose test accuracy is at least ``target`` (None if never)."""
    return next((s for s, a in zip(steps, accuracy, strict=True) if a >= target), None)


def run_experiment(*, seeds: Sequence[int] = (0, 1, 2), steps: int = 600, batch: int = 64, lr: float = 1e-3,
                   eval_every: int = 10, target_accuracy: float = 0.9, progress: bool = True,
                   threads: int = 1) -> dict[str, Any]:
    """Train both models from every seed, fit ``eps`` to every curve, and summarise (JSON-ready).

    ``threads`` torch threads (1 by default: for models this small, more threads only add
    synchronisation, and 1 makes the runs reproducible on any machine).
    """
    if len(seeds) < 1 or steps < eval_every * 5:
        raise SystemExit("need at least one seed and steps >= 5 * eval_every (5 points to fit)")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(seeds=seeds, steps=steps, batch=batch, lr=lr, eval_every=eval_every,
                    target_accuracy=target_accuracy, progress=progress)
    finally:
        torch.set_num_threads(previous_threads)


#: options of :func:`costmodel.article.convergence.fit_rate` used for every curve (a cross-entropy is >= 0).
FIT_OPTIONS = {"min_loss": 0.0, "confidence": 0.95}


def _run(*, seeds: Sequence[int], steps: int, batch: int, lr: float, eval_every: int, target_accuracy: float,
         progress: bool) -> dict[str, Any]:
    started = time.perf_counter()
    data = load_digits_tensors()
    models = {"convnet": CONVNET, "vit": match_vit(CONVNET)}
    bar = Progress(len(models) * len(seeds) * steps, enabled=progress)
    curves = []
    for seed in seeds:
        for name, config in models.items():
            curve = train_curve(config, data, seed=seed, steps=steps, batch=batch, lr=lr, eval_every=eval_every,
                                progress=bar, label=name)
            try:
                fit = fit_rate(curve["steps"], curve["losses"], **FIT_OPTIONS).to_dict()
            except CostModelError as exc:
                fit = {"error": str(exc)}
            reached = first_step_reaching(curve["steps"], curve["test_accuracy"], target_accuracy)
            curves.append({"model": name, "seed": seed, **curve, "fit": fit, "steps_to_target": reached,
                           "flops_to_target": None if reached is None
                           else reached * batch * training_flops(config)})
    return {
        "experiment": "F19 convergence: ConvNet vs ViT of matched training FLOPs",
        "dataset": "scikit-learn load_digits (1797 grayscale 8x8 images, 10 classes), "
                   f"{len(data[1])} train / {len(data[3])} test, split seed {SPLIT_SEED}",
        "loss": "cross-entropy on the whole training set, eval mode",
        "seeds": list(seeds), "steps": steps, "batch": batch, "optimizer": "Adam", "lr": lr,
        "eval_every": eval_every, "target_accuracy": target_accuracy, "fit_options": FIT_OPTIONS,
        "models": {name: {"family": config.family,
                          "config": {f: str(getattr(config, f)) for f in config.field_names()},
                          "params": int(cost(config, batch=1).params),
                          "training_flops_per_image": training_flops(config)}
                   for name, config in models.items()},
        "curves": curves,
        "summary": summarize_curves(curves),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()},
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def summarize_curves(curves: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``eps`` per model over seeds (mean, std, range) and whether ``eps_vit < eps_conv``."""
    out: dict[str, Any] = {}
    for name in sorted({c["model"] for c in curves}):
        rates = [c["fit"]["eps"] for c in curves if c["model"] == name and "eps" in c["fit"]]
        out[name] = vars(summarize(rates)) if rates else {"error": "no curve could be fitted"}
    by_seed = {}
    for c in curves:
        if "eps" in c["fit"]:
            by_seed.setdefault(c["seed"], {})[c["model"]] = c["fit"]["eps"]
    pairs = {s: r for s, r in by_seed.items() if {"convnet", "vit"} <= r.keys()}
    if pairs and "mean" in out.get("convnet", {}) and "mean" in out.get("vit", {}):
        out["eps_vit_lt_eps_conv"] = {
            "per_seed": {str(s): r["vit"] < r["convnet"] for s, r in sorted(pairs.items())},
            "all_seeds": all(r["vit"] < r["convnet"] for r in pairs.values()),
            "mean": out["vit"]["mean"] < out["convnet"]["mean"],
        }
    return out


def write_results(results: dict[str, Any], path: str | Path = RESULTS) -> Path:
    """Write the experiment's results as JSON, atomically (through a temporary file and ``os.replace``)."""
    return write_json_atomically(path, results, indent=1)


def plot_results(results: dict[str, Any], path: str | Path) -> Path:
    """Loss curves of every seed (solid) with their fitted geometric curves (dashed), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from costmodel.article.convergence import RateFit

    colours = {"convnet": "tab:blue", "vit": "tab:orange"}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for curve in results["curves"]:
        colour = colours.get(curve["model"], "tab:gray")
        label = curve["model"] if curve["seed"] == results["seeds"][0] else None
        ax.plot(curve["steps"], curve["losses"], color=colour, lw=1.2, alpha=0.8, label=label)
        if "eps" in curve["fit"]:
            fit = RateFit(**curve["fit"])
            t = np.linspace(curve["steps"][0], curve["steps"][-1], 200)
            ax.plot(t, fit.predict(t), color=colour, lw=0.9, ls="--", alpha=0.8)
    summary = results["summary"]
    text = "\n".join(f"{m}: eps = {summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}"
                     for m in ("convnet", "vit") if "mean" in summary.get(m, {}))
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9)
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training-set cross-entropy")
    ax.set_title(f"digits 8x8, matched FLOPs, seeds {results['seeds']} (dashed: fitted F19)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costmodel.validation.convergence",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--target-accuracy", type=float, default=0.9)
    parser.add_argument("--output", default=str(RESULTS), help="results JSON (default %(default)s)")
    parser.add_argument("--plot", metavar="PATH", help="also write a PNG of the curves and fits")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    results = run_experiment(seeds=args.seeds, steps=args.steps, batch=args.batch, lr=args.lr,
                             eval_every=args.eval_every, target_accuracy=args.target_accuracy,
                             progress=not args.no_progress, threads=args.threads)
    path = write_results(results, args.output)
    print(f"results written to {path}; `costmodel converge {path}` fits the rates eps with their intervals")
    if args.plot:
        print(f"plot written to {plot_results(results, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
