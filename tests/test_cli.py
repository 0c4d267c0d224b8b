"""The costmodel command: tables with units, --json on every command, one-line errors, --help.

Numbers in the human output are checked against hand derivations (a one-layer ConvNet
and the default two-layer ConvNet, worked out in the comments) or against a real PyTorch
``FlopCounterMode`` run, never against copied output.
"""

import io
import json
import subprocess
import sys

import pytest
from costmodel.validation.build import measure_flops

from costmodel.cli import build_parser, main
from costmodel.cli.common import plain_output, print_table
from costmodel.models.resnet import ResNetConfig


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def error_of(capsys, *argv):
    """The one stderr line of a failing command (exit status 2 checked)."""
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("costmodel: error: "), err
    assert "Traceback" not in err
    return err


# -- count ------------------------------------------------------------------------------------
def test_count_json_has_integer_fields_equal_to_flop_counter(capsys):
    code, out, _ = run(capsys, "count", "resnet", "--set", "layers=1,1", "--set", "width=8",
                       "--set", "image_size=40x56", "--batch", "3", "--json")
    assert code == 0
    data = json.loads(out)
    measured, params = measure_flops(ResNetConfig(layers=(1, 1), width=8, image_size=(40, 56)), batch=3)
    assert data["batch"] == 3
    assert (data["params"], data["forward_flops"], data["backward_flops"]) == (params, measured.forward,
                                                                                measured.backward)
    assert all(isinstance(data[k], int) for k in ("params", "forward_flops", "backward_flops", "batch"))
    assert data["units"]["forward_flops"] == "flop" and data["units"]["params"] == "param"


ONE_LAYER = ("count", "convnet", "--set", "channels=8", "--set", "norm=none", "--set", "pool=none")


def test_count_table_has_hand_derived_numbers_with_units(capsys):
    # Conv2d(3, 8, 3, padding=1) on 32x32, then average pool and Linear(8, 10).
    # params: 8*3*9 + 8 = 224 conv, 8*10 + 10 = 90 head -> 314.
    # MACs: 32*32*8 outputs * 27 = 221,184 conv, 80 head -> 221,264; FLOPs = 2 * MACs = 442,528.
    code, out, _ = run(capsys, *ONE_LAYER)
    assert code == 0
    assert "1 MAC = 2 FLOPs" in out
    for text in ("442.5 kFLOP", "442,528 FLOP", "314 param", "221.3 kMAC", "221,264 MAC"):
        assert text in out, text
    assert "221,264 FLOP" not in out and "221.3 kFLOP" not in out  # MACs are never labelled FLOPs
    assert "layer0" in out and "head" in out and "%" in out
    assert "+-" in out and "\x1b[" not in out  # captured (not a terminal): ASCII box, no colour codes


def test_count_json_is_the_same_count(capsys):
    code, out, _ = run(capsys, *ONE_LAYER, "--json")
    data = json.loads(out)
    assert code == 0 and (data["params"], data["forward_flops"]) == (314, 442_528)
    assert data["units"]["saved_activation_bytes"] == "byte"


def test_count_human_output_of_a_preset_has_units_and_breakdown(capsys):
    code, out, _ = run(capsys, "count", "resnet18")
    assert code == 0
    assert "GFLOP" in out and "Mparam" in out and "MiB" in out
    assert "layer" in out and "%" in out


def test_count_symbolic_prints_closed_forms(capsys):
    code, out, _ = run(capsys, "count", "vit", "--set", "depth=D", "--set", "width=d", "--set", "heads=1",
                       "--symbolic", "--json")
    data = json.loads(out)
    assert code == 0 and data["symbolic"] is True
    assert "D" in data["forward_flops"] and "d" in data["forward_flops"] and "B" in data["forward_flops"]


# -- compare and crossover ----------------------------------------------------------------------
def test_compare_table_has_hand_derived_values(capsys):
    # default convnet: Conv(3->32) at S x S, pool, Conv(32->64) at S/2, pool, Linear(64 -> 10):
    # MACs = 27*32 S^2 + 288*64 (S/2)^2 + 640 = 5472 S^2 + 640
    # S = 32: 2 * 5,603,968 = 11,207,936 FLOP;  S = 64: 2 * 22,413,952 = 44,827,904 FLOP
    code, out, _ = run(capsys, "compare", "convnet", "vit", "--range", "32:64", "--points", "2")
    assert code == 0
    assert "32 px" in out and "64 px" in out and "11.21 MFLOP" in out and "44.83 MFLOP" in out
    assert "valid every 16 px" in out  # lcm of the convnet's 4 and the ViT's patch 16
    code, out, _ = run(capsys, "compare", "convnet", "vit", "--range", "32:64", "--points", "2", "--json")
    data = json.loads(out)
    assert data["unit"] == "flop" and data["over_unit"] == "px"
    assert [(row["value"], row["convnet"]) for row in data["table"]] == [(32, 11_207_936), (64, 44_827_904)]


