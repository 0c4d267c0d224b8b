"""ConvNeXt config (as torchvision's ``ConvNeXt``) and its exact cost.

Source of the architecture: Liu et al., "A ConvNet for the 2020s", CVPR 2022 (Fig. 4,
Section 3), as implemented by torchvision ``torchvision/models/convnext.py``:

* stem ``Conv2d(3, dims[0], 4, stride 4, bias)`` + ``LayerNorm2d(dims[0], eps 1e-6)``;
* ``CNBlock(dim)``: depthwise ``Conv2d(dim, dim, 7, padding 3, groups=dim, bias)``,
  permute to channels-last, ``LayerNorm(dim)``, ``Linear(dim, 4 dim)``, GELU,
  ``Linear(4 dim, dim)``, permute back, layer scale (a ``(dim, 1, 1)`` parameter),
  stochastic depth, residual add;
* between stages ``LayerNorm2d(dims[i])`` + ``Conv2d(dims[i], dims[i+1], 2, stride 2)``;
* head: ``AdaptiveAvgPool2d(1)``, ``LayerNorm2d``, ``Flatten``, ``Linear``.

The breakdown tree is ``stem/{conv,norm}``, ``stage<i>/blocks/{dwconv,norm,pwconv1,act,
pwconv2,layer_scale,residual}``, ``downsample<i>/{norm,conv}`` (after stage ``i``) and
``head/{pool,norm,fc}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.core.conventions import FLOP_COUNTER, Convention
from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import require
from costmodel.cost.precision import FLOAT32, Precision
from costmodel.cost.trace import residual
from costmodel.cost.value import Cost
from costmodel.models.base import ArchConfig, image_field, size_field, sizes_field
from costmodel.ops import avg_pool2d, conv2d, conv_out_size, gelu, layer_norm, linear, residual_add
from costmodel.ops.pointwise import layer_scale

STEM_STRIDE = 4  #: the stem is a 4x4 conv with stride 4 ("patchify", paper Section 2.2)
DOWNSAMPLE_STRIDE = 2  #: each downsampling layer is a 2x2 conv with stride 2


@dataclass(frozen=True, kw_only=True)
class ConvNeXtConfig(ArchConfig):
    """A ConvNeXt as torchvision defines it (Liu et al., CVPR 2022).

    Stem: 4x4/4 conv (bias) + LayerNorm2d. Stage ``i``: ``depths[i]`` blocks of width
    ``dims[i]``, each a ``kernel_size`` depthwise conv (bias), LayerNorm, Linear to
    ``mlp_ratio * dim``, GELU, Linear back, layer scale (a learned ``dim`` vector),
    stochastic depth and a residual add. Between stages: LayerNorm2d + 2x2/2 conv. Head:
    global average pool, LayerNorm2d, linear.

    Parameters
    ----------
    dims, depths : tuple of int
        Same length; ConvNeXt-T is ``(96, 192, 384, 768)`` and ``(3, 3, 9, 3)``. At most
        128 stages, 12 when any size is symbolic (see :class:`ArchConfig`).
    kernel_size : int
        Depthwise kernel (7), odd: padding ``(k - 1) / 2`` keeps the size.
    mlp_ratio : int
        Expansion of the inverted bottleneck (4).
    image_size : int or (height, width)
        At least ``4 * 2**(stages - 1)`` pixels per side (one output pixel at the end).
    """

    family = "convnext"

    dims: tuple[Any, ...] = sizes_field((96, 192, 384, 768))
    depths: tuple[Any, ...] = sizes_field((3, 3, 9, 3))
    kernel_size: Any = size_field(7)
    mlp_ratio: Any = size_field(4)
    num_classes: Any = size_field(1000)
    image_size: Any = image_field(224)
    in_channels: Any = size_field(3)

    def _check(self) -> None:
        if len(self.dims) != len(self.depths):
            raise InvalidConfigError("depths", self.depths,
                                     f"must have as many stages as dims={self.dims}")
        require("kernel_size", self.kernel_size, "must be odd (padding (k - 1) / 2 keeps the feature map size)",
                sympy.Eq(sympy.Mod(self.kernel_size, 2), 1))
        for side in self.image_hw:
            require("image_size", side if isinstance(side, sympy.Basic) else self.image_size,
                    f"is too small: {self.stages} stages need at least {self.min_image_side} px per side "
                    f"(stem stride {STEM_STRIDE}, then {self.stages - 1} stride-{DOWNSAMPLE_STRIDE} downsamplings)",
                    sympy.Ge(side, self.min_image_side))

    @property
    def stages(self) -> int:
        """Number of stages, ``len(dims)``."""
        return len(self.dims)

    @property
    def min_image_side(self) -> int:
        """Smallest image side that leaves one pixel after the stem and every downsampling."""
        return int(STEM_STRIDE * DOWNSAMPLE_STRIDE ** (self.stages - 1))


def same_padding(kernel: Any) -> Any:
    r"""Padding ``p = (k - 1) / 2`` of the depthwise conv, so that :math:`S_{out} = S` (odd ``k``).

    torchvision hard-codes ``k = 7, p = 3``.
    """
    if isinstance(kernel, int):
        return (kernel - 1) // 2
    return (sympy.sympify(kernel) - 1) / 2


def stage_sizes(config: ConvNeXtConfig, *, divisible: bool = False) -> list[tuple[Any, Any]]:
    r"""Feature-map size ``(H_i, W_i)`` of every stage.

    .. math::
        H_0 = \left\lfloor \frac{H - 4}{4} \right\rfloor + 1 = \lfloor H / 4 \rfloor, \qquad
        H_{i+1} = \left\lfloor \frac{H_i - 2}{2} \right\rfloor + 1 = \lfloor H_i / 2 \rfloor

    (PyTorch ``Conv2d`` output size with no padding.) With ``divisible=True`` the floors
    are dropped: ``H_i = H / (4 \cdot 2^i)``, exact when ``4 \cdot 2^{stages-1}`` divides
    ``H`` (any multiple of 32 for four stages).
    """
    size = tuple(conv_out_size(side, STEM_STRIDE, STEM_STRIDE, divisible=divisible) for side in config.image_hw)
    sizes = [size]
    for _ in range(config.stages - 1):
        size = tuple(conv_out_size(side, DOWNSAMPLE_STRIDE, DOWNSAMPLE_STRIDE, divisible=divisible)
                     for side in size)
        sizes.append(size)
    return sizes


def stem(config: ConvNeXtConfig, *, batch: Any, size: tuple[Any, Any], convention: Convention,
         precision: Precision | None = None) -> Cost:
    r"""Stem: ``Conv2d(C, dims[0], 4, stride 4, bias)`` + ``LayerNorm2d(dims[0])``.

    .. math::
        F_{fwd} = 2 B H_0 W_0 \cdot \mathrm{dims}_0 \cdot 16 C, \qquad
        \mathrm{params} = 16 C\,\mathrm{dims}_0 + \mathrm{dims}_0 + 2\,\mathrm{dims}_0

    The image needs no gradient: the backward pass has only the weight gradient.
    Memory: the conv keeps the image (a 16-bit copy under mixed precision), the norm
    the conv's output (in the compute dtype).
    """
    dim = config.dims[0]
    return Cost.group({
        "conv": conv2d(batch=batch, in_channels=config.in_channels, out_channels=dim, out_size=size,
                       kernel_size=STEM_STRIDE, bias=True, input_grad=False, convention=convention,
                       in_size=config.image_hw, precision=precision, input_role="float32"),
        "norm": layer_norm(rows=batch * size[0] * size[1], features=dim, convention=convention,
                           precision=precision),
    })


def block(*, dim: Any, batch: Any, size: tuple[Any, Any], kernel_size: Any, mlp_ratio: Any,
          convention: Convention, precision: Precision | None = None, input_role: str = "float32") -> Cost:
    r"""One ``CNBlock`` of width ``d`` on an ``H x W`` map (paper Fig. 4, torchvision ``CNBlock``).

    .. math::
        \mathrm{MACs} = B H W (k^2 d + 2 r d^2), \qquad
        \mathrm{params} = (k^2 d + d) + 2 d + (r d^2 + r d) + (r d^2 + d) + d

    (depthwise conv with bias, LayerNorm, two linears with bias, layer scale). The
    linears act on the ``B H W`` channels-last rows. Under ``FLOP_COUNTER`` the depthwise
    conv's weight gradient is counted as dense (``d`` times its true
    ``2 B H W k^2 d``), as ``FlopCounterMode`` counts it; :func:`costmodel.ops.conv2d`
    applies that. Stochastic depth is taken as the identity (drop probability 0, or
    evaluation mode); in training it is one more elementwise multiply.

    Memory: the depthwise conv keeps the block input (a 16-bit copy of a float32 input
    under mixed precision), the norm the conv's output, the linears and GELU their
    inputs, the layer scale the branch output. The block's output (``gamma * branch + x``)
    is float32: the layer scale is a float32 parameter. ``input_role`` is the block
    input's dtype role: ``"float32"`` (a previous block's output) or ``"compute"`` (the
    first block of a stage reads the stem or a downsampling conv). While the branch runs
    backward, the output's float32 gradient waits for the shortcut.
    """
    rows = batch * size[0] * size[1]
    hidden = mlp_ratio * dim
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    cost = Cost.group({
        "dwconv": conv2d(batch=batch, in_channels=dim, out_channels=dim, out_size=size,
                         kernel_size=kernel_size, groups=dim, bias=True, in_size=size, input_role=input_role,
                         channels_last=True, **memory),
        "norm": layer_norm(rows=rows, features=dim, **memory),
        "pwconv1": linear(rows=rows, in_features=dim, out_features=hidden, input_rank=4, **memory),
        "act": gelu(rows * hidden, **memory),
        "pwconv2": linear(rows=rows, in_features=hidden, out_features=dim, input_rank=4, **memory),
        "layer_scale": layer_scale(rows * dim, dim, **memory),
        "residual": residual_add(rows * dim, convention),
    })
    if precision is None:
        return cost
    elements = rows * dim
    kept_itself = not (precision.mixed and input_role == "float32")  # else the conv keeps a 16-bit copy
    branch = [cost.part(n).trace for n in ("dwconv", "norm", "pwconv1", "act", "pwconv2", "layer_scale")]
    trace = residual(branch, 4 * elements, shares_gradient=True)  # the scaled branch is float32, as the add
    return cost.with_trace(trace.block(precision.bytes(input_role) * elements, inside=kept_itself))


def downsample(*, in_dim: Any, out_dim: Any, batch: Any, in_size: tuple[Any, Any],
               out_size: tuple[Any, Any], convention: Convention, precision: Precision | None = None) -> Cost:
    r"""Downsampling between stages: ``LayerNorm2d(d_i)`` + ``Conv2d(d_i, d_{i+1}, 2, stride 2, bias)``.

    .. math::
        F_{fwd} = 2 B H_{i+1} W_{i+1} \cdot 4 d_i d_{i+1}, \qquad
        \mathrm{params} = 2 d_i + 4 d_i d_{i+1} + d_{i+1}
    """
    return Cost.group({
        "norm": layer_norm(rows=batch * in_size[0] * in_size[1], features=in_dim, convention=convention,
                           precision=precision, input_role="float32"),
        "conv": conv2d(batch=batch, in_channels=in_dim, out_channels=out_dim, out_size=out_size,
                       kernel_size=DOWNSAMPLE_STRIDE, bias=True, convention=convention, in_size=in_size,
                       precision=precision, input_role="float32"),
    })


def head(*, dim: Any, num_classes: Any, batch: Any, size: tuple[Any, Any], convention: Convention,
         precision: Precision | None = None) -> Cost:
    r"""Head: global average pool, ``LayerNorm2d(d)``, ``Linear(d, n)``.

    .. math:: F_{fwd} = 2 B d n, \qquad \mathrm{params} = 2 d + d n + n
    """
    memory: dict[str, Any] = dict(convention=convention, precision=precision)
    return Cost.group({
        "pool": avg_pool2d(outputs=batch * dim, window=size[0] * size[1], role="float32", **memory),
        "norm": layer_norm(rows=batch, features=dim, input_role="float32", **memory),
        "fc": linear(rows=batch, in_features=dim, out_features=num_classes, input_role="float32", **memory),
    })


def cost(config: ConvNeXtConfig, *, batch: Any, convention: Convention = FLOP_COUNTER,
         divisible: bool = False, precision: Precision | None = FLOAT32) -> Cost:
    r"""Exact cost of ``config`` on ``batch`` images: stem, stages, downsamplings, head.

    .. math::
        \mathrm{cost} = \mathrm{stem} + \sum_i \big(\mathrm{depths}_i \cdot \mathrm{block}(d_i, H_i, W_i)
        + [i < n - 1]\, \mathrm{downsample}_i\big) + \mathrm{head}

    A stage is one block's cost times ``depths[i]``, so depths may be symbols. Sizes
    ``H_i, W_i`` from :func:`stage_sizes` (floors, or polynomials with ``divisible``).

    Examples
    --------
    >>> from costmodel.models.presets import get_preset
    >>> cost(get_preset("convnext_tiny"), batch=1).params
    28589128
    """
    sizes = stage_sizes(config, divisible=divisible)
    parts: dict[str, Cost] = {"stem": stem(config, batch=batch, size=sizes[0], convention=convention,
                                           precision=precision)}
    for i, (dim, depth, size) in enumerate(zip(config.dims, config.depths, sizes, strict=True)):
        # the depthwise conv keeps the size: odd k, stride 1, padding (k - 1) / 2 (same_padding)
        shape = dict(dim=dim, batch=batch, size=size, kernel_size=config.kernel_size, mlp_ratio=config.mlp_ratio,
                     convention=convention, precision=precision)
        one = block(**shape)
        stage = (one * depth).named("blocks")
        if precision is not None:  # the first block reads the compute-dtype stem/downsampling output
            first = block(**shape, input_role="compute")
            stage = stage.with_trace(first.trace.then(one.trace.repeat(depth - 1)))
        parts[f"stage{i}"] = stage
        if i + 1 < config.stages:
            parts[f"downsample{i}"] = downsample(in_dim=dim, out_dim=config.dims[i + 1], batch=batch,
                                                 in_size=size, out_size=sizes[i + 1], convention=convention,
                                                 precision=precision)
    parts["head"] = head(dim=config.dims[-1], num_classes=config.num_classes, batch=batch,
                         size=sizes[-1], convention=convention, precision=precision)
    return Cost.group(parts)


__all__ = ["ConvNeXtConfig", "cost", "stage_sizes", "same_padding", "stem", "block", "downsample", "head"]
