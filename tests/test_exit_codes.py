"""Exit statuses that mean what they say (issue 18; the rule is in docs/cli.md).

0 = the answer was computed; 1 = it was computed and something failed (a validation record,
a budget, a fit that found nothing); 2 = bad input, with one line ``costmodel: error: ...``
naming the field (or file) and the value. Every example of the issue is a test here.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from costmodel.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def refused(*argv: str) -> str:
    """The one error line of a command that must exit with status 2."""
    code, _, err = run(*argv)
    assert code == 2, (code, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("costmodel: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


# -- fit: honest searches ------------------------------------------------------------------------
def test_fit_with_an_astronomical_budget_says_the_answer_exceeds_the_bound() -> None:
    """Was: "largest batch 2147483648" (the search cap) although 2147483649 needs far less."""
    code, out, _ = run("fit", "resnet50", "--memory", "1e30TiB", "--json")
    data = json.loads(out)
    assert code == 1 and data["value"] is None and data["fits"] is False
    assert data["exceeds"] == 10**30  # the stated bound (MAX_SIZE), not an answer
    assert data["smallest_memory_bytes"] <= data["budget_bytes"]  # the bound itself does fit
    code, out, _ = run("fit", "resnet50", "--memory", "1e30TiB")
    assert code == 1 and "is more than 1,000,000,000,000,000,000,000,000,000,000 (the search bound)" in out


def test_fit_over_image_size_finds_the_true_answer_past_the_old_cap() -> None:
    """Was: 65536 px (the cap). The answer must fit and one step more must not, both exactly."""
    from costmodel.memory.footprint import training_memory
    from costmodel.models.presets import get_preset

    code, out, _ = run("fit", "vit_ti_16", "--memory", "1PiB", "--over", "image_size", "--json")
    data = json.loads(out)
    assert code == 0 and data["value"] > 65536 and data["value"] % 16 == 0
    config = get_preset("vit_ti_16")
    at = training_memory(config.replace(image_size=data["value"]), batch=1).evaluate().peak
    after = training_memory(config.replace(image_size=data["value"] + 16), batch=1).evaluate().peak
    assert at <= 2**50 < after


def test_fit_refuses_the_power_tower_fast() -> None:
    start = time.perf_counter()
    line = refused("fit", "resnet50", "--memory", "9**9**9 B")
    assert time.perf_counter() - start < 1.0
    assert "--memory='9**9**9 B': is not a memory size" in line and "is not a quantity" in line


def test_fit_with_a_symbolic_width_is_a_clean_error() -> None:
    """Was: "internal error ... please report it"."""
    assert "width=d: must be a number" in refused("fit", "vit", "--memory", "80GiB", "--set", "width=d")


@pytest.mark.parametrize("command", [["fit", "resnet50", "--memory", "16GiB"], ["count", "resnet50"],
                                     ["plan", "resnet50", "--device", "h100", "--batch", "8", "--epochs", "1",
                                      "--dataset-size", "1k"]])
def test_fp8_is_a_clean_error(command: list[str]) -> None:
    line = refused(*command, "--dtype", "fp8")
    assert "'fp8'" in line


def test_fit_that_finds_nothing_exits_1() -> None:
    code, out, _ = run("fit", "vit_b_16", "--memory", "1MiB")
    assert code == 1 and "nothing fits" in out


# -- --set: the same digits as --batch -----------------------------------------------------------
@pytest.mark.parametrize("setting", ["depth=٣", "depth=３", "width=１２", "mlp_ratio=٣", "depth=²"])
def test_non_ascii_digits_are_refused_like_batch(setting: str) -> None:
    field, value = setting.split("=")
    assert f"{field}='{value}'" in refused("count", "vit", "--set", setting)
    assert "--batch" in refused("count", "vit", "--batch", value) or "must be a whole number" in refused(
        "count", "vit", "--batch", value)


# -- compare and crossover: empty ranges, --plot '' --------------------------------------------
@pytest.mark.parametrize("command", ["compare", "crossover"])
def test_a_range_with_no_valid_value_is_bad_input(command: str) -> None:
    """``1:31`` holds no multiple of 32 (ResNet) and 16 (ViT): was an empty table and exit 0."""
    assert "holds no valid image_size" in refused(command, "resnet50", "vit_ti_16", "--range", "1:31")


def test_an_empty_plot_path_is_bad_input() -> None:
    assert "--plot=''" in refused("compare", "resnet50", "vit_ti_16", "--plot", "")


# -- validate: failed records, a device that is not there ---------------------------------------
def test_validate_exits_1_when_every_record_is_out_of_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from costmodel.validation import report

    def all_oom(models: Any, device: str = "cpu", batch: int = 1) -> list[Any]:
        return [report.ValidationRecord(preset=m, device=device, batch=batch, quantity="forward_flops",
                                        predicted=1, measured=None, rel_error=None, error="MemoryError")
                for m in models]

    monkeypatch.setattr(report, "run_validation", all_oom)
    monkeypatch.setattr(report, "write_results", lambda records, device, path=None: tmp_path / "r.json")
    code, out, _ = run("validate", "--models", "resnet18", "--batch", "1000000")
    assert code == 1 and "FAILED resnet18" in out


def test_validate_exits_0_when_every_record_matches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from costmodel.validation import report

    monkeypatch.setattr(report, "run_validation", lambda models, device="cpu", batch=1: [
        report.ValidationRecord(preset=m, device=device, batch=batch, quantity="params", predicted=5, measured=5,
                                rel_error=0.0) for m in models])
    monkeypatch.setattr(report, "write_results", lambda records, device, path=None: tmp_path / "r.json")
    assert run("validate", "--models", "resnet18")[0] == 0


def test_validate_on_a_missing_cuda_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "--device='cuda': is not available" in refused("validate", "--device", "cuda", "--models", "resnet18")


# -- converge ------------------------------------------------------------------------------------
def _curves(tmp_path: Path, curves: list[dict[str, Any]]) -> str:
    path = tmp_path / "curves.json"
    path.write_text(json.dumps({"curves": curves}))
    return str(path)


GOOD = {"model": "a", "seed": 0, "steps": list(range(0, 200, 10)),
        "losses": [0.2 + 2.0 * 0.9**t for t in range(0, 200, 10)]}
BAD = {"model": "b", "seed": 0, "steps": [0, 1], "losses": ["x", "y"]}


def test_converge_with_nothing_fittable_is_bad_input(tmp_path: Path) -> None:
    path = _curves(tmp_path, [BAD, dict(BAD, model="c")])
    assert "no curve could be fitted" in refused("converge", path)


def test_converge_with_some_unfittable_curves_exits_1(tmp_path: Path) -> None:
    path = _curves(tmp_path, [GOOD, BAD])
    assert run("converge", path, "--json")[0] == 1
    assert run("converge", _curves(tmp_path, [GOOD]), "--json")[0] == 0


def test_validate_published_json_is_one_json_document() -> None:
    """``--published --json`` prints the anchor comparison as JSON (CI's fuzzer found it printed the tables)."""
    code, out, _ = run("validate", "--published", "--json")
    document = json.loads(out)
    assert code == (1 if document["failures"] else 0)
    assert len(document["rows"]) > 100 and document["rows"][0]["published_img_s"] > 0


def test_validate_published_refuses_the_options_it_would_ignore() -> None:
    assert "--memory=True: cannot be combined with --published" in refused("validate", "--published", "--memory")
    assert "--models=['resnet18']: cannot be combined" in refused("validate", "--published", "--models", "resnet18")


# -- files validated on load -------------------------------------------------------------------
PROFILE = {"device": "cpu", "dtype": "fp32", "overhead_s": 1e-6, "memory": 1e10, "memory_bandwidth": 1e10,
           "peak_flops": 1e11,
           "rates": {kind: {"forward": {"flops": 1e11, "bandwidth": 1e10}} for kind in ("matmul", "conv",
                                                                                      "elementwise")}}
PLAN = ("plan", "resnet18", "--batch", "8", "--epochs", "1", "--dataset-size", "1k")


def _profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "profile.json"
    path.write_text(text)
    return str(path)


def test_a_cpu_profile_is_refused_for_an_h100_plan(tmp_path: Path) -> None:
    """Was: silently planned the H100 run with the CPU's rates."""
    path = _profile(tmp_path, json.dumps(PROFILE))
    line = refused(*PLAN, "--device", "h100", "--profile", path)
    assert path in line and "profile of device 'cpu'" in line and "h100_sxm" in line
    assert run(*PLAN, "--device", "cpu", "--profile", path, "--json")[0] == 0


@pytest.mark.parametrize(("edit", "field"), [
    ('"overhead_s": NaN', "overhead_s=nan"),
    ('"overhead_s": -1', "overhead_s=-1"),
    ('"memory_bandwidth": Infinity', "memory_bandwidth=inf"),
    ('"peak_flops": 0', "peak_flops=0"),
])
def test_profile_fields_are_checked_on_load(tmp_path: Path, edit: str, field: str) -> None:
    key = edit.split(":")[0].strip('"')
    text = json.dumps(PROFILE).replace(f'"{key}": {json.dumps(PROFILE[key])}', edit)
    path = _profile(tmp_path, text)
    line = refused(*PLAN, "--device", "cpu", "--profile", path)
    assert path in line and field in line


def test_an_infinite_rate_bandwidth_names_its_place(tmp_path: Path) -> None:
    text = json.dumps(PROFILE).replace('"bandwidth": 10000000000.0', '"bandwidth": Infinity', 1)
    line = refused(*PLAN, "--device", "cpu", "--profile", _profile(tmp_path, text))
    assert "rates.matmul.forward.bandwidth=inf" in line


@pytest.mark.parametrize(("peak", "shown"), [("Infinity", "=inf"), ('"inf TFLOP/s"', "'inf TFLOP/s'"),
                                             ('"9**9**9 TFLOP/s"', "is not a quantity"), ('"-1 TFLOP/s"', "positive")])
def test_device_files_are_checked_field_by_field(tmp_path: Path, peak: str, shown: str) -> None:
    path = tmp_path / "devices.json"
    path.write_text('{"devices": {"g": {"peak_flops": {"fp32": ' + peak + '}, "memory": "80 GB", '
                    '"memory_bandwidth": "1 TB/s"}}}')
    line = refused(*PLAN, "--device", "g", "--device-file", str(path))
    assert "devices.g.peak_flops.fp32" in line and str(path) in line and shown in line


def test_the_cli_page_examples_run() -> None:
    """docs/cli.md states the rule; its examples are doctests."""
    import doctest

    page = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    body = "\n".join("" if line.lstrip().startswith("```") else line for line in page.read_text().splitlines())
    test = doctest.DocTestParser().get_doctest(body, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with contextlib.redirect_stderr(io.StringIO()):
        result = runner.run(test)
    assert result.failed == 0 and result.attempted >= 8
