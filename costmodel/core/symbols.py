"""Canonical SymPy symbols, each a positive integer with a meaning and a unit.

Configs accept any of these (or any positive SymPy expression) in place of an integer
field, and costs come back as expressions in them. Use the same symbol object everywhere:
``sympy.Symbol("B", positive=True, integer=True)`` made anew is equal to ``B`` here, so
user-made symbols with the same name and assumptions also work.

=========  ==============================================  ========
symbol     meaning                                         unit
=========  ==============================================  ========
``B``      batch size (images per step)                    image
``H``      input image height                              pixel
``W``      input image width                               pixel
``R``      side of a square input image (``H = W = R``)    pixel
``P``      ViT patch size                                  pixel
``C``      input image channels                            channel
``d``      ViT width (embedding dimension)                 channel
``D``      depth (number of blocks)                        block
``h``      attention heads                                 head
``L``      sequence length (tokens)                        token
``K``      convolution kernel size                         pixel
``C_in``   input channels of a layer                       channel
``C_out``  output channels of a layer                      channel
``k``      Linformer projected length (rank)               token
``m``      Performer random features                       feature
``r``      MLP expansion ratio                             (none)
``n``      number of classes                               class
``w``      ConvNet / ResNet base width                     channel
=========  ==============================================  ========

The article's own letters are mapped in ``docs/conventions.md`` (its ``N`` is our ``d``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class SymbolInfo:
    """A canonical symbol with its meaning and unit (a pint unit string)."""

    symbol: sympy.Symbol
    meaning: str
    unit: str


def _pos_int(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, positive=True, integer=True)


B = _pos_int("B")
H = _pos_int("H")
W = _pos_int("W")
R = _pos_int("R")
P = _pos_int("P")
C = _pos_int("C")
d = _pos_int("d")
D = _pos_int("D")
h = _pos_int("h")
L = _pos_int("L")
K = _pos_int("K")
C_in = _pos_int("C_in")
C_out = _pos_int("C_out")
k = _pos_int("k")
m = _pos_int("m")
r = sympy.Symbol("r", positive=True)
n = _pos_int("n")
w = _pos_int("w")

TABLE: dict[str, SymbolInfo] = {
    info.symbol.name: info
    for info in (
        SymbolInfo(B, "batch size (images per step)", "dimensionless"),
        SymbolInfo(H, "input image height", "pixel"),
        SymbolInfo(W, "input image width", "pixel"),
        SymbolInfo(R, "side of a square input image", "pixel"),
        SymbolInfo(P, "ViT patch size", "pixel"),
        SymbolInfo(C, "input image channels", "dimensionless"),
        SymbolInfo(d, "ViT width (embedding dimension)", "dimensionless"),
        SymbolInfo(D, "depth (number of blocks)", "dimensionless"),
        SymbolInfo(h, "attention heads", "dimensionless"),
        SymbolInfo(L, "sequence length (tokens)", "dimensionless"),
        SymbolInfo(K, "convolution kernel size", "pixel"),
        SymbolInfo(C_in, "input channels of a layer", "dimensionless"),
        SymbolInfo(C_out, "output channels of a layer", "dimensionless"),
        SymbolInfo(k, "Linformer projected length (rank)", "dimensionless"),
        SymbolInfo(m, "Performer random features", "dimensionless"),
        SymbolInfo(r, "MLP expansion ratio", "dimensionless"),
        SymbolInfo(n, "number of classes", "dimensionless"),
        SymbolInfo(w, "ConvNet / ResNet base width", "dimensionless"),
    )
}


def describe(symbol: sympy.Symbol) -> str:
    """Return the meaning of a canonical symbol, e.g. ``describe(B)`` -> ``'batch size ...'``."""
    info = TABLE.get(symbol.name)
    return info.meaning if info is not None else f"user symbol {symbol.name}"


__all__ = ["SymbolInfo", "TABLE", "describe", "B", "H", "W", "R", "P", "C", "d", "D", "h",
           "L", "K", "C_in", "C_out", "k", "m", "r", "n", "w"]
