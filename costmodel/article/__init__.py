"""The article "ConvNets vs Vision Transformers": its formulas (F1-F21) as SymPy, the
convergence models (F19, F21) and the generator of ``docs/claims.md``.

Public names are re-exported here lazily (PEP 562): ``from costmodel.article import X``
imports only the module that defines ``X``.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.lazy import Exports

_EXPORTS = Exports(__name__, {
    "ArticleForm": "forms",
    "FORMS": "forms",
    "F7": "forms",
    "F9": "forms",
    "F10": "forms",
    "F11": "forms",
    "F12": "forms",
    "M": "forms",
    "N_map": "forms",
    "leading_term": "forms",
    "big_o": "forms",
    "agrees_asymptotically": "forms",
    "RELU": "definitions",
    "PHI": "definitions",
    "GELU": "definitions",
    "GELU_TANH": "definitions",
    "GELU_CUBIC": "definitions",
    "CONV_SUM": "definitions",
    "conv_sum": "definitions",
    "conv_layer": "definitions",
    "relu": "definitions",
    "gelu": "definitions",
    "softmax_rows": "definitions",
    "attention": "definitions",
    "symbolic_attention": "definitions",
    "BlockWeights": "definitions",
    "layer_norm": "definitions",
    "multi_head_attention": "definitions",
    "encoder_block": "definitions",
    "max_abs_difference": "definitions",
    "FORMULAS": "definitions",
    "eps": "convergence",
    "delta": "convergence",
    "delta_f": "convergence",
    "tau": "convergence",
    "step": "convergence",
    "loss_0": "convergence",
    "loss_inf": "convergence",
    "flops_per_step": "convergence",
    "LOSS_CURVE": "convergence",
    "ITERATIONS": "convergence",
    "ITERATIONS_APPROX": "convergence",
    "SEQUENTIAL_ITERATIONS": "convergence",
    "BUDGET": "convergence",
    "MIN_POINTS": "convergence",
    "check_rate": "convergence",
    "check_tolerance": "convergence",
    "iterations": "convergence",
    "sequential_iterations": "convergence",
    "budget": "convergence",
    "RateFit": "convergence",
    "fit_rate": "convergence",
    "student_t_quantile": "convergence",
    "RateSummary": "convergence",
    "summarize": "convergence",
    "render": "claims",
    "generate": "claims",
    "write_figures": "claims",
    "section": "generative_claims",
    "RESULTS": "generative_claims",
})


def __getattr__(name: str) -> Any:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()


__all__ = _EXPORTS.names()
