"""The dispatch-level recorder: every aten op of a forward and a backward pass, with its module path.

:class:`ModulePaths` keeps the path of the module running (``layer3/0/conv2``; ``""`` for
the top module) with forward pre-hooks and hooks, and tags every autograd node the
forward pass creates with the path of the module that created it (node ``metadata``): on
entering a module, the not-yet-tagged history of its inputs belongs to the caller; on
leaving, the not-yet-tagged history of its outputs is its own. In the backward pass the
node being run (``torch._C._current_autograd_node()``) names the module each op belongs
to.

:class:`OpRecorder` is a ``TorchDispatchMode`` that runs every op and records an
:class:`OpRecord`: FLOPs by FlopCounterMode's own formulas and dispatch rule (an op without
a formula is decomposed when it can be, exactly as ``FlopCounterMode`` does, so the totals
are FlopCounterMode's), FLOPs under the ``full`` convention, bytes read and written (views
move none), the op kind, and the ShapeEnv guards the op added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from costmodel.tracing.formulas import conv_groups, conv_input_channels_last, full_rate, is_flop_bearing, op_kind

_PATH_KEY = "costmodel_path"


@dataclass
class OpRecord:
    """One aten op as it ran: ``flops`` (FlopCounterMode), ``full`` (``full`` convention),
    ``nbytes`` (read + written), ``out_bytes`` (written), all PyTorch ``SymInt`` or ``int``."""

    path: str
    phase: str
    name: str
    kind: str
    flops: Any
    full: Any
    nbytes: Any
    out_bytes: Any
    counted: bool


@dataclass
class ModulePaths:
    """The module-path stack of a forward pass and the tagging of autograd nodes (module docstring)."""

    stack: list[str] = field(default_factory=lambda: [""])
    handles: list[Any] = field(default_factory=list)
    on_enter: Callable[[str], None] | None = None

    def attach(self, module: Any) -> None:
        import functools

        for name, sub in module.named_modules():
            path = name.replace(".", "/")
            self.handles.append(sub.register_forward_pre_hook(functools.partial(self._enter, path)))
            self.handles.append(sub.register_forward_hook(functools.partial(self._exit, path), always_call=True))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    @property
    def current(self) -> str:
        return self.stack[-1]

    def _enter(self, path: str, module: Any, args: Any) -> None:
        tag(args, self.current)
        self.stack.append(path)
        if self.on_enter is not None:
            self.on_enter(path)

    def _exit(self, path: str, module: Any, args: Any, output: Any) -> None:
        tag(output, path)
        if len(self.stack) > 1:
            self.stack.pop()


def tag(tree: Any, path: str) -> None:
    """Tag the untagged autograd history of the tensors in ``tree`` with ``path``."""
    import torch
    from torch.utils._pytree import tree_leaves

    todo: list[Any] = [t.grad_fn for t in tree_leaves(tree) if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    while todo:
        node = todo.pop()
        if node is None or _PATH_KEY in node.metadata:
            continue
        node.metadata[_PATH_KEY] = path
        todo.extend(fn for fn, _ in node.next_functions if fn is not None)


def backward_path() -> str | None:
    """Module path of the autograd node being run (None outside the model: the loss)."""
    import torch

    node: Any = torch._C._current_autograd_node()
    if node is None:
        return None
    path: str | None = node.metadata.get(_PATH_KEY)
    return path


def _tensor_bytes(tree: Any) -> Any:
    import torch
    from torch.utils._pytree import tree_leaves

    return sum((t.numel() * t.element_size() for t in tree_leaves(tree) if isinstance(t, torch.Tensor)), 0)


def _full_flops(name: str, flops: Any, args: Any, out: Any) -> Any:
    """``full`` FLOPs: grouped weight gradients at their true size, elementwise ops at their rates."""
    import torch

    groups = conv_groups(name, args)
    if name == "aten.convolution_backward" and groups > 1 and args[10][1]:
        from torch.utils.flop_counter import conv_flop_count

        grad_out, x, weight = args[0], args[1], args[2]
        dense_extra = conv_flop_count(x.shape, weight.shape, grad_out.shape, bool(args[7])) * (groups - 1)
        return flops - dense_extra
    rate = full_rate(name)
    if rate and isinstance(out, torch.Tensor):
        return flops + rate * out.numel()
    if rate and isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return flops + rate * out[0].numel()
    return flops


#: size queries FlopCounterMode lets through uncounted
_QUERIES = ("sym_is_contiguous", "is_contiguous", "is_strides_like_format", "is_non_overlapping_and_dense", "size",
            "sym_size", "stride", "sym_stride", "storage_offset", "sym_storage_offset", "numel", "sym_numel", "dim",
            "layout")


def make_recorder(paths: ModulePaths, registry: dict[Any, Any], guards: Callable[[], int],
                  weights: dict[int, str] | None = None) -> Any:
    """An :class:`OpRecorder` (a ``TorchDispatchMode``; torch is imported here, lazily).

    ``weights``: ``id`` of each weight tensor -> its name, to say which weight an op that
    added a guard read (``pos_embedding``).
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class OpRecorder(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.phase = "forward"
            self.records: list[OpRecord] = []
            self.guard_sites: list[tuple[int, str, str]] = []  #: (guards so far, path, op) after each op adding some
            self._guards = guards()

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func._overloadpacket.__name__ in _QUERIES:
                return func(*args, **kwargs)
            if func not in registry and func is not torch.ops.prim.device.default:
                with self:
                    result = func.decompose(*args, **kwargs)
                    if result is not NotImplemented:
                        return result
            try:
                out = func(*args, **kwargs)
            except RuntimeError:  # a kernel without symbolic sizes (``constant_pad_nd``): its reference decomposition
                from torch._decomp import decomposition_table

                decomposition = decomposition_table.get(func)
                if decomposition is None:
                    raise
                with self:
                    return decomposition(*args, **kwargs)
            self._record(func, args, kwargs, out)
            return out

        def _record(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
            packet = func._overloadpacket
            name = str(packet)
            path = paths.current if self.phase == "forward" else backward_path()
            now = guards()
            if now != self._guards:
                from torch.utils._pytree import tree_leaves

                names = weights or {}
                used = [names[id(t)] for t in tree_leaves((args, kwargs)) if id(t) in names]
                where = f"{used[0]} ({name} in {path or 'the top module'})" if used else \
                    f"{path or 'the top module'} ({name})"
                self.guard_sites.append((now, where, name))
                self._guards = now
            if path is None:  # the loss, outside the model
                return
            counted = packet in registry
            flops = registry[packet](*args, **kwargs, out_val=out) if counted else 0
            view = bool(getattr(func, "is_view", False)) or name in ("aten.detach", "aten.alias", "aten.lift_fresh")
            out_bytes = 0 if view else _tensor_bytes(out)
            nbytes = 0 if view else _tensor_bytes((args, kwargs)) + out_bytes
            kind = op_kind(name, conv_groups(name, args), conv_input_channels_last(name, args))
            self.records.append(OpRecord(path=path, phase=self.phase, name=name, kind=kind,
                                         flops=flops, full=_full_flops(name, flops, args, out), nbytes=nbytes,
                                         out_bytes=out_bytes, counted=counted or not is_flop_bearing(name)))

    return OpRecorder()


__all__ = ["OpRecord", "ModulePaths", "tag", "backward_path", "make_recorder"]
