"""The tensors autograd saves for the backward pass, seen by ``saved_tensors_hooks``.

:class:`SavedTensorLog` logs every tensor packed during a forward pass and, when asked
(:meth:`SavedTensorLog.storages`), returns the distinct storages autograd still holds,
each with its size and the module path that saved it first. Parameter and buffer storages
are left out (they are the weights, held anyway). Works on real and on fake tensors (with
symbolic sizes a storage's size is a ``SymInt``).

A node whose output is dropped in the forward pass (``x.amax().detach()`` records an
``AmaxBackward0`` that nothing reaches) frees what it saved at once: only the tensors whose
packed form autograd still holds are counted. The hook keeps a detached alias (same
storage, no ``grad_fn``): holding the tensor itself would tie a node that saves its own
output into a reference cycle with it, keeping alive what a run without hooks frees.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class _Packed:
    """What the pack hook hands to autograd: the tensor, weakly referenceable."""

    __slots__ = ("tensor", "owner", "__weakref__")

    def __init__(self, tensor: Any, owner: str) -> None:
        self.tensor = tensor
        self.owner = owner


@dataclass(frozen=True)
class SavedStorage:
    """One distinct saved storage: its bytes, bytes per element, dtype name and the path that saved it."""

    nbytes: Any
    itemsize: int
    dtype: str
    owner: str


class SavedTensorLog:
    """``saved_tensors_hooks`` that log every saved tensor (see the module docstring).

    ``exclude``: storage keys (``untyped_storage()._cdata``) never counted (weights);
    ``where``: returns the module path of the op being run (default ``""``).
    """

    def __init__(self, exclude: set[int], where: Callable[[], str] | None = None) -> None:
        self.exclude = exclude
        self.where = where or (lambda: "")
        self.packed: list[weakref.ref[_Packed]] = []
        self.tensors = 0

    def pack(self, tensor: Any) -> _Packed:
        self.tensors += 1
        packed = _Packed(tensor.detach(), self.where())  # no grad_fn: no cycle through a node saving its own output
        self.packed.append(weakref.ref(packed))
        return packed

    @staticmethod
    def unpack(packed: _Packed) -> Any:
        return packed.tensor

    def storages(self) -> list[SavedStorage]:
        """The distinct storages still held, in the order they were first saved."""
        found: dict[int, SavedStorage] = {}
        for ref in self.packed:
            packed = ref()
            if packed is None:
                continue
            storage = packed.tensor.untyped_storage()
            key = storage._cdata
            if key not in self.exclude and key not in found:
                found[key] = SavedStorage(nbytes=storage.nbytes(), itemsize=packed.tensor.element_size(),
                                          dtype=str(packed.tensor.dtype).removeprefix("torch."), owner=packed.owner)
        return list(found.values())


def storage_keys(tensors: Any) -> set[int]:
    """Keys of the storages of ``tensors`` (e.g. a module's parameters and buffers)."""
    return {t.untyped_storage()._cdata for t in tensors}


__all__ = ["SavedTensorLog", "SavedStorage", "storage_keys"]
