"""Helpers shared by the subcommands: the parser, argument types, models, tables, JSON, quantities.

Every subcommand prints either tables meant for people (``rich``, with a plain ASCII box
when stdout is not a terminal or ``NO_COLOR`` is set, so pipes and tests get stable
text) or, with ``--json``, one JSON document and nothing else on stdout. Every error is
one line, ``costmodel: error: ...``, naming the argument and the value it got.

Examples
--------
>>> show_quantity(4_089_000_000, "flop")
'4.089 GFLOP'
>>> show_quantity(102_400_000, "byte")
'97.66 MiB'
>>> show_macs(1_000_000)
'1 MMAC'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from costmodel.core.errors import CostModelError, InvalidConfigError, UnknownPresetError, describe

if TYPE_CHECKING:  # the command line imports SymPy, pint and the models only when a command needs them
    from costmodel.models import ArchConfig

T = TypeVar("T")

#: The largest integer any count argument takes (batch, epochs, range ends, ...): far past
#: any real run, small enough that every formula stays fast and finite.
MAX_INT = 10**15
#: The most rows a table may ask for (``compare --points``).
MAX_POINTS = 100
#: The numeric failures a strange value can cause deep inside a formula.
NUMERIC_ERRORS: tuple[type[BaseException], ...] = (ValueError, ArithmeticError, RecursionError)
#: Units of the fields a comparison runs over, for the numbers printed along them.
FIELD_UNITS = {"image_size": "px", "patch_size": "px", "kernel_size": "px", "batch": "images",
               "width": "channels", "in_channels": "channels", "depth": "blocks", "heads": "heads",
               "num_classes": "classes", "steps": "steps"}
#: Printed symbols of the units of :func:`show_quantity`'s fallback.
_SYMBOLS = {"flop": "FLOP", "byte": "B", "param": "param", "s": "s"}
#: units :func:`show_quantity` formats without building pint's registry, as the base unit of each
_BASE_UNITS = {"flop": "flop", "param": "param", "byte": "byte", "s": "s", "second": "s", "flop/s": "flop / second",
               "byte/s": "byte / second"}
_INTEGER = re.compile(r"[+-]?[0-9]+")


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``costmodel: error: <command>: <message>``."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        fail(f"{command + ': ' if command else ''}{message} (see '{self.prog} --help')")


def fail(message: str) -> NoReturn:
    """Print ``costmodel: error: message`` as one line on stderr and exit with status 2."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"costmodel: error: {one_line}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def add_command(sub: Any, name: str, summary: str, examples: Sequence[str],
                details: str = "") -> argparse.ArgumentParser:
    """A subcommand parser with a one-line description, ``details`` below it and examples in its epilog."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    description = f"{summary}\n\n{details}" if details else summary
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


# -- argument types ------------------------------------------------------------------------------
def parse_int(text: str, field: str, *, low: int | None = None, high: int = MAX_INT) -> int:
    """``text`` as a plain decimal integer (ASCII digits) in ``low..high``, else an error naming ``field``.

    >>> parse_int("32", "--batch", low=1)
    32
    >>> parse_int("1e400", "--batch")
    Traceback (most recent call last):
    ...
    costmodel.core.errors.InvalidConfigError: --batch='1e400': must be a whole number written with the digits 0-9
    """
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        raise InvalidConfigError(field, text, "must be a whole number written with the digits 0-9")
    if len(stripped.lstrip("+-")) > len(str(high)) + 1:  # out of range whatever the digits (int() may refuse)
        value = -(high + 1) if stripped.startswith("-") else high + 1
    else:
        value = int(stripped)
    if low is not None and value < low:
        raise InvalidConfigError(field, text, "must be a positive integer" if low == 1 else f"must be >= {low}")
    if abs(value) > high:
        raise InvalidConfigError(field, text, f"is too large (at most {high:,})")
    return value


def _argument_type(convert: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An argparse ``type=`` from ``convert``; errors become argparse's one-line usage errors."""

    def parse(text: str) -> T:
        try:
            return convert(text)
        except InvalidConfigError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc.reason}") from None

    parse.__name__ = name
    return parse


def positive_int(text: str) -> int:
    """An argparse type: a positive integer up to :data:`MAX_INT`.

    >>> positive_int("8")
    8
    """
    return _argument_type(lambda t: parse_int(t, "value", low=1), "positive_int")(text)


