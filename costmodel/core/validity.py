"""Validity conditions: the rules a cost's symbols must obey for its formula to hold.

A config checks its integer fields when it is built (a patch that does not divide the
image is refused). A symbolic config cannot, so the rules travel with its
:class:`~costmodel.cost.value.Cost` as :class:`Condition` objects: a SymPy relation in
the config's symbols (``Eq(Mod(d, 12), 0)``, ``R >= 32``), the field it constrains, the
rule in words and the expression whose value an error quotes. Whoever evaluates the cost
at a point checks them there, and refuses an invalid point with the same one-line error
the integer config gives (``width=100: must be divisible by heads=12``).

This module is the one place where conditions are made, collected and checked:

* :func:`record` (and :func:`require`): a check that cannot decide a rule because a
  value is symbolic records it as a condition in the current :func:`collecting` block.
  The shared checks of :mod:`costmodel.core.checks` (``as_size``, ``check_divides``) do
  so, so a config family whose ``_check`` uses them (or :func:`require` for a rule of
  its own) needs nothing else: ``ArchConfig.conditions()`` re-runs the checks inside a
  :func:`collecting` block, and :func:`costmodel.models.cost` attaches the result.
  Traced results (PyTorch's shape guards) attach theirs with ``Cost.with_conditions``.
* :func:`normalise`: a user's value for a symbol, made a SymPy number once (NumPy and
  Python scalar types alike), refused when the symbol's own assumptions (integer,
  positive) rule it out.
* :func:`check` at one point, :func:`check_arrays` vectorised over NumPy arrays (one
  compiled NumPy call per condition, no Python loop over points).

Examples
--------
>>> import sympy
>>> from costmodel.core.symbols import d
>>> heads = Condition(field="width", rule="must be divisible by heads=12", relation=sympy.Eq(sympy.Mod(d, 12), 0),
...                   value=d)
>>> [c.field for c in violated((heads,), {d: 100})]
['width']
>>> violated((heads,), {d: 768})
()
>>> check((heads,), {d: 100})
Traceback (most recent call last):
...
costmodel.core.errors.InvalidConfigError: width=100: must be divisible by heads=12
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from costmodel.core.errors import InvalidConfigError
from costmodel.core.numeric import numpy_function


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One rule a cost's symbols must satisfy.

    Parameters
    ----------
    field : str
        The config field (or traced dimension) the rule is about, e.g. ``"width"``.
    rule : str
        The rule in words, completing "``field`` = value: ...", e.g. ``"must be divisible by heads=12"``.
    relation : SymPy boolean
        True exactly where the rule holds, e.g. ``Eq(Mod(d, 12), 0)`` or ``R >= 32``.
    value : SymPy expression, optional
        The value of ``field`` in the symbols (``d``, ``2*d``), quoted by an error at a
        point; by default the relation's only symbol, if it has one.
    """

    field: str
    rule: str
    relation: Any
    value: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "relation", sympy.sympify(self.relation))
        if self.value is None and len(self.relation.free_symbols) == 1:
            object.__setattr__(self, "value", next(iter(self.relation.free_symbols)))

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

    def quoted(self, point: Mapping[Any, Any]) -> Any:
        """The value of :attr:`field` at ``point`` (a Python number where it is one), for a message."""
        if self.value is None:
            return {str(k): _plain(v) for k, v in point.items() if k in self.symbols}
        return _plain(sympy.sympify(self.value).subs(dict(point)))

    def error(self, point: Mapping[Any, Any]) -> InvalidConfigError:
        """The one-line error of this rule broken at ``point``."""
        return InvalidConfigError(self.field, self.quoted(point), self.rule)

    def subs(self, point: Mapping[Any, Any]) -> Condition:
        """This condition with some symbols given values."""
        value = None if self.value is None else sympy.sympify(self.value).subs(dict(point))
        return Condition(field=self.field, rule=self.rule, relation=self.relation.subs(dict(point)), value=value)


