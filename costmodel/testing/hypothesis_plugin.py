"""The ``hypothesis`` entry point: Hypothesis calls :func:`setup` when it is imported.

It makes ``st.from_type(ViTConfig)`` (and every other config type) work without importing
:mod:`costmodel.strategies` first, while keeping ``import hypothesis`` light in a process that
never uses costmodel: the strategies are registered (:func:`costmodel.strategies.register`)

* at once, when ``costmodel.models`` is already imported;
* otherwise as soon as ``costmodel.models`` is imported (an import hook that removes itself),
  which any code naming a config type has to do.

When the import of Hypothesis is itself triggered by ``import costmodel.strategies`` (which
imports Hypothesis first), that module is not finished yet: it registers its strategies itself
at its end.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

_MODELS = "costmodel.models"


def _register() -> None:
    module = sys.modules.get("costmodel.strategies")
    if module is not None and not hasattr(module, "register"):
        return  # costmodel.strategies is being imported: it registers itself when done
    from costmodel.strategies import register

    register()


class _RegisteringLoader(importlib.abc.Loader):
    """The real loader of ``costmodel.models``, registering the strategies once the package is loaded."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _register()


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Finds ``costmodel.models`` with the other finders and wraps its loader (once)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODELS:
            return None
        _uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


_HOOK = _RegisterOnImport()


def _uninstall() -> None:
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def setup() -> None:
    """Register costmodel's config strategies with Hypothesis now, or when ``costmodel.models`` is imported."""
    if _MODELS in sys.modules:
        _register()
    elif _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


__all__ = ["setup"]
