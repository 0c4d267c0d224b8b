"""JSON files written atomically: a temporary file in the same folder, then one ``os.replace``.

A reader sees the old file or the new one, never half a file; the new file keeps the old
one's permissions; non-finite floats (which JSON has not) become ``null``. Used for the
device profiles (:func:`costmodel.hardware.lookup.save_profile`) and every validation results
file (:mod:`costmodel.validation.results_io`).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float (nested in dicts, lists, tuples) made ``None``.

    >>> finite_json({"a": [1.0, float("inf")], "b": float("nan")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json_atomically(path: PathLike, data: Any, *, indent: int = 2) -> Path:
    """Write ``data`` as JSON to ``path`` through a temporary file in its folder and one ``os.replace``.

    The new file keeps the old one's permissions (a new one gets the usual ``0o666`` less
    the umask, not ``mkstemp``'s private ``0o600``). On any failure the temporary file is
    removed and the old file is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(finite_json(data), handle, indent=indent, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def file_mode(target: Path) -> int:
    """Permission bits for a rewrite of ``target``: its own, else those of a new file under the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


__all__ = ["PathLike", "file_mode", "finite_json", "write_json_atomically"]
