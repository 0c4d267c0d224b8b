"""``--module PKG.MOD:FACTORY [--input 3x224x224]``: any PyTorch model, traced, where a preset goes.

The factory is called inside PyTorch's fake mode (nothing allocated) and traced with a
symbolic batch, height and width (:func:`costmodel.tracing.trace_module`); the
:class:`~costmodel.tracing.model.TracedModel` then stands where a config stands.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_module_arguments(parser: Any) -> None:
    """The ``--module`` and ``--input`` options."""
    parser.add_argument("--module", metavar="PKG.MOD:FACTORY",
                        help="trace a PyTorch model: a module path or path/to/file.py, then :factory")
    parser.add_argument("--input", default="3x224x224", metavar="CxHxW",
                        help="with --module: the image size traced at (default 3x224x224)")


def traced_model(spec: str, input_text: str) -> Any:
    """The :class:`~costmodel.tracing.model.TracedModel` of ``spec`` traced at ``input_text``."""
    from costmodel.tracing.spec import load_module, parse_input
    from costmodel.tracing.trace import trace_module

    shape = parse_input(input_text, spec)
    return trace_module(load_module(spec), shape, name=spec)


def model_or_module(args: argparse.Namespace, name: str | None) -> Any:
    """``args.module`` traced, or None when the command names a preset instead."""
    if getattr(args, "module", None):
        return traced_model(args.module, args.input)
    return None


__all__ = ["add_module_arguments", "traced_model", "model_or_module"]
