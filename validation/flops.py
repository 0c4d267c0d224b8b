"""Measured FLOPs of a real ``torch.nn.Module``, with PyTorch's ``FlopCounterMode``.

Two things make a plain ``FlopCounterMode`` run untrustworthy, and both are handled here:

* On CPU, ``F.scaled_dot_product_attention`` dispatches to
  ``aten._scaled_dot_product_flash_attention_for_cpu`` (and its ``_backward``), which
  FlopCounterMode has no formula for: the count silently loses all of attention. We
  register PyTorch's own SDPA formulas (``sdpa_flop_count``,
  ``sdpa_backward_flop_count``) for those two ops.
* Any other FLOP-bearing op without a formula would be lost the same way. An
  :class:`OpRecorder` sees every op that runs; an op whose name looks FLOP-bearing
  (convolutions, products, attention, einsum) but that has no formula raises
  :class:`UncountedOpError`, naming it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from costmodel.tracing.formulas import extra_formulas, is_flop_bearing

#: formulas FlopCounterMode lacks, keyed by op (:func:`costmodel.tracing.formulas.extra_formulas`)
EXTRA_FORMULAS: dict[Any, Callable[..., Any]] = extra_formulas()


class UncountedOpError(RuntimeError):
    """A FLOP-bearing op ran that no formula counts."""


class OpRecorder(TorchDispatchMode):
    """Records the overload packet of every aten op that runs under it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[Any] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.seen.add(func.overloadpacket)
        return func(*args, **(kwargs or {}))


def _counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS)


def _check_counted(counter: FlopCounterMode, recorder: OpRecorder) -> None:
    registry = set(counter.flop_registry)
    missing = sorted(str(op) for op in recorder.seen
                     if op not in registry and is_flop_bearing(str(op)))
    if missing:
        raise UncountedOpError(f"FLOP-bearing ops ran without a FLOP formula: {', '.join(missing)}")


@dataclass(frozen=True)
class MeasuredFlops:
    """FLOPs counted by FlopCounterMode for one forward and one backward pass."""

    forward: Any
    backward: Any
    forward_by_op: dict[str, Any]
    backward_by_op: dict[str, Any]
    #: module name (FlopCounterMode's: the root's class name, then the attribute path) -> op -> FLOPs,
    #: every enclosing module included, in the order the modules were first counted
    forward_by_module: dict[str, dict[str, Any]] = field(default_factory=dict)
    backward_by_module: dict[str, dict[str, Any]] = field(default_factory=dict)


def _by_op(counter: FlopCounterMode) -> dict[str, Any]:
    return {str(op): n for op, n in counter.get_flop_counts().get("Global", {}).items()}


def _by_module(counter: FlopCounterMode) -> dict[str, dict[str, Any]]:
    return {name: {str(op): n for op, n in ops.items()} for name, ops in counter.get_flop_counts().items()
            if name != "Global"}


def count_flops(module: torch.nn.Module, *inputs: Any, backward: bool = True,
                by_module: bool = False) -> MeasuredFlops:
    """Run ``module(*inputs)`` (and a backward of ``output.sum()``) under FlopCounterMode.

    Works on real, meta and fake tensors; with fake tensors of symbolic shape the counts
    are ``torch.SymInt`` (see :mod:`costmodel.validation.symbolic`).

    FlopCounterMode attributes ops to modules through hooks set in the forward pass, so a
    backward pass counted on its own has no module names. ``by_module=True`` also runs one
    counter over both passes, and ``backward_by_module`` is its count minus the forward's.
    """
    recorder = OpRecorder()
    fwd_counter = _counter()
    both = _counter() if by_module and backward else contextlib.nullcontext()
    with both:
        with fwd_counter, recorder:
            out = module(*inputs)
        _check_counted(fwd_counter, recorder)
        if backward:
            loss = out.sum() if isinstance(out, torch.Tensor) else sum(o.sum() for o in out)
            bwd_counter = _counter()
            recorder = OpRecorder()
            with bwd_counter, recorder:
                loss.backward()
            _check_counted(bwd_counter, recorder)
    by_op_bwd: dict[str, Any] = {}
    by_module_bwd: dict[str, dict[str, Any]] = {}
    bwd_total: Any = 0
    if backward:
        bwd_total = bwd_counter.get_total_flops()
        by_op_bwd = _by_op(bwd_counter)
        by_module_bwd = _by_module(bwd_counter)
        if isinstance(both, FlopCounterMode):
            forward = _by_module(fwd_counter)
            by_module_bwd = {name: {op: n - forward.get(name, {}).get(op, 0) for op, n in ops.items()}
                             for name, ops in _by_module(both).items()}
    return MeasuredFlops(forward=fwd_counter.get_total_flops(), backward=bwd_total,
                         forward_by_op=_by_op(fwd_counter), backward_by_op=by_op_bwd,
                         forward_by_module=_by_module(fwd_counter), backward_by_module=by_module_bwd)


def count_params(module: torch.nn.Module) -> int:
    """Trainable parameters (buffers such as BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["count_flops", "count_params", "MeasuredFlops", "UncountedOpError", "OpRecorder", "EXTRA_FORMULAS"]
