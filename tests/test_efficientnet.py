"""EfficientNet B0-B7: exact costs against torchvision's published table, FlopCounterMode and hand derivations.

Independent sources of the expected values:

* torchvision's "Table of all available classification weights"
  (https://pytorch.org/vision/stable/models.html#table-of-all-available-classification-weights),
  columns "Params" and "GFLOPS" of ``EfficientNet_B0_Weights.IMAGENET1K_V1`` ...
  ``EfficientNet_B7_Weights.IMAGENET1K_V1``. "GFLOPS" there counts multiply-accumulates of the
  convolutions and linear layers (1 MAC = 1 op; FlopCounterMode's convention halved, no
  elementwise ops), at each weight's crop size: 224, 240, 288, 300, 380, 456, 528, 600 px
  (B2's weights use 288, not the paper's 260: at 260 px B2 is 0.994 GMACs, not 1.09);
* the real ``nn.Module`` of ``costmodel.validation.torch_models.efficientnet`` (written from
  torchvision's ``models/efficientnet.py``), measured with ``FlopCounterMode`` and
  ``saved_tensors_hooks``;
* hand derivations below.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import pytest
import torch
from costmodel.validation.build import build, example_input, measure_flops
from costmodel.validation.flops import count_flops, count_params
from costmodel.validation.memory import measure_saved
from costmodel.validation.peaks import measure_tracked_peak
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.symbols import B, H, R, W
from costmodel.memory.footprint import memory_cost, training_memory
from costmodel.models import EfficientNetConfig, cost
from costmodel.models.mbconv import make_divisible
from costmodel.models.presets import get_preset
from costmodel.strategies import configs

PUBLISHED = {  # name: (params, GFLOPS as published, 2 decimals)
    "efficientnet_b0": (5_288_548, 0.39),
    "efficientnet_b1": (7_794_184, 0.69),
    "efficientnet_b2": (9_109_994, 1.09),
    "efficientnet_b3": (12_233_232, 1.83),
    "efficientnet_b4": (19_341_616, 4.39),
    "efficientnet_b5": (30_389_784, 10.27),
    "efficientnet_b6": (43_040_704, 19.07),
    "efficientnet_b7": (66_347_960, 37.75),
}
SMALL = {"efficientnet_b0"}


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch on one thread: on a loaded 2-core machine the tiny convolutions of these nets
    spend 100x longer waiting for a second thread than computing (60 ms vs 0.1 ms each)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_published(name: str, table: dict[str, tuple[int, float]]) -> None:
    """Params exactly; forward FLOPs / 2 (MACs) in G to the published decimals; FLOPs would not match."""
    c = cost(get_preset(name), batch=1)
    params, gmacs = table[name]
    assert c.params == params
    assert abs(c.forward_flops / 2 / 1e9 - gmacs) <= 0.005
    assert abs(c.forward_flops / 1e9 - gmacs) > 0.005  # the table is MACs, not FLOPs


def assert_preset_equals_module(name: str) -> None:
    """Params, forward and backward FLOPs of preset ``name`` equal its real module's (fake tensors, batch 2)."""
    config = get_preset(name)
    measured, params = measure_flops(config, 2)
    predicted = cost(config, batch=2)
    assert (predicted.params, predicted.forward_flops, predicted.backward_flops) == \
        (params, measured.forward, measured.backward)


def assert_module(config, batch: int, *, saved: bool = True, dtype: str = "float32") -> None:
    """Params, forward and backward FLOPs and the bytes saved for backward (in ``dtype``: ``bfloat16``
    runs under CPU autocast) of a real CPU run."""
    torch.manual_seed(0)
    model = build(config)
    measured = count_flops(model, example_input(config, batch))
    predicted = cost(config, batch=batch)
    assert predicted.params == count_params(model)
    assert (predicted.forward_flops, predicted.backward_flops) == (measured.forward, measured.backward)
    if saved:
        kept = measure_saved(config, batch, fake=False, dtype=dtype)
        mem = memory_cost(config, batch=batch, dtype=dtype)
        assert (mem.saved_bytes, mem.saved_elements) == (kept.bytes, kept.elements)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_presets_equal_torchvision_table(name):
    assert_published(name, PUBLISHED)


@pytest.mark.parametrize("name", [n if n in SMALL else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(PUBLISHED)])
def test_presets_equal_module(name):
    assert_preset_equals_module(name)


