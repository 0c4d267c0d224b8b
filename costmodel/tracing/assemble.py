"""Recorded ops and saved storages -> a :class:`~costmodel.cost.value.Cost` tree named by module path.

Grouping (one leaf of the breakdown tree per group):

* a module without child modules (``layer3/0/conv2``) is one leaf holding all its ops,
  forward and backward; its kind is the kind of its FLOP-bearing op, else of the op
  moving the most bytes (a linear layer's bias-gradient sum stays with its ``matmul``);
* the ops a module with children runs itself (a residual add, a functional attention
  call) form one leaf per op kind, named ``(kind)`` under the module (``layer3/0/(elementwise)``).

Each leaf carries its FLOPs (both conventions are assembled), its parameters (the module's
own), the bytes its kernels move as a :class:`~costmodel.cost.traffic.Traffic` of its kind,
and a memory :class:`~costmodel.cost.trace.Trace` op: the saved storages it saved first
(exact, from the hooks), its float32 parameter gradients, buffers and largest parameter
tensor, and two estimates: ``transient`` (twice its largest output: the gradient it
receives and the one it passes on) and ``live`` (its largest op's inputs and outputs, for
inference). The root's trace is the leaves' traces in forward execution order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from costmodel.cost.trace import EMPTY, Trace, max_of
from costmodel.cost.traffic import Traffic
from costmodel.cost.value import Cost
from costmodel.tracing.recorder import OpRecord
from costmodel.tracing.saved import SavedStorage


@dataclass(frozen=True)
class ModuleInfo:
    """What the tree needs of one module: its children's names, own parameters and buffers."""

    path: str
    children: tuple[str, ...]
    params: int
    param_bytes: int
    buffer_bytes: int
    largest: int


@dataclass
class _Group:
    path: str
    kind: str
    leaf_module: bool
    order: int
    flops: dict[str, list[sympy.Expr]] = field(default_factory=lambda: {"forward": [], "backward": []})
    full: dict[str, list[sympy.Expr]] = field(default_factory=lambda: {"forward": [], "backward": []})
    nbytes: dict[str, list[sympy.Expr]] = field(default_factory=lambda: {"forward": [], "backward": []})
    out_bytes: list[sympy.Expr] = field(default_factory=list)
    launches: int = 0
    saved: list[SavedStorage] = field(default_factory=list)
    records: list[OpRecord] = field(default_factory=list)


def _leaf_kind(records: list[OpRecord], size: Callable[[Any], float]) -> str:
    bearing = [r for r in records if r.kind != "elementwise" and size(r.flops) > 0]
    pool = bearing or [r for r in records if r.kind != "elementwise"] or records
    if not pool:
        return "elementwise"
    return max(pool, key=lambda r: (size(r.flops), size(r.nbytes))).kind


def assemble(records: list[OpRecord], saved: list[SavedStorage], modules: Mapping[str, ModuleInfo],
             convert: Callable[[Any], sympy.Expr], size: Callable[[Any], float]) -> dict[str, Cost]:
    """The :class:`Cost` tree of the whole module for each convention (``"flop_counter"``, ``"full"``).

    ``convert`` turns a PyTorch ``SymInt``/int into SymPy in ``B``, ``H``, ``W``; ``size``
    evaluates one at the trace sizes (to pick a leaf's dominant kind).
    """
    leaf_modules = {p for p, info in modules.items() if not info.children}
    by_path: dict[str, list[OpRecord]] = {}
    for r in records:
        by_path.setdefault(r.path, []).append(r)
    groups: dict[tuple[str, str], _Group] = {}
    for order, r in enumerate(records):
        if r.path in leaf_modules:
            key = (r.path, "")
        else:
            key = (r.path, r.kind)
        if key not in groups:
            groups[key] = _Group(path=r.path, kind=r.kind, leaf_module=r.path in leaf_modules, order=order)
        g = groups[key]
        g.records.append(r)
        g.flops[r.phase].append(convert(r.flops))
        g.full[r.phase].append(convert(r.full))
        g.nbytes[r.phase].append(convert(r.nbytes))
        if r.phase == "forward":
            g.out_bytes.append(convert(r.out_bytes))
            g.launches += 0 if isinstance(r.nbytes, int) and r.nbytes == 0 else 1
    for g in groups.values():
        if g.leaf_module:
            g.kind = _leaf_kind(g.records, size)
    for s in saved:
        path, _, kind = s.owner.partition("\t")
        key = (path, "") if path in leaf_modules else (path, kind)
        if key not in groups:  # saved by a module that ran no op of that kind itself: its first group
            key = next((k for k in groups if k[0] == path), (path, kind or "elementwise"))
            groups.setdefault(key, _Group(path=path, kind=key[1] or "elementwise", leaf_module=path in leaf_modules,
                                          order=len(records)))
        groups[key].saved.append(s)
    return {convention: _tree(groups, modules, convert, convention) for convention in ("flop_counter", "full")}


