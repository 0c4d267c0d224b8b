"""Test helpers for your own models: count checks, cost budgets, reusable properties.

* :func:`assert_counts_match` runs a real ``torch.nn.Module`` and compares its FLOPs, saved
  activations and parameters with a config, a preset or a ``Cost``, with a per-op table of
  the layers that disagree;
* :func:`check_budgets` / :func:`load_budgets` read named cost budgets from a TOML file (or
  ``[tool.costmodel]`` of a ``pyproject.toml``), as ``costmodel check FILE`` and the pytest
  plugin (``--costmodel-budget FILE``, the ``costmodel_budget`` fixture) do;
* properties any ``Cost`` should have: :func:`assert_linear_in_batch`,
  :func:`assert_polynomial_in_image`, :func:`assert_crossovers_unit_invariant`.

Hypothesis strategies live in :mod:`costmodel.strategies`. Public names are loaded lazily
(PEP 562): importing this package imports neither torch nor Hypothesis.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.lazy import Exports

_EXPORTS = Exports(__name__, {
    "assert_counts_match": "counts",
    "Budget": "budgets",
    "BudgetResult": "budgets",
    "BudgetReport": "budgets",
    "load_budgets": "budgets",
    "check_budgets": "budgets",
    "LIMITS": "budgets",
    "assert_linear_in_batch": "properties",
    "assert_polynomial_in_image": "properties",
    "assert_crossovers_unit_invariant": "properties",
})


def __getattr__(name: str) -> Any:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()


__all__ = _EXPORTS.names()
