"""Convergence (F19, F21): the SymPy models, the rate fit (recovery, intervals, errors), the experiment.

The fit is checked on synthetic curves generated from a known ``eps``; Student-t
quantiles against printed tables; the experiment in a short version (fewer steps) and
the stored full run (``validation/results/convergence.json``) for its seeds and its
consistency with ``costmodel converge``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.article import convergence as cv
from costmodel.cli import main
from costmodel.cli.converge import fit_curves, summarize_rows
from costmodel.core.errors import InvalidConfigError

RESULTS = Path(__file__).resolve().parents[1] / "validation" / "results" / "convergence.json"


# -- the SymPy models ---------------------------------------------------------------------------

def test_iterations_solve_the_loss_curve() -> None:
    """T(eps, delta) is where the excess loss of F19's curve falls to delta of its start."""
    excess = (cv.LOSS_CURVE - cv.loss_inf) / (cv.loss_0 - cv.loss_inf)
    at_t = sympy.simplify(excess.subs(cv.step, cv.ITERATIONS))
    assert sympy.simplify(at_t - cv.delta) == 0
    # small-eps form: ln(1/delta)/eps is the leading term of the series in eps
    series = sympy.series(cv.ITERATIONS, cv.eps, 0, 1).removeO()
    assert sympy.simplify(series - (cv.ITERATIONS_APPROX - sympy.log(1 / cv.delta) / 2)) == 0


def test_iterations_numbers_by_hand() -> None:
    # ln(1/0.01) / -ln(1 - 0.1) = 4.60517 / 0.1053605 = 43.709
    assert cv.iterations(0.1, 0.01) == pytest.approx(43.7087, rel=1e-5)
    assert cv.sequential_iterations(64, 3.5) == 224.0
    assert cv.SEQUENTIAL_ITERATIONS.subs({cv.tau: 10, cv.delta_f: 2}) == 20
    assert cv.budget(100, 2_000_000) == 200_000_000
    assert sympy.simplify(cv.BUDGET / cv.flops_per_step - cv.ITERATIONS) == 0


@pytest.mark.parametrize("bad", [0, 1, -0.2, 1.5, float("nan"), "x"])
def test_rate_outside_unit_interval_is_an_error(bad) -> None:
    with pytest.raises(InvalidConfigError) as err:
        cv.iterations(bad, 0.01)
    assert err.value.field == "eps"


@pytest.mark.parametrize("bad", [0, 1, 2.0])
def test_tolerance_outside_unit_interval_is_an_error(bad) -> None:
    with pytest.raises(InvalidConfigError, match="tolerance"):
        cv.iterations(0.1, bad)


def test_sequential_iterations_errors() -> None:
    with pytest.raises(InvalidConfigError):
        cv.sequential_iterations(0, 2)
    with pytest.raises(InvalidConfigError):
        cv.sequential_iterations(5, -1)
    assert cv.sequential_iterations(cv.tau, cv.delta_f) == cv.SEQUENTIAL_ITERATIONS


@pytest.mark.parametrize("p, dof, table", [(0.975, 1, 12.706), (0.975, 10, 2.228), (0.95, 5, 2.015),
                                           (0.995, 30, 2.750)])
def test_student_t_quantiles_match_the_table(p, dof, table) -> None:
    """NIST/SEMATECH e-Handbook of Statistical Methods, Sec. 1.3.6.7.2, critical values of t."""
    assert cv.student_t_quantile(p, dof) == pytest.approx(table, abs=5e-4)


# -- the fit --------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0.002, 0.3), floor=st.floats(0.0, 2.0), amplitude=st.floats(0.2, 5.0),
       points=st.integers(6, 60), every=st.integers(1, 10), start=st.integers(0, 50))
def test_fit_recovers_eps_from_exact_curves(eps, floor, amplitude, points, every, start) -> None:
    steps = start + every * np.arange(points)
    span = every * (points - 1)
    if not 0.2 < eps * span < 25:  # the window must see the curve bend, and not only its first interval
        return
    losses = floor + amplitude * (1 - eps) ** (steps - start)
    fit = cv.fit_rate(steps, losses)
    assert fit.eps == pytest.approx(eps, rel=1e-4)
    assert fit.loss_inf == pytest.approx(floor, abs=1e-4 * amplitude)
    assert fit.eps_low <= eps * (1 + 1e-6) and fit.eps_high >= eps * (1 - 1e-6)
    assert fit.steps_to_loss(floor + amplitude * 0.1) == pytest.approx(start + math.log(0.1) / math.log(1 - eps),
                                                                       rel=1e-3)


def test_interval_covers_the_true_rate_on_noisy_curves() -> None:
    """95% intervals on 40 noisy curves (seeded): the true eps inside at least 34 times (P[<34] < 1%)."""
    rng = np.random.default_rng(7)
    steps = np.arange(0, 400, 8)
    inside = 0
    for _ in range(40):
        eps, floor = rng.uniform(0.005, 0.05), rng.uniform(0.0, 0.5)
        losses = floor + 2.0 * (1 - eps) ** steps + rng.normal(0, 0.02, len(steps))
        fit = cv.fit_rate(steps, losses)
        inside += fit.eps_low <= eps <= fit.eps_high
        assert fit.eps_low < fit.eps < fit.eps_high
    assert inside >= 34


