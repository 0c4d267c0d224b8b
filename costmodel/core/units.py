"""The one pint registry of costmodel.

Counts are unit-free SymPy expressions inside the library; units are attached here, at
the boundary, when a count is evaluated for a user.

Conventions
-----------
* ``flop``: one floating-point operation (a multiply or an add).
* ``MAC``: one multiply-accumulate, **defined as 2 flop**. ``(3 * ureg.MAC).to("flop")``
  gives ``6 flop``.
* ``param``: one trainable scalar parameter.
* ``byte``: pint's byte (``B``) with its own dimension, ``[information]`` (pint makes it
  dimensionless; see :func:`_registry`); ``KiB``, ``MiB``, ``GiB`` are binary prefixes.

Examples
--------
>>> from costmodel.core.units import ureg
>>> (1 * ureg.MAC).to("flop")
<Quantity(2, 'flop')>
>>> (4.0e9 * ureg.flop).to("GFLOP")
<Quantity(4.0, 'gigaflop')>
>>> (80 * ureg.GB).to("GiB").magnitude
74.50580596923828
>>> ureg.byte.dimensionality
<UnitsContainer({'[information]': 1})>
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeAlias

import pint


def _registry() -> pint.UnitRegistry[Any]:
    """pint's default units, except that information has its own dimension.

    pint's ``default_en.txt`` defines ``bit = []`` (dimensionless), which makes ``byte``
    the number 8: ``float(ureg.byte) == 8.0``, a bare ``80`` passes as a capacity, and
    ``sympy.Integer(5) * ureg.byte`` silently evaluates to the float ``40.0`` (SymPy
    converts the unit with ``float()``). Defining ``bit = [information]`` instead makes
    each of these an error and keeps every conversion (``GiB``, ``GB/s``) as it was.
    """
    folder = os.path.dirname(pint.__file__)
    with open(os.path.join(folder, "default_en.txt"), encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(folder, "constants_en.txt"), encoding="utf-8") as handle:
        text = text.replace("@import constants_en.txt", handle.read())
    if "bit = []" not in text:  # a pint whose definitions changed: keep its own
        return pint.UnitRegistry()
    registry: pint.UnitRegistry[Any] = pint.UnitRegistry(None)
    registry.load_definitions(text.replace("bit = []", "bit = [information] = b").splitlines())
    return registry


ureg = _registry()
ureg.define("flop = [computation] = FLOP")
ureg.define("MAC = 2 * flop = MAC = multiply_accumulate")
ureg.define("param = [parameter]")
ureg.formatter.default_format = "~P"

if TYPE_CHECKING:
    # the registry's own Quantity class is built at run time (a subclass of pint.Quantity);
    # to the type checker it is pint's generic Quantity, whatever its magnitude type
    Quantity: TypeAlias = pint.Quantity[Any]
else:
    Quantity = ureg.Quantity

__all__ = ["ureg", "Quantity"]
