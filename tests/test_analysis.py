"""Crossovers, asymptotics and comparisons (costmodel.analysis.crossover, .asymptotics, .compare).

Every reported crossover is checked independently: both costs are evaluated just below
and just above the root (exactly, or at 40 digits), and on the valid sizes either side
of ``first_valid`` with the exact integer counts of real configs.
"""

import math

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.analysis.asymptotics import (
    dominant_part,
    exponent_at,
    fit_exponent,
    leading_term,
    limit_exponent,
    scaling_exponent,
    share,
    share_crossing,
)
from costmodel.analysis.comparison import compare
from costmodel.analysis.crossover import crossovers, symbolic_crossovers
from costmodel.core.conventions import FLOP_COUNTER
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.symbols import L, R, d, h
from costmodel.models import ResNetConfig, ViTConfig, cost
from costmodel.models.presets import get_preset
from costmodel.models.vit import block_cost

x = sympy.Symbol("x", positive=True)
n = sympy.Symbol("n", positive=True, integer=True)


def sign_at(a, b, var, value):
    """Sign of a - b at a rational point near ``value`` (exact for rational and piecewise costs)."""
    point = sympy.Rational(str(sympy.N(value, 45)))
    diff = (sympy.sympify(a) - sympy.sympify(b)).subs(var, point)
    return int(bool(diff > 0)) - int(bool(diff < 0))


SIGN = {"a": -1, "b": 1, "tie": 0}


def check_sides(found, a, b, var):
    """Just below and just above each root the order is the reported one."""
    roots = [sympy.N(c.root, 50) for c in found]
    for i, c in enumerate(found):
        gaps = [abs(roots[i] - r) for j, r in enumerate(roots) if j != i] + [sympy.Float(1, 50)]
        delta = min(gaps) / 4 if min(gaps) > 0 else sympy.Float(1e-9, 50)
        delta = min(delta, sympy.Float("1e-6", 50) * max(1, abs(roots[i])))
        after = sign_at(a, b, var, roots[i] + delta)
        before = sign_at(a, b, var, roots[i] - delta)
        assert after == SIGN[c.cheaper_after]
        assert before == SIGN[found.cheaper_at(c.root - delta)] != after


def check_intervals(found, a, b, var, points=41):
    """Nothing missed: the sign is the reported one inside every interval."""
    for iv in found.intervals:
        for t in np.linspace(float(iv.lo), float(iv.hi), points)[1:-1]:
            assert sign_at(a, b, var, sympy.Rational(t)) == SIGN[iv.cheaper]


# --- hand-derived crossovers ------------------------------------------------------------

def test_quadratic_vs_linear_crosses_at_100():
    # R^2 = 100 R  <=>  R = 100; past it the linear cost is smaller
    found = crossovers(R**2, 100 * R, R, lo=1, hi=1000)
    assert [(c.root, c.first_valid, c.cheaper_after) for c in found] == [(100, 101, "b")]
    assert [iv.cheaper for iv in found.intervals] == ["a", "b"]
    assert found.cheaper_at(50) == "a" and found.cheaper_at(500) == "b" and found.cheaper_at(100) == "tie"


def test_three_simple_roots_alternate_and_a_double_root_is_not_a_crossing():
    found = crossovers((x - 1) * (x - 2) * (x - 3), 0, x)
    assert [c.root for c in found] == [1, 2, 3]
    assert [c.cheaper_after for c in found] == ["b", "a", "b"]
    check_sides(found, (x - 1) * (x - 2) * (x - 3), 0, x)
    touching = crossovers((x - 2) ** 2 * (x - 5), 0, x)  # x = 2 touches zero, x = 5 crosses
    assert [c.root for c in touching] == [5]


def test_irrational_roots_are_exact():
    found = crossovers(x**2, 2, x)
    assert found[0].root == sympy.sqrt(2) and found.method == "exact"


def test_rational_costs_are_solved_exactly():
    # 1/x = x/100  <=>  x^2 = 100  <=>  x = 10
    found = crossovers(1 / x, x / 100, x, lo=0, hi=sympy.oo)
    assert [(c.root, c.cheaper_after) for c in found] == [(10, "a")]


