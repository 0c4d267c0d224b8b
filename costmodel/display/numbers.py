"""Numbers, quantities and expressions as text and LaTeX, each with its unit.

:func:`format_quantity` is the one place that turns quantities into text with a sensible
prefix. Counts of operations and parameters take decimal SI prefixes (``4.09 GFLOP``, ``25.6
Mparam``); bytes take binary prefixes (``97.7 MiB``, ``79.9 GiB``), the way memory is
sized; seconds go from ``ns`` up to ``s`` and then ``min``, ``h``, ``day``. Every string
carries its unit: nothing here prints a bare number.

Examples
--------
>>> from costmodel.core.units import ureg
>>> format_quantity(4.089e9 * ureg.flop)
'4.089 GFLOP'
>>> format_quantity(102_400_000 * ureg.byte)
'97.66 MiB'
>>> format_quantity(25_557_032 * ureg.param)
'25.56 Mparam'
>>> format_quantity(5400 * ureg.s)
'1.5 h'
>>> format_quantity(3 * ureg.MAC)
'6 FLOP'
"""

from __future__ import annotations

import math
import numbers
from typing import Any

_DECIMAL = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BINARY = ((2**50, "Pi"), (2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki"))
_TIME = ((86400.0, "day"), (3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
#: base unit -> (symbol printed, prefix table)
_BASES = {"flop": ("FLOP", _DECIMAL), "param": ("param", _DECIMAL), "byte": ("B", _BINARY),
          "flop / second": ("FLOP/s", _DECIMAL), "byte / second": ("B/s", _BINARY)}
#: how pint's short form (``~P``) writes each base unit, for values a float cannot hold
_PINT_SYMBOLS = {"flop": "FLOP", "param": "param", "byte": "B", "s": "s", "flop / second": "FLOP/s",
                 "byte / second": "B/s"}


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e" in text:  # beyond the largest prefix: keep scientific notation, it is still exact
        return f"{value:.{digits - 1}e}"
    return text


def _scaled(magnitude: float, table: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    for factor, prefix in table:
        if abs(magnitude) >= factor:
            return magnitude / factor, prefix
    return magnitude, ""


def _big_int(value: int, digits: int) -> str:
    """``value`` in scientific notation from its decimal digits (no float conversion)."""
    v = abs(value)
    exponent = int(v.bit_length() * math.log10(2))  # within one of the decimal exponent
    while 10 ** (exponent + 1) <= v:
        exponent += 1
    while 10**exponent > v:
        exponent -= 1
    lead = str(v // 10 ** max(exponent - digits + 1, 0))
    mantissa = lead[0] + ("." + lead[1:] if len(lead) > 1 else "")
    return f"{'-' if value < 0 else ''}{mantissa}e+{exponent}"


def format_magnitude(value: Any, unit: str, *, digits: int = 4) -> str:
    """``value`` in the base ``unit`` (``flop``, ``param``, ``byte``, ``s``, ``flop / second`` or
    ``byte / second``) as :func:`format_quantity` writes it, without building pint's registry.

    >>> format_magnitude(4_089_000_000, "flop"), format_magnitude(86_121_984, "byte"), format_magnitude(90, "s")
    ('4.089 GFLOP', '82.13 MiB', '1.5 min')
    """
    if unit != "s" and unit not in _BASES:
        raise ValueError(f"format_magnitude takes one of {['s', *_BASES]}, not {unit!r}")
    if isinstance(value, numbers.Integral) and abs(int(value)) >= 10**300:  # beyond a float: exact scientific form
        return f"{_big_int(int(value), digits)} {_PINT_SYMBOLS[unit]}"
    magnitude = float(value)
    if math.isnan(magnitude) or math.isinf(magnitude):
        return f"{magnitude} {_PINT_SYMBOLS[unit]}"
    if unit == "s":
        scaled, symbol = _scaled(magnitude, _TIME)
        return f"{_number(scaled, digits)} {symbol or 's'}"
    symbol, table = _BASES[unit]
    scaled, prefix = _scaled(magnitude, table)
    return f"{_number(scaled, digits)} {prefix}{symbol}"


def format_quantity(quantity: Any, *, digits: int = 4) -> str:
    """``quantity`` (a pint quantity) as ``"<number> <prefixed unit>"`` with ``digits`` significant digits.

    MACs are shown as FLOPs (1 MAC = 2 FLOP) so that no count is ever ambiguous. Units
    without a prefix table (e.g. ``GFLOP/s/W``) fall back to pint's compact form.

    >>> from costmodel.core.units import ureg
    >>> format_quantity(0.000123 * ureg.s)
    '123 µs'
    >>> format_quantity(3.2e12 * ureg.flop / ureg.s)
    '3.2 TFLOP/s'
    """
    from costmodel.core.units import ureg

    if not isinstance(quantity, ureg.Quantity):
        raise TypeError(f"format_quantity needs a pint quantity, got {type(quantity).__name__}: {quantity!r}")
    q = quantity.to("flop") if quantity.check("[computation]") else quantity
    if isinstance(q.magnitude, int) and abs(q.magnitude) >= 10**300:  # beyond a float: exact scientific form
        return f"{_big_int(q.magnitude, digits)} {q.units:~P}"
    magnitude = float(q.magnitude)
    if math.isnan(magnitude) or math.isinf(magnitude):
        return f"{magnitude} {q.units:~P}"
    if q.check("[time]"):
        return format_magnitude(float(q.to("s").magnitude), "s", digits=digits)
    for base in _BASES:
        if q.dimensionality == ureg.Quantity(1, base).dimensionality:
            return format_magnitude(float(q.to(base).magnitude), base, digits=digits)
    compact = q.to_compact()
    return f"{_number(float(compact.magnitude), digits)} {compact.units:~P}"




# -- numbers, expressions and text -----------------------------------------------------
#: how a unit reads after a symbolic expression: ``(10*D + 1) FLOP``, ``602120*B bytes``
_UNIT_WORDS = {"flop": "FLOP", "param": "params", "byte": "bytes", "s": "s", "second": "s"}
#: characters LaTeX treats specially, as math-mode material
_LATEX_SPECIAL = {"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
                  "~": r"\sim{}", "^": r"\hat{}", "\\": r"\backslash{}", "µ": r"\mu{}", "≈": r"\approx{}",
                  "×": r"\times{}", "…": r"\ldots{}", "≤": r"\le{}", "≥": r"\ge{}"}
#: expressions printed longer than this get their long maxima abbreviated in text and HTML
EXPRESSION_LIMIT = 200
#: rows of a breakdown shown before "... and n more"
MAX_ROWS = 12


def _is_sympy(value: Any) -> bool:
    return hasattr(value, "free_symbols") and hasattr(value, "is_number")


def as_number(value: Any) -> int | float | None:
    """``value`` as a Python number; None for a symbolic expression, text or a non-real number.

    >>> import sympy
    >>> as_number(3), as_number(2.5), as_number(sympy.Integer(7)), as_number(sympy.Symbol("B")), as_number("x")
    (3, 2.5, 7, None, None)
    """
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, (int, float)):
        return value
    if _is_sympy(value):
        if value.free_symbols or not value.is_number:
            return None
        if value.is_Integer:
            return int(value)
        try:
            return float(value)
        except TypeError:  # a complex number
            return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def _exact_irrational(value: Any) -> bool:
    """A SymPy number that is exact but not an integer (``1/3``, ``3 + sqrt(2)``, a ``CRootOf``)."""
    return _is_sympy(value) and bool(value.is_number) and not value.is_Integer and not value.is_Float


def compact_expression(expr: Any, limit: int = EXPRESSION_LIMIT, *, latex: bool = False) -> Any:
    """``expr`` with every ``Max``/``Min`` of more than two terms shown as ``Max(<n terms>)``
    when the expression prints longer than ``limit`` characters (memory peaks are maxima of
    many candidates); shorter expressions are returned unchanged.

    >>> import sympy
    >>> B = sympy.Symbol("B", positive=True)
    >>> peak = 8 * B + sympy.Max(*[k * B + 100 - k for k in range(1, 30)])
    >>> compact_expression(peak)
    8*B + Max(<29 terms>)
    """
    import sympy

    if len(sympy.sstr(expr)) <= limit:
        return expr
    table = {}
    for node in expr.atoms(sympy.Max, sympy.Min):
        if len(node.args) > 2:
            name = type(node).__name__
            table[node] = sympy.Symbol(rf"\{name.lower()}(\ldots\ \text{{{len(node.args)} terms}})" if latex
                                       else f"{name}(<{len(node.args)} terms>)")
    return expr.xreplace(table)


def symbolic_parts(value: Any, unit: str) -> tuple[str, str]:
    """An expression's text (in parentheses when a unit follows a sum) and the unit's word."""
    import sympy

    try:
        expr = compact_expression(sympy.sympify(value))
    except (sympy.SympifyError, TypeError):
        return str(value), ""
    text = sympy.sstr(expr)
    if not unit:
        return text, ""
    return (f"({text})" if expr.is_Add else text), _UNIT_WORDS.get(unit, unit)


def _symbolic_text(value: Any, unit: str) -> str:
    return " ".join(part for part in symbolic_parts(value, unit) if part)


def format_value(value: Any, unit: str = "", *, digits: int = 4) -> str:
    """A number or SymPy expression with its unit (a pint unit name such as ``"flop"``,
    ``"param"``, ``"byte"``, ``"s"``; ``""`` for a plain number) as text.

    Numbers go through :func:`format_quantity`; expressions print exactly, with the unit
    after them; text is returned as it is, booleans as ``yes``/``no``.

    >>> import sympy
    >>> D = sympy.Symbol("D", positive=True)
    >>> format_value(8_178_000_000, "flop"), format_value(10 * D + 1, "flop"), format_value(3 * D, "param")
    ('8.178 GFLOP', '(10*D + 1) FLOP', '3*D params')
    >>> format_value(sympy.Rational(1, 3)), format_value(6250), format_value(True)
    ('1/3 ≈ 0.3333', '6250', 'yes')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    number = as_number(value)
    if number is None:
        return _symbolic_text(value, unit)
    if unit:
        from costmodel.core.units import ureg

        return format_quantity(ureg.Quantity(number, unit), digits=digits)
    if _exact_irrational(value):
        import sympy

        return f"{sympy.sstr(value)} ≈ {_number(float(number), digits)}"
    return str(number) if isinstance(number, int) else _number(number, digits)


def format_macs(flops: Any, *, digits: int = 4) -> str:
    """A FLOP count read as multiply-accumulates (1 MAC = 2 FLOP), e.g. to set beside tables
    that list MACs; always labelled ``MAC``.

    >>> format_macs(8_178_000_000), format_macs(6)
    ('4.089 GMAC', '3 MAC')
    """
    number = as_number(flops)
    if number is None:
        return _symbolic_text(flops / 2, "MAC")
    value, prefix = _scaled(number / 2, _DECIMAL)
    return f"{_number(value, digits)} {prefix}MAC"


def latex_text(text: str) -> str:
    r"""``text`` as LaTeX math-mode material: plain runs in ``\text{}``, special characters escaped.

    >>> print(latex_text("patch_embed: 50%"))
    \text{patch}\_\text{embed: 50}\%
    """
    out: list[str] = []
    run = ""
    for char in text:
        if char in _LATEX_SPECIAL:
            out += [rf"\text{{{run}}}"] if run else []
            out.append(_LATEX_SPECIAL[char])
            run = ""
        else:
            run += char
    out += [rf"\text{{{run}}}"] if run else []
    return "".join(out)


def _latex_number(text: str) -> str:
    mantissa, sep, exponent = text.partition("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if sep else text


def _latex_unit(unit: str) -> str:
    return r"\mu\mathrm{" + unit[1:] + "}" if unit.startswith("µ") else r"\mathrm{" + unit.replace(" ", "") + "}"


def latex_value(value: Any, unit: str = "", *, digits: int = 4) -> str:
    r"""A number or SymPy expression with its unit as LaTeX (math mode); expressions through
    ``sympy.latex``.

    >>> import sympy
    >>> D = sympy.Symbol("D", positive=True)
    >>> print(latex_value(8_178_000_000, "flop"))
    8.178\ \mathrm{GFLOP}
    >>> print(latex_value(10 * D + 1, "flop"))
    \left(10 D + 1\right)\ \mathrm{FLOP}
    """
    if isinstance(value, (bool, str)):
        return latex_text(format_value(value, unit))
    import sympy

    number = as_number(value)
    if number is None:
        expr = sympy.sympify(value)
        body = str(sympy.latex(compact_expression(expr, 4 * EXPRESSION_LIMIT, latex=True)))
        if not unit:
            return body
        word = _UNIT_WORDS.get(unit, unit)
        return (rf"\left({body}\right)" if expr.is_Add else body) + rf"\ \mathrm{{{word}}}"
    if not unit:
        if _exact_irrational(value):
            return rf"{sympy.latex(value)} \approx {_latex_number(_number(float(number), digits))}"
        return str(number) if isinstance(number, int) else _latex_number(_number(number, digits))
    amount, _, symbol = format_value(number, unit, digits=digits).partition(" ")
    return _latex_number(amount) + (rf"\ {_latex_unit(symbol)}" if symbol else "")


__all__ = ["EXPRESSION_LIMIT", "MAX_ROWS", "as_number", "compact_expression", "format_macs", "format_magnitude",
           "format_quantity",
           "format_value", "latex_text", "latex_value", "symbolic_parts"]
