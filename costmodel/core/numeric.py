"""SymPy expressions compiled to NumPy functions, for evaluating closed forms over arrays.

``sympy.lambdify(..., modules="numpy")`` first imports NumPy's optional submodules to build
its namespace (a tenth of a second in a fresh process); the code SymPy's NumPy printer
writes needs only ``numpy`` itself, so that is the whole namespace here.

>>> import numpy as np, sympy
>>> x = sympy.Symbol("x")
>>> numpy_function((x,), [sympy.floor(x / 4) ** 2, sympy.Eq(sympy.Mod(x, 4), 0)])(np.array([7.0, 8.0]))
[array([1., 4.]), array([False,  True])]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy


def numpy_function(args: Sequence[sympy.Symbol], exprs: Any, *, cse: bool = True) -> Any:
    """``lambdify(args, exprs)`` printing NumPy code, with common subexpressions shared."""
    from sympy.printing.numpy import NumPyPrinter

    return sympy.lambdify(tuple(args), exprs, modules=[{"numpy": np}], printer=NumPyPrinter, cse=cse)


__all__ = ["numpy_function"]