def test_quick_start_command_prints_the_crossover_and_writes_the_plot(capsys, tmp_path):
    plot = tmp_path / "comparison.png"
    code, out, _ = run(capsys, "compare", "resnet50", "vit_ti_16", "--over", "image_size", "--range", "64:2048",
                       "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 0
    assert "crossover at image_size = 928 px (root 924.6 px): resnet50 is cheaper from there on" in out


def test_compare_json_keeps_stdout_pure_when_plotting(capsys, tmp_path):
    plot = tmp_path / "c.svg"
    code, out, err = run(capsys, "compare", "resnet50", "vit_ti_16", "--range", "64:256", "--plot", str(plot),
                         "--json")
    assert code == 0 and json.loads(out)["models"] == ["resnet50", "vit_ti_16"]
    assert "plot written to" in err


def test_crossover_table_and_json(capsys):
    code, out, _ = run(capsys, "crossover", "resnet50", "vit_ti_16")
    assert code == 0 and "924.6 px" in out and "resnet50 vs vit_ti_16" in out and "inf" in out
    code, out, _ = run(capsys, "crossover", "resnet50", "vit_ti_16", "--json")
    assert [d["value"] for d in json.loads(out)] == [928]


def test_a_huge_range_is_still_fast(capsys):
    code, out, _ = run(capsys, "crossover", "resnet50", "vit_ti_16", "--range", "1:1000000000000", "--json")
    assert code == 0 and [d["value"] for d in json.loads(out)] == [928]


# -- the other commands' --json -----------------------------------------------------------------
def test_validate_json_prints_the_records(capsys, monkeypatch, tmp_path):
    from costmodel.validation import report

    record = report.ValidationRecord(preset="resnet18", device="cpu", batch=1, quantity="params",
                                     predicted=11_689_512, measured=11_689_512, rel_error=0.0, seconds=0.5)
    monkeypatch.setattr(report, "run_validation", lambda models, device="cpu", batch=1: [record])
    code, out, err = run(capsys, "validate", "--models", "resnet18", "--output", str(tmp_path / "r.json"), "--json")
    data = json.loads(out)
    assert code == 0 and data == [{"preset": "resnet18", "device": "cpu", "batch": 1, "quantity": "params",
                                   "predicted": 11_689_512, "measured": 11_689_512, "rel_error": 0.0,
                                   "seconds": 0.5, "error": None, "unit": "param"}]
    assert "results written to" in err
    code, out, _ = run(capsys, "validate", "--models", "resnet18", "--output", str(tmp_path / "r.json"))
    assert "11.69 Mparam" in out and "exact" in out and "500 ms" in out


def test_fit_json_nothing_fits_exits_1_with_json(capsys):
    code, out, _ = run(capsys, "fit", "vit_h_14", "--memory", "1GiB", "--json")
    assert code == 1 and json.loads(out)["fits"] is False


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["count", "resnet5"], "unknown model 'resnet5'. Did you mean resnet50"),
    (["count", "resnet", "--set", "layers"], "--set='layers': must look like FIELD=VALUE"),
    (["count", "resnet", "--set", "layers=2,,2"], "layers='2,,2': cannot be parsed"),
    (["count", "resnet", "--set", "width=2.5"], "width='2.5': cannot be parsed"),
    (["count", "resnet", "--set", "depth=3"], "depth='3': ResNetConfig has no such field"),
    (["count", "vit", "--set", "patch_size=15"], "image_size=224: must be divisible by patch_size=15"),
    (["count", "vit", "--set", "heads=5"], "width=768: must be divisible by heads=5"),
    (["count", "vit", "--set", "depth=0"], "depth=0: must be a positive integer"),
    (["count", "vit", "--set", "depth=-2"], "depth=-2: must be a positive integer"),
    (["count", "vit", "--set", "depth=D"], "symbolic fields need --symbolic"),
    (["count", "vit", "--set", "depth="], "--set='depth=': must look like FIELD=VALUE"),
    (["count", ""], "unknown model ''"),
    (["count", "resnet18", "--batch", "1e400"], "argument --batch: '1e400': must be a whole number"),
    (["count", "resnet18", "--batch", "５"], "argument --batch: '５': must be a whole number"),
    (["count", "resnet18", "--batch", ""], "argument --batch: '': must be a whole number"),
    (["count", "resnet18", "--batch", "0"], "argument --batch: '0': must be a positive integer"),
    (["count", "resnet18", "--batch", "-1"], "must be a positive integer"),
    (["count", "resnet18", "--batch", "9" * 30], "is too large (at most 1,000,000,000,000,000)"),
    (["count", "resnet18", "--bogus"], "unrecognized arguments: --bogus"),
    (["count"], "count: the following arguments are required: model"),
    (["compare", "resnet50", "vit_b_16", "--range", "300:100"], "--range='300:100'"),
    (["compare", "resnet50", "vit_b_16", "--range", "64:1e309"], "--range='64:1e309': must look like MIN:MAX"),
    (["compare", "resnet50", "vit_b_16", "--range", "64:inf"], "compare needs a finite MAX"),
    (["compare", "resnet50", "vit_b_16", "--points", "1000000000000"], "is too large (at most 100)"),
    (["compare", "resnet50", "vit_b_16", "--metric", "flops"], "unknown metric 'flops'"),
    (["compare", "resnet50", "vit_b_16", "--plot", "out.nope"], "--plot='out.nope': must end in .png or .svg"),
    (["fit", "resnet50", "--memory", "1e400GiB"], "--memory='1e400GiB'"),
    (["plan", "resnet50", "--batch", "8", "--dataset-size", "1e400"], "--dataset-size='1e400'"),
    (["plan", "resnet50", "--batch", "8", "--price", "9" * 400 + " USD/h"], "must be a finite amount per GPU-hour"),
    (["converge", "results.json", "--confidence", "nan"], "argument --confidence: 'nan': must be a finite number"),
    (["generate-cost", "ar_transformer", "--sample", "--steps", "²"], "--steps='²'"),
])
def test_bad_input_gives_one_line_error(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in error_of(capsys, *argv)


@pytest.mark.parametrize("argv", [
    ["count", "vit", "--set", "depth=99999999999999999999"],
    ["count", "vit", "--set", "depth=99999999999999999999", "--symbolic"],
    ["count", "vit", "--set", "mlp_ratio=1e400"],
    ["count", "vit", "--set", "image_size=nan"],
    ["count", "resnet", "--set", "layers=2,2,2,99999999999"],
    ["plan", "resnet50", "--batch", "8", "--epochs", "99999999999999"],
])
def test_absurd_values_never_give_a_traceback(capsys, argv):
    """Huge or odd values: either a result or a one-line error, and quickly."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code == 0 or (code == 2 and err.count("\n") == 1 and err.startswith("costmodel: error: "))


def test_an_internal_error_is_one_line_unless_debugging(capsys, monkeypatch):
    from costmodel.cli import count

    def bug(args):
        raise TypeError("a bug")

    monkeypatch.setattr(count, "cmd_count", bug)
    monkeypatch.delenv("COSTMODEL_DEBUG", raising=False)
    err = error_of(capsys, "count", "resnet18")
    assert "internal error in 'costmodel count resnet18' (TypeError: a bug)" in err
    monkeypatch.setenv("COSTMODEL_DEBUG", "1")
    with pytest.raises(TypeError, match="a bug"):
        main(["count", "resnet18"])


def test_missing_torch_is_one_line(capsys, monkeypatch):
    from costmodel.cli import validate

    def no_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(validate, "_check_presets", no_torch)
    assert "'costmodel validate' needs PyTorch" in error_of(capsys, "validate", "--models", "resnet18")


# -- help and output plumbing -------------------------------------------------------------------
def test_every_subcommand_has_a_description_and_an_example(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert exc.value.code == 0 and parser.description, name
        assert out.startswith("usage: costmodel ") and "examples:" in out and f"costmodel {name}" in out


def test_tables_are_ascii_without_a_terminal_and_boxed_on_one(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, no_color, ascii_box in ((io.StringIO(), False, True), (Terminal(), True, True),
                                        (Terminal(), False, False)):
        monkeypatch.setattr(sys, "stdout", stream)
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        else:
            monkeypatch.delenv("NO_COLOR", raising=False)
        assert plain_output() is ascii_box
        print_table("title [bold]x[/bold]", ("a", "b"), [("[red]1[/red]", "2 FLOP")], align="lr")
        text = stream.getvalue()
        assert "[red]1[/red]" in text and "title [bold]x[/bold]" in text  # cells are text, not markup
        assert ("+-" in text) is ascii_box and ("╭" in text) is (not ascii_box)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "costmodel.cli", "count", "vit_ti_16", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["params"] > 0
