"""Input checks shared by configs and operators.

They accept integers and SymPy expressions; a symbolic value fails only when its
assumptions make the condition decidably false (as SymPy's own distributions do), and
every failure is an :class:`~costmodel.errors.InvalidConfigError` that names the field
and the value.
"""

from __future__ import annotations

from typing import Any

import sympy

from costmodel.errors import InvalidConfigError


def as_size(field: str, value: Any, *, allow_zero: bool = False) -> sympy.Expr | int:
    """Check that ``value`` is a positive (or, with ``allow_zero``, non-negative) integer size.

    Plain integers are returned as ``int``; SymPy expressions are returned unchanged.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidConfigError(field, value, "must be an integer or a SymPy expression")
    if isinstance(value, (int, sympy.Integer)):
        number = int(value)
        if number < 0 or (number == 0 and not allow_zero):
            raise InvalidConfigError(field, value, "must be a positive integer" if not allow_zero else "must be >= 0")
        return number
    if isinstance(value, float) or (isinstance(value, sympy.Expr) and value.is_number):
        raise InvalidConfigError(field, value, "must be an integer, not a fraction")
    if not isinstance(value, sympy.Expr):
        raise InvalidConfigError(field, value, "must be an integer or a SymPy expression")
    if value.is_integer is False:
        raise InvalidConfigError(field, value, "must be integer-valued (declare symbols with integer=True)")
    if value.is_negative or (value.is_zero and not allow_zero) or (value.is_nonpositive and not allow_zero):
        raise InvalidConfigError(field, value, "must be positive")
    return value


def as_sizes(field: str, value: Any, *, allow_zero: bool = False, min_len: int = 1) -> tuple[Any, ...]:
    """A non-empty tuple of sizes, from a tuple/list (or a comma string like ``"3,4,6,3"``)."""
    if isinstance(value, str):
        try:
            value = tuple(int(v) for v in value.split(",") if v.strip())
        except ValueError as exc:
            raise InvalidConfigError(field, value, "must be comma-separated integers") from exc
    if not isinstance(value, (tuple, list)):
        raise InvalidConfigError(field, value, "must be a tuple of sizes")
    if len(value) < min_len:
        raise InvalidConfigError(field, value, f"must have at least {min_len} entries")
    return tuple(as_size(f"{field}[{i}]", v, allow_zero=allow_zero) for i, v in enumerate(value))


def check_divides(field: str, value: Any, divisor: Any, divisor_field: str) -> None:
    """Fail when ``divisor`` decidably does not divide ``value``."""
    remainder = sympy.Mod(sympy.sympify(value), sympy.sympify(divisor))
    if remainder.is_number and remainder != 0:
        raise InvalidConfigError(field, value, f"must be divisible by {divisor_field}={divisor}")
    if remainder.is_zero is False:
        raise InvalidConfigError(field, value, f"must be divisible by {divisor_field}={divisor}")


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """Fail unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InvalidConfigError(field, value, f"must be one of {', '.join(choices)}")
    return value


def floordiv(a: Any, b: Any) -> Any:
    """``a // b``, exact for integers and a ``floor`` for SymPy expressions."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return sympy.floor(sympy.sympify(a) / b)


__all__ = ["as_size", "as_sizes", "check_divides", "check_choice", "floordiv"]
