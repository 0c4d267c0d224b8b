"""The article's formulas (F7, F9-F12) as SymPy expressions, beside the exact counts.

The article (Preetham, "ConvNets vs Vision Transformers: Mathematical Deep Dive", 2023;
reconstructed in ``shared/ARTICLE_FORMULAS.md``) states costs as big-O forms. Each
:class:`ArticleForm` keeps the article's form and the exact count of the same quantity
for one layer, and :func:`leading_term` / :func:`agrees_asymptotically` tell whether an
exact count (of a layer, or of a whole model from :func:`costmodel.models.cost`) grows
like the article says.

Symbols (article letter -> costmodel): ``K`` kernel, ``M x N`` feature map (``M``,
``N_map`` here, since the article also uses ``N`` for the ViT width), ``D_in, D_out`` ->
``C_in, C_out``, ``L`` tokens, ``N`` (ViT) -> ``d``, ``r`` MLP ratio, ``h`` heads.

Examples
--------
>>> from costmodel.article.forms import F10, leading_term
>>> from costmodel.core.symbols import L
>>> leading_term(F10.exact, L)
4*L**2*d
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from costmodel.analysis.asymptotics import big_o, leading_term
from costmodel.core.symbols import C_in, C_out, K, L, d, h, r

M = sympy.Symbol("M", positive=True, integer=True)
N_map = sympy.Symbol("N", positive=True, integer=True)



@dataclass(frozen=True, kw_only=True)
class ArticleForm:
    """One of the article's cost statements.

    Parameters
    ----------
    fid : str
        Formula id in ``ARTICLE_FORMULAS.md`` (``"F9"``).
    quantity : str
        What is counted, with its unit.
    article : SymPy expression
        The article's form (the argument of its big-O, or its formula).
    exact : SymPy expression
        The exact count of the same quantity for one layer, one image, under the default
        (FlopCounterMode) convention.
    note : str
        Where the two part ways.
    """

    fid: str
    quantity: str
    article: sympy.Expr
    exact: sympy.Expr
    note: str


F7 = ArticleForm(
    fid="F7", quantity="parameters of one conv layer [param]",
    article=K**2 * C_in * C_out,
    exact=K**2 * C_in * C_out + C_out,
    note="Exact adds one bias per output channel; independent of the feature-map size M x N.",
)

F9 = ArticleForm(
    fid="F9", quantity="forward FLOPs of one conv layer, stride 1, 'same' padding [flop]",
    article=K**2 * M * N_map,
    exact=2 * K**2 * C_in * C_out * M * N_map,
    note="The article's O(K^2 M N) is per (input, output) channel pair; the exact count "
         "multiplies by C_in C_out and by 2 FLOPs per MAC.",
)

F10 = ArticleForm(
    fid="F10", quantity="forward FLOPs of one ViT encoder layer, one sequence [flop]",
    article=L**2 * d,
    exact=2 * (4 * L * d**2 + 2 * L**2 * d + 2 * r * L * d**2),
    note="O(L^2 d) is only the attention scores and weighted sum; the projections "
         "(4 L d^2 MACs) and the MLP (2 r L d^2 MACs) dominate until L > (4 + 2r) d / 2, "
         "i.e. L > 6 d for r = 4.",
)

F11 = ArticleForm(
    fid="F11", quantity="weight memory of one conv layer [param]",
    article=K**2 * C_in * C_out,
    exact=K**2 * C_in * C_out + C_out,
    note="Same count as F7: the article's 'memory' is the weights only, not activations.",
)

F12 = ArticleForm(
    fid="F12", quantity="activation elements of one ViT layer: attention probabilities and tokens",
    article=L**2 + L * d,
    exact=h * L**2 + L * d,
    note="The attention matrix is stored once per head (h L^2); a fused kernel stores none. "
         "The full saved-activation count of a layer is larger (see the memory model).",
)

FORMS: dict[str, ArticleForm] = {f.fid: f for f in (F7, F9, F10, F11, F12)}


def agrees_asymptotically(exact: sympy.Expr, article: sympy.Expr, var: sympy.Symbol) -> bool:
    """True when ``exact / article`` tends to a positive finite limit as ``var`` grows.

    That is, the exact count is Theta of the article's form in ``var`` (other symbols
    held fixed and positive).
    """
    ratio = sympy.simplify(leading_term(exact, var) / leading_term(article, var))
    limit = sympy.limit(ratio, var, sympy.oo)
    return bool(limit.is_positive and limit.is_finite)


__all__ = ["ArticleForm", "FORMS", "F7", "F9", "F10", "F11", "F12", "M", "N_map",
           "leading_term", "big_o", "agrees_asymptotically"]
