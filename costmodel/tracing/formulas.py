"""FLOP formulas for the dispatch-level counter: FlopCounterMode's own, the CPU attention ops it
lacks, the ``full`` convention's elementwise rates per aten op, and the op kind of each aten op.

On CPU, ``F.scaled_dot_product_attention`` dispatches to
``aten._scaled_dot_product_flash_attention_for_cpu`` (and its ``_backward``), for which
FlopCounterMode has no formula: a plain count silently loses all of attention. PyTorch's own
SDPA formulas (``sdpa_flop_count``, ``sdpa_backward_flop_count``) are registered for them
(:data:`EXTRA_FORMULAS`). Any other op whose name looks FLOP-bearing (:data:`FLOP_BEARING`)
but that no formula counts is reported, never dropped (:func:`is_flop_bearing`).

The ``full`` convention (:mod:`costmodel.core.conventions`) adds the elementwise and
normalisation ops at the per-element rates of :data:`costmodel.ops.pointwise.RATES`
(:data:`FULL_RATES` maps the aten ops to them) and counts a grouped convolution's weight
gradient at its true size (FlopCounterMode counts it as dense: ``groups`` times too much).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from costmodel.ops.conv import conv_kind
from costmodel.ops.pointwise import RATES

#: substrings of op names that mark an op as FLOP-bearing (a product or a convolution)
FLOP_BEARING = ("conv", "mm", "matmul", "attention", "einsum", "linear", "dot", "mv", "tensordot")

#: aten op name -> (RATES key, phase rate: "forward" or "backward") for the ``full`` convention
FULL_RATES: dict[str, tuple[str, str]] = {
    "aten.relu": ("relu", "forward"), "aten.threshold_backward": ("relu", "backward"),
    "aten.gelu": ("gelu", "forward"), "aten.gelu_backward": ("gelu", "backward"),
    "aten._softmax": ("softmax", "forward"), "aten._softmax_backward_data": ("softmax", "backward"),
    "aten.add": ("add", "forward"), "aten.mul": ("mul", "forward"),
    "aten.native_layer_norm": ("layer_norm", "forward"),
    "aten.native_layer_norm_backward": ("layer_norm", "backward"),
    "aten._native_batch_norm_legit_functional": ("batch_norm", "forward"),
    "aten._native_batch_norm_legit": ("batch_norm", "forward"),
    "aten.native_batch_norm": ("batch_norm", "forward"),
    "aten.native_batch_norm_backward": ("batch_norm", "backward"),
}

#: op kind (:data:`costmodel.hardware.profiles.KIND_CLASS`) by substring of the aten op name, first match
KINDS: tuple[tuple[str, str], ...] = (
    ("attention", "attention"), ("conv", "conv"), ("mm", "matmul"), ("linear", "matmul"),
    ("layer_norm", "layer_norm"), ("batch_norm", "batch_norm"), ("pool", "pool"),
)


def op_kind(name: str, groups: int = 1, channels_last: bool = False) -> str:
    """The roofline kind of aten op ``name`` (``elementwise`` when no rule matches); a convolution
    with more than one group is :func:`~costmodel.ops.conv.conv_kind`'s (``conv_depthwise`` on a
    ``channels_last`` input, else ``conv_depthwise_nchw``)."""
    for word, kind in KINDS:
        if word in name:
            return conv_kind(groups > 1, channels_last) if kind == "conv" else kind
    return "elementwise"


#: argument positions (input, groups) of a convolution call, forward and backward
CONV_ARGS: dict[str, tuple[int, int]] = {"convolution": (0, 8), "convolution_backward": (1, 9)}


def conv_groups(name: str, args: Any) -> int:
    """The groups of an ``aten.convolution`` or ``convolution_backward`` call (``name`` with or without
    ``aten.``); 1 for any other op."""
    where = CONV_ARGS.get(name.removeprefix("aten."))
    return 1 if where is None or len(args) <= where[1] else int(args[where[1]])


def conv_input_channels_last(name: str, args: Any) -> bool:
    """Whether a convolution call's input (forward or backward) has channels-last strides."""
    where = CONV_ARGS.get(name.removeprefix("aten."))
    return where is not None and len(args) > where[0] and is_channels_last(args[where[0]])


def is_channels_last(tensor: Any) -> bool:
    """Whether a 4-d ``tensor`` has channels-last strides (channels adjacent, ``stride(1) == 1``,
    while the width is not), decided without adding a guard on symbolic sizes."""
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    return bool(tensor.dim() == 4 and statically_known_true(tensor.stride(1) == 1)
                and not statically_known_true(tensor.stride(3) == 1))


#: op names that contain a word of :data:`FLOP_BEARING` but do no products (``upsample_bilinear2d``)
NOT_FLOP_BEARING = ("upsample", "interp", "grid_sampler", "pad", "pool")


def is_flop_bearing(name: str) -> bool:
    """Whether op ``name`` looks like it does products (so a missing formula loses FLOPs)."""
    return any(word in name for word in FLOP_BEARING) and not any(word in name for word in NOT_FLOP_BEARING)


def full_rate(name: str) -> int:
    """FLOPs per output element of op ``name`` under ``full`` (0 for an op without a rate)."""
    entry = FULL_RATES.get(name)
    if entry is None:
        return 0
    rate = RATES[entry[0]]
    if name == "aten.mul" or name == "aten.add":
        return 1  # one product or sum per element, in either pass
    return rate.forward if entry[1] == "forward" else rate.backward


def _cpu_sdpa_flop(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
                   **kwargs: Any) -> Any:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)  # type: ignore[no-untyped-call]


def _cpu_sdpa_backward_flop(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any,
                            *args: Any, out_shape: Any = None, **kwargs: Any) -> Any:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,  # type: ignore[no-untyped-call]
                                    value_shape)


def extra_formulas() -> dict[Any, Callable[..., Any]]:
    """Formulas FlopCounterMode lacks, keyed by op (shape-level, as ``custom_mapping`` takes them)."""
    import torch

    aten = torch.ops.aten
    return {
        aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flop,
    }


def flop_registry() -> dict[Any, Callable[..., Any]]:
    """FlopCounterMode's registry plus :func:`extra_formulas`, each taking ``(*args, out_val=, **kwargs)``
    of tensors, as ``FlopCounterMode`` itself calls them."""
    from torch.utils.flop_counter import flop_registry as registry
    from torch.utils.flop_counter import shape_wrapper

    wrap: Any = shape_wrapper
    return {**registry, **{k: wrap(v) for k, v in extra_formulas().items()}}


__all__ = ["FLOP_BEARING", "FULL_RATES", "KINDS", "op_kind", "CONV_ARGS", "conv_groups", "conv_input_channels_last",
           "is_channels_last", "is_flop_bearing", "full_rate", "extra_formulas", "flop_registry"]
