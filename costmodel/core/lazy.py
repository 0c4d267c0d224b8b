"""Lazy re-exports (PEP 562): a package's public names, loaded from their modules on first use.

Each subpackage of costmodel re-exports its public names from its ``__init__`` without
importing its modules up front, so that ``import costmodel.memory`` (or any one module
below it) stays as cheap as the module that is really needed.

A package's ``__init__`` says::

    __getattr__, __dir__, __all__ = exports(__name__, {"training_memory": "footprint", ...})

>>> getattr_, dir_, all_ = exports("costmodel.core", {"ureg": "units"})
>>> getattr_("ureg").Quantity(1, "MAC").to("flop"), all_
(<Quantity(2, 'flop')>, ['ureg'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


class Exports:
    """The public names of ``package``: name -> module (relative to the package) that defines it."""

    def __init__(self, package: str, table: Mapping[str, str]) -> None:
        self.package = package
        self.table = dict(table)

    def load(self, name: str) -> Any:
        """The object ``name``, imported from its module (an ``AttributeError`` for an unknown name)."""
        if name not in self.table:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{self.package}.{self.table[name]}"), name)

    def names(self) -> list[str]:
        return sorted(self.table)


def exports(package: str, table: Mapping[str, str]
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` of ``package`` re-exporting ``table`` (name -> module) lazily."""
    found = Exports(package, table)
    return found.load, found.names, found.names()


__all__ = ["Exports", "exports"]
