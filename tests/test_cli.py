"""The costmodel command: count (table, --json, --symbolic), compare, and one-line errors."""

import json
import subprocess
import sys

import pytest

from costmodel.cli import main
from costmodel.validation.build import measure_flops
from costmodel.models.resnet import ResNetConfig


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


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


def test_count_human_output_has_units_and_breakdown(capsys):
    code, out, _ = run(capsys, "count", "resnet18")
    assert code == 0
    assert "GFLOP" in out and "param" in out and "1 MAC = 2 FLOPs" in out
    assert "layer" in out and "%" in out


def test_count_symbolic_prints_closed_forms(capsys):
    code, out, _ = run(capsys, "count", "vit", "--set", "depth=D", "--set", "width=d", "--set", "heads=1",
                       "--symbolic", "--json")
    data = json.loads(out)
    assert code == 0 and data["symbolic"] is True
    assert "D" in data["forward_flops"] and "d" in data["forward_flops"] and "B" in data["forward_flops"]


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
    (["compare", "resnet50", "vit_b_16", "--range", "300:100"], "--range='300:100'"),
    (["compare", "resnet50", "vit_b_16", "--metric", "flops"], "unknown metric 'flops'"),
])
def test_bad_input_gives_one_line_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("costmodel: error:")


def test_negative_batch_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["count", "resnet18", "--batch", "-1"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "costmodel.cli", "count", "vit_ti_16", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["params"] > 0
