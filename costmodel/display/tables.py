"""Small tables as text, HTML and LaTeX, and the :class:`Displayable` mixin of the result types.

The result types (``Cost``, ``TrainingMemory``, ``TrainingPlan``, ``Crossovers``, ...)
describe themselves as :class:`Table` objects whose cells are :class:`Value` objects (a
number or a SymPy expression with its unit); a table renders as text (``str``), HTML
(``_repr_html_``, for Jupyter) and LaTeX (``_repr_latex_``). :func:`tables` gives a
result's tables to other code, such as the command line.

Examples
--------
>>> from costmodel.display.numbers import format_macs
>>> print(Table("Cost", (row("forward", 6, "flop", note=f"({format_macs(6)})"), row("params", 3, "param"))).text())
Cost
  forward  6 FLOP (3 MAC)
  params   3 param
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from costmodel.display.numbers import as_number, format_value, latex_text, latex_value, symbolic_parts


# -- tables ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    """One table cell: a number, a SymPy expression or text; its unit; a note after it."""

    value: Any
    unit: str = ""
    note: str = ""

    @property
    def symbolic(self) -> bool:
        return not isinstance(self.value, (bool, str)) and as_number(self.value) is None

    def text(self) -> str:
        body = format_value(self.value, self.unit)
        return f"{body} {self.note}" if self.note else body

    def html(self) -> str:
        if self.symbolic:
            text, word = symbolic_parts(self.value, self.unit)
            body = f"<code>{html.escape(text)}</code>" + (f" {html.escape(word)}" if word else "")
        else:
            body = html.escape(format_value(self.value, self.unit))
        return f"{body} {html.escape(self.note)}" if self.note else body

    def latex(self) -> str:
        body = latex_value(self.value, self.unit)
        return rf"{body}\ {latex_text(self.note)}" if self.note else body


@dataclass(frozen=True)
class Row:
    """A labelled row of cells."""

    label: str
    cells: tuple[Value, ...]


def row(label: str, value: Any, unit: str = "", *, note: str = "") -> Row:
    """A row of one cell: ``row("forward", 6, "flop")``."""
    return Row(label, (Value(value, unit, note),))


_LEFT = ' style="text-align:left"'


@dataclass(frozen=True)
class Table:
    """A titled table: rows of a label and cells, optional column headings and notes below.

    ``header`` names every column, the label column's first; a table without one is a
    list of ``metric: value`` rows.
    """

    title: str
    rows: tuple[Row, ...]
    header: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        """Aligned plain text, the title on the first line and the rows indented below it."""
        grid = [list(self.header)] if self.header else []
        grid += [[r.label, *(c.text() for c in r.cells)] for r in self.rows]
        widths = [max(len(line[i]) for line in grid if i < len(line)) for i in range(max(map(len, grid), default=0))]
        lines = [self.title]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip() for line in grid]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def html(self) -> str:
        """An HTML ``<table>`` (every text escaped), then the notes as paragraphs."""
        header = self.header or (("metric", "value") if all(len(r.cells) == 1 for r in self.rows) else ())
        out = [f"<table><caption{_LEFT}><b>{html.escape(self.title)}</b></caption>"]
        if header:
            out.append("<thead><tr>" + "".join(f"<th{_LEFT}>{html.escape(h)}</th>" for h in header) + "</tr></thead>")
        out.append("<tbody>")
        for r in self.rows:
            cells = "".join(f"<td{_LEFT}>{c.html()}</td>" for c in r.cells)
            out.append(f"<tr><th{_LEFT}>{html.escape(r.label)}</th>{cells}</tr>")
        out.append("</tbody></table>")
        out += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        return "\n".join(out)

    def latex(self) -> list[str]:
        """Math-mode LaTeX lines: the table as an ``array``, then each note."""
        columns = max([len(self.header), *(1 + len(r.cells) for r in self.rows), 1])
        pad = " &" * (columns - 1)
        lines = [latex_text(self.title) + pad + r" \\ \hline"]
        if self.header:
            lines.append(" & ".join(latex_text(h) for h in self.header) + r" \\ \hline")
        lines.append(" \\\\\n".join(" & ".join([latex_text(r.label), *(c.latex() for c in r.cells)])
                                    for r in self.rows))
        array = "\\begin{array}{" + "l" * columns + "}\n" + "\n".join(lines) + "\n\\end{array}"
        return [array, *(latex_text(note) for note in self.notes)]


def render_text(parts: Iterable[Table]) -> str:
    """Tables as plain text, a blank line between them (what ``str(result)`` gives)."""
    return "\n\n".join(t.text() for t in parts)


def render_html(parts: Iterable[Table]) -> str:
    """Tables as one HTML fragment (what ``result._repr_html_()`` gives in Jupyter)."""
    return '<div class="costmodel">\n' + "\n".join(t.html() for t in parts) + "\n</div>"


def render_latex(parts: Iterable[Table]) -> str:
    """Tables as one ``$...$`` LaTeX string (what ``result._repr_latex_()`` gives)."""
    lines = [line for t in parts for line in t.latex()]
    return "$\\begin{array}{l}\n" + " \\\\[1ex]\n".join(lines) + "\n\\end{array}$"


def tables(result: Any) -> tuple[Table, ...]:
    """The tables a costmodel result (``Cost``, ``TrainingPlan``, ...) shows itself as."""
    method = getattr(result, "_display_tables", None)
    if method is None:
        raise TypeError(f"{type(result).__name__} has no tabular display")
    return tuple(method())


class Displayable:
    """Mixin of the result types: ``str()``, notebook HTML and LaTeX from one ``_display_tables()``.

    A subclass defines ``_display_tables(self) -> tuple[Table, ...]``; its ``repr`` stays
    the dataclass one.
    """

    __slots__ = ()

    def _display_tables(self) -> tuple[Table, ...]:
        raise NotImplementedError(f"{type(self).__name__} defines no _display_tables()")

    def __str__(self) -> str:
        return render_text(self._display_tables())

    def _repr_html_(self) -> str:
        return render_html(self._display_tables())

    def _repr_latex_(self) -> str:
        return render_latex(self._display_tables())


__all__ = ["Displayable", "Row", "Table", "Value", "render_html", "render_latex", "render_text", "row", "tables"]
