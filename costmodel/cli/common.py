"""Helpers shared by the subcommands: resolving a model, formatting quantities."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from costmodel.cost import Cost
from costmodel.errors import InvalidConfigError, UnknownPresetError
from costmodel.models import FAMILIES, ArchConfig
from costmodel.models.presets import PRESETS
from costmodel.units import ureg


def resolve_model(name: str, settings: Sequence[str] = ()) -> ArchConfig:
    """A preset or a family's default config, with ``FIELD=VALUE`` settings applied."""
    if name in PRESETS:
        config = PRESETS[name]
    elif name in FAMILIES:
        config = FAMILIES[name]()
    else:
        raise UnknownPresetError("model", name, list(PRESETS) + list(FAMILIES))
    changes: dict[str, Any] = {}
    for item in settings:
        field, sep, text = item.partition("=")
        field = field.strip()
        if not sep or not field or not text.strip():
            raise InvalidConfigError("--set", item, "must look like FIELD=VALUE, e.g. --set layers=2,2,2,2")
        changes[field] = type(config).parse_field(field, text)
    return config.replace(**changes) if changes else config


def fmt(value: Any, unit: str) -> str:
    q = ureg.Quantity(value, unit)
    compact = q.to_compact()
    return f"{compact:.4g~P}" if compact.magnitude != value else f"{q:~P}"


def config_line(config: ArchConfig) -> str:
    fields = ", ".join(f"{n}={show(getattr(config, n))}" for n in config.field_names())
    return f"{type(config).__name__}({fields})"


def show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def breakdown_rows(c: Cost, metric: str, top: int) -> list[tuple[str, Any]]:
    rows = [(path, getattr(part, metric)) for path, part in c.parts]
    rows.sort(key=lambda r: -int(r[1]))
    return rows[:top]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value




__all__ = ["resolve_model", "fmt", "config_line", "show", "breakdown_rows", "positive_int"]
