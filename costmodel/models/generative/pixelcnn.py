"""PixelCNN (F16): masked convolutions, ``H W`` sequential sampling steps; config and exact costs.

.. math:: p(x) = \\prod_{i=1}^{H W} p(x_i \\mid x_1, \\dots, x_{i-1})

Architecture (van den Oord et al., "Pixel Recurrent Neural Networks", ICML 2016, Sec. 3.4
and Table 4; residual blocks simplified to one masked conv each):

* ``stem``: a ``K_A x K_A`` conv with mask A (a pixel does not see itself), ``C -> F``;
* ``blocks``: ``depth`` residual blocks ``x + conv_B(ReLU(x))``, ``K x K`` mask-B convs
  (a pixel sees itself and what precedes it in raster order), ``F -> F``;
* ``head``: ReLU, ``1 x 1`` conv ``F -> F``, ReLU, ``1 x 1`` conv ``F -> C V``: a
  ``V``-way softmax per sub-pixel.

All convs are stride 1 with "same" padding, so every map is ``H x W``. The ``C`` channels
of a pixel are predicted jointly from the preceding pixels (the paper also orders R, G,
B inside a pixel; for grayscale ``C = 1`` this is the same model). Masks multiply the
weights in every call: FlopCounterMode counts the dense kernel, masked zeros included,
and the parameter count is the dense weight tensors' (as ``nn.Conv2d`` holds them).

Sampling (F16) runs ``H W`` sequential steps. Without a cache each step is a full forward
pass over the canvas. With a cache (Ramachandran et al., "Fast Generation for
Convolutional Autoregressive Models", ICLR 2017 workshop) each layer's output is computed
only at the new pixel, from the cached values of earlier pixels: every conv runs on its
``K x K`` window with a ``1 x 1`` output, so the whole of sampling costs one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.conventions import Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import require
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, size_field
from costmodel.models.generative.common import sampling
from costmodel.ops.conv import conv2d
from costmodel.ops.pointwise import relu, residual_add, softmax


@dataclass(frozen=True, kw_only=True)
class PixelCNNConfig(ArchConfig):
    """A PixelCNN over ``C x H x W`` images with ``levels`` intensity values per sub-pixel.

    Parameters
    ----------
    image_size : int or (height, width)
    in_channels : int
        Image channels ``C`` (1 for grayscale).
    width : int
        Feature maps ``F`` of the stem, the blocks and the hidden head conv.
    depth : int
        Residual mask-B blocks.
    first_kernel, kernel_size : int
        Odd kernel sizes of the mask-A stem (``K_A``) and of the blocks (``K``).
    levels : int
        ``V``, intensity levels of one sub-pixel (256 for 8-bit images).
    """

    family = "pixelcnn"

    image_size: Any = image_field(28)
    in_channels: Any = size_field(1)
    width: Any = size_field(64)
    depth: Any = size_field(7, allow_zero=True)
    first_kernel: Any = size_field(7)
    kernel_size: Any = size_field(3)
    levels: Any = size_field(256)

    def _check(self) -> None:
        for name in ("first_kernel", "kernel_size"):
            value = getattr(self, name)
            require(name, value, "must be odd: a masked kernel is centred on its pixel",
                    sympy.Eq(sympy.Mod(value, 2), 1))

    @property
    def steps(self) -> Any:
        """Sequential sampling steps ``H W`` (F16)."""
        height, width = self.image_hw
        return height * width


def mask_taps(kernel: Any, mask: str) -> Any:
    r"""Kernel taps a mask keeps (van den Oord et al. 2016, Fig. 2): the rows above and the left half.

    .. math:: n_A = K \lfloor K/2 \rfloor + \lfloor K/2 \rfloor, \qquad n_B = n_A + 1

    (integers or, for a symbolic odd ``K``, ``(K^2 - 1)/2`` and ``(K^2 + 1)/2``).
    These are the weights that matter; the parameter count holds the dense ``K^2``.

    Examples
    --------
    >>> mask_taps(7, "A"), mask_taps(3, "B"), mask_taps(1, "B")
    (24, 5, 1)
    """
    if mask not in ("A", "B"):
        raise InvalidConfigError("mask", mask, "must be 'A' or 'B'")
    half = kernel // 2 if isinstance(kernel, int) else (sympy.sympify(kernel) - 1) / 2
    return kernel * half + half + (1 if mask == "B" else 0)


def weight_mask(elements: Any, convention: Convention) -> Cost:
    """Multiplying a weight tensor by its 0/1 mask, ``weight * mask``, over ``elements`` values.

    ``FULL`` only: one multiply per element forward, and one backward (the gradient of the
    weight is ``g * mask``; the mask is a buffer and needs none). ``FLOP_COUNTER``: zero.
    """
    if not convention.count_elementwise:
        return Cost()
    return Cost(forward_flops=elements, backward_flops=elements)


def masked_conv(*, batch: Any, in_channels: Any, out_channels: Any, out_size: tuple[Any, Any], kernel: Any,
                input_grad: bool, convention: Convention) -> Cost:
    """A masked ``K x K`` conv with bias: the dense conv (F1, F7) plus the weight masking."""
    conv = conv2d(batch=batch, in_channels=in_channels, out_channels=out_channels, out_size=out_size,
                  kernel_size=kernel, input_grad=input_grad, convention=convention)
    return conv + weight_mask(out_channels * in_channels * kernel**2, convention)


def network_cost(config: PixelCNNConfig, *, batch: Any, out_size: tuple[Any, Any], convention: Convention) -> Cost:
    r"""Every layer of the network, producing an ``out_size`` map (``(H, W)``, or ``(1, 1)`` for one pixel).

    .. math::
        \mathrm{MACs} = B\,n_{out} \left( K_A^2 C F + D K^2 F^2 + F^2 + F C V \right), \quad
        \mathrm{params} = (K_A^2 C F + F) + D (K^2 F^2 + F) + (F^2 + F) + (F C V + C V)

    where ``n_out`` is the number of output positions. The stem sees the image and needs
    no input gradient. Parts: ``stem``, ``blocks`` (one block times ``depth``:
    ``blocks/act``, ``blocks/conv``, ``blocks/residual``), ``head`` (``act1``, ``fc1``,
    ``act2``, ``out``).
    """
    f, c = config.width, config.in_channels
    positions = batch * out_size[0] * out_size[1]
    stem = masked_conv(batch=batch, in_channels=c, out_channels=f, out_size=out_size, kernel=config.first_kernel,
                       input_grad=False, convention=convention)
    block = Cost.group({
        "act": relu(positions * f, convention),
        "conv": masked_conv(batch=batch, in_channels=f, out_channels=f, out_size=out_size,
                            kernel=config.kernel_size, input_grad=True, convention=convention),
        "residual": residual_add(positions * f, convention),
    })
    head = Cost.group({
        "act1": relu(positions * f, convention),
        "fc1": conv2d(batch=batch, in_channels=f, out_channels=f, out_size=out_size, kernel_size=1,
                      convention=convention),
        "act2": relu(positions * f, convention),
        "out": conv2d(batch=batch, in_channels=f, out_channels=c * config.levels, out_size=out_size,
                      kernel_size=1, convention=convention),
    })
    return Cost.group({"stem": stem, "blocks": block * config.depth, "head": head})


def cost(config: PixelCNNConfig, *, batch: Any, convention: Convention, divisible: bool = False) -> Cost:
    r"""One training step: a forward and backward pass over ``batch`` whole images (teacher forcing).

    Training is parallel over pixels: the masks make one pass give all ``H W``
    conditionals. Stride-1 "same" convs keep every map ``H x W`` (no floors, so
    ``divisible`` changes nothing). The loss (a ``V``-way cross-entropy) is not counted.

    Examples
    --------
    >>> from costmodel.core.conventions import FLOP_COUNTER
    >>> cfg = PixelCNNConfig(image_size=2, width=1, depth=0, first_kernel=3, levels=2)
    >>> cost(cfg, batch=1, convention=FLOP_COUNTER).forward_flops   # 4 px * 2 * (9 + 1 + 2) MACs
    96
    """
    del divisible
    return network_cost(config, batch=batch, out_size=config.image_hw, convention=convention)


def sample_step_cost(config: PixelCNNConfig, *, batch: Any, convention: Convention, cache: bool) -> Cost:
    """One sampling step: a pass over the canvas (or, cached, over one pixel) and the softmax at the pixel.

    Parts: those of :func:`network_cost` and ``softmax`` (``B C V`` values, ``FULL`` only).
    """
    out_size = (1, 1) if cache else config.image_hw
    network = network_cost(config, batch=batch, out_size=out_size, convention=convention)
    return network + Cost.group({"softmax": softmax(batch * config.in_channels * config.levels, convention)})


def sample_cost(config: PixelCNNConfig, *, batch: Any, convention: Convention, cache: bool = False) -> Cost:
    r"""Generating ``batch`` images pixel by pixel (F16): ``H W`` sequential steps.

    .. math::
        F_{\text{no cache}} = H W \cdot F_{fwd}(H \times W), \qquad
        F_{\text{cache}} = H W \cdot F_{fwd}(1 \times 1) = F_{fwd}(H \times W)

    (``FLOP_COUNTER``; ``FULL`` adds the softmax over the ``C V`` logits of each step).
    Without a cache every step recomputes the whole canvas; with the per-layer cache each
    step costs one pixel's worth, so the whole image costs one forward pass: a saving of
    exactly ``H W`` times (Ramachandran et al. 2017). Backward FLOPs are zero; ``params``
    are the model's.
    """
    params = network_cost(config, batch=1, out_size=(1, 1), convention=convention).params
    return sampling(sample_step_cost(config, batch=batch, convention=convention, cache=cache),
                    passes=config.steps, params=params)


def cache_elements(config: PixelCNNConfig, *, batch: Any) -> Any:
    r"""Values held by the sampling cache: the canvas and the activated input of every block.

    .. math:: M = B\,H W\,(C + D F)

    The canvas is needed by the stem; each block keeps ``ReLU(x)`` of its input at every
    pixel sampled so far (its window's earlier pixels). Everything else is recomputed at
    the new pixel only. Multiply by the bytes of the dtype (4 for float32) for memory.
    """
    height, width = config.image_hw
    return batch * height * width * (config.in_channels + config.depth * config.width)


__all__ = ["PixelCNNConfig", "mask_taps", "weight_mask", "masked_conv", "network_cost", "cost",
           "sample_step_cost", "sample_cost", "cache_elements"]
