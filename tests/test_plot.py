"""Every kind of plot is rendered headless (Agg) to a PNG, with units on its axes and crossovers marked."""

import subprocess
import sys

import pytest

from costmodel import plot
from costmodel.analysis.comparison import compare
from costmodel.core.errors import InvalidConfigError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    return compare(["resnet18", "vit_ti_16"], over="image_size", lo=64, hi=1024)


def saved(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    return data


def test_importing_plot_does_not_import_matplotlib():
    code = "import sys, costmodel.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_comparison_marks_the_crossover_with_units(result, tmp_path):
    fig = plot.plot_comparison(result, tmp_path / "cmp.png")
    saved(tmp_path / "cmp.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "image_size [pixel]" and "GFLOP" in ax.get_ylabel()
    (c,) = result.crossovers
    assert c.first_valid in [line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) == 2]
    assert any(f"image_size = {c.first_valid}" in t.get_text() for t in ax.texts)
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


def test_svg_output_and_bad_suffix(result, tmp_path):
    plot.plot_comparison(result, tmp_path / "cmp.svg")
    assert (tmp_path / "cmp.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(InvalidConfigError, match="must end in .png or .svg"):
        plot.plot_comparison(result, tmp_path / "cmp.jpg")


def test_scaling_plot_has_fitted_exponents_and_local_exponents(result, tmp_path):
    fig = plot.plot_scaling(result, tmp_path / "scaling.png")
    saved(tmp_path / "scaling.png")
    left, right = fig.axes[:2]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert any(lab.startswith("fit resnet18") for lab in labels)
    assert "d log forward_flops / d log image_size" in right.get_ylabel()
    # ResNet-18's local exponent is 2 throughout the range
    resnet_curve = right.lines[0].get_ydata()
    assert abs(resnet_curve[-1] - 2) < 0.01


def test_breakdown_stack_sums_to_the_total(tmp_path):
    fig = plot.plot_breakdown("vit_ti_16", tmp_path / "bd.png", lo=64, hi=512,
                              parts=["blocks/attn/core", "blocks/mlp"])
    saved(tmp_path / "bd.png")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "share of forward_flops [%]"
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["blocks/attn/core", "blocks/mlp", "other"]
    absolute = plot.plot_breakdown("resnet18", tmp_path / "bd2.png", lo=64, hi=512, share=False)
    assert "GFLOP" in absolute.axes[0].get_ylabel()
    with pytest.raises(InvalidConfigError, match="needs a Cost field"):
        plot.plot_breakdown("resnet18", metric="peak_bytes")


def test_memory_bars(tmp_path):
    bars = {"a": {"weights": 3 * 2**30, "grads": 2**30}, "b": {"weights": 2**29}}
    fig = plot.plot_memory_bars(bars, tmp_path / "mem.png", budget=4 * 2**30)
    saved(tmp_path / "mem.png")
    assert fig.axes[0].get_xlabel() == "memory [GiB]"
    with pytest.raises(InvalidConfigError):
        plot.plot_memory_bars({})


def test_training_memory_bars_sum_to_the_peak(tmp_path):
    from costmodel.memory.footprint import training_memory
    from costmodel.models.presets import get_preset

    bars = plot.training_memory_bars(["resnet18", "vit_ti_16"], batch=4)
    for name, parts in bars.items():
        assert sum(parts.values()) == training_memory(get_preset(name), batch=4).evaluate().peak
    plot.plot_memory_bars(bars, tmp_path / "peak.png")
    saved(tmp_path / "peak.png")


def test_roofline_places_ops_on_the_right_side_of_the_ridge(tmp_path):
    # (n x k) @ (k x m) at 2 bytes: intensity 2 n k m / (2 (nk + km + nm)); 4096^3 is compute-bound on
    # a device whose ridge is 989e12 / 3.35e12 = 295 FLOP/B, a matrix-vector product (n = 1) is not
    big = plot.matmul_point("big", n=4096, k=4096, m=4096)
    thin = plot.matmul_point("thin", n=1, k=4096, m=4096)
    assert big[1] / big[2] == pytest.approx(4096 / 3) and thin[1] / thin[2] < 1.01
    fig = plot.plot_roofline([big, thin], tmp_path / "roof.png", peak_flops=989e12, bandwidth=3.35e12,
                             device="H100")
    saved(tmp_path / "roof.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "big (compute)" in texts and "thin (memory)" in texts
    assert fig.axes[0].get_xlabel() == "arithmetic intensity [FLOP/B]"
    with pytest.raises(InvalidConfigError):
        plot.plot_roofline([big], peak_flops=0, bandwidth=1)


def test_attention_tradeoff(tmp_path):
    fig = plot.plot_attention_tradeoff(tmp_path / "att.png", hi=4096)
    saved(tmp_path / "att.png")
    marks = [t.get_text() for t in fig.axes[0].texts]
    assert "L = 513: linformer < full" in marks and "L = 515: performer < full" in marks


def test_units_scale_readably():
    assert plot.prefix_unit("flop", 3e12) == ("TFLOP", 1e12)
    assert plot.prefix_unit("byte", 3 * 2**30) == ("GiB", 2**30)
    assert plot.prefix_unit("param", 10) == ("param", 1.0)
