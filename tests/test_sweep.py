"""Vectorised sweeps equal scalar evaluation; broadcasting, caching and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel.analysis.sweeps import compiled, sweep
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.models import ConvNetConfig, cost
from costmodel.models.presets import get_preset

FIELDS = ("params", "forward_flops", "backward_flops")


def scalar(config, batch, convention="flop_counter"):
    c = cost(config, batch=batch, convention=convention)
    return {"params": int(c.params), "forward_flops": int(c.forward_flops),
            "backward_flops": int(c.backward_flops), "training_flops": int(c.training_flops)}


@pytest.mark.slow
def test_resnet50_sweep_equals_scalar_costs_at_random_points():
    rng = np.random.default_rng(5)
    sizes = rng.integers(33, 700, 40)  # any integer size: the floors of odd sizes must be exact
    widths = rng.integers(8, 100, 40)
    batches = rng.integers(1, 64, 40)
    out = sweep("resnet50", batch=batches, image_size=sizes, width=widths, metrics=FIELDS + ("training_flops",))
    for i in rng.choice(40, 6, replace=False):
        want = scalar(get_preset("resnet50").replace(image_size=int(sizes[i]), width=int(widths[i])), int(batches[i]))
        for name, value in want.items():
            assert out[name][i] == value, (name, i)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["vit_ti_16", "vit_h_14", "vit_b_32"]), st.integers(1, 40), st.integers(1, 30),
       st.integers(1, 512))
def test_vit_sweep_equals_scalar_costs(name, patches, depth, batch):
    config = get_preset(name)
    side = patches * config.patch_size
    out = sweep(name, batch=np.array([batch, 1]), image_size=np.array([side, config.patch_size]),
                depth=np.array([depth, 1]))
    want = scalar(config.replace(image_size=side, depth=depth), batch)
    assert all(out[f][0] == want[f] for f in FIELDS)
    assert out["forward_flops"][0] < 2.0**53  # the exact range


@settings(max_examples=10, deadline=None)
@given(st.integers(32, 300), st.integers(1, 4), st.sampled_from(["flop_counter", "full"]))
def test_convnext_and_full_convention_sweeps(side, batch, convention):
    out = sweep("convnext_tiny", batch=batch, image_size=np.array([side]), convention=convention, metrics=FIELDS)
    want = scalar(get_preset("convnext_tiny").replace(image_size=side), batch, convention)
    assert all(out[f][0] == want[f] for f in FIELDS)


def test_arrays_broadcast_and_scalars_stay_fixed():
    sizes = np.array([[64], [128], [224]])
    batches = np.array([[1, 2, 4, 8]])
    out = sweep("resnet18", batch=batches, image_size=sizes)
    assert out["forward_flops"].shape == (3, 4)
    assert np.all(out["params"] == out["params"][0, 0])  # parameters depend on neither
    assert out["forward_flops"][2, 3] == 8 * out["forward_flops"][2, 0]  # linear in the batch
    single = sweep("resnet18", batch=3, image_size=128)
    assert single["forward_flops"].shape == () and single["forward_flops"] == scalar(
        get_preset("resnet18").replace(image_size=128), 3)["forward_flops"]


def test_compiled_expressions_are_cached():
    sweep("vit_s_16", batch=np.array([1, 2]), image_size=np.array([224, 256]))
    hits = compiled.cache_info().hits
    sweep("vit_s_16", batch=np.array([3, 4, 5]), image_size=np.array([64, 96, 128]))
    assert compiled.cache_info().hits >= hits + 1


def test_package_level_sweep_is_the_function():
    assert costmodel.sweep is costmodel.analysis.sweep is sweep
    out = costmodel.sweep("vit_ti_16", batch=np.array([1, 2]))
    assert out["forward_flops"][1] == 2 * out["forward_flops"][0]


@pytest.mark.parametrize("model, kwargs, error, message", [
    ("vit_b_16", {"image_size": np.array([224, 230])}, InvalidConfigError, "image_size=230: must be divisible"),
    ("vit_b_16", {"width": np.array([768, 770])}, InvalidConfigError, "width=770: must be divisible by heads"),
    ("resnet50", {"depth": np.array([1, 2])}, InvalidConfigError, "no such field"),
    ("resnet50", {"layers": np.array([1, 2])}, InvalidConfigError, "only scalar fields"),
    ("resnet50", {"image_size": np.array([224.5])}, InvalidConfigError, "integer-valued"),
    ("resnet50", {"image_size": np.array([224, 0])}, InvalidConfigError, "must be a positive integer"),
    ("resnet50", {"batch": np.array([-1, 2])}, InvalidConfigError, "must be a positive integer"),
    ("resnet50", {"image_size": np.array([1, 2]), "width": np.array([1, 2, 3])}, InvalidConfigError,
     "do not broadcast"),
    ("resnet50", {"metrics": ["flops"]}, UnknownPresetError, "unknown metric 'flops'"),
    ("resnet5", {}, UnknownPresetError, "unknown preset 'resnet5'"),
    (ConvNetConfig(channels=(8, 8, 8)), {"image_size": np.array([4, 32])}, InvalidConfigError, "too small"),
])
def test_bad_input(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        sweep(model, **kwargs)


def test_peak_training_memory_sweep_equals_the_memory_model():
    from costmodel.memory.footprint import training_memory

    for name, sizes in (("vit_s_16", np.array([224, 384, 96])), ("resnet18", np.array([224, 97, 320]))):
        batches = np.array([1, 7, 32])
        out = sweep(name, batch=batches, image_size=sizes, metrics=["peak_training_bytes"])
        for b, side, got in zip(batches, sizes, out["peak_training_bytes"], strict=True):
            want = training_memory(get_preset(name).replace(image_size=int(side)), batch=int(b), optimizer="adam")
            assert got == int(want.peak)


def test_tabulated_sweep_equals_the_direct_evaluation(monkeypatch):
    """Many repeated points are read from a table of the distinct ones: the same numbers as evaluating each."""
    from costmodel.analysis import sweeps

    rng = np.random.default_rng(1)
    n = 6000
    fields = {"image_size": rng.integers(2, 20, n) * 16, "depth": rng.integers(1, 13, n)}
    tabulated = sweep("vit_ti_16", **fields)
    monkeypatch.setattr(sweeps, "TABULATE_FRACTION", 0.0)
    direct = sweep("vit_ti_16", **fields)
    for name in direct:
        np.testing.assert_array_equal(tabulated[name], direct[name])
    i = int(np.argmax(fields["image_size"]))  # and one point against the exact closed form
    config = get_preset("vit_ti_16").replace(image_size=int(fields["image_size"][i]), depth=int(fields["depth"][i]))
    assert tabulated["forward_flops"][i] == int(cost(config, batch=1).forward_flops)