def test_no_crossover_is_said_plainly():
    found = crossovers(2 * x + 1, x, x, hi=1000)
    assert len(found) == 0
    assert found.summary("big", "small") == ("no crossover of big and small for x in (0, 1000): "
                                             "small is cheaper throughout")


def test_step_reports_first_valid_multiple_past_the_root():
    # R^2 = 100 R at 100; the first multiple of 32 past it is 128
    found = crossovers(R**2, 100 * R, R, lo=1, hi=1000, step=32)
    assert found[0].first_valid == 128 and found[0].root == 100


def test_a_root_below_the_first_valid_size_is_not_reported():
    # x^2 = 4 x at 4, below the first multiple of 32: nothing is observable
    found = crossovers(R**2, 4 * R, R, lo=1, hi=1000, step=32)
    assert len(found) == 0 and found.intervals[0].cheaper == "b"


def test_non_polynomial_root_is_bracketed_and_refined():
    # x ln x = 10  <=>  x = 10 / W(10) (Lambert W), about 5.7289
    found = crossovers(x * sympy.log(x), 10, x, lo=1, hi=100)
    assert found.method == "numeric" and len(found) == 1
    expected = float(10 / sympy.LambertW(10))
    assert math.isclose(found[0].root_float, expected, rel_tol=1e-12)
    left, right = found[0].bracket
    assert left < expected < right
    assert sign_at(x * sympy.log(x), 10, x, left) == -1 and sign_at(x * sympy.log(x), 10, x, right) == 1


def test_floor_costs_on_a_lattice_match_brute_force():
    a, b = 7 * sympy.floor(n / 3), 2 * n
    found = crossovers(a, b, n, lo=1, hi=40)
    signs = [(v, np.sign(int(a.subs(n, v)) - int(b.subs(n, v)))) for v in range(1, 41)]
    changes, last = [], None
    for v, s in signs:
        if s == 0:
            continue
        if last is not None and s != last:
            changes.append((v, "a" if s < 0 else "b"))
        last = s
    assert [(c.first_valid, c.cheaper_after) for c in found] == changes


def test_a_maximum_is_solved_exactly_and_equal_stretches_are_ties():
    # Max(x^2, 3x + 4) is 3x + 4 below x = 4 and x^2 above; against 2x + 10:
    # 3x + 4 < 2x + 10 below 4, and x^2 = 2x + 10 at x = 1 + sqrt(11)
    found = crossovers(sympy.Max(x**2, 3 * x + 4), 2 * x + 10, x)
    assert [(c.root, c.cheaper_after) for c in found] == [(1 + sympy.sqrt(11), "b")]
    flat = crossovers(sympy.Max(0, x - 1), 0, x)  # equal up to x = 1, then b is cheaper
    assert [iv.cheaper for iv in flat.intervals] == ["tie", "b"] and flat[0].root == 1


def test_infinite_range_needs_rational_costs():
    with pytest.raises(InvalidConfigError, match="finite range"):
        crossovers(x * sympy.log(x), 10, x)


@pytest.mark.parametrize("a, b, kw, message", [
    (L**2, R, {}, "depends on L besides R"),
    (R**2, R, {"lo": 10, "hi": 5}, "min must not exceed max"),
    (5, 7, {}, "neither cost depends on it"),
    (R, R**2, {"step": 0}, "positive integer"),
])
def test_bad_input_gives_clear_errors(a, b, kw, message):
    with pytest.raises(InvalidConfigError, match=message):
        crossovers(a, b, R, **kw)


# --- property tests ---------------------------------------------------------------------

coeffs = st.lists(st.integers(-50, 50), min_size=2, max_size=5)


@settings(max_examples=25, deadline=None)
@given(coeffs, coeffs)
def test_random_polynomial_pairs(ca, cb):
    a = sum(c * x**i for i, c in enumerate(ca))
    b = sum(c * x**i for i, c in enumerate(cb))
    if sympy.expand(a - b).free_symbols == set():
        return
    found = crossovers(a, b, x, lo=0, hi=200)
    check_sides(found, a, b, x)
    check_intervals(found, a, b, x)