def _plain(value: Any) -> Any:
    if isinstance(value, sympy.Integer):
        return int(value)
    if isinstance(value, sympy.Float):
        return float(value)
    return value


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


def check(conditions: Iterable[Condition], point: Mapping[Any, Any]) -> None:
    """Refuse ``point`` with the first condition it decidably breaks."""
    for condition in conditions:
        if condition.symbols & set(point) and condition.holds(point) is False:
            raise condition.error(point)


# -- collecting the rules checks could not decide ------------------------------------------
_COLLECTOR: ContextVar[list[Condition] | None] = ContextVar("costmodel_conditions", default=None)


@contextmanager
def collecting() -> Iterator[list[Condition]]:
    """A block whose undecided rules (:func:`record`) are gathered in the yielded list."""
    found: list[Condition] = []
    token = _COLLECTOR.set(found)
    try:
        yield found
    finally:
        _COLLECTOR.reset(token)


def record(condition: Condition) -> None:
    """Add ``condition`` to the innermost :func:`collecting` block (nothing outside one)."""
    found = _COLLECTOR.get()
    if found is not None and condition not in found:
        found.append(condition)


def require(field: str, value: Any, rule: str, relation: Any) -> None:
    """Refuse ``value`` when ``relation`` is decidably false; record it when it is undecided.

    The hook for a config's own rules: ``require("kernel_size", k, "must be odd", Eq(Mod(k, 2), 1))``
    refuses ``k = 4`` now and, for a symbolic ``k``, makes the rule a condition of the cost.
    """
    relation = sympy.sympify(relation)
    if relation is sympy.false:
        raise InvalidConfigError(field, value, rule)
    if relation is not sympy.true:
        record(Condition(field=field, rule=rule, relation=relation, value=value))


def size_relation(value: Any, *, allow_zero: bool = False) -> Any:
    """``value`` is an integer ``>= 1`` (``>= 0``): unevaluated, so that it is checked at every point."""
    expr = sympy.sympify(value)
    integral = sympy.Eq(sympy.Mod(expr, 1, evaluate=False), 0, evaluate=False)
    low = sympy.GreaterThan(expr, 0 if allow_zero else 1, evaluate=False)
    return sympy.And(integral, low, evaluate=False)


# -- a user's values -----------------------------------------------------------------------
def normalise(symbol: Any, value: Any, name: str | None = None) -> Any:
    """``value`` for ``symbol`` as a SymPy number (or expression), checked against the symbol's assumptions.

    NumPy scalars become Python numbers first; booleans, NaN, infinities and text are
    refused; a float that is a whole number is an integer; a symbol declared integer
    refuses fractions, positive refuses values ``<= 0``.

    >>> from costmodel.core.symbols import B
    >>> normalise(B, 2.0)
    2
    >>> normalise(B, -2.5)
    Traceback (most recent call last):
    ...
    costmodel.core.errors.InvalidConfigError: B=-2.5: must be a positive integer
    """
    field = name or str(symbol)
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        raise InvalidConfigError(field, value, "must be a number or a SymPy expression")
    shown = value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # a NumPy scalar or 0-d array
        value = item()
        if isinstance(value, bool):
            raise InvalidConfigError(field, shown, "must be a number or a SymPy expression")
    if isinstance(value, numbers.Integral):
        number: Any = sympy.Integer(int(value))
    elif isinstance(value, Fraction):
        number = sympy.Rational(value.numerator, value.denominator)
    elif isinstance(value, numbers.Real) and not isinstance(value, sympy.Basic):
        real = float(value)
        if not math.isfinite(real):
            raise InvalidConfigError(field, shown, "must be a finite number")
        if abs(real) > 2**53:  # not every whole number is a float out there: ask for an exact int
            raise InvalidConfigError(field, shown, "is a float too large to stand for an exact integer (pass an int)")
        number = sympy.Integer(int(real)) if real.is_integer() else sympy.Float(real)
    else:
        try:
            number = sympy.sympify(value, strict=True)
        except (sympy.SympifyError, TypeError) as exc:
            raise InvalidConfigError(field, shown, "is not a number or SymPy expression") from exc
        if isinstance(number, sympy.Float) and number.is_finite and float(number).is_integer():
            number = sympy.Integer(int(number))
    if not number.is_number:
        return number
    if number.is_finite is False or number.is_real is False:
        raise InvalidConfigError(field, shown, "must be a finite real number")
    integer = getattr(symbol, "is_integer", None)
    positive = getattr(symbol, "is_positive", None)
    nonnegative = getattr(symbol, "is_nonnegative", None)
    if integer and not number.is_integer:
        raise InvalidConfigError(field, shown, "must be a positive integer" if positive else "must be an integer")
    if positive and not number.is_positive:
        raise InvalidConfigError(field, shown, "must be a positive integer" if integer else "must be positive")
    if nonnegative and number.is_negative:
        raise InvalidConfigError(field, shown, "must be >= 0")
    return number


