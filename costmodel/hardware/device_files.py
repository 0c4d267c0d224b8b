"""Devices from data: a :class:`~costmodel.hardware.devices.DeviceSpec` from a mapping or from a
TOML/JSON file of ``[devices.NAME]`` tables, registered for every later lookup. Every
field is checked on load; errors name the file, the ``devices.NAME.FIELD`` and the value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from costmodel.core.errors import CostModelError, InvalidConfigError

#: canonical compute dtypes, and the spellings accepted for them
from costmodel.hardware.devices import DeviceSpec, register_device


def device_from_dict(name: str, data: Mapping[str, Any]) -> DeviceSpec:
    """A :class:`DeviceSpec` from plain data (quantities as strings with units)."""
    known = {"description", "peak_flops", "memory_bandwidth", "memory", "interconnect_bandwidth", "source",
             "sources", "aliases", "sm_count", "clock", "generation"}
    unknown = set(data) - known
    if unknown:
        raise InvalidConfigError(f"devices.{name}", sorted(unknown),
                                 f"unknown keys (known: {', '.join(sorted(known))})")
    for key in ("peak_flops", "memory_bandwidth", "memory"):
        if key not in data:
            raise InvalidConfigError(f"devices.{name}.{key}", None, "is required")
    if not isinstance(data["peak_flops"], Mapping):
        raise InvalidConfigError(f"devices.{name}.peak_flops", data["peak_flops"],
                                 "must be a table of dtype = rate, e.g. { fp32 = '90 TFLOP/s' }")
    source = str(data.get("source", "user-supplied"))
    sources = dict(data.get("sources", {})) or {k: source for k in ("peak_flops", "memory_bandwidth", "memory",
                                                                      "interconnect_bandwidth")}
    return DeviceSpec(name=name, description=str(data.get("description", name)),
                      peak_flops=dict(data["peak_flops"]), memory_bandwidth=data["memory_bandwidth"],
                      memory=data["memory"], interconnect_bandwidth=data.get("interconnect_bandwidth"),
                      sources=sources, aliases=tuple(data.get("aliases", ())), sm_count=data.get("sm_count"),
                      clock=data.get("clock"), generation=str(data.get("generation", "")))


def load_device_file(path: str | Path, *, replace: bool = True) -> list[DeviceSpec]:
    """Register every device of a TOML (``.toml``) or JSON file; returns the specs.

    The file holds a table ``devices`` of name -> fields (see the module docstring).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidConfigError("device file", str(path), f"cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfigError("device file", str(path), f"is not UTF-8 text (byte {exc.start})") from None
    try:
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib

                data = tomllib.loads(text)
            else:
                raise InvalidConfigError("device file", str(path), "TOML needs Python 3.11 or later; use JSON")
        else:
            data = json.loads(text)
    except Exception as exc:
        raise InvalidConfigError("device file", str(path), f"is not valid {path.suffix or 'JSON'}: {exc}") from exc
    devices = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(devices, dict) or not devices:
        raise InvalidConfigError("device file", str(path), "needs a non-empty table 'devices' of name -> fields")
    specs = [_device_from_file(path, name, fields) for name, fields in devices.items()]
    return [register_device(spec, replace=replace) for spec in specs]


def _device_from_file(path: Path, name: Any, fields: Any) -> DeviceSpec:
    """:func:`device_from_dict` of one entry of a device file; a malformed entry names the file."""
    if not isinstance(fields, Mapping):
        raise InvalidConfigError(f"devices.{name}", fields, f"in {path}: must be a table of fields")
    try:
        return device_from_dict(str(name), fields)
    except InvalidConfigError as exc:  # name the file and the entry's field
        where = exc.field if str(exc.field).startswith("devices.") else f"devices.{name}.{exc.field}"
        raise InvalidConfigError(where, exc.value, f"{exc.reason} (in {path})") from None
    except CostModelError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. aliases = 3, sources = [1]
        raise InvalidConfigError(f"devices.{name}", dict(fields), f"in {path}: malformed entry ({exc})") from None


__all__ = ["device_from_dict", "load_device_file"]