def integer(text: str) -> int:
    """An argparse type: any integer of magnitude up to :data:`MAX_INT` (the library checks the sign).

    >>> integer("-3")
    -3
    """
    return _argument_type(lambda t: parse_int(t, "value"), "integer")(text)


def bounded_int(high: int) -> Callable[[str], int]:
    """An argparse type: a positive integer up to ``high``."""
    return _argument_type(lambda t: parse_int(t, "value", low=1, high=high), "bounded_int")


def finite_float(text: str) -> float:
    """An argparse type: a finite real number (no NaN or infinity).

    >>> finite_float("0.5")
    0.5
    """

    def convert(t: str) -> float:
        try:
            value = float(t)
        except ValueError:
            raise InvalidConfigError("value", t, "is not a number") from None
        if not math.isfinite(value):
            raise InvalidConfigError("value", t, "must be a finite number")
        return value

    return _argument_type(convert, "finite_float")(text)


def checked(field: str, text: Any, parse: Callable[[], T]) -> T:
    """``parse()``, with a numeric failure (overflow, NaN, a huge value) reported as an error naming ``field``."""
    try:
        return parse()
    except CostModelError:
        raise
    except NUMERIC_ERRORS as exc:
        raise InvalidConfigError(field, text, f"cannot be used ({type(exc).__name__}: {exc})") from None


# -- models --------------------------------------------------------------------------------------
def resolve_model(name: str, settings: Sequence[str] = ()) -> ArchConfig:
    """A preset or a family's default config, with ``FIELD=VALUE`` settings applied."""
    from costmodel.models import FAMILIES
    from costmodel.models.presets import PRESETS

    if name in PRESETS:
        config = PRESETS[name]
    elif name in FAMILIES:
        config = FAMILIES[name]()
    else:
        raise UnknownPresetError("model", name, list(PRESETS) + list(FAMILIES))
    return apply_settings(config, type(config), settings)


def apply_settings(config: ArchConfig | None, config_cls: type[ArchConfig], settings: Sequence[str]) -> ArchConfig:
    """``config`` (or ``config_cls()`` when None) with every ``FIELD=VALUE`` of ``settings`` applied."""
    changes: dict[str, Any] = {}
    for item in settings:
        field, sep, text = item.partition("=")
        field = field.strip()
        if not sep or not field or not text.strip():
            raise InvalidConfigError("--set", item, "must look like FIELD=VALUE, e.g. --set layers=2,2,2,2")
        changes[field] = _parse_setting(config_cls, item, field, text)
    joined = " ".join(settings)
    texts = {item.partition("=")[0].strip(): item.partition("=")[2].strip() for item in settings}
    try:
        if config is None:
            return checked("--set", joined, lambda: config_cls(**changes))
        return checked("--set", joined, lambda: config.replace(**changes)) if changes else config
    except InvalidConfigError as exc:  # quote the value as the user typed it when the parsed one reads otherwise
        typed = texts.get(str(exc.field))
        if typed is None or typed in describe(exc.value):
            raise
        raise InvalidConfigError(str(exc.field), typed, exc.reason) from None


def _parse_setting(config_cls: type[ArchConfig], item: str, field: str, text: str) -> Any:
    """The value of one ``--set FIELD=VALUE`` (``item``), parsed by the config class."""
    return checked("--set", item, lambda: config_cls.parse_field(field, text))


def config_line(config: ArchConfig) -> str:
    """``ResNetConfig(layers=3,4,6,3, ...)``: one line naming every field."""
    fields = ", ".join(f"{n}={show(getattr(config, n))}" for n in config.field_names())
    return f"{type(config).__name__}({fields})"