# -- vectorised checks ---------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _compiled(relation: Any, args: tuple[sympy.Symbol, ...]) -> Any:
    return numpy_function(args, relation, cse=False)


def check_arrays(conditions: Iterable[Condition], args: Sequence[sympy.Symbol], arrays: Sequence[Any], *,
                 values_checked: bool = False) -> None:
    """Refuse the first point of the broadcast ``arrays`` (values of ``args``) that breaks a condition.

    One compiled NumPy call per condition whose symbols are all in ``args`` (others
    cannot be decided here and are skipped); the values themselves are checked against
    the symbols' assumptions vectorised too (:func:`check_array_values`; skipped with
    ``values_checked`` when the caller did it), and a condition those checks already
    imply (a positive integer symbol is a positive integer) is not evaluated again.
    """
    import numpy as np

    args = tuple(args)
    if not values_checked:
        for symbol, array in zip(args, arrays, strict=True):
            check_array_values(symbol, array)
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays)) if arrays else ()
    known = set(args)
    implied = {r for s in args if s.is_integer and s.is_positive for r in _implied(s)}
    for condition in conditions:
        if not condition.symbols or not condition.symbols <= known or condition.relation in implied:
            continue
        with np.errstate(all="ignore"):
            ok = np.asarray(_compiled(condition.relation, args)(*arrays), dtype=bool)
        if ok.all():
            continue
        where = tuple(int(i) for i in np.argwhere(~np.broadcast_to(ok, shape))[0]) if shape else ()
        values = [np.broadcast_to(a, shape)[where].item() for a in arrays]
        raise condition.error({s: sympy.Integer(int(v)) if float(v).is_integer() else sympy.sympify(v)
                               for s, v in zip(args, values, strict=True)})


@functools.lru_cache(maxsize=256)
def _implied(symbol: sympy.Symbol) -> tuple[Any, ...]:
    """The size relations a positive integer ``symbol``'s own assumptions imply."""
    return (size_relation(symbol), size_relation(symbol, allow_zero=True))


def check_array_values(symbol: Any, array: Any, name: str | None = None) -> None:
    """Refuse an array of values for ``symbol``: not numeric, not finite, or against its assumptions."""
    import numpy as np

    field = name or str(symbol)
    arr = np.asarray(array)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise InvalidConfigError(field, array, "must be a number or a numeric array")
    integer = getattr(symbol, "is_integer", None)
    positive = getattr(symbol, "is_positive", None)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if integer:
            bad |= arr != np.floor(np.where(bad, 0, arr))
        if bad.any():
            raise InvalidConfigError(field, arr[bad].flat[0].item(), "must be a positive integer" if positive
                                     else "must be a finite integer" if integer else "must be finite")
    if positive and (arr <= 0).any():
        raise InvalidConfigError(field, arr[arr <= 0].flat[0].item(), "must be a positive integer" if integer
                                 else "must be positive")


__all__ = ["Condition", "merge", "violated", "check", "collecting", "record", "require", "size_relation",
           "normalise", "check_arrays", "check_array_values"]