def _leaf_cost(g: _Group, info: ModuleInfo | None, convert: Callable[[Any], sympy.Expr], convention: str) -> Cost:
    flops = g.flops if convention == "flop_counter" else g.full
    saved = sympy.expand(sum((convert(s.nbytes) for s in g.saved), sympy.S.Zero))
    elements = sum((convert(s.nbytes) / s.itemsize for s in g.saved), sympy.S.Zero)
    params = info.params if info is not None else 0
    out = g.out_bytes
    trace = Trace.op(saved=saved, elements=sympy.expand(elements), grads=info.param_bytes if info else 0,
                     transient=2 * _max(out), buffers=info.buffer_bytes if info else 0,
                     largest=info.largest if info else 0, live=_max(g.nbytes["forward"]))
    traffic = Traffic.op(g.kind, forward=sympy.Add(*g.nbytes["forward"]), backward=sympy.Add(*g.nbytes["backward"]),
                         launches=max(g.launches, 1))
    return Cost(forward_flops=sympy.expand(sympy.Add(*flops["forward"])),
                backward_flops=sympy.expand(sympy.Add(*flops["backward"])),
                params=params, trace=trace, traffic=traffic)


def _max(values: list[sympy.Expr]) -> sympy.Expr:
    """The largest of some sizes (unevaluated ``Max`` of the candidates no other one bounds)."""
    return max_of(values)


def _tree(groups: dict[tuple[str, str], _Group], modules: Mapping[str, ModuleInfo],
          convert: Callable[[Any], sympy.Expr], convention: str) -> Cost:
    leaves: dict[tuple[str, str], Cost] = {}
    owned: set[str] = set()
    for key, g in groups.items():
        info = modules.get(g.path)
        own = info if info is not None and g.path not in owned and (info.params or info.buffer_bytes) else None
        if own is not None:
            owned.add(g.path)
        leaves[key] = _leaf_cost(g, own, convert, convention)

    def node(path: str) -> Cost:
        info = modules[path]
        if not info.children:
            cost = leaves.get((path, ""))
            if cost is None:  # never ran: its parameters only
                cost = Cost(params=info.params, trace=Trace.op(grads=info.param_bytes, buffers=info.buffer_bytes,
                                                              largest=info.largest))
            return cost
        total = Cost()
        for child in info.children:
            child_path = f"{path}/{child}" if path else child
            total = total + node(child_path).named(child)
        for (p, kind), leaf in leaves.items():
            if p == path:
                total = total + leaf.named(f"({kind})")
        if info.params and path not in owned:
            total = total + Cost(params=info.params, trace=Trace.op(grads=info.param_bytes, buffers=info.buffer_bytes,
                                                                    largest=info.largest)).named("(params)")
        return total

    root = node("")
    ordered = sorted(groups, key=lambda k: groups[k].order)
    trace = EMPTY
    for key in ordered:
        trace = trace.then(leaves[key].trace)
    for path, info in modules.items():  # modules that never ran still hold weights
        if not info.children and (path, "") not in leaves and info.params:
            trace = trace.then(Trace.op(grads=info.param_bytes, buffers=info.buffer_bytes, largest=info.largest))
    return root.with_trace(trace)


__all__ = ["ModuleInfo", "assemble"]
