"""Iterations to converge (F19, F21): the models as SymPy expressions, and rates fitted from loss curves.

F19 (the article's "convergence rate" ``eps``) read as geometric convergence:

.. math::
    \\ell_t - \\ell_\\infty = (\\ell_0 - \\ell_\\infty)(1 - \\epsilon)^t, \\qquad
    T(\\epsilon, \\delta) = \\frac{\\ln(1/\\delta)}{-\\ln(1 - \\epsilon)} \\approx \\frac{\\ln(1/\\delta)}{\\epsilon}

iterations to bring the excess loss down to a fraction ``delta`` of where it started.
``eps`` is not a property of an architecture alone but of a model, an optimiser and a
dataset: :func:`fit_rate` measures it from a real loss curve, with a confidence interval.

F21 (sequential dependencies): ``T = tau * delta_f`` iterations for a sequence of length
``tau`` and a per-model iteration factor ``delta_f`` (the article's ``delta_conv``,
``delta_vit``; named ``delta_f`` here so as not to clash with F19's tolerance).

A training budget in FLOPs is iterations times the per-step cost of the core
(:attr:`costmodel.cost.value.Cost.training_flops` at the batch size used): :data:`BUDGET`,
:func:`budget`.

Examples
--------
>>> round(float(ITERATIONS.subs({eps: 0.01, delta: 0.01})), 2)   # ln(100) / -ln(0.99)
458.21
>>> round(iterations(0.01, 0.01), 2)
458.21
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sympy

from costmodel.core.errors import InvalidConfigError

eps = sympy.Symbol("epsilon", positive=True)
delta = sympy.Symbol("delta", positive=True)
delta_f = sympy.Symbol("delta_f", positive=True)
tau = sympy.Symbol("tau", positive=True, integer=True)
step = sympy.Symbol("t", nonnegative=True)
loss_0 = sympy.Symbol("ell_0", real=True)
loss_inf = sympy.Symbol("ell_inf", real=True)
flops_per_step = sympy.Symbol("F_step", positive=True)

#: F19: the loss after ``t`` steps.
LOSS_CURVE = loss_inf + (loss_0 - loss_inf) * (1 - eps) ** step
#: F19: iterations to tolerance ``delta`` (exact in the model).
ITERATIONS = sympy.log(1 / delta) / -sympy.log(1 - eps)
#: F19: the small-``eps`` form the article's statement suggests.
ITERATIONS_APPROX = sympy.log(1 / delta) / eps
#: F21: iterations for a sequence of length ``tau``.
SEQUENTIAL_ITERATIONS = tau * delta_f
#: total training FLOPs: iterations times the FLOPs of one training step.
BUDGET = ITERATIONS * flops_per_step

#: fewest points :func:`fit_rate` accepts: 3 parameters and 2 degrees of freedom left.
MIN_POINTS = 5


def check_rate(value: Any, field: str = "eps") -> float:
    """``eps`` as a float strictly inside ``(0, 1)``."""
    number = _finite(value, field)
    if not 0 < number < 1:
        raise InvalidConfigError(field, value, "a convergence rate must lie strictly between 0 and 1")
    return number


def check_tolerance(value: Any, field: str = "delta") -> float:
    """``delta`` as a float strictly inside ``(0, 1)``."""
    number = _finite(value, field)
    if not 0 < number < 1:
        raise InvalidConfigError(field, value, "a tolerance (fraction of the initial excess loss) must lie "
                                               "strictly between 0 and 1")
    return number


def _finite(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidConfigError(field, value, "must be a number") from None
    if not math.isfinite(number):
        raise InvalidConfigError(field, value, "must be finite")
    return number


def iterations(rate: Any, tolerance: Any) -> float:
    """F19: :math:`T = \\ln(1/\\delta) / -\\ln(1 - \\epsilon)` steps, for ``eps``, ``delta`` in ``(0, 1)``."""
    e, d = check_rate(rate), check_tolerance(tolerance)
    return math.log(1 / d) / -math.log1p(-e)


def sequential_iterations(length: Any, factor: Any) -> Any:
    """F21: :math:`T = \\tau \\delta_f` iterations (``length`` a positive size, ``factor`` positive)."""
    from costmodel.core.checks import as_size

    length = as_size("tau", length)
    if isinstance(factor, sympy.Expr) and not factor.is_number:
        if factor.is_positive is False:
            raise InvalidConfigError("delta_f", factor, "must be positive")
        return length * factor
    number = _finite(factor, "delta_f")
    if number <= 0:
        raise InvalidConfigError("delta_f", factor, "an iteration factor must be positive")
    return length * number


def budget(steps: Any, training_flops_per_step: Any) -> Any:
    """Training FLOPs: ``steps`` iterations of a step costing ``training_flops_per_step``."""
    if float(steps) < 0:
        raise InvalidConfigError("steps", steps, "must be >= 0")
    return steps * training_flops_per_step


@dataclass(frozen=True)
class RateFit:
    """A geometric-convergence fit :math:`\\ell_t = \\ell_\\infty + A (1 - \\epsilon)^{t - t_0}`.

    ``eps_low``, ``eps_high`` bound ``eps`` at ``confidence`` (Wald interval on the
    per-step log-rate ``k = -ln(1 - eps)``, Student-t quantile, mapped to ``eps``);
    ``eps_low`` is 0 when the data cannot tell the rate from zero.
    """

    eps: float
    eps_low: float
    eps_high: float
    confidence: float
    loss_start: float  #: fitted loss at the first step, t_0
    loss_inf: float  #: fitted (or given) asymptote
    first_step: float  #: t_0
    rate: float  #: k = -ln(1 - eps)
    rate_se: float
    points: int
    residual_std: float
    r_squared: float
    floor: str  #: "fitted", "given" (``loss_inf`` passed) or "bound" (fitted, held at ``min_loss``)

    def predict(self, steps: Any) -> np.ndarray:
        t = np.asarray(steps, dtype=float)
        return self.loss_inf + (self.loss_start - self.loss_inf) * np.exp(-self.rate * (t - self.first_step))

    def iterations(self, tolerance: Any) -> float:
        """Steps (from ``t_0``) to bring the excess loss to ``tolerance`` of its start (F19)."""
        return math.log(1 / check_tolerance(tolerance)) / self.rate

    def steps_to_loss(self, target: Any) -> float:
        """The step at which the fitted curve reaches loss ``target``."""
        value = _finite(target, "target")
        if value <= self.loss_inf:
            raise InvalidConfigError("target", target, f"is at or below the fitted asymptote {self.loss_inf:.4g}: "
                                                       "never reached")
        if value >= self.loss_start:
            return self.first_step
        excess = (value - self.loss_inf) / (self.loss_start - self.loss_inf)
        return self.first_step + math.log(excess) / -self.rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean_curve(steps: Sequence[Any], losses: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    try:
        t = np.asarray(steps, dtype=float)
        y = np.asarray(losses, dtype=float)
    except (TypeError, ValueError):
        raise InvalidConfigError("losses", losses, "steps and losses must be sequences of numbers") from None
    if t.ndim != 1 or y.ndim != 1 or len(t) != len(y):
        raise InvalidConfigError("losses", f"{len(y)} values for {len(t)} steps",
                                 "need one loss per step, as two flat sequences")
    if len(y) < MIN_POINTS:
        raise InvalidConfigError("losses", f"{len(y)} points", f"too few to fit a rate: need at least {MIN_POINTS} "
                                                               "(3 parameters and 2 degrees of freedom)")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise InvalidConfigError("losses", "NaN or inf", "steps and losses must be finite")
    if np.any(np.diff(t) <= 0):
        raise InvalidConfigError("steps", list(t[:6]), "must be strictly increasing")
    slope = np.polyfit(t - t[0], y, 1)[0]
    if y[-1] >= y[0] or slope >= 0:
        raise InvalidConfigError("losses", f"{y[0]:.4g} -> {y[-1]:.4g}",
                                 "the loss curve does not decrease: no convergence rate to fit")
    return t, y


def _project(t: np.ndarray, y: np.ndarray, k: float, floor: float | None,
             min_loss: float | None = None) -> tuple[float, float, float]:
    """For a fixed rate ``k`` the model is linear in (floor, amplitude): least squares -> (a, b, SSE).

    With ``min_loss`` the floor is bounded below: a convex quadratic, so when the free
    optimum violates the bound the constrained one has the floor on it.
    """
    e = np.exp(-k * t)
    if floor is None:
        basis = np.column_stack([np.ones_like(t), e])
        (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
        if min_loss is not None and a < min_loss:
            a = min_loss
            b = float(e @ (y - a) / (e @ e))
    else:
        a = floor
        b = float(e @ (y - a) / (e @ e))
    residual = y - a - b * e
    return float(a), float(b), float(residual @ residual)


def _golden(fn: Any, lo: float, hi: float, iters: int = 80) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = fn(c), fn(d)
    for _ in range(iters):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = fn(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = fn(d)
    return (lo + hi) / 2


def student_t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of Student's t with ``dof`` degrees of freedom (``p`` in ``(0.5, 1)``).

    Bisection on :math:`P(T > x) = \\tfrac12 I_{\\nu/(\\nu + x^2)}(\\nu/2, 1/2)` (regularised
    incomplete beta from ``mpmath``, which SymPy ships with).
    """
    import mpmath

    if not 0.5 < p < 1 or dof < 1:
        raise InvalidConfigError("p", p, "need 0.5 < p < 1 and dof >= 1")

    def upper_tail(x: float) -> float:
        return float(mpmath.betainc(dof / 2, 0.5, 0, dof / (dof + x * x), regularized=True)) / 2

    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1 - p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if upper_tail(mid) > 1 - p else (lo, mid)
    return (lo + hi) / 2


