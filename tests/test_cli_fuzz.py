"""Fuzzing the command line: every subcommand, valid tokens mixed with junk, never a traceback.

For every subcommand the parser knows (read from the parser itself, so a new command is
fuzzed without touching this file), Hypothesis builds argument lists from the command's
own flags and choices, preset, family and field names, and hostile values: huge, tiny,
negative and non-ASCII numbers, NaN, infinities, empty strings, random unicode. Each
list runs through :func:`costmodel.cli.main` in-process and must end in one of:

* exit status 0 (``fit``, ``validate``, ``converge``: also 1, "computed, and something
  failed"), and with ``--json`` a stdout that is exactly one JSON document;
* exit status 2 with exactly one line on stderr, starting ``costmodel: error:``.

Anything else (an uncaught exception, a traceback, two error lines) fails the test, and
Hypothesis prints the argument list. ``COSTMODEL_DEBUG=1`` is set, so that a bug raises
with its traceback instead of becoming the one-line "internal error" users would see.
The torch workloads (``validate``, ``calibrate``) and plot writing are replaced by
stubs: this tests parsing and validation, not the benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.cli import build_parser, main
from costmodel.cli.generate import FAMILIES as GENERATIVE
from costmodel.models import FAMILIES
from costmodel.models.presets import PRESETS


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, as the ``costmodel`` parser holds them."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the costmodel parser has no subcommands")


PARSERS = subcommand_parsers()
#: Examples per command: 30 keeps the file near 20 s; raise it (COSTMODEL_FUZZ_EXAMPLES=500) to hunt.
EXAMPLES = int(os.environ.get("COSTMODEL_FUZZ_EXAMPLES", "30"))
FIELDS = sorted({name for cls in FAMILIES.values() for name in cls.field_names()})
NAMES = sorted(PRESETS)[:12] + sorted(FAMILIES) + ["resnet5", "vit_ti_16", "resnet50"]
NASTY = ["0", "-1", "1", "2", "8", "64", "224", "9" * 25, "1e400", "1e309", "-0", "+3", "1_000", "0x10", "3.5",
         "nan", "NaN", "inf", "-inf", "", " ", "５", "١٢", "²", "Ⅻ", "1e-400", "64:2048", "64:1e309",
         "1:1000000000000", "1:inf", "300:100", ":", "1.28M", "1e400GiB", "80GiB", "16 GB", "2.5 USD/h",
         "nan USD/h", "1e400 USD/h", "D", "tau", "\x00", "é", "-", "--", "x" * 50]
SETTINGS = [f"{field}={value}" for field in ("depth", "width", "image_size", "heads", "layers", "mlp_ratio",
                                             "patch_size", "channels", "dims")
            for value in ("1", "0", "-3", "99999999999999999999", "1e400", "nan", "５", "", "D", "2,2", "8x9")]


def option_values(parser: argparse.ArgumentParser) -> tuple[list[str], list[str]]:
    """The parser's option strings, and every value its options offer as a choice."""
    flags, choices = [], []
    for action in parser._actions:
        flags.extend(action.option_strings)
        choices.extend(str(c) for c in action.choices or ())
    return flags, choices


