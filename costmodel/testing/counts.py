"""``assert_counts_match``: a user's real module against costmodel's exact counts.

The module runs on real tensors (``device="cpu"``) or meta tensors (``device="meta"``,
nothing allocated; note that on the meta device ``scaled_dot_product_attention`` takes the
unfused math path, which counts differently from the CPU kernel the closed forms follow).
FLOPs are counted by :func:`costmodel.validation.flops.count_flops` (PyTorch's
``FlopCounterMode``, with the CPU attention formulas it lacks), saved activations by
:func:`costmodel.validation.memory.saved_by` (saved-tensor hooks), parameters by
:func:`costmodel.validation.flops.count_params`.

On a mismatch the ``AssertionError`` holds a table of the totals (metric, expected, measured,
difference) and, when the expectation is a config or a preset, a per-op table: the reference
module of the config (:func:`costmodel.validation.build`, whose counts equal the closed form
by costmodel's own tests) is run the same way, the ops of both runs are aligned in order, and
every op whose FLOPs differ is listed under the user's layer name (``blocks.0.mlp.fc1:
addmm``). For a bare ``Cost`` only the totals and the cost's own breakdown can be shown.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any

#: aten ops that do the same arithmetic in different spellings, for the alignment
_KINDS = {"addmm": "matmul", "mm": "matmul", "bmm": "matmul", "baddbmm": "matmul", "matmul": "matmul",
          "convolution": "conv", "_convolution": "conv", "convolution_backward": "conv"}


@dataclass(frozen=True)
class OpRow:
    """FLOPs of one op in one layer of a run (the layer's own ops, not its children's)."""

    layer: str
    op: str
    flops: int

    @property
    def kind(self) -> str:
        base = self.op.rsplit(".", 1)[-1]
        return _KINDS.get(base, "attention" if "attention" in base else base)

    @property
    def label(self) -> str:
        return f"{self.layer}: {self.op.rsplit('.', 1)[-1]}"


def op_rows(by_module: dict[str, dict[str, Any]]) -> list[OpRow]:
    """Each module's own FLOPs per op (its children's subtracted), in the order counted.

    A module that runs ops itself as well as through children (an attention block calling
    ``scaled_dot_product_attention`` between its projections) is listed after its children.
    """
    names = list(by_module)
    root = names[0].split(".")[0] if names else ""
    own = {name: dict(ops) for name, ops in by_module.items()}
    parents: dict[str, str | None] = {}
    for name in names:
        above = [p for p in names if name.startswith(p + ".")]
        parents[name] = max(above, key=len) if above else None
        if parents[name] is not None:
            for op, n in by_module[name].items():
                own[parents[name]][op] = own[parents[name]].get(op, 0) - n  # type: ignore[index]
    order = sorted(names, key=lambda n: (_first_child_index(n, names), n.count(".")))
    rows: list[OpRow] = []
    for name in order:
        layer = name[len(root) + 1:] if name.startswith(root + ".") else "(model)"
        rows.extend(OpRow(layer, op, int(n)) for op, n in own[name].items() if n)
    return rows


def _first_child_index(name: str, names: list[str]) -> float:
    """Sort key: a leaf keeps its place; a parent goes after its last descendant."""
    descendants = [i for i, n in enumerate(names) if n.startswith(name + ".")]
    return max(descendants) + 0.5 if descendants else float(names.index(name))


def aligned(expected: list[OpRow], measured: list[OpRow]) -> list[tuple[OpRow | None, OpRow | None]]:
    """Pairs of (reference op, user op), aligned by op kind in order (None where one run lacks it)."""
    matcher = difflib.SequenceMatcher(a=[r.kind for r in expected], b=[r.kind for r in measured], autojunk=False)
    pairs: list[tuple[OpRow | None, OpRow | None]] = []
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = expected[i1:i2], measured[j1:j2]
        for k in range(max(len(left), len(right))):
            pairs.append((left[k] if k < len(left) else None, right[k] if k < len(right) else None))
    return pairs


def _table(title: str, rows: list[tuple[str, Any, Any]], first: str = "metric") -> str:
    """A plain text table: ``first`` (the label), expected, measured, difference (measured - expected)."""
    body = [(label, f"{e:,}", f"{m:,}", f"{m - e:+,}") for label, e, m in rows]
    header = (first, "expected", "measured", "difference")
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                              strict=True)))

    return "\n".join([title, line(header), *(line(r) for r in body)])


def op_table(direction: str, expected: list[OpRow], measured: list[OpRow]) -> str | None:
    """The rows where the aligned ops' FLOPs differ, under the user's layer names.

    Only ops whose total over the model differs are listed: rows of an op that cancel out
    are attribution noise (FlopCounterMode sometimes credits a backward op to a stale
    module) or FLOPs moved between layers, not the cause of the mismatch.
    """
    rows: list[tuple[str, str, int, int]] = []
    for ref, user in aligned(expected, measured):
        e, m = (ref.flops if ref else 0), (user.flops if user else 0)
        if e != m:
            label = user.label if user else f"(missing here) {ref.label if ref else ''}"
            either = user or ref
            rows.append((label, either.kind if either is not None else "", e, m))
    net: dict[str, int] = {}
    for _, kind, e, m in rows:
        net[kind] = net.get(kind, 0) + m - e
    shown = [(label, e, m) for label, kind, e, m in rows if net[kind] != 0]
    return _table(f"{direction} FLOPs per op (op: your layer and aten op):", shown, "op") if shown else None


# -- expectations -------------------------------------------------------------------------------
def _expectation(expected: Any) -> tuple[Any, Any]:
    """``(config or None, Cost)`` for a config, a preset name, a ``Cost`` or an object with a ``cost``."""
    from costmodel.cost.value import Cost
    from costmodel.models.base import ArchConfig
    from costmodel.models.presets import get_preset

    if isinstance(expected, str):
        expected = get_preset(expected)
    if isinstance(expected, ArchConfig):
        return expected, None
    if isinstance(expected, Cost):
        return None, expected
    found = getattr(expected, "cost", None)
    if isinstance(found, Cost):  # e.g. a traced module's result (issue #12)
        return None, found
    raise TypeError(f"expected must be a config, a preset name, a Cost or an object with a .cost Cost, "
                    f"not {type(expected).__name__}")


def _expected_cost(config: Any, batch: int) -> Any:
    from costmodel.models import cost
    from costmodel.models.generative import MODULES

    if config is None:
        return None
    return cost(config, batch=batch, precision=None if type(config) in MODULES else "float32")


def _evaluate(c: Any, batch: int, values: dict[str, Any] | None) -> dict[str, int]:
    from costmodel.core.symbols import B

    point: dict[Any, Any] = {B: batch} if B in c._all_symbols() else {}
    point.update({s: v for s in c._all_symbols() for name, v in (values or {}).items() if str(s) == name})
    exprs = dict(c.metrics())
    if c.trace.saved != 0:
        exprs["saved_bytes"] = c.saved_bytes
    out = {}
    for name, expr in exprs.items():
        value = expr.subs(point)
        if value.free_symbols:
            missing = ", ".join(sorted(str(s) for s in value.free_symbols))
            raise ValueError(f"the expected {name} needs values for {missing}: pass values={{'{missing}': ...}}")
        out[name] = int(value)
    return out


def assert_counts_match(module: Any, input_shape: Any, expected: Any, *, device: str = "cpu", backward: bool = True,
                        saved: bool = True, values: dict[str, Any] | None = None) -> None:
    """Raise ``AssertionError`` (with per-op tables) unless ``module`` has the counts of ``expected``.

    Parameters
    ----------
    module : torch.nn.Module
        Run as it is (training or eval mode); on ``device="meta"`` a copy is moved there. The
        parameters' ``.grad`` are left as ``None``.
    input_shape : tuple of int or torch.Tensor
        The input (``(batch, channels, height, width)`` for an image model); its first entry is the batch.
    expected : config, preset name, Cost, or an object with a ``cost`` attribute
        A config or preset is taken at the input's image size (``(batch, C, H, W)``). A ``Cost``
        in the batch symbol ``B`` is evaluated at the input's batch; other symbols need ``values``.
    backward : bool
        Also compare the backward pass (of ``output.sum()``).
    saved : bool
        Also compare the bytes saved for the backward pass, where the expectation has a memory trace.
    values : dict, optional
        Values of other symbols of a ``Cost``, by name (``{"R": 32}``).
    """
    import torch

    from costmodel.validation.flops import count_flops, count_params  # type: ignore[import-not-found,unused-ignore]
    from costmodel.validation.memory import saved_by  # type: ignore[import-not-found,unused-ignore]

    config, c = _expectation(expected)
    x = input_shape if isinstance(input_shape, torch.Tensor) else torch.randn(*input_shape, device=device)
    batch = int(x.shape[0])
    if config is not None:
        if x.dim() == 4 and tuple(config.image_hw) != tuple(x.shape[2:]):  # the input's image size
            config = config.replace(image_size=(int(x.shape[2]), int(x.shape[3])))
        c = _expected_cost(config, batch)
    if device == "meta":
        module = copy.deepcopy(module).to("meta")
    want = _evaluate(c, batch, values)
    measured = count_flops(module, x, backward=backward, by_module=True)
    got = {"forward_flops": int(measured.forward), "backward_flops": int(measured.backward),
           "params": count_params(module)}
    if not backward:
        want.pop("backward_flops")
    module.zero_grad(set_to_none=True)
    if saved and "saved_bytes" in want:
        got["saved_bytes"] = saved_by(module, x).bytes
    else:
        want.pop("saved_bytes", None)
    wrong = [(name, want[name], got[name]) for name in want if want[name] != got[name]]
    if not wrong:
        return
    parts = [_table(f"counts of {type(module).__name__} differ from the expectation "
                    f"({type(config).__name__ if config is not None else 'Cost'}, batch {batch}):", wrong)]
    parts += _op_tables(config, x, measured, {name for name, _, _ in wrong}, c, values)
    raise AssertionError("\n\n".join(parts))


def _op_tables(config: Any, x: Any, measured: Any, wrong: set[str], c: Any,
               values: dict[str, Any] | None = None) -> list[str]:
    """Per-op tables for the wrong FLOP metrics (reference module of ``config``), or the Cost's breakdown."""
    from costmodel.validation.build import build  # type: ignore[import-not-found,unused-ignore]
    from costmodel.validation.flops import count_flops  # type: ignore[import-not-found,unused-ignore]

    directions = [d for d in ("forward", "backward") if f"{d}_flops" in wrong]
    if not directions:
        return []
    if config is None:
        batch = int(x.shape[0])
        parts = "\n".join(f"  {path}: {_evaluate(part, batch, values)['forward_flops']:,}" for path, part in c.parts)
        mine = "\n".join(f"  {r.label}: {r.flops:,}" for r in op_rows(measured.forward_by_module))
        return [f"expected forward FLOPs by part:\n{parts}", f"measured forward FLOPs per op:\n{mine}"]
    reference = count_flops(build(config).to(x.device).train(), x.clone(), backward="backward" in directions,
                            by_module=True)
    tables = []
    for d in directions:
        ref_rows, user_rows = (_rows(run, d) for run in (reference, measured))
        table = op_table(d, ref_rows, user_rows)
        if table:
            tables.append(table)
    return tables


def _rows(run: Any, direction: str) -> list[OpRow]:
    """Per-layer rows, or per-op rows over the whole model where the layers are not known.

    FlopCounterMode attributes an op to modules through forward hooks, so a backward pass
    counted on its own has totals per aten op only (listed as ``(all layers)``).
    """
    by_module = getattr(run, f"{direction}_by_module")
    if by_module:
        return op_rows(by_module)
    return [OpRow("(all layers)", op, int(n)) for op, n in getattr(run, f"{direction}_by_op").items() if n]


__all__ = ["assert_counts_match", "OpRow", "op_rows", "aligned", "op_table"]
