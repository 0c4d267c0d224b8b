"""The Cost value type: additivity, repetition, symbolic vs numeric evaluation, errors."""

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import Cost, InvalidConfigError, UnknownPresetError, ureg
from costmodel.core.symbols import B, D, L, d

small = st.integers(min_value=0, max_value=10**6)


def costs():
    return st.builds(lambda f, b, p: Cost(forward_flops=f, backward_flops=b, params=p), small, small, small)


@given(costs(), costs(), costs())
@settings(max_examples=50, deadline=None)
def test_addition_is_associative_commutative_and_fieldwise(a, b, c):
    assert (a + b) + c == a + (b + c)
    assert (a + b).metrics() == (b + a).metrics()
    s = a + b
    assert s.forward_flops == a.forward_flops + b.forward_flops
    assert s.backward_flops == a.backward_flops + b.backward_flops
    assert s.params == a.params + b.params


@given(costs(), st.integers(min_value=0, max_value=50))
@settings(max_examples=50, deadline=None)
def test_repetition_equals_repeated_addition(a, n):
    assert (a * n).metrics() == sum([a] * n, Cost()).metrics()
    assert (n * a).metrics() == (a * n).metrics()


def test_symbolic_repetition_then_evaluation_matches_numeric():
    block = Cost(forward_flops=2 * B * L * d**2, backward_flops=4 * B * L * d**2, params=d**2 + d)
    net = (block * D).named("blocks") + Cost(params=d).named("head")
    value = net.evaluate(B=3, L=5, d=7, D=4)
    numeric = (block.subs(B=3, L=5, d=7) * 4).named("blocks") + Cost(params=7).named("head")
    assert value.forward_flops == numeric.evaluate().forward_flops
    assert value.forward_flops.magnitude == 2 * 3 * 5 * 49 * 4  # by hand
    assert value.params.magnitude == (49 + 7) * 4 + 7
    assert isinstance(value.params.magnitude, int)


def test_breakdown_tree_paths_and_merging():
    qkv = Cost(forward_flops=6).named("qkv")
    proj = Cost(forward_flops=2).named("proj")
    attn = (qkv + proj).named("attn")
    block = attn + Cost(forward_flops=10).named("mlp")
    net = (block * 3).named("blocks")
    assert net.part("blocks/attn/qkv").forward_flops == 18
    assert [p for p, _ in net.walk()] == ["blocks", "blocks/attn", "blocks/attn/qkv", "blocks/attn/proj", "blocks/mlp"]
    assert [p for p, _ in net.leaves()] == ["blocks/attn/qkv", "blocks/attn/proj", "blocks/mlp"]
    merged = Cost(params=1).named("x") + Cost(params=2).named("x")
    assert merged.part("x").params == 3 and len(merged.parts) == 1


def test_group_sums_named_parts():
    g = Cost.group({"a": Cost(params=1), "b": Cost(params=2)})
    assert g.params == 3 and g.part("b").params == 2


def test_units_at_the_boundary():
    value = Cost(forward_flops=4 * 10**9, params=5).evaluate()
    assert value.forward_flops.to("GFLOP").magnitude == pytest.approx(4.0)
    assert value.forward_flops.to("MAC").magnitude == 2 * 10**9  # 1 MAC = 2 FLOPs
    assert value.params.units == ureg.param
    assert value.magnitudes() == {"forward_flops": 4 * 10**9, "backward_flops": 0, "params": 5}


def test_polynomial_flag():
    assert Cost(forward_flops=B * d).is_polynomial
    assert not Cost(forward_flops=sympy.floor(d / 2)).is_polynomial


def test_errors_name_the_problem():
    c = Cost(forward_flops=B * d)
    with pytest.raises(InvalidConfigError, match=r"forward_flops=B\*d: needs values for d"):
        c.evaluate(B=2)
    with pytest.raises(InvalidConfigError, match=r"q=3: this cost has no symbol of that name \(it has: B, d\)"):
        c.evaluate(q=3)
    with pytest.raises(InvalidConfigError, match=r"B=0: must be a positive integer"):
        c.evaluate(B=0, d=1)
    with pytest.raises(InvalidConfigError, match=r"factor=-2: .*non-negative"):
        c * -2
    with pytest.raises(InvalidConfigError, match=r"forward_flops='abc': is not a number"):
        Cost(forward_flops="abc")
    with pytest.raises(UnknownPresetError, match=r"unknown part 'atn'. Did you mean attn"):
        Cost().named("attn").part("atn")
    with pytest.raises(InvalidConfigError, match=r"name='a/b'"):
        Cost().named("a/b")