def show(value: Any) -> str:
    """A field value as ``--set`` would take it (tuples comma-separated)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


# -- numbers with units --------------------------------------------------------------------------
def show_quantity(value: Any, unit: str) -> str:
    """``value`` in ``unit`` as :func:`costmodel.display.format_quantity` writes it (``"4.089 GFLOP"``).

    A number too large for a float (only reachable with absurd settings) is written in
    scientific notation with the unit.

    >>> show_quantity(5400, "s")
    '1.5 h'
    >>> show_quantity(10**400, "flop")
    '1.000e+400 FLOP'
    """
    from costmodel.display.numbers import format_magnitude, format_quantity

    try:
        if unit in _BASE_UNITS:
            return format_magnitude(value if isinstance(value, int) else float(value), _BASE_UNITS[unit])
        from costmodel.core.units import ureg

        return format_quantity(ureg.Quantity(value, unit))
    except OverflowError:
        return f"{Decimal(int(value)):.3e} {_SYMBOLS.get(unit, unit)}"


def show_exact(value: Any, unit: str) -> str:
    """An exact integer count with thousands separators and its unit: ``"11,689,512 param"``.

    >>> show_exact(2048, "byte")
    '2,048 B'
    """
    return f"{int(value):,} {_SYMBOLS.get(unit, unit)}"


def show_macs(macs: Any) -> str:
    """A count of multiply-accumulates, labelled ``MAC`` (never FLOP), with a decimal prefix.

    >>> show_macs(1_814_000_000)
    '1.814 GMAC'
    """
    return show_quantity(macs, "flop").replace("FLOP", "MAC")


def show_field(field: str, value: Any) -> str:
    """A value of the field a comparison runs over, with its unit where known: ``"928 px"``.

    >>> show_field("image_size", 928)
    '928 px'
    >>> show_field("batch", 13.0)
    '13 images'
    """
    number = f"{value:.4g}" if isinstance(value, float) else str(value)
    unit = FIELD_UNITS.get(field)
    return f"{number} {unit}" if unit else number


def images(batch: Any) -> str:
    """A batch with its unit: ``"1 image"``, ``"32 images"``, ``"B images"``.

    >>> images(1), images(32)
    ('1 image', '32 images')
    """
    return f"{batch} image" if batch == 1 else f"{batch} images"


# -- output --------------------------------------------------------------------------------------
def plain_output() -> bool:
    """True when stdout is not a terminal or ``NO_COLOR`` is set: ASCII boxes, no colour."""
    isatty = getattr(sys.stdout, "isatty", None)
    return "NO_COLOR" in os.environ or not (callable(isatty) and isatty())


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                align: str = "") -> None:
    """Print a table with ``rich``: ``columns`` headers, ``rows`` of cells, ``align`` ``l``/``r`` per column.

    Cells are shown as text (no ``rich`` markup is interpreted). Without a terminal the
    box is plain ASCII and the width is fixed, so the text is the same in every pipe.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    plain = plain_output()
    table = Table(box=box.ASCII if plain else box.ROUNDED, header_style="" if plain else "bold")
    for i, name in enumerate(columns):
        table.add_column(Text(name), justify="right" if i < len(align) and align[i] == "r" else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    # without a terminal: no colour, no wrapping (a width no table reaches), the same text in every pipe
    console = Console(file=sys.stdout, highlight=False, no_color=plain, width=100_000 if plain else None,
                      force_terminal=False if plain else None)
    if title:
        console.print(Text(title, style="" if plain else "bold"))
    console.print(table)


def _jsonable(value: Any) -> Any:
    """``value`` with every number JSON can hold as a plain number; others as strings, NaN/inf as null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if getattr(value, "is_Integer", False):
        return int(value)
    if getattr(value, "is_Float", False) or getattr(value, "is_Rational", False):
        return _jsonable(float(value))
    return str(value)


def print_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout (NaN and infinities become ``null``).

    >>> print_json({"params": 3, "eps": float("nan")})
    {
      "params": 3,
      "eps": null
    }
    """
    print(json.dumps(_jsonable(data), indent=2, allow_nan=False))


def note(text: str, *, to_stderr: bool = False) -> None:
    """A line of prose output: on stdout, or stderr when stdout must hold JSON only."""
    print(text, file=sys.stderr if to_stderr else sys.stdout)


__all__ = ["ArgumentParser", "fail", "add_command", "parse_int", "positive_int", "integer", "bounded_int",
           "finite_float", "checked", "resolve_model", "apply_settings", "config_line", "show",
           "show_quantity", "show_exact", "show_macs", "show_field", "images", "plain_output", "print_table",
           "print_json", "note", "MAX_INT", "MAX_POINTS", "NUMERIC_ERRORS", "FIELD_UNITS"]