def test_known_floor_and_bounded_floor() -> None:
    steps = np.arange(0, 200, 5)
    losses = 0.4 + 1.5 * 0.98**steps
    assert cv.fit_rate(steps, losses, loss_inf=0.4).eps == pytest.approx(0.02, rel=1e-6)
    assert cv.fit_rate(steps, losses, loss_inf=0.4).floor == "given"
    # a pure exponential decay to 0 with noise pushing the free floor negative: the bound holds it at 0
    rng = np.random.default_rng(3)
    noisy = 1.5 * 0.99 ** steps * np.exp(rng.normal(0, 0.05, len(steps)))
    bounded = cv.fit_rate(steps, noisy, min_loss=0.0)
    assert bounded.loss_inf >= 0.0 and bounded.eps == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize("steps, losses, match", [
    ([0, 1, 2, 3], [4.0, 3.0, 2.5, 2.2], "too few"),
    ([0, 1, 2, 3, 4, 5], [1.0, 1.1, 1.2, 1.3, 1.4, 1.5], "does not decrease"),
    ([0, 1, 2, 3, 4, 5], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "does not decrease"),
    ([0, 1, 2, 3, 4, 5], [1.0, 0.5, 0.4, float("nan"), 0.3, 0.2], "finite"),
    ([0, 1, 1, 3, 4, 5], [1.0, 0.5, 0.4, 0.35, 0.3, 0.2], "strictly increasing"),
    ([0, 1, 2, 3, 4, 5], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0], "no curvature"),
    ([0, 100, 200, 300, 400, 500], [5.0, 1.0, 1.0, 1.0, 1.0, 1.0], "first interval"),
    ([0, 1, 2], [1.0], "one loss per step"),
])
def test_bad_curves_give_clear_errors(steps, losses, match) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        cv.fit_rate(steps, losses)


def test_fit_option_errors_and_fit_methods() -> None:
    steps, losses = np.arange(10), 1 + 0.8**np.arange(10)
    with pytest.raises(InvalidConfigError):
        cv.fit_rate(steps, losses, confidence=1.0)
    with pytest.raises(InvalidConfigError, match="below every loss"):
        cv.fit_rate(steps, losses, loss_inf=1.5)
    fit = cv.fit_rate(steps, losses)
    with pytest.raises(InvalidConfigError, match="never reached"):
        fit.steps_to_loss(0.9)
    assert fit.iterations(0.01) == pytest.approx(math.log(100) / -math.log(0.8), rel=1e-5)
    np.testing.assert_allclose(fit.predict(steps), losses, rtol=1e-8)


def test_summarize() -> None:
    s = cv.summarize([0.01, 0.02, 0.03])
    assert (s.mean, s.low, s.high) == pytest.approx((0.02, 0.01, 0.03)) and s.std == pytest.approx(0.01)
    with pytest.raises(InvalidConfigError):
        cv.summarize([0.1, 1.2])


# -- the experiment -------------------------------------------------------------------------------

def test_short_experiment_runs_and_converge_refits_it(tmp_path, capsys) -> None:
    """The unit-test version: 2 seeds, 30 steps, the same code path as the full run."""
    from costmodel.validation import convergence as experiment

    results = experiment.run_experiment(seeds=(0, 1), steps=30, eval_every=5, progress=False)
    assert results["seeds"] == [0, 1] and len(results["curves"]) == 4
    conv, vit = results["models"]["convnet"], results["models"]["vit"]
    assert abs(vit["training_flops_per_image"] / conv["training_flops_per_image"] - 1) < 0.1
    for curve in results["curves"]:
        assert len(curve["steps"]) == len(curve["losses"]) == 7
        assert curve["losses"][-1] < curve["losses"][0]
    path = experiment.write_results(results, tmp_path / "short.json")
    assert main(["converge", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["fits"]) == 4
    assert main(["converge", str(path)]) == 0
    assert "eps" in capsys.readouterr().out


def test_matched_vit_is_the_closest_in_training_flops() -> None:
    from costmodel.validation.convergence import CONVNET, match_vit

    from costmodel.models import cost

    vit = match_vit(CONVNET)
    target = cost(CONVNET, batch=1).training_flops
    gap = abs(cost(vit, batch=1).training_flops - target)
    for width in (vit.width - 2, vit.width + 2):
        assert abs(cost(vit.replace(width=width), batch=1).training_flops - target) >= gap


def test_stored_results_have_seeds_and_refit_to_the_same_rates() -> None:
    data = json.loads(RESULTS.read_text())
    assert len(data["seeds"]) >= 3
    for model in ("convnet", "vit"):
        assert sorted(c["seed"] for c in data["curves"] if c["model"] == model) == sorted(data["seeds"])
    rows = fit_curves(data)
    stored = {(c["model"], c["seed"]): c["fit"]["eps"] for c in data["curves"]}
    for row in rows:
        assert row["eps"] == pytest.approx(stored[(row["model"], row["seed"])], rel=1e-6)  # a flat optimum
    summary = summarize_rows(rows)
    assert summary["eps_vit_lt_eps_conv"]["mean"] == data["summary"]["eps_vit_lt_eps_conv"]["mean"]


def test_converge_cli_errors(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["converge", str(tmp_path / "missing.json")])
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"curves": [{"model": "a", "steps": [0, 1, 2], "losses": [3, 2, 1]}]}))
    with pytest.raises(SystemExit) as nothing:  # no curve can be fitted: bad input (issue 18), status 2
        main(["converge", str(bad)])
    assert nothing.value.code == 2 and "too few" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["converge", str(bad), "--tolerance", "2"])
