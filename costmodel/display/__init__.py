"""Human-readable output: numbers with units (:mod:`~costmodel.display.numbers`), and small
tables as text, HTML and LaTeX with the :class:`Displayable` mixin of every result type
(:mod:`~costmodel.display.tables`). MACs are never shown as FLOPs.
"""

from costmodel.display.numbers import (
    EXPRESSION_LIMIT,
    MAX_ROWS,
    as_number,
    compact_expression,
    format_macs,
    format_magnitude,
    format_quantity,
    format_value,
    latex_text,
    latex_value,
)
from costmodel.display.tables import (
    Displayable,
    Row,
    Table,
    Value,
    render_html,
    render_latex,
    render_text,
    row,
    tables,
)

__all__ = [
    "Displayable",
    "EXPRESSION_LIMIT",
    "MAX_ROWS",
    "Row",
    "Table",
    "Value",
    "as_number",
    "compact_expression",
    "format_macs",
    "format_magnitude",
    "format_quantity",
    "format_value",
    "latex_text",
    "latex_value",
    "render_html",
    "render_latex",
    "render_text",
    "row",
    "tables",
]
