"""Input checks shared by configs and operators.

They accept integers and SymPy expressions; a symbolic value fails only when its
assumptions make the condition decidably false (as SymPy's own distributions do), and
every failure is an :class:`~costmodel.core.errors.InvalidConfigError` that names the field
and the value.

Limits, checked up front so that no input makes SymPy explode:

* an integer size is at most :data:`MAX_SIZE` (``10**30``), so every count of a model is
  a product of a handful of such numbers and stays far inside the range a float holds;
* a symbolic size is built from symbols and integers with ``+``, ``-``, ``*``, ``/``,
  integer powers, ``floor`` and ``ceiling``, of degree at most :data:`MAX_DEGREE` in at
  most :data:`MAX_SYMBOLS` symbols and :data:`MAX_EXPRESSION_OPS` operations: no
  ``2**n``, ``factorial(n)`` or ``(a + b + c + d)**8``, whose evaluation (or expansion,
  or the divisibility checks of the config) would not finish;
* a tuple of sizes (stages, layers) has at most :data:`MAX_STAGES` entries, and at most
  :data:`MAX_SYMBOLIC_STAGES` in a config with a symbolic size (each stage nests the
  symbolic feature-map size one ``floor`` deeper).

Within these limits :func:`costmodel.models.cost` of any config returns in seconds
(``tests/test_fuzz_configs.py`` times the worst cases).

Examples
--------
>>> as_size("depth", 12)
12
>>> as_size("depth", 0)
Traceback (most recent call last):
...
costmodel.core.errors.InvalidConfigError: depth=0: must be a positive integer
>>> as_sizes("layers", "3,4,6,3")
(3, 4, 6, 3)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import sympy

from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import Condition, record, size_relation

#: the largest integer size (a side, a width, a depth, a batch)
MAX_SIZE = 10**30
#: the largest degree of a size expression (``R * P`` and ``R**2`` are fine, ``R**5`` is not)
MAX_DEGREE = 4
#: the most symbols in one size expression
MAX_SYMBOLS = 4
#: the most operations (``sympy.count_ops``) in one size expression
MAX_EXPRESSION_OPS = 32
#: the most entries of a tuple of sizes (a ConvNet's layers, a ResNet's stages)
MAX_STAGES = 128
#: the most entries of a tuple of sizes in a config that has a symbolic size: every stage
#: nests the symbolic feature-map size one floor deeper
MAX_SYMBOLIC_STAGES = 12

#: SymPy node types a size expression may be built from
_ALLOWED_NODES = (sympy.Symbol, sympy.Integer, sympy.Rational, sympy.Add, sympy.Mul, sympy.Pow, sympy.floor,
                  sympy.ceiling)


def check_expression(field: str, value: sympy.Expr) -> sympy.Expr:
    """Fail unless ``value`` is a small expression of the kinds a size may be (module docstring).

    >>> from costmodel.core.symbols import R
    >>> check_expression("image_size", 2 * R + 1)
    2*R + 1
    >>> check_expression("image_size", 2**R)
    Traceback (most recent call last):
    ...
    costmodel.core.errors.InvalidConfigError: image_size=2**R: a size expression may only combine symbols and \
