"""Properties every cost model should have, as plain functions that raise ``AssertionError``.

* :func:`assert_linear_in_batch`: FLOPs are ``B`` times those of one image (no term without
  ``B``, none in ``B**2``); saved activations are of degree 1 in ``B`` (``a B + c``: batch
  norm keeps a mean and an inverse deviation per channel whatever the batch); parameters do
  not depend on ``B``;
* :func:`assert_polynomial_in_image`: with symbolic image sides ``H`` and ``W`` (and strides
  dividing them), a metric is a polynomial of the declared total degree in ``H, W`` (2 for a
  ConvNet, 4 for a ViT with full attention: ``(H W / P^2)^2`` scores);
* :func:`assert_crossovers_unit_invariant`: where two costs cross does not depend on the unit
  they are written in (FLOP, MAC, GFLOP, ...).

Each takes a config (whose cost is built here) or a ``Cost``; failure messages show the
offending expression and a point where it fails. They run on SymPy only (no torch).

Examples
--------
>>> from costmodel.models import ResNetConfig, ViTConfig
>>> assert_linear_in_batch(ResNetConfig(layers=(1, 1), width=8))
>>> assert_polynomial_in_image(ViTConfig(depth=1), degree=4)
>>> assert_polynomial_in_image(ResNetConfig(layers=(1,)), degree=4)
Traceback (most recent call last):
...
AssertionError: forward_flops of ResNetConfig has total degree 2 in H, W, not the declared 4: 13920*H*W + 512000
"""

from __future__ import annotations

from typing import Any

import sympy

from costmodel.core.symbols import B, H, W
from costmodel.core.units import ureg

#: metrics a batch scales (the saved activations need a config with a memory model)
BATCH_METRICS = ("forward_flops", "backward_flops", "saved_bytes")


def _name(model: Any) -> str:
    return type(model).__name__


def _cost(model: Any, **kwargs: Any) -> Any:
    """The Cost of a config (with a float32 memory trace where the family has one), or ``model`` itself."""
    from costmodel.models import cost
    from costmodel.models.base import ArchConfig
    from costmodel.models.generative import MODULES

    if not isinstance(model, ArchConfig):
        return model
    precision = None if type(model) in MODULES else "float32"
    return cost(model, precision=precision, **kwargs)


def _metric(c: Any, name: str) -> sympy.Expr | None:
    """A metric of a Cost as an expression (None for saved activations without a memory trace)."""
    if name == "saved_bytes" and c.trace.saved == 0:
        return None
    return sympy.sympify(getattr(c, name))


def _short(expr: Any, limit: int = 160) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 5] + " + ..."


def assert_linear_in_batch(model: Any, *, metrics: tuple[str, ...] = BATCH_METRICS, batch: Any = B,
                           proportional: tuple[str, ...] = ("forward_flops", "backward_flops")) -> None:
    """FLOPs and saved activations of ``model`` are linear in the batch; parameters do not depend on it.

    ``model`` is a config or a ``Cost`` in the symbol ``batch`` (``B``). Each metric must be
    of degree 1 in ``B`` (``f(B) - f(0)`` equal to ``B (f(1) - f(0))``); the ``proportional`` ones
    also have ``f(0) = 0``, i.e. ``f(B) = B f(1)``: every term carries exactly one factor ``B``.
    """
    c = _cost(model, batch=batch)
    for name in metrics:
        expr = _metric(c, name)
        if expr is None:
            continue
        offset = 0 if name in proportional else expr.subs(batch, 0)
        per_image = expr.subs(batch, 1) - offset
        if sympy.expand(expr - offset - batch * per_image) != 0:
            at_two = expr.subs(batch, 2)
            kind = "proportional to" if name in proportional else "of degree 1 in"
            raise AssertionError(f"{name} of {_name(model)} is not {kind} the batch {batch}: "
                                 f"f(2) = {_short(at_two)} but f(0) + 2 (f(1) - f(0)) = "
                                 f"{_short(offset + 2 * per_image)}; "
                                 f"f({batch}) = {_short(expr)}")
    params = sympy.sympify(c.params)
    if batch in params.free_symbols:
        raise AssertionError(f"params of {_name(model)} depend on the batch {batch}: {_short(params)}")


def assert_polynomial_in_image(model: Any, degree: int, *, metrics: tuple[str, ...] = ("forward_flops",),
                               height: Any = H, width: Any = W) -> None:
    """Each of ``metrics`` is a polynomial of total degree ``degree`` in the image sides.

    ``model`` is a config (its ``image_size`` is made ``(H, W)``, costs built with
    ``divisible=True``: every stride divides the sides) or a ``Cost`` in ``height`` and ``width``.
    """
    from costmodel.models.base import ArchConfig

    if isinstance(model, ArchConfig):
        c = _cost(model.replace(image_size=(height, width)), batch=1, divisible=True)
    else:
        c = model
    for name in metrics:
        expr = _metric(c, name)
        if expr is None:
            continue
        expr = sympy.expand(expr)
        if not expr.is_polynomial(height, width):
            raise AssertionError(f"{name} of {_name(model)} is not a polynomial in {height}, {width} "
                                 f"(floors or ratios remain): {_short(expr)}")
        found = sympy.Poly(expr, height, width).total_degree() if expr.free_symbols & {height, width} else 0
        if found != degree:
            raise AssertionError(f"{name} of {_name(model)} has total degree {found} in {height}, {width}, "
                                 f"not the declared {degree}: {_short(expr, 60)}")


def _crossing_points(a: Any, b: Any, var: Any, lo: Any, hi: Any) -> list[tuple[Any, str]]:
    from costmodel.analysis.crossover import crossovers

    found = crossovers(a, b, var, lo=lo, hi=hi)
    return [(x.first_valid if x.first_valid is not None else x.root, x.cheaper_after) for x in found]


def assert_crossovers_unit_invariant(a: Any, b: Any, var: Any, *, lo: Any = 1, hi: Any = 4096,
                                     metric: str = "forward_flops", unit: str = "flop",
                                     units: tuple[str, ...] = ("MAC", "GFLOP", "TFLOP")) -> None:
    """The crossovers of ``a`` and ``b`` in ``var`` are the same in every unit of ``units``.

    ``a`` and ``b`` are SymPy expressions (in ``unit``) or ``Cost`` values (their ``metric``).
    Each is rewritten in each unit (multiplied by the exact conversion factor) and the
    crossings (position and which cost is cheaper after) must not move.
    """
    exprs = [sympy.sympify(getattr(x, metric)) if hasattr(x, "metrics") else sympy.sympify(x) for x in (a, b)]
    reference = _crossing_points(exprs[0], exprs[1], var, lo, hi)
    for target in units:
        factor = sympy.nsimplify(ureg.Quantity(1, unit).to(target).magnitude, rational=True)
        moved = _crossing_points(exprs[0] * factor, exprs[1] * factor, var, lo, hi)
        if moved != reference:
            raise AssertionError(f"crossovers of the two costs in {var} change with the unit: in {unit} "
                                 f"{reference}, in {target} {moved}")


__all__ = ["assert_linear_in_batch", "assert_polynomial_in_image", "assert_crossovers_unit_invariant",
           "BATCH_METRICS"]