@settings(max_examples=12, deadline=None)
@given(st.lists(coeffs, min_size=2, max_size=4), coeffs)
def test_random_maxima_of_polynomials(arg_coeffs, cb):
    # memory peaks are maxima of polynomials: piecewise polynomial, still solved exactly
    a = sympy.Max(*[sum(c * x**i for i, c in enumerate(cs)) for cs in arg_coeffs])
    b = sum(c * x**i for i, c in enumerate(cb))
    if x not in (a - b).free_symbols:
        return
    found = crossovers(a, b, x, lo=0, hi=60)
    assert found.method == "exact"
    check_sides(found, a, b, x)
    check_intervals(found, a, b, x, points=31)


@st.composite
def small_pair(draw):
    vit = ViTConfig(patch_size=draw(st.sampled_from([8, 16])), width=draw(st.sampled_from([32, 64, 96])),
                    depth=draw(st.integers(1, 3)), heads=draw(st.sampled_from([1, 2, 4])), num_classes=10)
    resnet = ResNetConfig(block=draw(st.sampled_from(["basic", "bottleneck"])),
                          layers=tuple(draw(st.lists(st.integers(1, 2), min_size=2, max_size=4))),
                          width=draw(st.sampled_from([8, 16, 32])), num_classes=10)
    return resnet, vit


