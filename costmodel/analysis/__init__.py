"""Questions asked of costs: comparisons over one field, crossovers (exact where possible),
leading terms and scaling exponents, vectorised sweeps, cost metrics by name, and the
trade-offs of efficient attention variants.

Public names are re-exported here lazily (PEP 562): ``from costmodel.analysis import X``
imports only the module that defines ``X``.
"""

from __future__ import annotations

from costmodel.core.lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Interval": "roots",
    "exact_sign_changes": "roots",
    "numeric_sign_changes": "roots",
    "is_piecewise_rational": "roots",
    "merge": "roots",
    "sign": "roots",
    "side_of": "roots",
    "rational_between": "roots",
    "ROUNDING": "roots",
    "PRECISION": "roots",
    "Crossover": "crossover",
    "Crossovers": "crossover",
    "SymbolicCrossover": "crossover",
    "crossovers": "crossover",
    "symbolic_crossovers": "crossover",
    "at_infinity": "asymptotics",
    "leading_term": "asymptotics",
    "big_o": "asymptotics",
    "scaling_exponent": "asymptotics",
    "exponent_at": "asymptotics",
    "limit_exponent": "asymptotics",
    "fit_exponent": "asymptotics",
    "parts_total": "asymptotics",
    "share": "asymptotics",
    "share_crossing": "asymptotics",
    "dominant_part": "asymptotics",
    "Metric": "metrics",
    "available": "metrics",
    "get_metric": "metrics",
    "metric_expression": "metrics",
    "evaluate_metric": "metrics",
    "cost_of": "metrics",
    "Comparison": "comparison",
    "compare": "comparison",
    "exact_metric": "comparison",
    "field_symbol": "comparison",
    "metric_unit": "comparison",
    "resolve": "comparison",
    "symbolic_metric": "comparison",
    "valid_step": "comparison",
    "sweep": "sweeps",
    "compiled": "sweeps",
    "exact_numpy_form": "sweeps",
    "DEFAULT_METRICS": "sweeps",
    "DIVISIBILITY": "sweeps",
})
