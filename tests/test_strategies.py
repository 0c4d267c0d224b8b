"""``costmodel.strategies``: every config type has a strategy, registered with Hypothesis, that
draws only valid configs within its bounds.

Validity is checked independently of the strategies' own arithmetic: a draw is an instance, so
the config's ``__post_init__`` rules passed, and on a sample the exact cost is built
(``costmodel.models.cost`` refuses an image too small for the network's strides) and the
real module is built (``costmodel.validation.build``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from costmodel.core.symbols import B, d
from costmodel.core.units import ureg
from costmodel.core.validity import Condition
from costmodel.cost.value import Cost
from costmodel.models import FAMILIES, ConvNetConfig, ConvNeXtConfig, ViTConfig, cost
from costmodel.strategies import STRATEGIES, configs, points

CLASSES = sorted(FAMILIES.values(), key=lambda cls: cls.family)


def test_every_config_type_has_a_strategy():
    """A family added to FAMILIES without a strategy fails here (add it to costmodel.strategies)."""
    missing = [cls.__name__ for cls in FAMILIES.values() if cls not in STRATEGIES]
    assert not missing, f"config types without a strategy in costmodel.strategies: {missing}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.family)
def test_from_type_draws_a_thousand_valid_configs(cls):
    seen = []

    @settings(max_examples=1000, deadline=None, database=None)
    @given(st.from_type(cls))
    def check(config):
        assert type(config) is cls  # an instance: its __post_init__ rules all passed
        height, width = config.image_hw
        assert 1 <= height <= 32 and 1 <= width <= 32  # the default image range
        seen.append(config)

    start = time.process_time()
    check()  # a health-check failure (too many rejections, too slow) fails here too
    elapsed = time.process_time() - start
    assert len(seen) >= 1000
    assert elapsed < 15, f"{cls.__name__}: 1,000 draws took {elapsed:.1f} s of CPU (about 2 s expected)"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.family)
def test_drawn_configs_have_a_cost_and_a_real_module(cls):
    """The exact cost exists (no stride meets an empty map) and the module builds, on a sample."""
    from costmodel.validation.build import build

    @settings(max_examples=15, deadline=None, database=None)
    @given(st.from_type(cls))
    def check(config):
        c = cost(config, batch=1)
        assert c.forward_flops > 0 and c.params > 0
        module = build(config)
        assert sum(p.numel() for p in module.parameters()) == c.params

    check()


@settings(max_examples=30, deadline=None, database=None)
@given(configs(ViTConfig, image_size=(8, 16), max_params=5000, max_forward_flops="200 kFLOP"))
def test_bounds_hold(config):
    c = cost(config, batch=1)
    assert c.params <= 5000 and c.forward_flops <= 200_000
    assert all(8 <= side <= 16 for side in config.image_hw)


@settings(max_examples=30, deadline=None, database=None)
@given(configs(ConvNeXtConfig, max_forward_flops=ureg.Quantity(50, "kMAC")))
def test_bound_as_a_pint_quantity(config):
    assert cost(config, batch=1).forward_flops <= 100_000  # 50 kMAC = 100 kFLOP


@settings(max_examples=40, deadline=None, database=None)
@given(configs(ViTConfig, width=12, attention=st.sampled_from(["full", "causal"]), image_size=16))
def test_fixed_and_drawn_fields(config):
    assert config.width == 12 and 12 % config.heads == 0  # heads drawn among the divisors of the fixed width
    assert config.attention in ("full", "causal") and config.image_hw == (16, 16)


@settings(max_examples=40, deadline=None, database=None)
@given(configs(ConvNetConfig, stride=2, pool="max", image_size=(4, 64)))
def test_convnet_image_fits_every_stride(config):
    cost(config, batch=1)  # raises for an image too small for the layers
    assert config.stride == 2 and config.pool == "max"


def test_bad_arguments_are_clear():
    with pytest.raises(InvalidArgument, match="no field"):
        configs(ViTConfig, widht=4)
    with pytest.raises(InvalidArgument, match="image_size"):
        configs(ViTConfig, image_size=(9, 3))
    with pytest.raises(InvalidArgument, match="max_params"):
        configs(ViTConfig, max_params="3 GiB")
    with pytest.raises(InvalidArgument, match="no strategy"):
        configs(int)


def test_points_obey_the_cost_conditions():
    heads = Condition(field="width", rule="must be divisible by heads = 6", relation=sympy.Eq(sympy.Mod(d, 6), 0))
    at_least = Condition(field="batch", rule="must be at least 3", relation=B >= 3)
    c = Cost(forward_flops=B * d**2).with_conditions(heads, at_least)

    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(points(c, high=48))
    def check(point):
        assert set(point) == {B, d}
        assert point[d] % 6 == 0 and point[B] >= 3 and 1 <= point[B] <= 48
        c.evaluate(point)

    check()


def test_points_fix_a_symbol_by_name():
    @settings(max_examples=10, database=None)
    @given(points(cost(ViTConfig(depth=1, width=8, heads=2), batch=B), B=st.just(4)))
    def check(point):
        assert point == {B: 4}

    check()
    with pytest.raises(InvalidArgument, match="no symbol"):
        points(B * d, R=3)


@pytest.mark.parametrize("first", ["hypothesis", "costmodel.models"])
def test_from_type_works_without_importing_costmodel_first(first):
    """The ``hypothesis`` entry point registers the strategies, whichever is imported first; Hypothesis
    alone does not load costmodel's models (registration waits for ``costmodel.models``)."""
    code = ("import sys\n"
            f"import {first}\n"
            "assert ('costmodel.models' in sys.modules) == ('{first}' == 'costmodel.models')\n"
            "import hypothesis.strategies as st\n"
            "from costmodel.models import ViTConfig\n"
            "from hypothesis import given, settings\n"
            "@settings(max_examples=20, database=None)\n"
            "@given(st.from_type(ViTConfig))\n"
            "def check(c):\n"
            "    assert max(c.image_hw) <= 32\n"  # the default ViTConfig is 224: registered, not st.builds
            "check()\n").replace("{first}", first)
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_NO_PLUGINS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_import_costmodel_does_not_import_hypothesis():
    code = "import sys, costmodel, costmodel.testing, costmodel.models; print('hypothesis' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
