"""Results files of the validation runs: written atomically, read back checked.

``validation/results/<device>.json`` is one JSON object whose top-level keys are
*sections* (``"flops"``, ``"memory"``, ``"time"``), each ``{..., "records": [...]}`` and
each written by one tool; ``validation/results/convergence.json`` is the F19 experiment.

* Every writer goes through :func:`write_json_atomically`: a temporary file in the same
  folder, flushed and fsynced, then one ``os.replace``, so a reader sees the old file or
  the new one, never half a file; non-finite floats (which JSON has not) become ``null``.
* :func:`merge_records` puts a tool's records into its section, replacing a stored
  record of the same case and keeping every other record and section.
* Every reader goes through :func:`read_results` and :func:`read_records`, which turn a
  corrupt file (not UTF-8, not JSON, truncated) or one of the wrong shape (a list instead
  of an object, a record with a missing key or a value of the wrong type) into a
  :class:`~costmodel.core.errors.ResultsFileError` naming the file and what is wrong.

Examples
--------
>>> import tempfile, dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Row:
...     name: str
...     value: float | None = None
>>> path = Path(tempfile.mkdtemp()) / "cpu.json"
>>> _ = merge_records(path, "demo", [Row("a", 1.5), Row("b")], record_type=Row, key=lambda r: r.name)
>>> read_records(read_results(path), "demo", Row, path=path)
[Row(name='a', value=1.5), Row(name='b', value=None)]
>>> _ = path.write_text('{"demo": {"records": [{"value": 2}]}}')
>>> read_records(read_results(path), "demo", Row, path=path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
costmodel.core.errors.ResultsFileError: ...cpu.json: section 'demo', record 0: missing key 'name'
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from costmodel.core.errors import ResultsFileError, ResultsFileNotFoundError, describe
from costmodel.core.jsonfile import file_mode, finite_json, write_json_atomically

T = TypeVar("T")
PathLike = str | os.PathLike[str]


# -- reading -----------------------------------------------------------------------------------
def read_json(path: PathLike) -> Any:
    """The JSON value in ``path``; a missing, unreadable or corrupt file is a :class:`ResultsFileError`."""
    target = Path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise ResultsFileNotFoundError(target, "no such file") from None
    except OSError as exc:
        raise ResultsFileError(target, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsFileError(target, f"is not UTF-8 text (byte {exc.start}): not a results file, or "
                                       f"damaged; fix or delete it") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated")
        raise ResultsFileError(target, f"is not valid JSON{' (truncated?)' if cut else ''} ({exc.msg}: line "
                                       f"{exc.lineno}, column {exc.colno}); fix or delete it") from None
    except RecursionError:
        raise ResultsFileError(target, "is not valid JSON (nested too deeply)") from None


def read_results(path: PathLike, *, missing_ok: bool = False) -> dict[str, Any]:
    """The results file as a dict of sections; ``{}`` for a missing file when ``missing_ok``.

    A file that is not a JSON object is a :class:`ResultsFileError` naming it and the problem.
    """
    try:
        data = read_json(path)
    except ResultsFileNotFoundError:
        if missing_ok:
            return {}
        raise
    if not isinstance(data, dict):
        raise ResultsFileError(path, f"holds a JSON {_json_type(data)}, expected an object of result sections")
    return data


def section_of(data: Mapping[str, Any], section: str, *, path: PathLike) -> dict[str, Any]:
    """The object under key ``section`` (``{}`` when there is none)."""
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise ResultsFileError(path, f"section '{section}' is a JSON {_json_type(value)}, expected an object")
    return value


def read_records(data: Mapping[str, Any], section: str, record_type: type[T], *,
                 path: PathLike = "results") -> list[T]:
    """The records of ``section``, each checked against the fields of the dataclass ``record_type``.

    Keys the record type does not have (derived values a writer added) are ignored; a
    missing required key or a value of the wrong type is a :class:`ResultsFileError`.
    """
    rows = section_of(data, section, path=path).get("records", [])
    if not isinstance(rows, list):
        raise ResultsFileError(path, f"section '{section}': 'records' is a JSON {_json_type(rows)}, "
                                     f"expected a list")
    return [record_from_row(row, record_type, path=path, where=f"section '{section}', record {i}")
            for i, row in enumerate(rows)]


def record_from_row(row: Any, record_type: type[T], *, path: PathLike, where: str) -> T:
    """One record from its JSON object (lists become tuples where the field is a tuple)."""
    if not isinstance(row, dict):
        raise ResultsFileError(path, f"{where} is a JSON {_json_type(row)}, expected an object")
    hints = typing.get_type_hints(record_type)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(record_type):  # type: ignore[arg-type]
        if f.name not in row:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ResultsFileError(path, f"{where}: missing key '{f.name}'")
            continue
        value = row[f.name]
        if not _matches(value, hints[f.name]):
            raise ResultsFileError(path, f"{where}: '{f.name}' should be {_type_name(hints[f.name])}, got "
                                         f"{_json_type(value)} {describe(value, 40)}")
        values[f.name] = tuple(value) if isinstance(value, list) and _is_tuple(hints[f.name]) else value
    try:
        return record_type(**values)
    except (TypeError, ValueError) as exc:  # a record type's own checks
        raise ResultsFileError(path, f"{where}: {exc}") from None


# -- merging -----------------------------------------------------------------------------------
def record_row(record: Any) -> dict[str, Any]:
    """A record (a dataclass) as a JSON object: tuples as lists, non-finite floats as ``null``."""
    row: dict[str, Any] = finite_json(dataclasses.asdict(record))
    return row


def merge_records(path: PathLike, section: str, records: Iterable[T], *, record_type: type[T],
                  key: Callable[[T], Hashable], sort_key: Callable[[T], Any] | None = None,
                  header: Callable[[dict[str, Any], list[T]], Mapping[str, Any]] | None = None,
                  to_row: Callable[[T], dict[str, Any]] = record_row) -> Path:
    """Merge ``records`` into ``section`` of the results file at ``path``, atomically.

    A new record replaces the stored one with the same ``key``; every other stored record
    and every other section is kept. ``header(old_section, merged_records)`` gives the
    section's other keys (device, versions, summaries). A stored file that cannot be read
    back is an error, and is left untouched rather than overwritten. Returns the path.
    """
    target = Path(path)
    data = read_results(target, missing_ok=True)
    merged = {key(r): r for r in read_records(data, section, record_type, path=target)}
    merged.update((key(r), r) for r in records)
    rows = sorted(merged.values(), key=sort_key or key)  # type: ignore[arg-type]
    content = dict(header(section_of(data, section, path=target), rows)) if header is not None else {}
    content["records"] = [to_row(r) for r in rows]
    data[section] = content
    return write_json_atomically(target, data)


# -- type checks of JSON values ------------------------------------------------------------------
def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null", int: "number",
             float: "number"}
    return names.get(type(value), type(value).__name__)


def _args(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _is_tuple(hint: Any) -> bool:
    if _is_union(hint):
        return any(_is_tuple(a) for a in _args(hint))
    return typing.get_origin(hint) is tuple


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value can stand for a field annotated ``hint``."""
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if _is_union(hint):
        return any(_matches(value, a) for a in _args(hint))
    origin = typing.get_origin(hint)
    if origin is tuple or origin is list:
        args = _args(hint)
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        return all(_matches(v, args[0]) for v in value) if args else True
    if origin is dict:
        k, v = _args(hint) or (Any, Any)
        return isinstance(value, dict) and all(_matches(a, k) and _matches(b, v) for a, b in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if _is_union(hint):
        return " or ".join(_type_name(a) for a in _args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint)) if typing.get_origin(hint) is None else str(hint)


__all__ = ["ResultsFileError", "ResultsFileNotFoundError", "finite_json", "write_json_atomically", "file_mode",
           "read_json",
           "read_results", "section_of", "read_records", "record_from_row", "record_row", "merge_records"]
