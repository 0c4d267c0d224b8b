"""``costmodel check FILE``: cost budgets for CI (exit 0 all hold, 1 one exceeded, 2 malformed), and
the pytest plugin that runs the same budgets (``--costmodel-budget``, the ``costmodel_budget`` fixture).

Reference numbers: torchvision's model table (docs, "Classification"; its "GFLOPS" are GMACs):
ResNet-50 has 25,557,032 parameters and 4.09 GMAC = 8.18 GFLOP at 224 x 224."""

from __future__ import annotations

import json
import textwrap

import pytest

from costmodel.cli import main
from costmodel.testing.budgets import check_budgets, load_budgets

pytest_plugins = ["pytester"]

RESNET50 = """
[budget.backbone]
model = "resnet50"
image_size = 224
max_forward_flops = "{flops}"
max_params = "26e6"
"""


def write(tmp_path, text, name="budgets.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(capsys, *argv):
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_budgets_that_hold_exit_0(tmp_path, capsys):
    path = write(tmp_path, RESNET50.format(flops="8.3 GFLOP"))
    status, out, err = run(capsys, "check", str(path))
    assert status == 0, err
    assert "25.56 Mparam" in out and "26 Mparam" in out and "8.178 GFLOP" in out and "8.3 GFLOP" in out
    # headroom by hand: (26e6 - 25,557,032) / 26e6 = 1.70 %; (8.3e9 - 8.178e9) / 8.3e9 = 1.5 %
    assert "+1.7 %" in out and "+1.5 %" in out


def test_an_exceeded_limit_exits_1(tmp_path, capsys):
    path = write(tmp_path, RESNET50.format(flops="8 GFLOP"))  # 8.18 GFLOP > 8 GFLOP
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert "EXCEEDED" in out and "backbone.max_forward_flops" in out
    status, out, _ = run(capsys, "check", str(path), "--json")
    data = json.loads(out)
    assert status == 1 and data["ok"] is False
    flops = next(r for r in data["results"] if r["limit_name"] == "max_forward_flops")
    assert flops["value"] == pytest.approx(2 * 4.09e9, rel=1e-3) and flops["limit"] == 8e9 and not flops["holds"]
    assert flops["headroom"] == pytest.approx((8e9 - flops["value"]) / 8e9)


@pytest.mark.parametrize("text, message", [
    ('[budget.backbone]\nmodel = "resnet50"\nmax_flops = "8 GFLOP"\n',
     "budget.backbone.max_flops='8 GFLOP': unknown key (did you mean max_forward_flops?)"),
    ('[budget.backbone]\nmodle = "resnet50"\nmax_params = "26e6"\n', "budget.backbone.modle='resnet50': unknown key "
                                                                   "(did you mean model?)"),
    ('[budget.backbone]\nmodel = "resnet50"\nmax_forward_flops = "8 GB"\n', "budget.backbone.max_forward_flops='8 GB'"
                                                                           ": bad unit 'GB'"),
    ('[budget.backbone]\nmodel = "resnet50"\nmax_params = "many"\n', "budget.backbone.max_params='many'"),
    ('[budget.backbone]\nmodel = "resnet500"\nmax_params = "26e6"\n', "budget.backbone.model='resnet500': unknown "
                                                                     "model 'resnet500'. Did you mean resnet50"),
    ('[budget.backbone]\nmodel = "mypkg.nets:tiny"\nmax_params = "1e6"\n', "budget.backbone.model='mypkg.nets:tiny': "),
    ('[budget.backbone]\nmodel = "resnet50"\nmax_step_time = "5 ms"\n', "budget.backbone.device=None: is needed by "
                                                                       "max_step_time"),
    ('[budget.backbone]\nmodel = "resnet50"\n', "budget.backbone="),
    ('[budget.backbone]\nmodel = "resnet50"\nbatch = 0\nmax_params = "1"\n', "budget.backbone.batch=0"),
    ('[budget.backbone]\nmodel = "resnet50"\ndtype = "int3"\nmax_params = "1"\n', "budget.backbone.dtype='int3'"),
    ('[budget.backbone]\nmodel = "vit_b_16"\nimage_size = 100\nmax_params = "1"\n', "budget.backbone.image_size=100"),
    ("[budget]\n", "has no budgets"),
    ("[budget.x\n", "is not valid TOML"),
])
def test_a_malformed_file_exits_2_naming_budget_and_key(tmp_path, capsys, text, message):
    status, out, err = run(capsys, "check", str(write(tmp_path, text)))
    assert status == 2 and out == ""
    assert err.startswith("costmodel: error: ") and err.count("\n") == 1
    assert message in err, err


def test_a_missing_file_exits_2(tmp_path, capsys):
    status, _, err = run(capsys, "check", str(tmp_path / "nope.toml"))
    assert status == 2 and "nope.toml" in err


def test_every_limit_with_units(tmp_path, capsys):
    path = write(tmp_path, """
        [budget.train]
        model = "resnet18"
        batch = 8
        dtype = "bfloat16"
        optimizer = "sgd"
        device = "h100"
        max_training_flops = "100 GFLOP"
        max_training_memory = "4 GiB"
        max_step_time = "1 s"
        [budget.tight]
        model = "resnet18"
        device = "a100"
        max_step_time = "1 ns"
        """)
    status, out, _ = run(capsys, "check", str(path), "--budget", "train")
    assert status == 0 and "GFLOP" in out and "MiB" in out and " ms" in out
    # training FLOPs by hand from torchvision's 1.81 GMAC for resnet18: 3.63 GFLOP forward, about
    # 3 times that for a training step, times 8 images: about 85 GFLOP (< 100 GFLOP)
    assert check_budgets(path, ("train",)).results[0].value == pytest.approx(3 * 2 * 1.81e9 * 8, rel=0.03)
    status, out, _ = run(capsys, "check", str(path), "--budget", "tight")
    assert status == 1


def test_pyproject_tool_table(tmp_path, capsys):
    path = write(tmp_path, """
        [project]
        name = "mine"
        [tool.costmodel.budget.small]
        model = "resnet18"
        max_params = 12000000
        """, name="pyproject.toml")
    status, out, err = run(capsys, "check", str(path))
    assert status == 0, err
    assert [b.name for b in load_budgets(path)] == ["small"]


def test_module_specs_are_traced(tmp_path):
    """A ``file.py:factory`` model is traced; its parameters by hand: conv 3*8*9 + 8 = 224, linear 8*10 + 10 = 90."""
    (tmp_path / "tiny.py").write_text("import torch.nn as nn\n\ndef make():\n    return nn.Sequential("
                                      "nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), "
                                      "nn.Linear(8, 10))\n")
    spec = f"{tmp_path / 'tiny.py'}:make"
    fits = write(tmp_path, f'[budget.mine]\nmodel = "{spec}"\nimage_size = 32\nmax_params = "314"\n')
    assert check_budgets(fits).ok
    over = tmp_path / "over.toml"
    over.write_text(f'[budget.mine]\nmodel = "{spec}"\nimage_size = 32\nmax_params = "313"\n')
    assert not check_budgets(over).ok


def test_pytest_plugin_option_and_fixture(pytester):
    pytester.makefile(".toml", budgets=RESNET50.format(flops="8.3 GFLOP") + textwrap.dedent("""
        [budget.head]
        model = "resnet18"
        max_params = "10e6"
        """))
    pytester.makepyfile(test_fixture="""
        import pytest

        def test_holds(costmodel_budget):
            assert costmodel_budget("budgets.toml", "backbone").ok

        def test_exceeded(costmodel_budget):
            with pytest.raises(AssertionError, match="head: params 11.69 Mparam"):
                costmodel_budget("budgets.toml", "head")
        """)
    # the plugin is loaded through its pytest11 entry point
    result = pytester.runpytest_inprocess("--costmodel-budget", "budgets.toml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)  # the two fixture tests, budget 'backbone'; budget 'head' fails
    result.stdout.fnmatch_lines(["*costmodel budget head*", "*EXCEEDED*"])
