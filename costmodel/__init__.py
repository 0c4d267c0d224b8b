"""costmodel: exact closed-form costs of ConvNets and Vision Transformers.

``import costmodel`` is light: it does not import torch or matplotlib.
"""

from costmodel.conventions import FLOP_COUNTER, FULL, Convention
from costmodel.cost import Cost, CostValue
from costmodel.errors import CostModelError, InvalidConfigError, UnknownPresetError
from costmodel.units import ureg

__version__ = "0.1.0"

__all__ = [
    "Convention", "Cost", "CostModelError", "CostValue", "FLOP_COUNTER", "FULL",
    "InvalidConfigError", "UnknownPresetError", "ureg", "__version__",
]
