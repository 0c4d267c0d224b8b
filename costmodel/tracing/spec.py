"""Model specs of the command line: ``PKG.MOD:FACTORY`` or ``path/to/model.py:FACTORY``.

:func:`load_module` imports the module (or runs the file) and returns the factory, a
callable of no arguments that returns an ``nn.Module`` (a class counts);
:func:`parse_input` reads ``--input 3x224x224``. Every failure is one
:class:`ModuleSpecError` naming the spec: no colon, no such module or file, no such name,
not callable.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from costmodel.core.errors import CostModelError


class ModuleSpecError(CostModelError, ValueError):
    """A ``--module`` spec that does not name a model factory."""


def load_module(spec: str) -> Callable[[], Any]:
    """The factory named by ``spec`` (``package.module:make`` or ``path/to/file.py:make``)."""
    target, sep, name = str(spec).rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise ModuleSpecError(f"--module {spec!r}: expected MODULE:FACTORY or path/to/file.py:FACTORY")
    if target.endswith(".py") or os.sep in target or "/" in target:
        if not os.path.isfile(target):
            raise ModuleSpecError(f"--module {spec!r}: no such file {target!r}")
        module_name = f"_costmodel_user_{abs(hash(os.path.abspath(target)))}"
        loader = importlib.util.spec_from_file_location(module_name, target)
        if loader is None or loader.loader is None:
            raise ModuleSpecError(f"--module {spec!r}: {target!r} is not a Python file")
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        try:
            loader.loader.exec_module(module)
        except Exception as exc:
            raise ModuleSpecError(f"--module {spec!r}: running {target!r} failed "
                                  f"({type(exc).__name__}: {exc})") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name == "torch":
                raise
            raise ModuleSpecError(f"--module {spec!r}: no module named {exc.name!r}") from exc
        except Exception as exc:
            raise ModuleSpecError(f"--module {spec!r}: importing {target!r} failed "
                                  f"({type(exc).__name__}: {exc})") from exc
    factory = getattr(module, name, None)
    if factory is None:
        raise ModuleSpecError(f"--module {spec!r}: {target!r} has no {name!r}")
    if not callable(factory):
        raise ModuleSpecError(f"--module {spec!r}: {name!r} is a {type(factory).__name__}, not a callable "
                              f"returning an nn.Module")
    return factory  # type: ignore[no-any-return]


def parse_input(text: str, spec: str = "") -> tuple[int, int, int]:
    """``"3x224x224"`` -> ``(3, 224, 224)``: channels, height, width (each a positive integer)."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) <= 0:
        where = f"--module {spec!r}: " if spec else ""
        raise ModuleSpecError(f"{where}--input {text!r} must be CHANNELSxHEIGHTxWIDTH, e.g. 3x224x224")
    return sizes[0], sizes[1], sizes[2]


__all__ = ["ModuleSpecError", "load_module", "parse_input"]
