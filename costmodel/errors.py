"""The one small error hierarchy of costmodel.

Every message names the offending field and the value it got, so a user can fix the
input without reading a traceback.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class CostModelError(Exception):
    """Base class of every error costmodel raises on purpose."""


class InvalidConfigError(CostModelError, ValueError):
    """A config field (or an argument standing for one) has an invalid value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class UnknownPresetError(CostModelError, KeyError):
    """A preset, family, metric or other name that is not in its table."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        self.kind = kind
        self.name = name
        self.message = f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}."
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return self.message
