"""Figures. matplotlib is imported lazily, with the headless ``Agg`` backend.

Every function returns the ``Figure`` and saves it when given a path (the suffix picks
PNG or SVG). Axes carry units (prefixed to keep numbers readable: ``GFLOP``, ``Mparam``).

* :func:`plot_comparison` cost vs a field for several models, crossovers marked;
* :func:`plot_scaling` log-log curves with fitted power laws, and the local exponent;
* :func:`plot_breakdown` stacked breakdown of one model's cost vs a field;
* :func:`plot_memory_bars` stacked bars of memory terms per model (:func:`training_memory_bars`);
* :func:`plot_roofline` a roofline chart of operations on one device;
* :func:`plot_attention_tradeoff` full vs Linformer vs Performer vs windowed attention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from costmodel.core.conventions import FLOP_COUNTER
from costmodel.core.errors import InvalidConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from costmodel.analysis.comparison import Comparison

#: unit of each config field on an axis
FIELD_UNITS: dict[str, str] = {"image_size": "pixel", "patch_size": "pixel", "batch": "image", "width": "channel",
                               "depth": "block", "tokens": "token", "heads": "head", "kernel_size": "pixel"}


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "svg", "pdf"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _unit_symbol(unit: str) -> str:
    return {"flop": "FLOP", "param": "param", "byte": "B", "second": "s"}.get(unit, unit)


def prefix_unit(unit: str, largest: float) -> tuple[str, float]:
    """A prefixed unit (``GFLOP``, ``Mparam``, ``GiB``) that keeps the plotted numbers readable."""
    symbol = _unit_symbol(unit)
    if unit == "byte":
        for prefix, scale in (("Ti", 2.0**40), ("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
            if largest >= scale:
                return f"{prefix}{symbol}", scale
        return symbol, 1.0
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if largest >= scale:
            return f"{prefix}{symbol}", scale
    return symbol, 1.0


def axis_label(field: str) -> str:
    unit = FIELD_UNITS.get(field)
    return f"{field} [{unit}]" if unit else field


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            raise InvalidConfigError("path", str(path), "must end in .png or .svg")
        fig.savefig(path, dpi=110, metadata={"Software": None} if path.suffix.lower() == ".png" else {"Date": None})
    return fig


def _grid(lo: float, hi: float, points: int) -> np.ndarray:
    return np.unique(np.geomspace(max(lo, 1e-9), hi, points))


def _sampled(result: Comparison, points: int) -> tuple[float, np.ndarray, list[np.ndarray], str, float]:
    """A comparison's end ``hi`` (64 x its first valid value when unbounded), its curves on a
    log grid up to ``hi``, and the prefixed unit (label, scale) of their largest value."""
    first = -(-result.lo // result.step) * result.step
    hi = float(result.hi) if result.hi != sympy.oo else 64.0 * first
    xs = _grid(first, hi, points)
    curves = result.curves(xs)
    label, scale = prefix_unit(result.unit, float(max(c.max() for c in curves)))
    return hi, xs, curves, label, scale


def _mark(ax: Axes, x: float, text: str, row: int) -> None:
    ax.axvline(x, color="grey", linestyle="--", linewidth=1)
    ax.annotate(text, xy=(x, 0.04 + 0.11 * row), xycoords=("data", "axes fraction"), xytext=(4, 0),
                textcoords="offset points", fontsize=8, color="dimgrey")


def plot_comparison(result: Comparison, path: str | Path | None = None, *, points: int = 200,
                    title: str | None = None) -> Figure:
    """Each model's metric over the compared field, log-log, with every pair's crossovers marked.

    Curves are the closed forms (exact at the valid sizes). Each crossover is a vertical
    line at the first valid value past the root, labelled with the model cheaper after it.
    """
    plt = _pyplot()
    hi, xs, curves, label, scale = _sampled(result, points)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for name, ys in zip(result.names, curves, strict=True):
        ax.plot(xs, ys / scale, label=name)
    row = 0
    for pair, found in result.pairs.items():
        for c in found:
            if c.first_valid is None or not c.observable or c.first_valid > hi:
                continue
            winner = result.winner(pair, c.cheaper_after)
            loser = result.winner(pair, "b" if c.cheaper_after == "a" else "a")
            _mark(ax, c.first_valid, f"{result.over} = {c.first_valid}\n{winner} < {loser} after", row)
            row += 1
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(axis_label(result.over))
    ax.set_ylabel(f"{result.metric} [{label}], batch {result.batch}")
    ax.set_title(title or f"{result.metric}: {' vs '.join(result.names)}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_scaling(result: Comparison, path: str | Path | None = None, *, points: int = 200) -> Figure:
    """Log-log curves with a fitted power law per model (left) and the local exponent (right).

    The fitted exponent is the least-squares slope over the whole range
    (:func:`costmodel.analysis.asymptotics.fit_exponent`); the right panel is the exact
    elasticity ``d log c / d log x`` (:func:`costmodel.analysis.asymptotics.scaling_exponent`).
    """
    from costmodel.analysis.asymptotics import fit_exponent, scaling_exponent

    plt = _pyplot()
    hi, xs, curves, label, scale = _sampled(result, points)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    for name, ys, expr in zip(result.names, curves, result.expressions, strict=True):
        (line,) = ax.plot(xs, ys / scale, label=name)
        if result.symbol not in expr.free_symbols:
            continue
        p, c = fit_exponent(xs, ys)
        ax.plot(xs, c * xs**p / scale, linestyle=":", color=line.get_color(),
                label=f"fit {name}: $\\propto$ {result.over}$^{{{p:.2f}}}$")
        eps = sympy.lambdify(result.symbol, scaling_exponent(expr, result.symbol), "numpy")
        ax2.plot(xs, np.asarray(eps(xs), dtype=float) * np.ones_like(xs), color=line.get_color(), label=name)
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xlabel(axis_label(result.over))
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(f"{result.metric} [{label}], batch {result.batch}")
    ax.set_title("log-log with fitted power laws")
    ax2.set_ylabel(f"d log {result.metric} / d log {result.over} [1]")
    ax2.set_title("local scaling exponent")
    return _save(fig, path)


def _parts_at(cost: Any, level: int) -> list[tuple[str, Any]]:
    return [(p, c) for p, c in cost.walk() if p.count("/") == level - 1 or (p.count("/") < level - 1 and not c.parts)]


def plot_breakdown(model: Any, path: str | Path | None = None, *, over: str = "image_size", lo: int = 64,
                   hi: int = 1024, metric: str = "forward_flops", level: int = 1,
                   parts: Sequence[str] | None = None, batch: Any = 1, share: bool = True,
                   points: int = 120) -> Figure:
    """Stacked breakdown of one model's metric over a field (shares in %, or absolute).

    ``parts`` are breakdown paths (``"blocks/attn/core"``); by default every node at
    depth ``level``. What they leave out is drawn as ``other``.
    """
    from costmodel.analysis.comparison import field_symbol, resolve
    from costmodel.analysis.metrics import cost_of

    name, config = resolve(model)
    symbol = field_symbol(over)
    if metric not in ("forward_flops", "backward_flops", "training_flops", "params"):
        raise InvalidConfigError("metric", metric, "a breakdown plot needs a Cost field: forward_flops, "
                                                   "backward_flops, training_flops or params")
    if over == "batch":
        cost = cost_of(config, symbol, FLOP_COUNTER, True)
    else:
        cost = cost_of(config.replace(**{over: symbol}), batch, FLOP_COUNTER, True)
    chosen = [(p, cost.part(p)) for p in parts] if parts is not None else _parts_at(cost, level)
    if not chosen:
        raise InvalidConfigError("level", level, "the breakdown has no parts at that depth")
    xs = _grid(lo, hi, points)

    def values(expr: sympy.Expr) -> np.ndarray:
        ys: np.ndarray = np.asarray(sympy.lambdify(symbol, expr, "numpy")(xs), dtype=float) * np.ones_like(xs)
        return ys

    total = values(getattr(cost, metric))
    layers = [(p, values(getattr(c, metric))) for p, c in chosen]
    rest = total - sum(v for _, v in layers)
    if np.abs(rest).max() > 1e-9 * total.max():
        layers.append(("other", rest))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    if share:
        ax.stackplot(xs, *[100 * v / total for _, v in layers], labels=[p for p, _ in layers], alpha=0.85)
        ax.set_ylabel(f"share of {metric} [%]")
        ax.set_ylim(0, 100)
    else:
        label, scale = prefix_unit("param" if metric == "params" else "flop", float(total.max()))
        ax.stackplot(xs, *[v / scale for _, v in layers], labels=[p for p, _ in layers], alpha=0.85)
        ax.set_ylabel(f"{metric} [{label}], batch {batch}")
    ax.set_xscale("log")
    ax.set_xlabel(axis_label(over))
    ax.set_title(f"{name}: where the {metric} go")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path)


def plot_memory_bars(breakdowns: Mapping[str, Mapping[str, float]], path: str | Path | None = None, *,
                     unit: str = "byte", title: str = "memory breakdown", budget: float | None = None) -> Figure:
    """Stacked horizontal bars: one per model, one segment per memory term (``{model: {term: bytes}}``).

    ``budget`` (same unit) draws a vertical line, e.g. a GPU's capacity.
    """
    if not breakdowns:
        raise InvalidConfigError("breakdowns", breakdowns, "give at least one model")
    plt = _pyplot()
    terms: list[str] = []
    for parts in breakdowns.values():
        terms += [t for t in parts if t not in terms]
    largest = max(max(sum(p.values()) for p in breakdowns.values()), budget or 0)
    label, scale = prefix_unit(unit, float(largest))
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(breakdowns) + 2), layout="constrained")
    names = list(breakdowns)
    left = np.zeros(len(names))
    for term in terms:
        widths = np.array([breakdowns[n].get(term, 0.0) for n in names], dtype=float) / scale
        ax.barh(names, widths, left=left, label=term)
        left += widths
    if budget is not None:
        ax.axvline(budget / scale, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"budget {budget / scale:.3g} {label}", xy=(budget / scale, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"memory [{label}]")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


def training_memory_bars(models: Mapping[str, Any] | Sequence[str], *, batch: int = 32, optimizer: str = "adam",
                         dtype: str = "float32") -> dict[str, dict[str, float]]:
    """Peak training memory of each model split into its terms (bytes), for :func:`plot_memory_bars`.

    Weights, optimizer state and inputs are held all step; the rest is what the peak
    phase holds (:meth:`costmodel.memory.footprint.TrainingMemory.evaluate`): activations not yet
    freed, gradients produced so far, transients. The terms sum to the peak.
    """
    from costmodel.analysis.comparison import resolve
    from costmodel.memory.footprint import training_memory

    items = models.items() if isinstance(models, Mapping) else [(m, m) for m in models]
    out = {}
    for label, model in items:
        value = training_memory(resolve(model)[1], batch=batch, optimizer=optimizer, dtype=dtype).evaluate()
        out[label] = {"weights": value.weights, "optimizer state": value.optimizer_state, "inputs": value.inputs,
                      "activations at the peak": value.at_peak["activations"],
                      "gradients at the peak": value.at_peak["gradients"],
                      "transients at the peak": value.at_peak["transient"]}
    return out


def matmul_point(name: str, *, n: Any, k: Any, m: Any, batch: Any = 1, bytes_per_element: int = 2
                 ) -> tuple[str, float, float]:
    """Roofline point of ``batch`` products ``(n x k) @ (k x m)``: ``(name, FLOPs, bytes)``.

    FLOPs from :func:`costmodel.ops.dense.matmul`; bytes are the minimum traffic: read
    both operands and write the result once (``(n k + k m + n m) b`` elements).
    """
    from costmodel.ops.dense import matmul

    flops = float(matmul(batch=batch, n=n, k=k, m=m).forward_flops)
    moved = float(sympy.sympify((n * k + k * m + n * m) * batch * bytes_per_element))
    return name, flops, moved


def plot_roofline(points: Sequence[tuple[str, float, float]], path: str | Path | None = None, *,
                  peak_flops: float, bandwidth: float, device: str = "device") -> Figure:
    """A roofline chart: attainable FLOP/s vs arithmetic intensity, with operations placed on it.

    Parameters
    ----------
    points : (name, FLOPs, bytes moved) per operation
    peak_flops : float
        Peak compute rate [FLOP/s].
    bandwidth : float
        Memory bandwidth [byte/s].
    """
    if peak_flops <= 0 or bandwidth <= 0:
        raise InvalidConfigError("device", (peak_flops, bandwidth), "peak FLOP/s and bandwidth must be positive")
    plt = _pyplot()
    intensity = np.array([f / b for _, f, b in points]) if points else np.array([1.0])
    ridge = peak_flops / bandwidth
    xs = np.geomspace(min(intensity.min(), ridge) / 4, max(intensity.max(), ridge) * 4, 200)
    roof = np.minimum(peak_flops, bandwidth * xs)
    label, scale = prefix_unit("flop", peak_flops)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    ax.plot(xs, roof / scale, color="black", linewidth=2, label=f"{device} roof")
    ax.axvline(ridge, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {ridge:.0f} FLOP/B", xy=(ridge, 0.5), xycoords=("data", "axes fraction"),
                xytext=(4, 0), textcoords="offset points", fontsize=8, color="dimgrey")
    order = np.argsort(intensity)
    for rank, i in enumerate(order):
        name, ai = points[i][0], intensity[i]
        attainable = min(peak_flops, bandwidth * ai)
        ax.scatter([ai], [attainable / scale], zorder=3)
        bound = "compute" if ai >= ridge else "memory"
        ax.annotate(f"{name} ({bound})", xy=(ai, attainable / scale), xytext=(6, -12 if rank % 2 else 6),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity [FLOP/B]")
    ax.set_ylabel(f"attainable rate [{label}/s]")
    ax.set_title(f"roofline: {device}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def plot_attention_tradeoff(path: str | Path | None = None, *, shape: Any = None, lo: int = 16, hi: int = 65536,
                            variants: Sequence[str] = ("full", "linformer", "performer", "windowed"),
                            scope: str = "core", patch: int | None = 16) -> Figure:
    """FLOPs (left) and attention elements (right) of attention variants vs sequence length.

    Crossovers with full attention are marked. The elements are those of explicit
    implementations (``fused=False``); the dotted line is what a fused kernel keeps for
    any softmax variant (one value per row and head). With ``patch`` the top axis shows
    the square image side that gives that many tokens (with a class token).
    """
    from costmodel.analysis import efficient_attention as ea
    from costmodel.analysis.crossover import Crossovers
    from costmodel.core.symbols import L

    shape = shape or ea.AttentionShape()
    plt = _pyplot()
    xs = _grid(lo, hi, 200)
    styles = {"full": "-", "linformer": "--", "performer": "-.", "windowed": ":"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    for ax, name in zip(axes, ("forward_flops", "attention_elements"), strict=True):
        panel_shape = shape if name == "forward_flops" else shape.replace(fused=False)

        def curve(expr: sympy.Expr) -> np.ndarray:
            ys: np.ndarray = np.asarray(sympy.lambdify(L, expr, "numpy")(xs), dtype=float) * np.ones_like(xs)
            return ys

        curves = {v: curve(ea.metric(v, name, shape=panel_shape, scope=scope)) for v in variants}
        unit = "flop" if name == "forward_flops" else "element"
        label, scale = prefix_unit(unit, float(max(c.max() for c in curves.values())))
        for v, ys in curves.items():
            ax.plot(xs, ys / scale, label=v, linestyle=styles.get(v, "-"), linewidth=2)
        if name == "attention_elements":
            fused = curve(ea.attention_elements("full", L, shape.replace(fused=True)))
            ax.plot(xs, fused / scale, color="black", linestyle=":", linewidth=1, label="fused kernel (any softmax)")
        row = 0
        for v in variants:
            if v == "full":
                continue
            found = ea.crossover("full", v, shape=panel_shape, name=name, scope=scope, lo=lo, hi=hi)
            if not isinstance(found, Crossovers):  # closed-form roots: the shape has symbolic sizes
                raise InvalidConfigError("shape", shape, "must have numeric sizes to plot")
            for c in found:
                if c.first_valid is not None and lo <= c.first_valid <= hi:
                    _mark(ax, c.first_valid, f"L = {c.first_valid}: {v} < full", row)
                    row += 1
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis_label("tokens"))
        ax.set_ylabel(f"{name} of the {scope} [{label}]")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        if patch:
            top = ax.secondary_xaxis("top", functions=(lambda t: patch * np.sqrt(np.maximum(t - 1, 1e-9)),
                                                       lambda r: (r / patch) ** 2 + 1))
            top.set_xlabel(f"square image side at patch {patch} [pixel]")
    fields = ", ".join(f"{f}={getattr(shape, f)}" for f in ("width", "heads", "rank", "features", "window"))
    fig.suptitle(f"attention variants, batch {shape.batch} ({fields})", fontsize=10)
    return _save(fig, path)


__all__ = ["FIELD_UNITS", "axis_label", "prefix_unit", "plot_comparison", "plot_scaling", "plot_breakdown",
           "plot_memory_bars", "training_memory_bars", "matmul_point", "plot_roofline", "plot_attention_tradeoff"]
