"""``costmodel generate-cost MODEL [--sample [--kv-cache] [--steps N]] [--set F=V ...] [--batch N] [--json]``.

MODEL is a generative family: ``pixelcnn``, ``ar_transformer``, ``conv_vae``, ``vit_vae``
(fields set with ``--set``). Without ``--sample``: one training step (forward and
backward). With ``--sample``: generating ``--batch`` images; ``--kv-cache`` uses the
transformer's key/value cache (PixelCNN's activation cache). ``--steps tau --symbolic``
prints the transformer's sampling cost as a closed form in the sequence length.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from costmodel.cli.common import (
    add_command,
    apply_settings,
    config_line,
    images,
    parse_int,
    positive_int,
    print_json,
    print_table,
    show,
    show_quantity,
)
from costmodel.cli.count import metric_rows, part_rows
from costmodel.core.conventions import CONVENTIONS
from costmodel.core.errors import InvalidConfigError, UnknownPresetError

if TYPE_CHECKING:
    from costmodel.cost.value import Cost
    from costmodel.models.base import ArchConfig

#: the generative families (their configs are imported with the first command that needs them)
FAMILIES = ("pixelcnn", "ar_transformer", "conv_vae", "vit_vae")
EXAMPLES = ("costmodel generate-cost pixelcnn                                  # one training step",
            "costmodel generate-cost ar_transformer --sample --kv-cache        # sampling with a key/value cache",
            "costmodel generate-cost ar_transformer --sample --kv-cache --steps tau --symbolic",
            "costmodel generate-cost vit_vae --sample --set image_size=64 --json")


def register(sub: Any) -> None:
    gen = add_command(sub, "generate-cost", "training and sampling FLOPs of a generative model (F16-F20)", EXAMPLES)
    gen.add_argument("model", help=f"a generative family: {', '.join(FAMILIES)}")
    gen.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a config field (repeatable)")
    gen.add_argument("--sample", action="store_true", help="cost of sampling instead of a training step")
    gen.add_argument("--kv-cache", action="store_true", help="sample with the key/value (activation) cache")
    gen.add_argument("--steps", help="ar_transformer: tokens to generate (default: the whole image), or a symbol")
    gen.add_argument("--batch", type=positive_int, help="images (default 1; symbolic B with --symbolic)")
    gen.add_argument("--json", action="store_true", help="print one JSON object")
    gen.add_argument("--symbolic", action="store_true", help="print the closed forms")
    gen.add_argument("--convention", choices=sorted(CONVENTIONS), default="flop_counter")
    gen.add_argument("--top", type=positive_int, default=6, help="breakdown rows to show")
    gen.set_defaults(func=cmd_generate)


def resolve(name: str, settings: list[str]) -> ArchConfig:
    """The generative family ``name`` with ``FIELD=VALUE`` settings."""
    from costmodel.models.generative import MODULES

    generative = {cls.family: cls for cls in MODULES}
    if name not in generative:
        raise UnknownPresetError("generative model", name, generative)
    return apply_settings(None, generative[name], settings)


def cmd_generate(args: argparse.Namespace) -> int:
    """One training step or sampling: a table, ``--json`` or ``--symbolic`` closed forms."""
    from costmodel.core.symbols import B
    from costmodel.cost.value import METRIC_UNITS
    from costmodel.models import cost
    from costmodel.models.generative import sample_cost

    config = resolve(args.model, args.set or [])
    if (args.kv_cache or args.steps) and not args.sample:
        raise InvalidConfigError("--kv-cache" if args.kv_cache else "--steps", True, "applies to --sample only")
    batch = B if args.batch is None and args.symbolic else (1 if args.batch is None else args.batch)
    steps = _steps(args.steps)
    if args.sample:
        c = sample_cost(config, batch=batch, cache=args.kv_cache, steps=steps, convention=args.convention)
        what = f"sampling{' with cache' if args.kv_cache else ''}"
    else:
        c = cost(config, batch=batch, convention=args.convention)
        what = "one training step"
    if c.free_symbols and not args.symbolic:
        free = ", ".join(sorted(map(str, c.free_symbols)))
        raise InvalidConfigError("--set", free, "symbolic fields need --symbolic to print closed forms")
    held = _cache(config, batch, steps) if args.sample and args.kv_cache else None
    if args.symbolic:
        return _print_symbolic(args, config, c, what, held)
    if args.json:
        print_json(generate_json(args, config, c, batch, steps, held))
        return 0
    print(f"{args.model}: {config_line(config)}")
    print(f"{what}, batch of {images(batch)}, convention {args.convention} (1 MAC = 2 FLOPs)\n")
    names: tuple[str, ...] = ("params", "forward_flops") if args.sample else (*METRIC_UNITS, "training_flops")
    rows = metric_rows({name: int(getattr(c, name)) for name in METRIC_UNITS}, names)
    if held is not None:
        rows.append(("cache", show_quantity(4 * int(held), "byte") + " in float32", f"{int(held):,} values"))
    print_table(None, ("quantity", "value", "exact"), rows, align="lrr")
    print_table(f"forward FLOPs by part (top {args.top})", ("part", "forward", "share"),
                part_rows([(path, int(part.forward_flops)) for path, part in c.parts], int(c.forward_flops), args.top),
                align="lrr")
    return 0


def generate_json(args: argparse.Namespace, config: ArchConfig, c: Cost, batch: Any, steps: Any,
                  held: Any) -> dict[str, Any]:
    """The ``--json`` object of ``costmodel generate-cost`` (counts in flop and param, ``cache_elements`` values)."""
    from costmodel.cost.value import METRIC_UNITS
    from costmodel.models.generative import SEQUENTIAL, PixelCNNConfig

    value = c.evaluate()
    out: dict[str, Any] = {
        "model": args.model, "config": {n: show(getattr(config, n)) for n in config.field_names()},
        "mode": "sample" if args.sample else "train", "kv_cache": args.kv_cache, "batch": batch,
        "convention": args.convention, **value.magnitudes(),
        "training_flops": value.training_flops.to("flop").magnitude, "units": dict(METRIC_UNITS),
        "breakdown": {path: int(part.forward_flops) for path, part in c.parts}}
    if isinstance(config, SEQUENTIAL) and args.sample:
        count = config.steps if isinstance(config, PixelCNNConfig) else (steps or config.sequence_length)
        out["steps"] = int(count)
    if held is not None:
        out["cache_elements"] = int(held)
    return out


def _steps(text: str | None) -> Any:
    if text is None:
        return None
    import sympy

    text = text.strip()
    if text.isascii() and text.isdigit():
        return parse_int(text, "--steps", low=1)
    if text.isascii() and text.isidentifier():
        return sympy.Symbol(text, positive=True, integer=True)
    raise InvalidConfigError("--steps", text, "must be a positive integer or a symbol name (e.g. tau)")


def _cache(config: ArchConfig, batch: Any, steps: Any) -> Any:
    from costmodel.models.generative import ARTransformerConfig, PixelCNNConfig
    from costmodel.models.generative.ar_transformer import kv_cache_elements
    from costmodel.models.generative.pixelcnn import cache_elements

    if isinstance(config, ARTransformerConfig):
        return kv_cache_elements(config, batch=batch, steps=steps)
    if isinstance(config, PixelCNNConfig):
        return cache_elements(config, batch=batch)
    return None


def _print_symbolic(args: argparse.Namespace, config: ArchConfig, c: Cost, what: str, held: Any) -> int:
    import sympy

    from costmodel.cost.value import METRIC_UNITS

    exprs = {name: sympy.factor_terms(sympy.expand(e)) for name, e in c.metrics().items()}
    if held is not None:
        exprs["cache_elements"] = sympy.factor_terms(sympy.expand(held))
    if args.json:
        print_json({"model": args.model, "mode": what, "symbolic": True, **{k: str(v) for k, v in exprs.items()}})
        return 0
    print(f"{args.model}: {config_line(config)}")
    print(f"closed forms of {what}; convention {args.convention} (1 MAC = 2 FLOPs)\n")
    units = {**METRIC_UNITS, "cache_elements": "values"}
    for name, expr in exprs.items():
        print(f"{name} [{units[name]}] =\n    {expr}\n")
    return 0
