"""The ``hypothesis`` entry point: Hypothesis calls :func:`setup` when it is imported.

It registers a strategy for every config type (:func:`costmodel.strategies.register`), so that
``st.from_type(ViTConfig)`` works without importing costmodel first. When the import of
Hypothesis is itself triggered by ``import costmodel.strategies`` (which imports Hypothesis
first), that module is not finished yet: it registers its strategies itself at its end.
"""

from __future__ import annotations

import sys


def setup() -> None:
    """Register costmodel's config strategies with Hypothesis."""
    module = sys.modules.get("costmodel.strategies")
    if module is not None and not hasattr(module, "register"):
        return  # costmodel.strategies is being imported: it registers itself when done
    from costmodel.strategies import register

    register()


__all__ = ["setup"]
