"""The VAE reparameterisation trick (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, Sec. 2.4).

.. math:: z = \\mu + \\sigma \\odot \\epsilon, \\quad \\sigma = \\exp(\\tfrac12 \\log \\sigma^2), \\quad
          \\epsilon \\sim \\mathcal N(0, I)

No parameters; drawing ``epsilon`` is not arithmetic. Zero FLOPs under ``FLOP_COUNTER``
(FlopCounterMode counts none). Under ``FULL``, per latent value: forward 4 (scale by
1/2, ``exp``, multiply by ``epsilon``, add ``mu``); backward 3 (the gradient of ``mu``
passes through; that of ``log sigma^2`` is ``g epsilon sigma / 2``: two multiplies and
the scale).
"""

from __future__ import annotations

from typing import Any

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.cost.value import Cost

FORWARD_RATE = 4
BACKWARD_RATE = 3


def reparameterize(elements: Any, convention: Convention = FLOP_COUNTER) -> Cost:
    r"""Sampling ``z`` from ``(mu, log sigma^2)`` for ``elements`` latent values.

    :math:`4 n` FLOPs forward, :math:`3 n` backward (``FULL``; zero under ``FLOP_COUNTER``).
    """
    if not convention.count_elementwise:
        return Cost()
    return Cost(forward_flops=FORWARD_RATE * elements, backward_flops=BACKWARD_RATE * elements)


__all__ = ["reparameterize", "FORWARD_RATE", "BACKWARD_RATE"]