def junk(parser: argparse.ArgumentParser, results: str) -> st.SearchStrategy[str]:
    """One argument: a flag or choice of this command, a name, a setting, a nasty value or random text."""
    flags, choices = option_values(parser)
    known = flags + choices + NAMES + FIELDS + NASTY + SETTINGS + [results]
    return st.one_of(st.sampled_from(known), st.text(max_size=12), st.integers(-(10**30), 10**30).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


#: Values of the kind each option wants, by its ``dest``; any other option gets small counts.
PLAUSIBLE = {
    "memory": ["16GiB", "80GiB", "1GiB", "512MiB", "24GB"], "price": ["2.50 USD/h", "$1", "0.10 EUR/h"],
    "dataset_size": ["1000", "1.28M", "50k"], "device": ["h100", "a100", "cpu", "l4"],
    "dtype": ["fp32", "bf16", "float32", "bfloat16"], "optimizer": ["adam", "sgd", "adamw"],
    "strategy": ["ddp", "zero1", "zero3", "fsdp"], "steps": ["4", "tau", "16"], "over": ["image_size", "batch",
    "width", "depth"], "metric": ["forward_flops", "params", "training_flops", "peak_training_bytes"],
    "confidence": ["0.9", "0.5"], "tolerance": ["0.05", "0.01"], "min_loss": ["0", "0.1"],
    "output": ["out.json"], "plot": ["out.png"], "device_file": ["devices.toml"], "profile": ["profile.json"],
    "set": ["depth=2", "width=64", "image_size=64", "heads=2", "layers=1,1", "patch_size=8", "channels=8,16"],
    "range": ["64:512", "1:64", "32:inf", "8:1000000000000"], "gpus": ["1", "2", "8"],
}


def value(action: argparse.Action, parser: argparse.ArgumentParser, results: str, clean: bool
          ) -> st.SearchStrategy[str]:
    """A value for ``action``: of the kind it wants (a choice, a name, a count, a range), or junk.

    ``clean`` lists draw junk rarely (deep paths get exercised); the others often.
    """
    dest = action.dest
    if action.choices:
        plausible: st.SearchStrategy[str] = st.sampled_from([str(c) for c in action.choices])
    elif dest in ("model", "models"):
        plausible = st.sampled_from(sorted(GENERATIVE) if parser.prog.endswith("generate-cost") else NAMES)
    elif dest == "results":
        plausible = st.just(results)
    elif dest in PLAUSIBLE:
        plausible = st.sampled_from(PLAUSIBLE[dest])
    else:
        plausible = st.integers(1, 64).map(str)
    if dest == "set" and not clean:
        plausible = st.sampled_from(SETTINGS) | st.builds("{}={}".format, st.sampled_from(FIELDS),
                                                          junk(parser, results))
    if dest == "range" and not clean:
        ends = st.sampled_from(["1", "32", "64", "2048", "9" * 20, "1e309", "inf", "", "0", "-5", "５"])
        plausible = st.builds("{}:{}".format, ends, ends)
    odd = st.sampled_from(NASTY) if clean else junk(parser, results)
    return st.one_of(*[plausible] * (12 if clean else 3), odd)


def argument(action: argparse.Action, parser: argparse.ArgumentParser, results: str, clean: bool
             ) -> st.SearchStrategy[list[str]]:
    """The tokens of one use of ``action``: its flag (if any) and as many values as it takes."""
    flag = st.sampled_from(action.option_strings) if action.option_strings else st.just("")
    if action.nargs == 0:
        values: st.SearchStrategy[list[str]] = st.just([])
    elif action.nargs in ("+", "*"):
        values = st.lists(value(action, parser, results, clean), min_size=1, max_size=3)
    else:
        values = value(action, parser, results, clean).map(lambda v: [v])
    return st.builds(lambda f, vs: [f, *vs] if f else vs, flag, values)


@st.composite
def arguments(draw: st.DrawFn, parser: argparse.ArgumentParser, results: str) -> list[str]:
    """A whole argument list after the command: positionals, some options, sometimes stray junk."""
    clean = draw(st.booleans())
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    head = [t for a in actions if not a.option_strings or a.required
            for t in draw(argument(a, parser, results, clean))]
    options = [argument(a, parser, results, clean) for a in actions if a.option_strings]
    body = [t for group in draw(st.lists(st.one_of(*options), max_size=4 if clean else 6)) for t in group]
    stray = [] if clean else draw(st.lists(junk(parser, results), max_size=2))
    return (body + head + stray) if draw(st.booleans()) else (head + body + stray)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch directory as the working directory, a profile cache of its own, and stub workloads."""
    from costmodel.validation import memory_report, report

    from costmodel import plot
    from costmodel.hardware import calibrate, lookup, profiles

    tmp = tmp_path_factory.mktemp("cli_fuzz")
    results = tmp / "results.json"
    results.write_text(json.dumps({"curves": [
        {"model": "convnet", "seed": 0, "steps": list(range(0, 200, 10)),
         "losses": [0.2 + 2.0 * 0.9 ** t for t in range(0, 200, 10)]}]}))

    def fake_profile(*, device: str = "cpu", dtype: str = "fp32", **_: Any) -> Any:
        rate = profiles.Rate(flops=1e10, bandwidth=1e10)
        return profiles.DeviceProfile(device=device, dtype=dtype, rates={"matmul": {"forward": rate, "backward": rate}},
                                      threads=1, clock="cpu", source="fuzz stub")

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.setenv("COSTMODEL_CACHE_DIR", str(tmp / "cache"))
        mp.setenv("COSTMODEL_DEBUG", "1")  # a bug raises (with its traceback) instead of a one-line error
        mp.setattr(calibrate, "run_calibration", fake_profile)
        mp.setattr(lookup, "save_profile", lambda profile, path=None: tmp / "profile.json")
        mp.setattr(report, "run_validation", lambda models, device="cpu", batch=1: [])
        mp.setattr(report, "write_results", lambda records, device, path=None: tmp / "flops.json")
        mp.setattr(memory_report, "run_memory_validation", lambda models, **kw: [])
        mp.setattr(memory_report, "write_memory_results", lambda records, device, path=None: tmp / "memory.json")
        mp.setattr(plot, "plot_comparison", lambda result, path: path)
        yield results


def run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def wants_json(argv: list[str]) -> bool:
    """Whether ``argv`` parses, as the parser reads it, to a command with ``--json`` set."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return bool(getattr(build_parser().parse_args(argv), "json", False))
        except SystemExit:
            return False


#: the commands whose work can be computed and still fail (exit status 1, docs/cli.md): a fit that finds
#: nothing, a validation record that fails (the stubbed validation measures nothing), a curve with no fit
MAY_FAIL = {"fit", "validate", "converge"}


def check_outcome(command: str, argv: list[str]) -> None:
    code, out, err = run(argv)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 0 or (code == 1 and command in MAY_FAIL):
        if wants_json(argv) and not out.startswith("usage:"):
            json.loads(out)  # exactly one JSON document, nothing else
        return
    assert code == 2, (code, out, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("costmodel: error: ") and lines[0][18:].strip(), err


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_fuzzed_arguments_exit_cleanly(command: str, sandbox: Path) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(arguments(PARSERS[command], str(sandbox)))
    def fuzz(argv: list[str]) -> None:
        check_outcome(command, [command, *argv])

    fuzz()


def test_every_subcommand_is_fuzzed() -> None:
    """The list comes from the parser: the nine commands of the CLI, and any added later."""
    assert {"count", "compare", "crossover", "fit", "plan", "calibrate", "validate", "generate-cost",
            "converge"} <= set(PARSERS)


def test_every_subcommand_takes_json() -> None:
    for name, parser in PARSERS.items():
        assert "--json" in option_values(parser)[0], name
