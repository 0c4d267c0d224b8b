"""``costmodel count --module SPEC``: a model file traced from the command line; bad specs are one line."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from costmodel.validation.flops import count_flops

from costmodel.cli import main

MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.head = nn.Linear(8, 10)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean((2, 3)))

    def make():
        return Net()

    NUMBER = 3

    def not_a_module():
        return 3
''')


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


def test_count_module_json_matches_a_real_run(model_file, capsys):
    assert main(["count", "--module", f"{model_file}:make", "--input", "3x20x18", "--batch", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    namespace: dict = {}
    exec(MODEL, namespace)  # the same model, run for real
    real = count_flops(namespace["make"](), torch.randn(3, 3, 20, 18))
    assert (out["forward_flops"], out["backward_flops"]) == (real.forward, real.backward)
    assert out["params"] == 3 * 8 * 9 + 8 + 8 * 10 + 10
    assert set(out["breakdown"]) >= {"conv", "head"}


def test_count_module_symbolic(model_file, capsys):
    assert main(["count", "--module", f"{model_file}:make", "--input", "3x32x32", "--symbolic"]) == 0
    out = capsys.readouterr().out
    # conv: 8 outputs x 27 MACs per pixel of the (floor((H-1)/2)+1) x (floor((W-1)/2)+1) map; head: 80 MACs
    assert "forward_flops =" in out and "B" in out and "floor" in out


@pytest.mark.parametrize("spec, message", [
    ("nosuch_pkg.mod:make", "no module named 'nosuch_pkg'"),
    ("{file}:nope", "has no 'nope'"),
    ("{file}:NUMBER", "not a callable"),
    ("{file}:not_a_module", "not a torch.nn.Module"),
    ("no_colon", "expected MODULE:FACTORY"),
    ("missing/file.py:make", "no such file"),
])
def test_bad_specs_are_one_line_errors_naming_the_spec(model_file, capsys, spec, message):
    spec = spec.format(file=model_file)
    with pytest.raises(SystemExit):
        main(["count", "--module", spec, "--input", "3x16x16"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and spec in err


def test_wrong_input_rank_is_an_error(model_file, capsys):
    with pytest.raises(SystemExit):
        main(["count", "--module", f"{model_file}:make", "--input", "3x16"])
    err = capsys.readouterr().err
    assert "--input '3x16'" in err and "net.py:make" in err


def test_module_in_crossover_fit_and_plan(model_file, capsys):
    spec = f"{model_file}:make"
    assert main(["crossover", "resnet18", "--module", spec, "--input", "3x32x32", "--range", "32:512",
                 "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    assert main(["fit", "--module", spec, "--input", "3x32x32", "--memory", "1GB", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["fits"] and fit["value"] > 1 and fit["memory_bytes"] <= 10**9
    assert main(["plan", "--module", spec, "--input", "3x32x32", "--batch", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == spec
