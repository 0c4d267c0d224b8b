"""The ``costmodel`` command: one module per subcommand, each with ``register(subparsers)``.

``costmodel count MODEL [--set FIELD=VALUE ...] [--batch N] [--json] [--symbolic]``
``costmodel compare A B [C ...] --over FIELD --range LO:HI [--metric M] [--plot out.png] [--json]``
``costmodel crossover A B [C ...] --over FIELD [--range LO:HI] [--metric M] [--json]``
``costmodel fit MODEL --memory 80GiB [--optimizer adam] [--dtype float32] [--checkpoint] [--json]``
``costmodel validate [--device cpu|cuda] [--models ...] [--batch N] [--memory]``
``costmodel calibrate [--device cpu|cuda] [--dtype fp32] [--threads N] [--output PATH]``
``costmodel plan MODEL --device h100 --gpus 8 --batch 1024 --epochs 300 --dataset-size 1.28M [--json]``

MODEL is a preset (``costmodel count resnet50``) or a family (``vit``, ``resnet``,
``convnext``, ``convnet``) whose fields are set with ``--set``. Errors are one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from costmodel.cli import calibrate, compare, converge, count, crossover, fit, generate, plan, validate
from costmodel.errors import CostModelError

SUBCOMMANDS = (count, compare, crossover, fit, plan, calibrate, validate, generate, converge)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="costmodel", description="Exact costs of ConvNets and ViTs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CostModelError as exc:
        parser.exit(2, f"costmodel: error: {exc}\n")
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        parser.exit(2, f"costmodel: error: 'costmodel {args.command}' needs PyTorch: "
                       "pip install 'costmodel[validate]' (a CPU build is enough)\n")
    return 1


__all__ = ["build_parser", "main"]
