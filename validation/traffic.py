"""Measured memory traffic: the bytes every aten kernel of a training step reads and writes.

:func:`measure_traffic` runs one forward and backward pass of the real module under a
``TorchDispatchMode`` that sees every aten operator autograd dispatches, and adds up, per
op kind and direction, the bytes of each operator's tensor arguments and results: the
same rule as the closed forms of :mod:`costmodel.cost.traffic` (a kernel reads each argument
once and writes each result once). Views (``view``, ``transpose``, ``permute``, ...)
move nothing and are skipped. With ``fake=True`` it runs on fake tensors
(``FakeTensorMode``): shapes only, nothing allocated, so presets cost seconds.

Operators map to kinds by name (:data:`KINDS`); a ``sum`` right after a product in the
backward pass is a linear layer's bias gradient and counts with the products (``matmul``),
as the closed forms count it. Anything else is reported under ``"other"`` with its
operator names, so a test can list what the closed forms leave out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from costmodel.validation.build import build, example_input
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from costmodel.ops.conv import conv_kind
from costmodel.tracing.formulas import conv_groups, conv_input_channels_last

#: aten operator (overload packet name) -> op kind
KINDS: dict[str, str] = {
    "convolution": "conv", "convolution_backward": "conv",
    "mm": "matmul", "addmm": "matmul", "bmm": "matmul",
    "_scaled_dot_product_flash_attention_for_cpu": "attention",
    "_scaled_dot_product_flash_attention_for_cpu_backward": "attention",
    "_scaled_dot_product_efficient_attention": "attention",
    "_scaled_dot_product_efficient_attention_backward": "attention",
    "_scaled_dot_product_flash_attention": "attention", "_scaled_dot_product_flash_attention_backward": "attention",
    "native_batch_norm": "batch_norm", "native_batch_norm_backward": "batch_norm",
    "native_layer_norm": "layer_norm", "native_layer_norm_backward": "layer_norm",
    "max_pool2d_with_indices": "pool", "max_pool2d_with_indices_backward": "pool",
    "relu": "elementwise", "relu_": "elementwise", "threshold_backward": "elementwise",
    "gelu": "elementwise", "gelu_backward": "elementwise",
    "add": "elementwise", "add_": "elementwise", "mul": "elementwise", "sum": "elementwise",
    "mean": "elementwise", "div": "elementwise", "cat": "elementwise",
    "silu": "elementwise", "silu_": "elementwise", "silu_backward": "elementwise",
    "sigmoid": "elementwise", "sigmoid_backward": "elementwise",
    "hardswish": "elementwise", "hardswish_": "elementwise", "hardswish_backward": "elementwise",
    "hardsigmoid": "elementwise", "hardsigmoid_backward": "elementwise",
    "hardtanh": "elementwise", "hardtanh_": "elementwise", "hardtanh_backward": "elementwise",
    # Swin's window attention (torchvision ``shifted_window_attention``): padding, rolls, the shift
    # mask, the softmax, the relative position bias and the backward of its slices and selections
    "constant_pad_nd": "elementwise", "roll": "elementwise", "_softmax": "elementwise",
    "_softmax_backward_data": "elementwise", "sub": "elementwise", "ne": "elementwise", "eq": "elementwise",
    "masked_fill": "elementwise", "index": "elementwise", "index_put": "elementwise",
    "select_backward": "elementwise", "slice_backward": "elementwise",
}
#: in-place activations whose backward needs the input: autograd clones it first, and that
#: ``clone`` counts with the activation (elsewhere a ``clone`` is a layout copy, under ``other``)
CLONED_BY = frozenset({"silu_", "hardswish_", "hardtanh_", "hardsigmoid_"})
#: operators that only change how a tensor is viewed (no traffic)
VIEWS = frozenset({
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "squeeze", "unsqueeze", "select",
    "slice", "split", "split_with_sizes", "as_strided", "detach", "alias", "unbind", "_reshape_alias",
})
#: operators outside the model's ops: the loss and autograd's seed and bookkeeping
HARNESS = frozenset({"ones_like", "empty", "new_empty_strided", "new_zeros", "zeros_like", "fill_", "zero_",
                     "_log_softmax", "_log_softmax_backward_data", "nll_loss_forward", "nll_loss_backward",
                     "_to_copy", "lift_fresh"})


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@dataclass
class TrafficCounter(TorchDispatchMode):
    """Adds up bytes per (kind, direction); set ``direction`` between the passes."""

    direction: str = "forward"
    totals: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    _last: str = ""
    _clone: int = 0  # bytes of a clone not yet attributed (see CLONED_BY)

    def __post_init__(self) -> None:
        super().__init__()

    def flush(self, name: str = "") -> None:
        """Attribute a pending ``clone``: to the in-place activation ``name`` that follows it, else to other."""
        if self._clone:
            key = ("elementwise", self.direction) if name in CLONED_BY else None
            if key is None:
                self.other[("clone", self.direction)] += self._clone
            else:
                self.totals[key] += self._clone
            self._clone = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func._overloadpacket.__name__
        if name in VIEWS or name in HARNESS or self.direction == "harness" or func.namespace == "prim":
            return out
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        tensors += [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if all(t.dim() == 0 for t in tensors):  # a step counter (batch norm's num_batches_tracked)
            return out
        moved = sum(_nbytes(t) for t in tensors)
        if name == "roll":  # ATen rolls one dim after the other: a pass over the tensor per dim
            moved *= len(args[2]) if len(args) > 2 and isinstance(args[2], (list, tuple)) else 1
        self.flush(name)
        if name == "clone":
            self._clone = moved
            return out
        kind = KINDS.get(name)
        if kind == "conv":
            kind = conv_kind(conv_groups(name, args) > 1, conv_input_channels_last(name, args))
        if name == "sum" and self._last in ("mm", "bmm"):  # a linear layer's bias gradient
            kind = "matmul"
        self._last = name
        if kind is None:
            self.other[(name, self.direction)] += moved
        else:
            self.totals[(kind, self.direction)] += moved
        return out


def measure_traffic(config: Any, batch: int, *, fake: bool = True) -> TrafficCounter:
    """Bytes moved by one forward (to the logits) and backward pass of ``config``'s module, by kind.

    The backward pass starts from ``logits.sum()`` so no loss kernel is counted.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    images = example_input(config, batch)
    counter = TrafficCounter()
    if fake:
        with FakeTensorMode(allow_non_fake_inputs=False) as mode:
            model = build(config)
            model.train()
            x = mode.from_tensor(images)
            _run(model, x, counter)
    else:
        model = build(config)
        model.train()
        _run(model, images, counter)
    return counter


def _run(model: torch.nn.Module, x: torch.Tensor, counter: TrafficCounter) -> None:
    with counter:
        counter.direction = "forward"
        logits = model(x)
        counter.flush()
        counter.direction = "harness"
        seed = logits.sum()
        counter.direction = "backward"
        seed.backward()
        counter.flush()


__all__ = ["KINDS", "CLONED_BY", "VIEWS", "HARNESS", "TrafficCounter", "measure_traffic"]
