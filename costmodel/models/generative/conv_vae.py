"""Convolutional VAE (F18, F20): config and exact training and sampling costs.

.. math::
    \\mathrm{ELBO} = \\mathbb E_{q(z|x)}[\\log p(x|z)] - \\mathrm{KL}(q(z|x) \\,\\|\\, p(z)),
    \\quad z \\in \\mathbb R^Z

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (Sec. 2.4, App. C), with
a convolutional encoder and decoder (the usual DCGAN-like layout):

* ``encoder``: ``n`` stages of a ``3 x 3`` stride-2 conv (padding 1) and ReLU,
  ``C -> C_1 -> ... -> C_n``, halving the map each time;
* ``latent``: a linear layer from the flattened ``C_n h w`` map to ``2 Z`` values
  (``mu`` and ``log sigma^2``), then the reparameterisation ``z = mu + sigma epsilon``;
* ``decoder``: a linear layer ``Z -> C_n h w`` and ReLU, then ``n`` stages of
  nearest-neighbour upsampling by 2 and a ``3 x 3`` conv (``C_i -> C_{i-1}``, ReLU but
  for the last, which gives the ``C`` output logits).

Sampling (F20) draws ``z ~ N(0, I)`` and runs the decoder once: the part that depends on
the latent size is the decoder's first linear layer, ``O(Z)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel.core.checks import check_divides
from costmodel.core.conventions import Convention
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, size_field, sizes_field
from costmodel.models.generative.common import sampling
from costmodel.ops.conv import conv2d, conv_out_size
from costmodel.ops.dense import linear
from costmodel.ops.latent import reparameterize
from costmodel.ops.pointwise import relu
from costmodel.ops.upsample import upsample_nearest

KERNEL = 3
SCALE = 2


@dataclass(frozen=True, kw_only=True)
class ConvVAEConfig(ArchConfig):
    """A convolutional VAE with a flat latent of size ``Z``.

    Parameters
    ----------
    image_size : int or (height, width)
        Each side must be divisible by ``2 ** len(channels)``.
    in_channels : int
    channels : tuple of int
        Encoder widths ``C_1..C_n`` (the decoder mirrors them); at most 128 stages, 12
        when any size is symbolic (see :class:`~costmodel.models.base.ArchConfig`).
    latent_dim : int
        ``Z``.
    """

    family = "conv_vae"

    image_size: Any = image_field(28)
    in_channels: Any = size_field(1)
    channels: tuple[Any, ...] = sizes_field((32, 64))
    latent_dim: Any = size_field(16)

    def _check(self) -> None:
        factor = SCALE ** len(self.channels)
        for side in self.image_hw:
            check_divides("image_size", side, factor, "2**len(channels)")


def encoder_cost(config: ConvVAEConfig, *, batch: Any, convention: Convention,
                 divisible: bool) -> tuple[Cost, tuple[Any, Any]]:
    r"""The ``n`` stride-2 conv stages; returns the cost and the final map size ``(h, w)``.

    .. math:: S_i = \left\lfloor \frac{S_{i-1} - 1}{2} \right\rfloor + 1 \;(= S_{i-1}/2), \quad
              \mathrm{MACs}_i = B S_i^2\,9\,C_{i-1} C_i

    The first conv sees the image and needs no input gradient. Parts ``stage0``...
    """
    parts: dict[str, Cost] = {}
    hw = config.image_hw
    for i, out_channels in enumerate(config.channels):
        in_channels = config.in_channels if i == 0 else config.channels[i - 1]
        hw = tuple(conv_out_size(s, KERNEL, SCALE, 1, divisible=divisible) for s in hw)
        parts[f"stage{i}"] = Cost.group({
            "conv": conv2d(batch=batch, in_channels=in_channels, out_channels=out_channels, out_size=hw,
                           kernel_size=KERNEL, input_grad=i > 0, convention=convention),
            "act": relu(batch * out_channels * hw[0] * hw[1], convention),
        })
    return Cost.group(parts), (hw[0], hw[1])


def latent_cost(config: ConvVAEConfig, *, batch: Any, flat: Any, convention: Convention) -> Cost:
    r"""``mu`` and ``log sigma^2`` from the flattened map, and the reparameterisation.

    .. math:: \mathrm{MACs} = 2 B\,n_{flat} Z, \quad \mathrm{params} = 2 n_{flat} Z + 2 Z
    """
    return Cost.group({
        "fc": linear(rows=batch, in_features=flat, out_features=2 * config.latent_dim, convention=convention),
        "reparameterize": reparameterize(batch * config.latent_dim, convention),
    })


def decoder_cost(config: ConvVAEConfig, *, batch: Any, hw: tuple[Any, Any], convention: Convention) -> Cost:
    r"""Linear ``Z -> C_n h w``, then ``n`` stages of upsample-by-2 and ``3 x 3`` conv.

    .. math::
        \mathrm{MACs} = B Z\,C_n h w + \sum_{i=n}^{1} B (2^{n-i+1} h)(2^{n-i+1} w)\,9\,C_i C_{i-1},
        \quad C_0 = C

    ``z`` depends on the encoder in training, so every layer needs its input gradient.
    Parts: ``fc``, ``act``, ``stage0``... (the last stage's conv gives the output logits).
    """
    channels = (config.in_channels, *config.channels)
    n = len(config.channels)
    flat = channels[-1] * hw[0] * hw[1]
    parts: dict[str, Cost] = {
        "fc": linear(rows=batch, in_features=config.latent_dim, out_features=flat, convention=convention),
        "act": relu(batch * flat, convention),
    }
    for j, i in enumerate(range(n, 0, -1)):
        stage = {"upsample": upsample_nearest(inputs=batch * channels[i] * hw[0] * hw[1], scale=SCALE,
                                              convention=convention)}
        hw = (hw[0] * SCALE, hw[1] * SCALE)
        stage["conv"] = conv2d(batch=batch, in_channels=channels[i], out_channels=channels[i - 1], out_size=hw,
                               kernel_size=KERNEL, convention=convention)
        if i > 1:
            stage["act"] = relu(batch * channels[i - 1] * hw[0] * hw[1], convention)
        parts[f"stage{j}"] = Cost.group(stage)
    return Cost.group(parts)


def cost(config: ConvVAEConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""One training step (forward and backward) on ``batch`` images: ``encoder``, ``latent``, ``decoder``.

    The loss (reconstruction term and the closed-form Gaussian KL) is not counted.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cfg = ConvVAEConfig(image_size=2, channels=(1,), latent_dim=1)
    >>> cost(cfg, batch=1, convention=FLOP_COUNTER).forward_flops  # 2*(9 + 2 + 1 + 4*9) MACs
    96
    """
    encoder, hw = encoder_cost(config, batch=batch, convention=convention, divisible=divisible)
    flat = config.channels[-1] * hw[0] * hw[1]
    return Cost.group({
        "encoder": encoder,
        "latent": latent_cost(config, batch=batch, flat=flat, convention=convention),
        "decoder": decoder_cost(config, batch=batch, hw=hw, convention=convention),
    })


def sample_cost(config: ConvVAEConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""Generating ``batch`` images: ``z ~ N(0, I)`` and one decoder pass (F20).

    .. math:: F = 2 B\,Z\,C_n h w + F_{\text{convs}}, \quad O(Z) \text{ in the latent size}

    Backward FLOPs are zero; ``params`` are the decoder's (the weights sampling reads).
    """
    _, hw = encoder_cost(config, batch=batch, convention=convention, divisible=divisible)
    decoder = decoder_cost(config, batch=batch, hw=hw, convention=convention)
    return sampling(Cost.group({"decoder": decoder}), passes=1, params=decoder.params)


__all__ = ["ConvVAEConfig", "encoder_cost", "latent_cost", "decoder_cost", "cost", "sample_cost"]
