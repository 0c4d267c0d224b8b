"""A safe parser for the quantities users type: ``"80GiB"``, ``"3.35 TB/s"``, ``"1e30 TiB"``.

pint's own string parser evaluates arithmetic (``ureg.Quantity("9**9**9 B")`` computes a
number of 370 million digits and never returns). Every user string that becomes a pint
quantity (memory budgets, ``max_*`` limits, device files) goes through
:func:`parse_quantity` instead, which accepts a small grammar and refuses anything else
in one line, in microseconds:

* numbers written with the ASCII digits ``0-9``: ``80``, ``1.5``, ``.5``, ``1e30``,
  ``2.5E-3`` (exponents of at most three digits);
* unit names pint knows (``GiB``, ``TFLOP``, ``s``, ``byte``; SI and binary prefixes);
* ``*`` and ``/`` between terms (a space between a number and a unit multiplies too);
* an integer power of at most :data:`MAX_POWER` on a term (``m**2``, ``s^-1``).

Nothing else: no parentheses, no nested powers, no names that are not units, at most
:data:`MAX_CHARS` characters. The magnitude is computed exactly (fractions), an integer
when it is one, and must be finite.

Examples
--------
>>> parse_quantity("memory", "80GiB")
<Quantity(80, 'gibibyte')>
>>> parse_quantity("bandwidth", "3.35 TB/s", unit="byte/s")
<Quantity(3.35, 'terabyte / second')>
>>> parse_quantity("memory", "9**9**9 B")
Traceback (most recent call last):
...
costmodel.core.errors.InvalidConfigError: memory='9**9**9 B': is not a quantity: only numbers, units, '*', '/' and \
one small integer power per term (at most 4) are accepted (at '*9**9 B')
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from costmodel.core.errors import InvalidConfigError
from costmodel.core.units import Quantity, ureg

#: the longest text accepted
MAX_CHARS = 200
#: the largest power (in absolute value) of one term
MAX_POWER = 4

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"
_TOKEN = re.compile(rf"\s*(?:(?P<num>{_NUMBER})|(?P<name>[A-Za-z_\u00b5\u03bc%][A-Za-z_0-9\u00b5\u03bc]*)"
                    rf"|(?P<pow>\*\*|\^)\s*(?P<exp>[+-]?[0-9]+)(?![0-9.eE*^])|(?P<op>[*/]))")
_GRAMMAR = (f"only numbers, units, '*', '/' and one small integer power per term (at most {MAX_POWER}) "
            "are accepted")


def parse_quantity(field: str, text: Any, *, unit: str | None = None) -> Quantity:
    """``text`` as a pint quantity, by the grammar of the module docstring.

    Parameters
    ----------
    field : str
        The name an error quotes (``"memory"``, ``"devices.x.memory"``).
    text : str
    unit : str, optional
        When given, the quantity must be compatible with it (``"byte"``, ``"flop/s"``)
        and carry a unit.

    Raises
    ------
    InvalidConfigError
        Naming ``field`` and ``text``: not a string, too long, outside the grammar, an
        unknown unit, a magnitude that is not finite, a unit of another dimension.
    """
    if not isinstance(text, str):
        raise InvalidConfigError(field, text, "must be text with a unit, e.g. '80 GiB'")
    if len(text) > MAX_CHARS:
        raise InvalidConfigError(field, text, f"is longer than {MAX_CHARS} characters")
    magnitude, units = _evaluate(field, text)
    try:
        value: float | int = int(magnitude) if magnitude.denominator == 1 else float(magnitude)
    except OverflowError:
        raise InvalidConfigError(field, text, "is too large a number (not finite as a float)") from None
    if isinstance(value, int) and abs(value) > 10**300:
        raise InvalidConfigError(field, text, "is too large a number (at most 1e300)")
    quantity: Quantity = ureg.Quantity(value, units)
    if unit is not None:
        if quantity.unitless:
            raise InvalidConfigError(field, text, f"needs a unit, e.g. '{text.strip()} {unit}'")
        if not quantity.is_compatible_with(unit):
            raise InvalidConfigError(field, text, f"is in {quantity.units}, not a quantity in {unit}")
    return quantity


def _evaluate(field: str, text: str) -> tuple[Fraction, Any]:
    """The exact magnitude and the pint unit of ``text`` (a product of powered terms)."""
    magnitude = Fraction(1)
    units: Any = ureg.dimensionless
    position, divide, expect_term, seen_number = 0, False, True, False
    stripped = text.rstrip()
    if not stripped.strip():
        raise InvalidConfigError(field, text, "is empty")
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise _refuse(field, text, stripped[position:])
        if match["op"]:
            if expect_term:
                raise _refuse(field, text, stripped[match.start("op"):])
            divide, expect_term = match["op"] == "/", True
        elif match["pow"]:
            raise _refuse(field, text, stripped[match.start("pow"):])
        else:
            power = 1
            end = match.end()
            follow = _TOKEN.match(stripped, end)
            if follow is not None and follow["pow"]:
                power = int(follow["exp"])
                if abs(power) > MAX_POWER:
                    raise _refuse(field, text, stripped[follow.start("pow"):])
                end = follow.end()
            sign = -power if divide else power
            if match["num"]:
                number = Fraction(match["num"])
                if number == 0 and sign < 0:
                    raise InvalidConfigError(field, text, "divides by zero")
                magnitude *= number ** sign
                seen_number = True
            else:
                units = units * _unit(field, text, match["name"]) ** sign
            divide, expect_term = False, False
            position = end
            continue
        position = match.end()
    if expect_term:
        raise _refuse(field, text, "its end")
    if not seen_number:
        magnitude = Fraction(1)
    return magnitude, units


def _unit(field: str, text: str, name: str) -> Any:
    try:
        return ureg.Unit(name)
    except Exception:  # pint raises UndefinedUnitError and others for names it does not know
        raise InvalidConfigError(field, text, f"has an unknown unit {name!r}") from None


def _refuse(field: str, text: str, rest: str) -> InvalidConfigError:
    shown = rest if len(rest) <= 20 else rest[:17] + "..."
    return InvalidConfigError(field, text, f"is not a quantity: {_GRAMMAR} (at {shown!r})")


__all__ = ["parse_quantity", "MAX_CHARS", "MAX_POWER"]