def test_make_divisible_by_hand():
    """torchvision ``_make_divisible(v, 8)``: nearest multiple of 8, at least 8, never 10 % below ``v``.

    35.2 (32 x 1.1): floor(39.2) = 39 -> 32, and 32 >= 0.9 x 35.2 = 31.68;  12: floor(16) -> 16;
    4: max(8, 8) = 8;  44.8 (32 x 1.4): floor(48.8) -> 48;  9.5: floor(13.5) = 13 -> 8 < 8.55 -> 16.
    """
    assert [make_divisible(v) for v in (Fraction(176, 5), 12, 4, Fraction(224, 5), Fraction(19, 2))] == \
        [32, 16, 8, 48, 16]


def test_b0_stage_widths_and_depths_from_the_paper():
    """Tan & Le Table 1: widths 32 (stem), 16, 24, 40, 80, 112, 192, 320, 1280; layers 1, 2, 2, 3, 3, 4, 1."""
    config = get_preset("efficientnet_b0")
    stages = config.stages()
    assert [s.out_channels for s in stages] == [16, 24, 40, 80, 112, 192, 320]
    assert [s.layers for s in stages] == [1, 2, 2, 3, 3, 4, 1]
    assert stages[0].in_channels == 32 and config.last_channels == 1280


def test_b7_depths_round_up():
    """B7 depth multiplier 3.1: ceil(3.1 n) for n = 1, 2, 2, 3, 3, 4, 1 is 4, 7, 7, 10, 10, 13, 4."""
    assert [s.layers for s in get_preset("efficientnet_b7").stages()] == [4, 7, 7, 10, 10, 13, 4]


#: the public strategy: width multipliers 1/10 to 7/20, depth multipliers 1/4 or 2/5, odd sides
small_configs = configs(EfficientNetConfig, image_size=(5, 40), num_classes=st.integers(1, 6))


dtypes = st.sampled_from(["float32", "bfloat16"])


@settings(max_examples=4, deadline=None)
@given(config=small_configs, dtype=dtypes)
def test_small_configs_with_odd_sizes_equal_module(config, dtype):
    # batch 2: a training-mode batch norm needs more than one value per channel (1x1 maps at the end)
    assert_module(config, 2, dtype=dtype)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_peak_of_a_small_config_equals_memtracker(optimizer):
    """The peak of a training step against MemTracker (fake tensors), within 1 %."""
    config = EfficientNetConfig(width_mult=Fraction(1, 4), depth_mult=Fraction(1, 4), image_size=33, num_classes=5)
    assert_peak(config, 2, optimizer, 0.01)


def assert_peak(config, batch: int, optimizer: str, tolerance: float) -> None:
    measured = measure_tracked_peak(config, batch, optimizer=optimizer).peak
    predicted = int(training_memory(config, batch=batch, optimizer=optimizer).evaluate().peak)
    assert abs(predicted - measured) <= tolerance * measured, (predicted, measured)


@functools.lru_cache
def symbolic(square: bool):
    return cost(EfficientNetConfig(image_size=R if square else (H, W)), batch=B)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 8), height=st.integers(1, 400), width=st.integers(1, 400))
def test_symbolic_image_size_is_exact_for_every_size(batch, height, width):
    """Floors of the strided convs: the closed form in (B, H, W) equals the integer count everywhere."""
    exact = cost(EfficientNetConfig(image_size=(height, width)), batch=batch).evaluate().magnitudes()
    assert symbolic(False).evaluate(B=batch, H=height, W=width).magnitudes() == exact
    square = cost(EfficientNetConfig(image_size=height), batch=batch).evaluate().magnitudes()
    assert symbolic(True).evaluate(B=batch, R=height).magnitudes() == square


def test_divisible_form_is_a_polynomial_exact_on_multiples_of_32():
    poly = cost(EfficientNetConfig(image_size=R), batch=B, divisible=True)
    assert poly.is_polynomial and not symbolic(True).is_polynomial
    assert poly.evaluate(B=3, R=224).magnitudes() == cost(EfficientNetConfig(), batch=3).evaluate().magnitudes()


@pytest.mark.parametrize("kwargs, field", [
    ({"width_mult": 0}, "width_mult"), ({"width_mult": -1.5}, "width_mult"), ({"depth_mult": 0}, "depth_mult"),
    ({"width_mult": R}, "width_mult"), ({"image_size": 0}, "image_size"),
])
def test_bad_input_is_one_line_naming_field_and_value(kwargs, field):
    with pytest.raises(InvalidConfigError) as exc:
        EfficientNetConfig(**kwargs)
    assert exc.value.field == field and str(kwargs[field]) in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_preset_suggests_close_names():
    with pytest.raises(UnknownPresetError, match="efficientnet_b7"):
        get_preset("efficientnet_b8")