integers with +, -, *, /, integer powers, floor and ceiling (found 2**R)
    """
    if not value.is_commutative:
        raise InvalidConfigError(field, value, "a size expression must be commutative (plain SymPy symbols)")
    for count, node in enumerate(sympy.preorder_traversal(value)):
        if count > 4 * MAX_EXPRESSION_OPS:
            raise _too_large(field, value)
        if isinstance(node, sympy.Integer) and abs(int(node)) > MAX_SIZE:
            raise InvalidConfigError(field, value, "numbers in a size expression must be at most 10**30 (MAX_SIZE)")
        if isinstance(node, sympy.Pow) and not node.exp.is_Integer:
            raise _unsupported(field, value, node)
        if not isinstance(node, _ALLOWED_NODES):
            raise _unsupported(field, value, node)
    if sympy.count_ops(value) > MAX_EXPRESSION_OPS:
        raise _too_large(field, value)
    if len(value.free_symbols) > MAX_SYMBOLS:
        raise InvalidConfigError(field, value, f"a size expression may use at most {MAX_SYMBOLS} symbols "
                                               f"(MAX_SYMBOLS)")
    if degree_bound(value) > MAX_DEGREE:
        raise InvalidConfigError(field, value, f"a size expression may have degree at most {MAX_DEGREE} "
                                               f"(MAX_DEGREE)")
    return value


def degree_bound(expr: sympy.Expr) -> int:
    """An upper bound of the total degree of ``expr`` in its symbols, read off its tree (no expansion).

    Division counts like multiplication (``R / P`` has degree 2), ``floor`` like its argument.

    >>> from costmodel.core.symbols import P, R
    >>> degree_bound((R + 1)**2 * P), degree_bound(sympy.floor(R / P)), degree_bound(sympy.Integer(7))
    (3, 2, 0)
    """
    if isinstance(expr, sympy.Symbol):
        return 1
    if isinstance(expr, sympy.Pow):
        return degree_bound(expr.base) * abs(int(expr.exp))
    if isinstance(expr, sympy.Mul):
        return sum(degree_bound(a) for a in expr.args)
    return max((degree_bound(a) for a in expr.args), default=0)


def _too_large(field: str, value: Any) -> InvalidConfigError:
    return InvalidConfigError(field, value, f"is too large a size expression (more than {MAX_EXPRESSION_OPS} "
                                            f"operations, MAX_EXPRESSION_OPS)")


def _unsupported(field: str, value: Any, node: Any) -> InvalidConfigError:
    return InvalidConfigError(field, value, "a size expression may only combine symbols and integers with +, -, *, /, "
                                            f"integer powers, floor and ceiling (found {node})")


def _integer_size(field: str, value: Any, allow_zero: bool) -> int:
    number = int(value)
    if number < 0 or (number == 0 and not allow_zero):
        raise InvalidConfigError(field, value, "must be >= 0" if allow_zero else "must be a positive integer")
    if number > MAX_SIZE:
        raise InvalidConfigError(field, value, "must be at most 10**30 (MAX_SIZE)")
    return number


def as_size(field: str, value: Any, *, allow_zero: bool = False) -> sympy.Expr | int:
    """Check that ``value`` is a positive (or, with ``allow_zero``, non-negative) integer size.

    Plain integers (Python, NumPy or SymPy) are returned as ``int``, at most
    :data:`MAX_SIZE`; SymPy expressions (see :func:`check_expression`) are returned
    unchanged.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidConfigError(field, value, "must be an integer or a SymPy expression")
    if isinstance(value, numbers.Integral):
        return _integer_size(field, value, allow_zero)
    if isinstance(value, (numbers.Number, sympy.Number)) or (isinstance(value, sympy.Expr) and value.is_number):
        raise InvalidConfigError(field, value, "must be an integer" + _not_integer(value))
    if not isinstance(value, sympy.Expr):
        raise InvalidConfigError(field, value, "must be an integer or a SymPy expression")
    check_expression(field, value)
    if value.is_integer is False:
        raise InvalidConfigError(field, value, "must be integer-valued (declare symbols with integer=True)")
    if value.is_negative or (not allow_zero and (value.is_zero or value.is_nonpositive)):
        raise InvalidConfigError(field, value, "must be positive")
    record(Condition(field=field, rule="must be >= 0" if allow_zero else "must be a positive integer",
                     relation=size_relation(value, allow_zero=allow_zero), value=value))
    return value


def _not_integer(value: Any) -> str:
    """Why a number is not a size: a fraction, a float, or not finite."""
    try:
        finite = math.isfinite(complex(value).real) and complex(value).imag == 0
    except (TypeError, ValueError, OverflowError):
        finite = False
    if not finite:
        return ", not infinite, NaN or complex"
    return ", not a float" if isinstance(value, (float, sympy.Float)) else ", not a fraction"


def as_sizes(field: str, value: Any, *, allow_zero: bool = False, min_len: int = 1) -> tuple[Any, ...]:
    """A non-empty tuple of sizes, from a tuple/list (or a comma string like ``"3,4,6,3"``).

    At most :data:`MAX_STAGES` entries, checked before the entries are.
    """
    if isinstance(value, str):
        try:
            value = tuple(int(v) for v in value.split(",") if v.strip())
        except ValueError as exc:
            raise InvalidConfigError(field, value, "must be comma-separated integers") from exc
    if not isinstance(value, (tuple, list)):
        raise InvalidConfigError(field, value, "must be a tuple of sizes")
    if len(value) < min_len:
        raise InvalidConfigError(field, value, f"must have at least {min_len} entries")
    if len(value) > MAX_STAGES:
        raise InvalidConfigError(field, value, f"has {len(value)} entries; at most {MAX_STAGES} (MAX_STAGES) "
                                               f"are supported")
    return tuple(as_size(f"{field}[{i}]", v, allow_zero=allow_zero) for i, v in enumerate(value))


def check_divides(field: str, value: Any, divisor: Any, divisor_field: str) -> None:
    """Fail when ``divisor`` decidably does not divide ``value``; record the rule when it is undecided.

    A symbolic ``value`` or ``divisor`` makes the rule a validity condition
    (:func:`costmodel.core.validity.record`), checked wherever the cost is evaluated.
    """
    rule = f"must be divisible by {divisor_field}={divisor}"
    remainder = sympy.Mod(sympy.sympify(value), sympy.sympify(divisor))
    if remainder.is_number and remainder != 0:
        raise InvalidConfigError(field, value, rule)
    if remainder.is_zero is False:
        raise InvalidConfigError(field, value, rule)
    if not remainder.is_number and remainder.is_zero is not True:
        record(Condition(field=field, rule=rule, relation=sympy.Eq(remainder, 0), value=value))


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """Fail unless ``value`` is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidConfigError(field, value, f"must be one of {', '.join(choices)}")
    return value


def floordiv(a: Any, b: Any) -> Any:
    """``a // b``, exact for integers and a ``floor`` for SymPy expressions."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return sympy.floor(sympy.sympify(a) / b)


__all__ = ["as_size", "as_sizes", "check_divides", "check_choice", "check_expression", "degree_bound", "floordiv",
           "MAX_SIZE", "MAX_DEGREE", "MAX_SYMBOLS", "MAX_EXPRESSION_OPS", "MAX_STAGES", "MAX_SYMBOLIC_STAGES"]
