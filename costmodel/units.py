"""The one pint registry of costmodel.

Counts are unit-free SymPy expressions inside the library; units are attached here, at
the boundary, when a count is evaluated for a user.

Conventions
-----------
* ``flop``: one floating-point operation (a multiply or an add).
* ``MAC``: one multiply-accumulate, **defined as 2 flop**. ``(3 * ureg.MAC).to("flop")``
  gives ``6 flop``.
* ``param``: one trainable scalar parameter.
* ``byte``: pint's own byte (``B``); ``KiB``, ``MiB``, ``GiB`` are binary prefixes.

Examples
--------
>>> from costmodel.units import ureg
>>> (1 * ureg.MAC).to("flop")
<Quantity(2, 'flop')>
>>> (4.0e9 * ureg.flop).to("GFLOP")
<Quantity(4.0, 'gigaflop')>
"""

from __future__ import annotations

import pint

ureg = pint.UnitRegistry()
ureg.define("flop = [computation] = FLOP")
ureg.define("MAC = 2 * flop = MAC = multiply_accumulate")
ureg.define("param = [parameter]")
ureg.formatter.default_format = "~P"

Quantity = ureg.Quantity

__all__ = ["ureg", "Quantity"]
