"""What every architecture config shares: typed fields, validation, parsing from text.

A config is a frozen, keyword-only dataclass. Each field declares its *kind* in the
field metadata (``size``, ``sizes``, ``image``, ``ratio``, ``choice``, ``flag``); the base
class validates every field by its kind in ``__post_init__`` and then calls the config's
own ``_check`` for rules that tie fields together (a patch that must divide the image).
Sizes may be integers or SymPy expressions (symbols); a symbolic size fails a check only
when it decidably breaks it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import sympy

from costmodel.core.checks import MAX_SIZE, MAX_SYMBOLIC_STAGES, as_size, as_sizes, check_choice, check_expression
from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import Condition, collecting


def size_field(default: Any = dataclasses.MISSING, *, allow_zero: bool = False) -> Any:
    """A positive integer (or SymPy) size."""
    return field(default=default, metadata={"kind": "size", "allow_zero": allow_zero})


def sizes_field(default: Any = dataclasses.MISSING, *, allow_zero: bool = False) -> Any:
    """A non-empty tuple of sizes (``"3,4,6,3"`` on the command line)."""
    return field(default=default, metadata={"kind": "sizes", "allow_zero": allow_zero})


def image_field(default: Any = dataclasses.MISSING) -> Any:
    """An image size: one side for a square image, or ``(height, width)``."""
    return field(default=default, metadata={"kind": "image"})


def ratio_field(default: Any = dataclasses.MISSING) -> Any:
    """A positive rational ratio (e.g. an MLP expansion of 4)."""
    return field(default=default, metadata={"kind": "ratio"})


def choice_field(default: str, choices: tuple[str, ...]) -> Any:
    """One of a fixed set of strings."""
    return field(default=default, metadata={"kind": "choice", "choices": choices})


def flag_field(default: bool) -> Any:
    """A boolean switch."""
    return field(default=default, metadata={"kind": "flag"})


def _check_ratio(name: str, value: Any) -> Any:
    """A positive ratio as an exact SymPy rational (or a checked SymPy expression).

    Floats are made exact fractions with denominators up to ``10**6`` (``2.5 -> 5/2``);
    a ratio must lie in ``[10**-30, 10**30]`` (:data:`~costmodel.core.checks.MAX_SIZE`).
    """
    if isinstance(value, bool) or value is None:
        raise InvalidConfigError(name, value, "must be a positive number")
    if isinstance(value, sympy.Expr) and not value.is_number:
        check_expression(name, value)
        if value.is_positive is False:
            raise InvalidConfigError(name, value, "must be positive")
        return value
    try:
        exact = _as_fraction(value)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise InvalidConfigError(name, value, "must be a finite positive rational number") from exc
    if exact <= 0:
        raise InvalidConfigError(name, value, "must be positive" + (" (rounds to 0)" if value > 0 else ""))
    if not Fraction(1, MAX_SIZE) <= exact <= MAX_SIZE:
        raise InvalidConfigError(name, value, "must lie between 10**-30 and 10**30")
    return exact.numerator if exact.denominator == 1 else sympy.Rational(exact.numerator, exact.denominator)


def _as_fraction(value: Any) -> Fraction:
    """An exact fraction of a number; floats to the nearest with a denominator up to ``10**6``."""
    if isinstance(value, (sympy.Rational, numbers.Rational)):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, (float, sympy.Float, numbers.Real)):
        if not math.isfinite(float(value)):
            raise ValueError(value)
        return Fraction(float(value)).limit_denominator(10**6)
    raise TypeError(value)


def _check_image(name: str, value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidConfigError(name, value, "must be one side or a (height, width) pair")
        return (as_size(f"{name}[0]", value[0]), as_size(f"{name}[1]", value[1]))
    return as_size(name, value)


@dataclass(frozen=True, kw_only=True)
class ArchConfig:
    """Base class of every architecture config.

    Limits (:mod:`costmodel.core.checks`), checked when a config is made, so that
    :func:`costmodel.models.cost` of any valid config returns within seconds:

    * integer sizes are at most ``10**30`` (``MAX_SIZE``);
    * a symbolic size uses only symbols, integers, ``+ - * /``, integer powers, ``floor``
      and ``ceiling``, with degree at most 4 in at most 4 symbols and 32 operations (no
      ``2**n``, no ``factorial``);
    * a tuple of sizes has at most 128 entries (``MAX_STAGES``), 12 in a config with any
      symbolic size (``MAX_SYMBOLIC_STAGES``);
    * a ratio (``mlp_ratio``) is a positive rational between ``10**-30`` and ``10**30``.

    Anything else is an :class:`~costmodel.core.errors.InvalidConfigError` naming the field.

    Rules of symbolic fields (validity conditions, :mod:`costmodel.core.validity`): a
    check that cannot decide a rule for a symbolic value records it, and
    :meth:`conditions` returns those rules, which :func:`costmodel.models.cost` attaches
    to the cost. A family gets this for free when its ``_check`` uses the shared checks
    (``as_size``, ``check_divides``) or :func:`costmodel.core.validity.require` for a rule
    of its own (``require(field, value, rule, relation)``: refused now when decidably
    false, a condition when undecided); a rule that raises by hand is not seen.
    """

    #: family name used by the CLI and the preset table (``"vit"``, ``"resnet"``, ...).
    family: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self._validate()

    def conditions(self) -> tuple[Condition, ...]:
        """The rules this config's symbolic fields must satisfy (empty for an integer config).

        >>> import sympy
        >>> from costmodel.models import ViTConfig
        >>> for c in ViTConfig(width=sympy.Symbol("d", positive=True, integer=True)).conditions():
        ...     print(c.field, c.rule)
        width must be a positive integer
        width must be divisible by heads=12
        """
        with collecting() as found:
            self._validate()
        return tuple(found)

    def _validate(self) -> None:
        for f in dataclasses.fields(self):
            kind = f.metadata.get("kind")
            value = getattr(self, f.name)
            if kind == "size":
                value = as_size(f.name, value, allow_zero=f.metadata["allow_zero"])
            elif kind == "sizes":
                value = as_sizes(f.name, value, allow_zero=f.metadata["allow_zero"])
            elif kind == "image":
                value = _check_image(f.name, value)
            elif kind == "ratio":
                value = _check_ratio(f.name, value)
            elif kind == "choice":
                check_choice(f.name, value, f.metadata["choices"])
            elif kind == "flag" and not isinstance(value, bool):
                raise InvalidConfigError(f.name, value, "must be true or false")
            object.__setattr__(self, f.name, value)
        self._check_symbolic_stages()
        self._check()

    def _check_symbolic_stages(self) -> None:
        """A config with a symbolic size has at most ``MAX_SYMBOLIC_STAGES`` entries per tuple of sizes."""
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        flat = [v for value in values for v in (value if isinstance(value, tuple) else (value,))]
        if not any(isinstance(v, sympy.Basic) and v.free_symbols for v in flat):
            return
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("kind") == "sizes" and len(value) > MAX_SYMBOLIC_STAGES:
                raise InvalidConfigError(f.name, value, f"has {len(value)} entries; a config with a symbolic size "
                                                        f"supports at most {MAX_SYMBOLIC_STAGES} "
                                                        f"(MAX_SYMBOLIC_STAGES)")

    def _check(self) -> None:
        """Cross-field rules; override in subclasses."""

    @property
    def image_hw(self) -> tuple[Any, Any]:
        """``(height, width)`` of the input image."""
        size = getattr(self, "image_size")  # noqa: B009 (the field of the subclasses that have one)
        return (size[0], size[1]) if isinstance(size, tuple) else (size, size)

    def replace(self, **changes: Any) -> ArchConfig:
        """A copy with some fields changed (validated again)."""
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise InvalidConfigError(name, value, f"{type(self).__name__} has no such field "
                                                      f"(fields: {', '.join(sorted(names))})")
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse_field(cls, name: str, text: str) -> Any:
        """Parse the command-line text of field ``name`` (``--set name=text``).

        Integers, comma-separated integer tuples, ``HxW`` image sizes, fractions
        (``4``, ``8/3``, ``2.5``), ``true``/``false``, and SymPy symbol names (any other
        identifier, made a positive integer symbol) are accepted by kind.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not isinstance(text, str):
            raise InvalidConfigError(name, text, "the text of a field value must be a string")
        if name not in fields:
            raise InvalidConfigError(name, text, f"{cls.__name__} has no such field "
                                                 f"(fields: {', '.join(sorted(fields))})")
        kind = fields[name].metadata.get("kind")
        text = text.strip()
        try:
            if kind == "choice":
                return text
            if kind == "flag":
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            if kind == "ratio":
                if not _ASCII_NUMBER.fullmatch(text):  # Fraction() would take other scripts' digits
                    raise ValueError(text)
                return Fraction(text)
            if kind == "sizes":
                return tuple(_parse_size(part) for part in text.split(","))
            if kind == "image":
                return _parse_image(text)
            return _parse_size(text)
        except (ValueError, ZeroDivisionError) as exc:
            raise InvalidConfigError(name, text, f"cannot be parsed as a {kind} value") from exc


_ASCII_INTEGER = re.compile(r"-?[0-9]+")
_ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?(?:/[0-9]+)?")


def _parse_image(text: str) -> Any:
    """``"224"``, ``"320x480"`` or ``"HxW"`` (symbols keep their case); a lone name is one symbol."""
    parts = re.split(r"[xX\u00d7]", text)
    if len(parts) == 2 and all(p.strip() for p in parts):
        return (_parse_size(parts[0]), _parse_size(parts[1]))
    return _parse_size(text)


def _parse_size(text: str) -> Any:
    text = text.strip()
    if _ASCII_INTEGER.fullmatch(text):  # the digits 0-9 only, as --batch takes them (not '٣')
        return int(text)
    if text.isidentifier():
        return sympy.Symbol(text, positive=True, integer=True)
    raise ValueError(text)


__all__ = [
    "ArchConfig", "size_field", "sizes_field", "image_field", "ratio_field", "choice_field", "flag_field",
]
