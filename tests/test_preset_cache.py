"""The ready-made preset counts behind ``costmodel count PRESET``: current, safe, and printed
exactly as the full computation prints them.

Expected values are not taken from the cache: they are recomputed here from the closed
forms (``preset_cache.build`` and the full ``count`` path, forced by hiding the cache).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from costmodel.cli import generate as generate_cli
from costmodel.cli import main, preset_cache
from costmodel.models.generative import MODULES
from costmodel.models.presets import PRESETS


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_shipped_cache_is_current() -> None:
    shipped = json.loads(preset_cache.CACHE_FILE.read_text())
    assert shipped == preset_cache.build(), "run `python -m costmodel.cli.preset_cache` to rebuild it"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_fast_path_prints_what_the_full_computation_prints(name: str, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["count", name, "--batch", "7", "--json"]
    fast = _run(argv, capsys)
    monkeypatch.setattr(preset_cache, "lookup", lambda _: None)
    full = _run(argv, capsys)
    assert fast == full
    assert json.loads(fast)["forward_flops"] == 7 * json.loads(_run(["count", name, "--json"], capsys))["forward_flops"]


def test_tables_are_identical_too(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run(["count", "resnet18", "--top", "3"], capsys)
    monkeypatch.setattr(preset_cache, "lookup", lambda _: None)
    assert fast == _run(["count", "resnet18", "--top", "3"], capsys)


@pytest.mark.parametrize("argv", [["--set", "width=32"], ["--convention", "full"], ["--optimizer", "sgd"],
                                  ["--dtype", "bfloat16"], ["--checkpoint"], ["--divisible"], ["--symbolic"]])
def test_other_settings_take_the_full_computation(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def fail(_: str) -> Any:
        raise AssertionError("the cache was consulted")

    monkeypatch.setattr(preset_cache, "lookup", fail)
    _run(["count", "resnet18", *argv], capsys)


@pytest.mark.parametrize("text", ["__import__('os')", "B.bit_length()", "2**B", "B/2", "1.5*B", "(lambda: 1)()",
                                  "Max(B, open)"])
def test_evaluator_refuses_anything_but_integer_sums_products_and_max(text: str) -> None:
    with pytest.raises(ValueError, match="not a stored count expression"):
        preset_cache.evaluate(text, 3)


@pytest.mark.parametrize("argv", [["--help"], ["count", "--help"], ["fit", "--help"], ["count", "resnet50"],
                                  ["count", "vit_b_16", "--batch", "32", "--json"]])
def test_help_and_preset_counts_import_neither_sympy_pint_nor_numpy(argv: list[str]) -> None:
    """What makes the command answer at once (timed in benchmarks/bench_cli.py, not here)."""
    code = ("import sys, contextlib, io\nfrom costmodel.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('sympy', 'pint', 'numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_generate_lists_every_generative_family() -> None:
    assert set(generate_cli.FAMILIES) == {cls.family for cls in MODULES}