@settings(max_examples=12, deadline=None)
@given(small_pair())
def test_random_model_pairs_cross_where_the_exact_counts_say(pair):
    resnet, vit = pair
    result = compare([resnet, vit], over="image_size", lo=32, hi=1024)
    step = result.step
    total_stride = 4 * 2 ** (len(resnet.layers) - 1)  # stem conv 2, max pool 2, then 2 per later stage
    assert step == math.lcm(total_stride, vit.patch_size)
    for c in result.crossovers:
        before, after = c.first_valid - step, c.first_valid

        def exact(config, v):
            return int(cost(config.replace(image_size=v), batch=1).forward_flops)

        side_after = "a" if exact(resnet, after) < exact(vit, after) else "b"
        assert side_after == c.cheaper_after
        if before >= 32 and c.observable:
            side_before = "a" if exact(resnet, before) < exact(vit, before) else "b"
            assert side_before != side_after
    # between crossovers the closed forms keep their order at every valid size
    sizes = np.arange(-(-32 // step) * step, 1025, step)  # the valid sizes of the range compared, 32-1024
    values = [result.curves(sizes)[i] for i in range(2)]
    flips = [int(s) for s, p, q in zip(sizes[1:], np.sign(values[0] - values[1])[:-1],
                                       np.sign(values[0] - values[1])[1:], strict=True) if p != q and q != 0]
    assert flips == [c.first_valid for c in result.crossovers if c.observable]


# --- the hand-derived ViT case: L = 6 d ---------------------------------------------------

def test_vit_attention_scores_equal_projections_and_mlp_at_six_d_tokens():
    # One ViT layer, batch 1, mlp_ratio 4, in MACs:
    #   attention core: Q K^T (L x d_k x L per head, h heads) + A V (same): 2 L^2 d
    #   projections: qkv 3 L d^2 + output L d^2 = 4 L d^2;  MLP: 2 * 4 L d^2 = 8 L d^2
    # 2 L^2 d = 12 L d^2  <=>  L = 6 d; the share of the core is L / (L + 6 d).
    layer = block_cost(ViTConfig(width=d, heads=h, mlp_ratio=4), batch=1, tokens=L, convention=FLOP_COUNTER)
    core = layer.part("attn/core").forward_flops
    rest = sum(layer.part(p).forward_flops for p in ("attn/qkv", "attn/proj", "mlp"))
    assert sympy.expand(core - 2 * (2 * L**2 * d)) == 0
    assert sympy.expand(rest - 2 * (12 * L * d**2)) == 0
    found = symbolic_crossovers(core, rest, L)
    assert [(c.root, c.cheaper_after) for c in found] == [(6 * d, "b")]
    fraction = share(layer, "attn/core", of=["attn/qkv", "attn/proj", "mlp"])
    assert sympy.simplify(fraction - L / (L + 6 * d)) == 0
    assert [c.root for c in share_crossing(fraction, L)] == [6 * d]
    assert [c.root for c in share_crossing(fraction, L, 0.9)] == [54 * d]  # L / (L + 6d) = 9/10


def test_share_crossing_of_a_numeric_layer_gives_the_first_integer_length():
    layer = block_cost(ViTConfig(width=192, heads=3), batch=1, tokens=L, convention=FLOP_COUNTER)
    fraction = share(layer, "attn/core", of=["attn/qkv", "attn/proj", "mlp"])
    found = share_crossing(fraction, L)
    assert [(c.root, c.first_valid) for c in found] == [(6 * 192, 6 * 192 + 1)]


# --- asymptotics ----------------------------------------------------------------------------

def test_scaling_exponent_by_hand():
    # d log(x^3 + x) / d log x = x (3x^2 + 1) / (x^3 + x) = (3x^2 + 1) / (x^2 + 1)
    assert sympy.simplify(scaling_exponent(x**3 + x, x) - (3 * x**2 + 1) / (x**2 + 1)) == 0
    assert exponent_at(x**3 + x, x, 1) == 2.0
    assert limit_exponent(x**3 + x, x) == 3


def test_vit_grows_as_the_fourth_power_of_the_side_and_resnet_as_the_square():
    vit = cost(get_preset("vit_b_16").replace(image_size=R), batch=1, divisible=True).forward_flops
    resnet = cost(get_preset("resnet50").replace(image_size=R), batch=1, divisible=True).forward_flops
    assert limit_exponent(vit, R) == 4 and limit_exponent(resnet, R) == 2
    # at 224 px (L = 197 tokens) ViT-B/16 is still close to quadratic
    assert 2.0 < exponent_at(vit, R, 224) < 2.2
    assert leading_term(resnet, R).as_poly(R).degree() == 2
    assert dominant_part(cost(get_preset("vit_b_16").replace(image_size=R), batch=1, divisible=True), R,
                         level=3)[0] == "blocks/attn/core"


def test_floors_are_smoothed_for_exponents():
    resnet = cost(get_preset("resnet50").replace(image_size=R), batch=1).forward_flops  # with floors
    assert limit_exponent(resnet, R) == 2


def test_fit_exponent_recovers_a_power_law():
    xs = np.geomspace(1, 1000, 30)
    p, c = fit_exponent(xs, 3.0 * xs**2.5)
    assert math.isclose(p, 2.5, rel_tol=1e-9) and math.isclose(c, 3.0, rel_tol=1e-9)
    with pytest.raises(InvalidConfigError):
        fit_exponent([1, 2], [1, -1])


def test_asymptotics_reject_a_variable_the_cost_lacks():
    with pytest.raises(InvalidConfigError, match="does not depend"):
        scaling_exponent(x**2, R)


# --- comparisons ----------------------------------------------------------------------------

@pytest.mark.slow
def test_main_job_crossover_is_928_and_checked_by_exact_counts():
    result = compare(["resnet50", "vit_ti_16"], over="image_size", lo=64, hi=2048)
    assert result.step == 32
    (c,) = result.crossovers
    assert c.first_valid == 928 and result.winner((0, 1), c.cheaper_after) == "resnet50"
    assert 896 < c.root_float < 928
    resnet, vit = get_preset("resnet50"), get_preset("vit_ti_16")

    def fwd(config, v):
        return int(cost(config.replace(image_size=v), batch=1).forward_flops)

    assert fwd(vit, 896) < fwd(resnet, 896) and fwd(resnet, 928) < fwd(vit, 928)


def test_comparison_of_three_models_covers_every_pair():
    result = compare(["resnet18", "vit_ti_16", "vit_s_16"], over="image_size", lo=64, hi=2048)
    assert set(result.pairs) == {(0, 1), (0, 2), (1, 2)}
    assert result.cheapest_at(64) == "vit_ti_16"


def test_compare_over_width_and_batch_and_other_metrics():
    by_width = compare([ViTConfig(heads=4, width=64, depth=2), ViTConfig(heads=4, width=64, depth=6)],
                       over="width", lo=4, hi=4096, metric="params")
    assert by_width.step == 4 and len(by_width.crossovers) == 0
    by_batch = compare(["resnet50", "vit_b_16"], over="batch", lo=1, hi=sympy.oo, metric="training_flops")
    assert len(by_batch.crossovers) == 0  # both linear in the batch: the ratio never changes


@pytest.mark.parametrize("kw, error, message", [
    ({"over": "patch", "models": ["vit_b_16", "vit_s_16"]}, InvalidConfigError, "has no such field"),
    ({"over": "batch", "metric": "params", "models": ["vit_b_16", "resnet50"]}, InvalidConfigError,
     "does not depend on it"),
    ({"metric": "flops", "models": ["vit_b_16", "resnet50"]}, UnknownPresetError, "unknown metric 'flops'"),
    ({"lo": 300, "hi": 100, "models": ["vit_b_16", "resnet50"]}, InvalidConfigError, "MIN:MAX"),
    ({"models": ["vit_b_16"]}, InvalidConfigError, "at least two models"),
])
def test_compare_bad_input(kw, error, message):
    kw = {"lo": 64, "hi": 1024, **kw}
    with pytest.raises(error, match=message):
        compare(kw.pop("models"), **kw)


def test_memory_peaks_resolve_to_their_winning_branch_at_infinity():
    from costmodel.analysis.asymptotics import at_infinity

    peak = sympy.Max(5 * x + 100, x**2 + 1, 3 * x**2)
    assert at_infinity(peak, x) == 3 * x**2 and limit_exponent(peak, x) == 2
    assert at_infinity(sympy.Min(x**3, 7 * x), x) == 7 * x


# --- command line -----------------------------------------------------------------------------

def run_cli(capsys, *argv):
    from costmodel.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().out


def test_crossover_command_prints_json_list(capsys):
    import json

    code, out = run_cli(capsys, "crossover", "resnet50", "vit_ti_16", "--json")
    data = json.loads(out)
    assert code == 0 and isinstance(data, list)
    assert [(d["value"], d["cheaper_after"]) for d in data] == [(928, "resnet50")]
    assert 924 < data[0]["root"] < 925 and data[0]["root_exact"].startswith("16*CRootOf")


def test_crossover_of_peak_memory_over_the_batch(capsys):
    from costmodel.memory.footprint import training_memory

    code, out = run_cli(capsys, "crossover", "resnet18", "vit_ti_16", "--metric", "peak_training_bytes",
                        "--over", "batch")
    assert code == 0 and "crossover at batch = 13" in out and "resnet18 is cheaper from there on" in out

    def peak(name, batch):
        return training_memory(get_preset(name), batch=batch).evaluate().peak

    assert peak("vit_ti_16", 12) < peak("resnet18", 12) and peak("resnet18", 13) < peak("vit_ti_16", 13)


def test_compare_command_with_three_models_reports_every_pair(capsys):
    code, out = run_cli(capsys, "compare", "resnet50", "convnext_tiny", "vit_s_16", "--range", "64:512")
    assert code == 0
    assert ("crossover at image_size = 96 px (root 73.6 px): vit_s_16 is cheaper than convnext_tiny "
            "from there on") in out
    assert ("no crossover of resnet50 and convnext_tiny for image_size from 64 px to 512 px: "
            "resnet50 is cheaper throughout") in out


@pytest.mark.parametrize("argv, message", [
    (["crossover", "resnet50", "vit_b_16", "--over", "patch_size"], "over='patch_size': ResNetConfig has no such"),
    (["crossover", "resnet50", "vit_b_16", "--metric", "flop"], "unknown metric 'flop'"),
    (["crossover", "resnet50", "vit_b_16", "--range", "9:3"], "--range='9:3'"),
    (["crossover", "resnet50", "vit_b_16", "--over", "batch", "--metric", "params"], "does not depend on it"),
])
def test_crossover_command_bad_input(capsys, argv, message):
    from costmodel.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1
