"""The one small error hierarchy of costmodel.

Every message is one line that names the offending field (or file) and the value it got,
so a user can fix the input without reading a traceback.

Examples
--------
>>> str(InvalidConfigError("depth", -1, "must be a positive integer"))
'depth=-1: must be a positive integer'
>>> str(InvalidConfigError("name", "a\\nb", "has a line break"))
"name='a\\\\nb': has a line break"
>>> str(ResultsFileError("results/cpu.json", "is not valid JSON"))
'results/cpu.json: is not valid JSON'
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable

#: longest representation of a value quoted in a message (longer ones are cut with "...")
MAX_VALUE_CHARS = 160


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) made one space.

    >>> one_line("  out of memory\\n  at step 3 ")
    'out of memory at step 3'
    """
    return " ".join(str(text).split())


def describe(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """A short, one-line ``repr`` of ``value`` for an error message.

    Never fails: a huge integer (which Python will not turn into text) is described by
    its digit count, a ``repr`` that raises by the value's type.

    >>> describe(10**5000)
    '<int of about 5001 digits>'
    >>> describe("x" * 500)[-10:]
    'xxxxxxx...'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 10_000:
        return f"<int of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__
        return f"<{type(value).__name__} object>"
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CostModelError(Exception):
    """Base class of every error costmodel raises on purpose."""


class InvalidConfigError(CostModelError, ValueError):
    """A config field (or an argument standing for one) has an invalid value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = one_line(reason)
        super().__init__(f"{one_line(str(field))}={describe(value)}: {self.reason}")


class UnknownPresetError(CostModelError, KeyError):
    """A preset, family, metric or other name that is not in its table."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5) if isinstance(name, str) else []
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        self.kind = kind
        self.name = name
        self.message = one_line(f"unknown {kind} {describe(name)}.{hint} Known: {', '.join(known)}.")
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return self.message


class ResultsFileError(CostModelError, ValueError):
    """A results, profile or device file that cannot be read back: the file and what is wrong.

    Raised for a corrupt file (not UTF-8, not JSON, truncated) and for one of the wrong
    shape (a list instead of an object, a record with a missing key or a value of the
    wrong type), never a ``JSONDecodeError`` or ``KeyError`` from deep inside.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = one_line(problem)
        super().__init__(f"{self.path}: {self.problem}")


class ResultsFileNotFoundError(ResultsFileError, FileNotFoundError):
    """A results file that does not exist (where one is required)."""


__all__ = ["CostModelError", "InvalidConfigError", "UnknownPresetError", "ResultsFileError",
           "ResultsFileNotFoundError", "describe", "one_line", "MAX_VALUE_CHARS"]
