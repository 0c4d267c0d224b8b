"""What the generative families share: their symbols, and turning per-step costs into sampling costs.

A generative model has two budgets: a *training step* (forward and backward over whole
images, :func:`costmodel.models.cost`) and *sampling* (forward passes only, one per
sequential step). Sampling costs are :class:`~costmodel.cost.value.Cost` values with
``backward_flops = 0`` and ``params`` the weights the sampler reads.

Symbols (beside :mod:`costmodel.core.symbols`):

=========  ===========================================================  ========
symbol     meaning                                                      unit
=========  ===========================================================  ========
``tau``    sequence length of a generative task: sampling steps (F16,   token
           F17, F21)
``t``      index of one sampling step, ``1 <= t <= tau``                token
``Z``      latent size of a VAE (F18, F20)                              (none)
``V``      vocabulary (intensity levels) of a token / sub-pixel         (none)
=========  ===========================================================  ========
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy

from costmodel.core.errors import InvalidConfigError
from costmodel.cost.value import Cost

tau = sympy.Symbol("tau", positive=True, integer=True)
t = sympy.Symbol("t", positive=True, integer=True)
Z = sympy.Symbol("Z", positive=True, integer=True)
V = sympy.Symbol("V", positive=True, integer=True)


def forward_only(cost: Cost) -> Cost:
    """The forward FLOPs of ``cost`` and of its whole breakdown tree; no backward, no params."""
    return Cost(forward_flops=cost.forward_flops,
                parts=tuple((name, forward_only(part)) for name, part in cost.parts))


@cache
def _power_sum(power: int) -> sympy.Expr:
    r""":math:`\sum_{t=1}^{n} t^k` in the dummy ``n`` (Faulhaber), e.g. ``n (n + 1) / 2`` for ``k = 1``."""
    n = sympy.Dummy("n", positive=True, integer=True)
    return sympy.Lambda(n, sympy.factor(sympy.summation(t**power, (t, 1, n))))


def sum_over_steps(expr: Any, steps: Any) -> sympy.Expr:
    r"""Closed form of :math:`\sum_{t=1}^{\tau} e(t)` for an ``expr`` polynomial in :data:`t`.

    .. math:: \sum_{t=1}^{\tau} \sum_k a_k t^k = \sum_k a_k S_k(\tau), \quad
              S_1(\tau) = \frac{\tau(\tau+1)}{2}, \; S_2(\tau) = \frac{\tau(\tau+1)(2\tau+1)}{6}

    The coefficients :math:`a_k` are the Taylor coefficients at ``t = 0``, so the other
    symbols are never expanded (a symbolic width ``(a + b + c)**8`` stays as it is).
    Exact integers for an integer ``steps`` and numeric coefficients.

    Examples
    --------
    >>> sum_over_steps(4 * t + 3, tau)
    2*tau*(tau + 1) + 3*tau
    >>> sum_over_steps(4 * t + 3, 10)
    250
    >>> sum_over_steps(V * t, 3)
    6*V
    """
    e = sympy.sympify(expr)
    if t not in e.free_symbols:
        return e * steps
    if not e.is_polynomial(t):
        raise InvalidConfigError("expr", expr, "a per-step cost must be a polynomial in the step t")
    terms = (coeff * _power_sum(k)(steps) for k, coeff in enumerate(_coefficients(e)) if coeff != 0)
    return sympy.Add(*terms)


#: the highest power of the step ``t`` in a per-step cost (attention over the prefix is ``t**2``)
MAX_STEP_DEGREE = 8


def _coefficients(e: sympy.Expr) -> list[sympy.Expr]:
    """``[a_0, a_1, ...]`` of a polynomial ``e`` in :data:`t`: ``a_k = e^{(k)}(0) / k!``."""
    coefficients, derivative = [], e
    for k in range(MAX_STEP_DEGREE + 1):
        coefficients.append(derivative.subs(t, 0) / sympy.factorial(k))
        derivative = derivative.diff(t)
        if derivative == 0:
            return coefficients
    raise InvalidConfigError("expr", e, f"a per-step cost must have degree at most {MAX_STEP_DEGREE} in the step t")


def sum_cost_over_steps(per_step: Cost, steps: Any) -> Cost:
    """A per-step cost (a polynomial in :data:`t`) summed over steps ``1..steps``, through the tree."""
    return per_step.map(lambda e: sum_over_steps(e, steps))


def sampling(per_pass: Cost, *, passes: Any, params: Any) -> Cost:
    """``passes`` forward passes of ``per_pass`` (step-independent), with the model's ``params``."""
    total: Cost = forward_only(per_pass) * passes + Cost(params=params)
    return total


__all__ = ["tau", "t", "Z", "V", "forward_only", "sum_over_steps", "sum_cost_over_steps", "sampling"]
