"""Validity conditions: the rules a cost's symbols must obey for its formula to hold.

A config checks its integer fields when it is built (a patch that does not divide the
image is refused). A symbolic config cannot, so the rules travel with its
:class:`~costmodel.cost.value.Cost` as :class:`Condition` objects: a SymPy relation in
the config's symbols (``Eq(Mod(d, 12), 0)``, ``R >= 32``), the field it constrains and
the rule in words. Whoever evaluates the cost at a point checks them there
(:func:`violated`), and refuses an invalid point with the same one-line error the
integer config gives.

Examples
--------
>>> import sympy
>>> from costmodel.core.symbols import d
>>> heads = Condition(field="width", rule="must be divisible by heads = 12", relation=sympy.Eq(sympy.Mod(d, 12), 0))
>>> [c.field for c in violated((heads,), {d: 100})]
['width']
>>> violated((heads,), {d: 768})
()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One rule a cost's symbols must satisfy.

    Parameters
    ----------
    field : str
        The config field (or traced dimension) the rule is about, e.g. ``"width"``.
    rule : str
        The rule in words, completing "``field`` = value ...", e.g. ``"must be divisible by heads = 12"``.
    relation : SymPy boolean
        True exactly where the rule holds, e.g. ``Eq(Mod(d, 12), 0)`` or ``R >= 32``.
    """

    field: str
    rule: str
    relation: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "relation", sympy.sympify(self.relation))

    @property
    def symbols(self) -> frozenset[sympy.Symbol]:
        return frozenset(self.relation.free_symbols)

    def holds(self, point: Mapping[Any, Any]) -> bool | None:
        """True or False at ``point`` (symbol -> value); None while symbols remain free."""
        value = self.relation.subs(dict(point))
        if value is sympy.true or value is True:
            return True
        if value is sympy.false or value is False:
            return False
        return None


def merge(*groups: Iterable[Condition]) -> tuple[Condition, ...]:
    """The conditions of several groups, each once, in first-seen order."""
    seen: dict[Condition, None] = {}
    for group in groups:
        for condition in group:
            seen.setdefault(condition, None)
    return tuple(seen)


def violated(conditions: Iterable[Condition], point: Mapping[Any, Any]) -> tuple[Condition, ...]:
    """The conditions that are decidably false at ``point``."""
    return tuple(c for c in conditions if c.holds(point) is False)


__all__ = ["Condition", "merge", "violated"]
