"""Figures. matplotlib is imported lazily, with the headless ``Agg`` backend.

Functions return the ``Figure`` and save it when given a path (the suffix picks PNG or SVG).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from costmodel.units import ureg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from costmodel.compare import Comparison


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "svg", "pdf"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _prefix_unit(unit: str, largest: float) -> tuple[str, float]:
    """A prefixed unit (``GFLOP``, ``Mparam``) that keeps the plotted numbers readable."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if largest >= scale:
            return f"{prefix}{unit}", scale
    return unit, 1.0


def plot_comparison(result: Comparison, path: str | Path | None = None, *, points: int = 200) -> Figure:
    """Each model's metric over the compared field, log-log, with crossovers marked.

    The curves are the closed forms (exact at the valid sizes marked by the grid);
    each crossover is a vertical line at the first valid size past the root, labelled
    with the model that is cheaper after it.
    """
    plt = _pyplot()
    first = -(-result.lo // result.step) * result.step
    xs = np.unique(np.geomspace(max(first, 1), result.hi, points))
    curves = [sympy.lambdify(result.symbol, e, "numpy")(xs) * np.ones_like(xs) for e in result.expressions]
    unit = str(ureg.Unit(result.unit))
    label, scale = _prefix_unit(unit, float(max(c.max() for c in curves)))
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for name, ys in zip(result.names, curves):
        ax.plot(xs, ys / scale, label=name)
    for c in result.crossovers:
        winner = result.names[0] if c.cheaper_after == "a" else result.names[1]
        ax.axvline(c.first_valid, color="grey", linestyle="--", linewidth=1)
        ax.annotate(f"{result.over} = {c.first_valid}\n{winner} cheaper after",
                    xy=(c.first_valid, 0.03), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points",
                    fontsize=8, color="dimgrey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    over_unit = " [pixel]" if result.over == "image_size" else ""
    ax.set_xlabel(f"{result.over}{over_unit}")
    ax.set_ylabel(f"{result.metric} [{label}], batch {result.batch}")
    ax.set_title(f"{result.metric}: {' vs '.join(result.names)}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


__all__ = ["plot_comparison"]
