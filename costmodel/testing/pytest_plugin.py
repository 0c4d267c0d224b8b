"""pytest plugin (``pytest11`` entry point): run cost budgets inside a test suite.

* ``pytest --costmodel-budget budgets.toml`` adds one test item per budget of the file
  (repeatable; a ``pyproject.toml`` with ``[tool.costmodel.budget.*]`` works too). A budget over
  its limits fails with the table of values, limits and headroom; a malformed file fails with
  the error naming the budget and the key.
* The ``costmodel_budget`` fixture is a function ``costmodel_budget(path, *names)`` that checks
  the budgets of a file (all, or those named) and raises ``AssertionError`` when a limit is
  exceeded; it returns the :class:`~costmodel.testing.budgets.BudgetReport`.

Loading the plugin imports nothing of costmodel: the budgets are read when the items run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("costmodel", "cost budgets (costmodel)")
    group.addoption("--costmodel-budget", action="append", default=[], metavar="FILE",
                    help="check the cost budgets of this TOML file (or pyproject.toml), one test per budget")


class BudgetExceeded(AssertionError):
    """A budget over one of its limits."""


def describe(results: Any) -> str:
    """The rows of a budget check as text: limit, value, limit, headroom, status."""
    from costmodel.core.units import ureg
    from costmodel.display import format_quantity
    from costmodel.testing.budgets import LIMITS

    def show_quantity(value: float, unit: str) -> str:
        return str(format_quantity(ureg.Quantity(value, unit)))

    lines = []
    for r in results:
        status = "ok" if r.holds else "EXCEEDED"
        lines.append(f"{r.budget}: {LIMITS[r.limit_name][0]} {show_quantity(r.value, r.unit)} "
                     f"(limit {show_quantity(r.limit, r.unit)}, headroom {100 * r.headroom:+.1f} %) {status}")
    return "\n".join(lines)


def _assert_holds(results: Any) -> None:
    if not all(r.holds for r in results):
        raise BudgetExceeded("cost budget exceeded:\n" + describe(results))


class BudgetItem(pytest.Item):
    """One budget of a file (or, for a file that cannot be read, the error)."""

    def __init__(self, *, error: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        from costmodel.testing.budgets import check_budget, parse_budget, read_tables

        if self.error is not None:
            raise BudgetExceeded(self.error)
        assert self.path is not None
        _assert_holds(check_budget(parse_budget(self.name, read_tables(self.path)[self.name])))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        from costmodel.core.errors import CostModelError

        if isinstance(excinfo.value, (BudgetExceeded, CostModelError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"costmodel budget {self.name}"


class BudgetFile(pytest.File):
    """A budget file given with ``--costmodel-budget``: one item per budget."""

    def collect(self) -> Iterator[BudgetItem]:
        from costmodel.core.errors import CostModelError
        from costmodel.testing.budgets import read_tables

        try:
            names = list(read_tables(self.path))
        except (CostModelError, OSError) as exc:
            yield BudgetItem.from_parent(self, name="(file)", error=str(exc))
            return
        for name in names:
            yield BudgetItem.from_parent(self, name=name)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for file in config.getoption("costmodel_budget") or ():
        collector = BudgetFile.from_parent(session, path=Path(file).resolve())
        items.extend(collector.collect())


@pytest.fixture
def costmodel_budget() -> Callable[..., Any]:
    """``costmodel_budget(path, *names)``: check a budget file; ``AssertionError`` when a limit is exceeded."""
    from costmodel.testing.budgets import check_budgets

    def check(path: str | Path, *names: str) -> Any:
        report = check_budgets(path, names or None)
        _assert_holds(report.results)
        return report

    return check


__all__ = ["BudgetItem", "BudgetFile", "BudgetExceeded", "costmodel_budget", "describe"]
