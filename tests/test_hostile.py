"""Hostile input, one property (issue 18): *exit 0 implies a finite answer consistent with the inputs,
and every refusal is one line naming the field and the value*.

Three parts: a table of hand-written hostile command lines (the issue's examples and their kin),
Hypothesis over the arguments of the commands that print numbers (``count``, ``fit``, ``compare``)
checking the answers they give, and Hypothesis over the Python API's inputs (``evaluate``,
``largest_batch``, ``sweep``). ``tests/test_cli_fuzz.py`` covers the whole argument space of every
command for "no traceback"; this file checks the answers. "Consistent" is checked against
independent facts: a fit's answer fits and one step more does not (exact evaluation of the
integer config), a count is a positive integer equal to the integer config's own evaluation.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_exit_codes import run

from costmodel.core.errors import CostModelError, InvalidConfigError
from costmodel.core.symbols import B, d
from costmodel.models import ViTConfig, cost

#: examples per Hypothesis test here (modest: the suite must stay at a few minutes)
EXAMPLES = 25




def one_line_refusal(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("costmodel: error: "), err
    assert "internal error" not in err and "Traceback" not in err, err
    return lines[0]


#: (argv, the field named, the value shown): each must be refused with status 2 in one line naming both
HOSTILE_CLI = [
    (["fit", "resnet50", "--memory", "9**9**9 B"], "memory", "9**9**9 B"),
    (["fit", "resnet50", "--memory", "1e400 B"], "memory", "1e400 B"),
    (["fit", "resnet50", "--memory", "nan GiB"], "memory", "nan GiB"),
    (["fit", "resnet50", "--memory", "(80) GiB"], "memory", "(80) GiB"),
    (["fit", "resnet50", "--memory", "80 GiB/s"], "memory", "80 GiB/s"),
    (["fit", "vit", "--memory", "80GiB", "--set", "width=d"], "width", "d"),
    (["fit", "resnet50", "--memory", "80GiB", "--dtype", "fp8"], "dtype", "fp8"),
    (["count", "vit", "--set", "depth=٣"], "depth", "٣"),
    (["count", "vit", "--set", "width=100"], "width", "100"),
    (["count", "vit", "--set", "image_size=100"], "image_size", "100"),
    (["count", "vit", "--set", "mlp_ratio=1e999"], "mlp_ratio", "1e999"),
    (["count", "resnet50", "--dtype", "fp8"], "dtype", "fp8"),
    (["compare", "resnet50", "vit_ti_16", "--range", "1:31"], "range", "1:31"),
    (["crossover", "resnet50", "vit_ti_16", "--range", "1:31"], "range", "1:31"),
    (["compare", "resnet50", "vit_ti_16", "--plot", ""], "--plot", "''"),
    (["compare", "resnet50", "vit_ti_16", "--range", "0:100"], "--range", "0:100"),
    (["plan", "resnet50", "--device", "h100", "--batch", "8", "--epochs", "1", "--dataset-size", "1e400"],
     "--dataset-size", "1e400"),
    (["plan", "resnet50", "--device", "h100", "--batch", "8", "--epochs", "1", "--dataset-size", "1k",
      "--dtype", "fp8"], "dtype", "fp8"),
]


@pytest.mark.parametrize(("argv", "field", "value"), HOSTILE_CLI, ids=[" ".join(a) for a, _, _ in HOSTILE_CLI])
def test_hostile_command_lines_are_refused_in_one_line_naming_field_and_value(argv: list[str], field: str,
                                                                               value: str) -> None:
    start = time.perf_counter()
    code, _, err = run(*argv)
    assert time.perf_counter() - start < 30  # generous: a refusal never hangs (the parsers are checked in ms)
    assert code == 2, (code, err)
    line = one_line_refusal(err)
    assert field in line and value in line, line


# -- exit 0 implies a finite answer consistent with the inputs ---------------------------------
def check_count(argv: list[str], out: str) -> None:
    data = json.loads(out)
    for key in ("forward_flops", "backward_flops", "params"):
        assert isinstance(data[key], int) and data[key] > 0, (key, data[key])
    for key in ("saved_activation_bytes", "peak_training_bytes"):
        if key in data:
            assert isinstance(data[key], int) and data[key] > 0


def check_fit(argv: list[str], out: str) -> None:
    data = json.loads(out)
    assert data["fits"] and isinstance(data["value"], int) and data["value"] > 0
    assert data["memory_bytes"] <= data["budget_bytes"] < data["next_memory_bytes"]
    assert data["next_value"] == data["value"] + data["step"]


def check_compare(argv: list[str], out: str) -> None:
    data = json.loads(out)
    assert data["table"], "exit 0 with an empty table"
    lo, hi = (int(x) for x in next(a for a in argv if a.startswith("--range=")).partition("=")[2].split(":"))
    for row in data["table"]:
        assert lo <= row["value"] <= hi and row["value"] % data["step"] == 0
        assert all(isinstance(row[m], int) and row[m] > 0 for m in data["models"])


CHECKS = {"count": check_count, "fit": check_fit, "compare": check_compare}
SIZES = ["1", "2", "3", "8", "16", "17", "31", "32", "64", "100", "224", "0", "-8", "٣", "1e3", "d", "9" * 31]


@st.composite
def numeric_command(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(CHECKS)))
    if command == "compare":
        ends = st.sampled_from(["1", "16", "31", "32", "33", "64", "100", "256", "0", "-1", "1e3", "٣"])
        return ["compare", draw(st.sampled_from(["resnet18", "vit_ti_16", "convnet"])),
                draw(st.sampled_from(["vit_ti_16", "convnext_tiny", "resnet18"])),
                f"--range={draw(ends)}:{draw(ends)}", "--points", "3", "--json"]
    model = draw(st.sampled_from(["vit", "resnet", "convnet", "vit_ti_16", "resnet18"]))
    settings_ = draw(st.lists(st.builds("{}={}".format, st.sampled_from(["depth", "width", "image_size", "heads",
                                                                          "patch_size", "layers", "channels"]),
                                        st.sampled_from(SIZES)), max_size=2))
    argv = [command, model, *[t for s in settings_ for t in ("--set", s)], "--json"]
    if command == "fit":
        argv += ["--memory", draw(st.sampled_from(["1GiB", "64 MiB", "16GiB", "1e3 GiB", "0 GiB", "1 B"]))]
    else:
        argv += ["--batch", draw(st.sampled_from(["1", "2", "0", "1e3", "٣"]))]
    return argv


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_command())
def test_exit_0_means_a_finite_consistent_answer(argv: list[str]) -> None:
    code, out, err = run(*argv)
    if code == 0:
        CHECKS[argv[0]](argv, out)
        return
    if code == 1:
        assert argv[0] == "fit" and not json.loads(out)["fits"]
        return
    assert code == 2
    line = one_line_refusal(err)
    assert "=" in line or "argument --" in line  # field=value, or argparse naming the option and the value


# -- the Python API ------------------------------------------------------------------------------
SMALL = dict(depth=1, num_classes=10, image_size=32, patch_size=8, heads=3, width=d)
VALUES = st.one_of(st.integers(-5, 400), st.floats(-10, 400),
                   st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300]),
                   st.integers(-5, 400).map(np.int64), st.floats(-10, 400).map(np.float32),
                   st.sampled_from([True, None, "12", sympy.Rational(3, 2), sympy.nan, sympy.oo]))


@settings(max_examples=EXAMPLES * 2, deadline=None, database=None)
@given(width=VALUES, batch=VALUES)
def test_evaluate_gives_the_integer_configs_answer_or_a_one_line_refusal(width: object, batch: object) -> None:
    symbolic = cost(ViTConfig(**SMALL))
    try:
        value = symbolic.evaluate(d=width, B=batch)
    except InvalidConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{exc.field}=")
        assert exc.field in ("d", "B", "width", "batch")
        return
    # accepted: the point is a valid integer config, and the numbers are that config's
    w, b = int(float(width)), int(float(batch))  # type: ignore[arg-type]
    assert float(width) == w and float(batch) == b and w > 0 and b > 0  # type: ignore[arg-type]
    expected = cost(ViTConfig(**{**SMALL, "width": w}), batch=b).evaluate()
    assert value == expected and math.isfinite(float(value.forward_flops.magnitude))


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(st.one_of(st.integers(-10, 10**15), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=15),
                 st.sampled_from(["16GiB", "1 TiB", "1e30TiB", "9**9**9 B", "1 GB * 8"])))
def test_largest_batch_answers_exactly_or_refuses_in_one_line(budget: object) -> None:
    from costmodel.memory.budget import largest_batch
    from costmodel.memory.footprint import training_memory
    from costmodel.models.presets import get_preset

    config = get_preset("resnet18")
    start = time.perf_counter()
    try:
        fit = largest_batch(config, budget)  # type: ignore[arg-type]
    except CostModelError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("memory=")
        assert time.perf_counter() - start < 1.0
        return
    if fit.value is not None:  # consistent: fits, one more does not (exact evaluation)
        assert training_memory(config, batch=fit.value).evaluate().peak <= fit.budget
        assert training_memory(config, batch=fit.value + 1).evaluate().peak > fit.budget
    else:
        assert fit.exceeds is not None or fit.smallest_memory > fit.budget


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(st.lists(st.one_of(st.integers(-4, 80), st.sampled_from([float("nan"), 2.5, 48.0])), min_size=1, max_size=6))
def test_sweep_answers_every_point_or_refuses_the_first_bad_one(widths: list[float]) -> None:
    from costmodel.analysis.sweeps import sweep

    arr = np.array(widths)
    base = {k: v for k, v in SMALL.items() if k != "width"}
    try:
        out = sweep(ViTConfig(**{**base, "width": 3}), width=arr, metrics=["forward_flops"])
    except InvalidConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("width=")
        return
    for w, flops in zip(widths, out["forward_flops"], strict=True):
        assert float(w).is_integer() and w > 0 and int(w) % 3 == 0
        assert flops == cost(ViTConfig(**{**base, "width": int(w)}), batch=1).evaluate().forward_flops.magnitude


def test_batch_symbol_refuses_numpy_negatives_like_plain_ones() -> None:
    c = cost(ViTConfig(**{**SMALL, "width": 24}))
    for bad in (-3, np.int64(-3), np.int16(-3), -3.0, np.float64(-3.0)):
        with pytest.raises(InvalidConfigError, match="^B=.*must be a positive integer"):
            c.evaluate({B: bad})
