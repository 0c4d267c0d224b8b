"""The ``costmodel`` command: one module per subcommand, each with ``register(subparsers)``.

``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``
``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot out.png] [--json]``
``costmodel crossover A B [C ...] --over FIELD [--range LO:HI] [--metric M] [--json]``
``costmodel fit MODEL --memory 80GiB [--optimizer adam] [--dtype float32] [--checkpoint] [--json]``
``costmodel plan MODEL --device h100 --gpus 8 --batch 1024 --epochs 300 --dataset-size 1.28M [--json]``
``costmodel calibrate [--device cpu|cuda] [--dtype fp32] [--threads N] [--output PATH] [--json]``
``costmodel validate [--device cpu|cuda] [--models ...] [--batch N] [--memory] [--json]``
``costmodel generate-cost MODEL [--sample [--kv-cache] [--steps N]] [--set F=V ...] [--json]``
``costmodel converge RESULTS.json [--confidence C] [--tolerance DELTA] [--json]``
``costmodel check BUDGETS.toml [--budget NAME ...] [--json]`` (exit 1 when a limit is exceeded)

MODEL is a preset (``costmodel count resnet50``) or a family (``vit``, ``resnet``,
``convnext``, ``convnet``) whose fields are set with ``--set``. Human output is tables
with a unit on every number; ``--json`` prints one JSON document and nothing else on
stdout. Exit status (docs/cli.md): 0 = the answer was computed; 1 = computed, and
something failed (a validation record, a budget nothing fits, a fit found nothing, a curve
with no fit); 2 = bad input, as one line ``costmodel: error: ...`` on stderr naming the
field and the value. ``COSTMODEL_DEBUG=1`` shows the traceback of an internal error instead.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from costmodel.cli import calibrate, check, compare, converge, count, crossover, fit, generate, plan, validate
from costmodel.cli.common import NUMERIC_ERRORS, ArgumentParser, fail
from costmodel.core.errors import CostModelError

SUBCOMMANDS = (count, compare, crossover, fit, plan, calibrate, validate, generate, converge, check)


def build_parser() -> argparse.ArgumentParser:
    """The ``costmodel`` parser with every subcommand of :data:`SUBCOMMANDS`."""
    parser = ArgumentParser(prog="costmodel", description="Exact costs of ConvNets and ViTs.",
                            epilog="example: costmodel count resnet50   (costmodel COMMAND --help for more)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); the exit status, or ``SystemExit(2)`` on an error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CostModelError as exc:
        fail(str(exc))
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        fail(f"'costmodel {args.command}' needs PyTorch: pip install 'costmodel[validate]' (a CPU build is enough)")
    except BrokenPipeError:  # the reader went away (``costmodel count resnet50 | head``): stop quietly
        _silence_stdout()
        return 1
    except OSError as exc:
        where = f"{exc.filename!r}: " if exc.filename else ""
        fail(f"{args.command}: {where}{exc.strerror or exc}")
    except NUMERIC_ERRORS as exc:  # a value no check above caught: name the whole command line
        fail(f"{_shown(argv, args)}: cannot compute with these values ({type(exc).__name__}: {exc})")
    except Exception as exc:  # a bug: still one line, unless COSTMODEL_DEBUG asks for the traceback
        if os.environ.get("COSTMODEL_DEBUG"):
            raise
        fail(f"internal error in '{_shown(argv, args)}' ({type(exc).__name__}: {exc}); please report it "
             "(COSTMODEL_DEBUG=1 shows the traceback)")


def _shown(argv: Sequence[str] | None, args: argparse.Namespace) -> str:
    """The command line as typed (or just the command's name)."""
    return "costmodel " + shlex.join(argv) if argv is not None else f"costmodel {args.command}"


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (a test's capture)
        pass


__all__ = ["build_parser", "main", "SUBCOMMANDS"]
