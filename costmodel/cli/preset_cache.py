"""Ready-made counts of the presets, so that ``costmodel count PRESET`` answers without SymPy.

``costmodel count resnet50`` with default settings needs neither a closed form nor pint:
its answer is a handful of integers. :func:`build` computes them once from the exact
costs (``python -m costmodel.cli.preset_cache`` writes ``preset_counts.json`` beside this
file) and :func:`lookup` reads them back. Each count is stored as an expression in the
batch ``B`` using only integers, ``+``, ``*`` and ``Max`` (forward and backward FLOPs and
each part are ``c * B``; memory peaks are maxima of lines in ``B``), and :func:`evaluate`
computes it with Python integers after checking its syntax tree holds nothing else.

The file cannot go stale unnoticed: ``tests/test_cli_speed.py`` rebuilds it and checks it
equals the shipped one, and that the fast path prints exactly what the full computation
prints, for every preset.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

CACHE_FILE = Path(__file__).with_name("preset_counts.json")
#: the settings the cached counts are for; any other ``count`` option takes the full computation
DEFAULTS = {"convention": "flop_counter", "optimizer": "adam", "dtype": "float32"}
#: the count fields stored per preset, in output order
FIELDS = ("forward_flops", "backward_flops", "params", "saved_activation_bytes", "peak_training_bytes")
_NODES = (ast.Expression, ast.BinOp, ast.Add, ast.Mult, ast.Constant, ast.Name, ast.Load, ast.Call)


def evaluate(text: str, batch: int) -> int:
    """The stored expression ``text`` at ``B = batch``, in exact integers.

    >>> evaluate("Max(12*B + 5, 3*B + 40)", 2), evaluate("Max(12*B + 5, 3*B + 40)", 5), evaluate("7*B", 3)
    (46, 65, 21)
    """
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        bad = not isinstance(node, _NODES)
        bad = bad or (isinstance(node, ast.Constant) and type(node.value) is not int)
        bad = bad or (isinstance(node, ast.Name) and node.id not in ("B", "Max"))
        bad = bad or (isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "Max"))
        if bad:
            raise ValueError(f"not a stored count expression: {text!r}")
    return int(eval(compile(tree, "<count>", "eval"), {"__builtins__": {}}, {"B": batch, "Max": max}))


def _expression(expr: Any) -> str:
    """``expr`` (SymPy, in ``B``) as text :func:`evaluate` takes, checked equal to it on many batches."""
    import sympy

    from costmodel.core.symbols import B

    text = str(sympy.expand(expr) if not expr.has(sympy.Max) else expr)
    for batch in (1, 2, 3, 7, 64, 1000, 10**9):
        if evaluate(text, batch) != int(expr.subs(B, batch)):
            raise ValueError(f"{text} does not evaluate as SymPy does at B = {batch}")
    return text


def build() -> dict[str, Any]:
    """The counts of every preset at the :data:`DEFAULTS`, as expressions in the batch ``B``."""
    from costmodel.cli.common import config_line, show
    from costmodel.core.symbols import B
    from costmodel.memory.footprint import _MODULES, training_memory
    from costmodel.models import cost
    from costmodel.models.presets import PRESETS

    table: dict[str, Any] = {}
    for name, config in sorted(PRESETS.items()):
        c = cost(config, batch=B)
        counts = {field: _expression(getattr(c, field)) for field in ("forward_flops", "backward_flops", "params")}
        if type(config) in _MODULES:
            memory = training_memory(config, batch=B, optimizer=DEFAULTS["optimizer"], dtype=DEFAULTS["dtype"])
            counts["saved_activation_bytes"] = _expression(memory.saved_activations)
            counts["peak_training_bytes"] = _expression(memory.peak)
        table[name] = {"config_line": config_line(config),
                       "config": {n: show(getattr(config, n)) for n in config.field_names()},
                       "counts": counts,
                       "parts": [[path, _expression(part.forward_flops)] for path, part in c.parts]}
    return table


def lookup(name: str) -> dict[str, Any] | None:
    """The stored entry of preset ``name``, or None (no such preset, or no cache file)."""
    try:
        table = json.loads(CACHE_FILE.read_text())
    except (OSError, ValueError):
        return None
    entry = table.get(name)
    return entry if isinstance(entry, dict) else None


def write(path: Path = CACHE_FILE) -> Path:
    """Rebuild the cache and write it to ``path``."""
    path.write_text(json.dumps(build(), indent=1) + "\n")
    return path


if __name__ == "__main__":
    print(f"written {write(Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE_FILE)}")
