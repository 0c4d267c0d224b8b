"""Lazy re-exports (PEP 562): a package's public names, loaded from their modules on first use.

Each subpackage of costmodel re-exports its public names from its ``__init__`` without
importing its modules up front, so that ``import costmodel.memory`` (or any one module
below it) stays as cheap as the module that is really needed.

>>> from costmodel.core.lazy import Exports
>>> exports = Exports("costmodel.core", {"ureg": "units"})
>>> exports.load("ureg").Quantity(1, "MAC").to("flop")
<Quantity(2, 'flop')>
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
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


__all__ = ["Exports"]