def fit_rate(steps: Sequence[Any], losses: Sequence[Any], *, confidence: float = 0.95,
             loss_inf: float | None = None, min_loss: float | None = None) -> RateFit:
    """Fit F19's ``eps`` (with a confidence interval) to a decreasing loss curve.

    Least squares for :math:`\\ell_t = \\ell_\\infty + A e^{-k (t - t_0)}`,
    :math:`\\epsilon = 1 - e^{-k}`: for each rate ``k`` the floor and amplitude are a
    linear fit (variable projection), and ``k`` minimises the residual over a log grid
    refined by golden-section search. ``loss_inf`` fixes the floor instead of fitting it;
    ``min_loss`` bounds the fitted floor below (0 for a cross-entropy, which cannot be
    negative).

    Raises :class:`~costmodel.core.errors.InvalidConfigError` for fewer than
    :data:`MIN_POINTS` points, non-finite values, steps that do not increase, a curve that
    does not decrease, or a curve whose rate the window cannot resolve (it has not yet
    bent, or it fell entirely within the first interval).
    """
    t, y = _clean_curve(steps, losses)
    if not 0 < confidence < 1:
        raise InvalidConfigError("confidence", confidence, "must lie strictly between 0 and 1")
    floor = None if loss_inf is None else _finite(loss_inf, "loss_inf")
    if floor is not None and floor >= y.min():
        raise InvalidConfigError("loss_inf", loss_inf, f"must lie below every loss (min {y.min():.4g})")
    bound = None if min_loss is None else _finite(min_loss, "min_loss")
    if bound is not None and bound >= y.min():
        raise InvalidConfigError("min_loss", min_loss, f"must lie below every loss (min {y.min():.4g})")
    t0 = t[0]
    x = t - t0
    span, gap = x[-1], float(np.min(np.diff(x)))
    grid = np.geomspace(0.05 / span, 30 / gap, 200)
    sse = np.array([_project(x, y, k, floor, bound)[2] for k in grid])
    best = int(np.argmin(sse))
    if best in (0, len(grid) - 1):
        reason = ("has no curvature in this window: it has not started to level off (train longer)" if best == 0
                  else "falls within the first interval: record the loss more often")
        raise InvalidConfigError("losses", f"{len(y)} points", f"the curve's rate cannot be resolved: it {reason}")
    log_k = _golden(lambda u: _project(x, y, math.exp(u), floor, bound)[2],
                    math.log(grid[best - 1]), math.log(grid[best + 1]))
    k = math.exp(log_k)
    a, b, residual = _project(x, y, k, floor, bound)
    mode = "given" if floor is not None else ("bound" if bound is not None and a <= bound else "fitted")
    if b <= 0:
        raise InvalidConfigError("losses", f"{y[0]:.4g} -> {y[-1]:.4g}",
                                 "the best geometric fit increases: the loss curve does not decrease")
    e = np.exp(-k * x)
    columns = [e, -b * x * e] if mode != "fitted" else [np.ones_like(x), e, -b * x * e]
    jac = np.column_stack(columns)
    dof = len(y) - jac.shape[1]
    s2 = residual / dof
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    se = float(math.sqrt(max(cov[-1, -1], 0.0)))
    q = student_t_quantile((1 + confidence) / 2, dof)
    k_low, k_high = max(k - q * se, 0.0), k + q * se
    total = float(((y - y.mean()) ** 2).sum())
    return RateFit(eps=-math.expm1(-k), eps_low=-math.expm1(-k_low), eps_high=-math.expm1(-k_high),
                   confidence=confidence, loss_start=a + b, loss_inf=a, first_step=float(t0), rate=k,
                   rate_se=se, points=len(y), residual_std=math.sqrt(s2),
                   r_squared=1 - residual / total if total > 0 else 1.0, floor=mode)


@dataclass(frozen=True)
class RateSummary:
    """``eps`` over several runs (seeds): mean, sample standard deviation, range."""

    values: tuple[float, ...]
    mean: float
    std: float
    low: float
    high: float


def summarize(rates: Sequence[float]) -> RateSummary:
    """Mean, spread (sample std, ``ddof=1``; 0 for one run) and range of fitted rates."""
    values = tuple(check_rate(r) for r in rates)
    if not values:
        raise InvalidConfigError("rates", rates, "need at least one fitted rate")
    arr = np.array(values)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return RateSummary(values=values, mean=float(arr.mean()), std=std, low=float(arr.min()), high=float(arr.max()))


__all__ = ["eps", "delta", "delta_f", "tau", "step", "loss_0", "loss_inf", "flops_per_step", "LOSS_CURVE",
           "ITERATIONS", "ITERATIONS_APPROX", "SEQUENTIAL_ITERATIONS", "BUDGET", "MIN_POINTS", "check_rate",
           "check_tolerance", "iterations", "sequential_iterations", "budget", "RateFit", "fit_rate",
           "student_t_quantile", "RateSummary", "summarize"]
