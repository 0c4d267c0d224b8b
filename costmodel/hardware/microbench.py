"""The microbenchmarks of ``costmodel calibrate``: one op of one kind per benchmark.

Each :class:`Benchmark` carries the op's FLOPs and bytes from the same closed forms the
models use (:mod:`costmodel.ops`, ``full`` convention), so a measured time turns into a
rate that predictions can reuse. Shapes are typical of ImageNet models (token counts of
a 224 px ViT, feature maps of ResNet and ConvNeXt stages), at ``scale`` images; a few
run again at ``4 scale`` so that each kind is measured at two working-set sizes (in and
out of a CPU's last-level cache), and the linear layers span arithmetic intensities from
ConvNeXt's thin MLPs to ViT-B's, so that :class:`~costmodel.hardware.profiles.Rate` can fit its
curves. Matmul-type benchmarks cycle through copies of their operands
(:data:`ROTATING_BYTES`) so that, as inside a network, an op does not find its operands
of the previous call in the cache.

torch is imported only when benchmarks are built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import canonical_dtype
from costmodel.hardware.profiles import KIND_CLASS


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """One microbenchmark: a kind, a direction, a label, its FLOPs and bytes, and how to build it.

    ``make()`` allocates the tensors and returns the closure that is timed.
    """

    kind: str
    direction: str
    label: str
    flops: float
    bytes: float
    make: Callable[[], Callable[[], Any]]


Maker = Callable[[], Callable[[], Any]]
Rand = Callable[..., Any]

#: convolutions: (C_in, C_out, side, kernel, stride, groups, batch in units of ``scale``).
#: Dense ones in NCHW, as ResNets run them; depthwise ones in channels-last memory,
#: because torchvision's ConvNeXt block permutes to channels-last for its LayerNorm and
#: linears and adds the residual in place, so its depthwise convs see NHWC tensors
#: (oneDNN's depthwise backward is about 3x faster there than in NCHW on a CPU). A
#: 3-channel input is a network's first layer: its backward has no input gradient.
CONVS: tuple[tuple[int, int, int, int, int, int, int], ...] = (
    (64, 64, 56, 3, 1, 1, 1), (128, 128, 28, 3, 1, 1, 1), (256, 256, 14, 3, 1, 1, 1), (128, 128, 56, 3, 2, 1, 1),
    (256, 64, 56, 1, 1, 1, 1), (128, 512, 28, 1, 1, 1, 1), (256, 512, 56, 1, 2, 1, 1), (3, 64, 224, 7, 2, 1, 1),
    (96, 96, 56, 7, 1, 96, 1), (192, 192, 28, 7, 1, 192, 1), (384, 384, 14, 7, 1, 384, 1),
    (64, 64, 56, 3, 1, 1, 4), (256, 64, 56, 1, 1, 1, 4), (128, 128, 28, 3, 1, 1, 4), (96, 96, 56, 7, 1, 96, 4),
    # EfficientNet-B0's 1x1 expansions and projections: few channels on large maps (low intensity)
    (16, 96, 112, 1, 1, 1, 1), (144, 24, 56, 1, 1, 1, 1), (40, 240, 28, 1, 1, 1, 1), (1152, 192, 7, 1, 1, 1, 1),
    (24, 144, 56, 1, 1, 1, 4),
)
#: depthwise convolutions on contiguous NCHW inputs, as EfficientNet and MobileNet run them
#: (``conv_depthwise_nchw``): (channels, side, kernel, stride, batch in units of ``scale``);
#: EfficientNet-B0's 3x3 and 5x5 ones at stride 1 and 2, and one at 4x the batch
DEPTHWISE_NCHW: tuple[tuple[int, int, int, int, int], ...] = (
    (96, 112, 3, 2, 1), (144, 56, 3, 1, 1), (144, 56, 5, 2, 1), (240, 28, 5, 1, 1), (480, 14, 3, 1, 1),
    (672, 14, 5, 1, 1), (1152, 7, 5, 1, 1), (672, 14, 5, 1, 4),
)
#: linear layers: (tokens per image, in, out, batch): ViT-S and ViT-B projections and MLPs,
#: ConvNeXt-T stage-1 and stage-2 MLPs (the stage-1 ones are long and thin: 3136 rows of
#: 96 features per image, a low arithmetic intensity where a CPU GEMM runs well below the
#: rate of the ViT shapes)
LINEARS: tuple[tuple[int, int, int, int], ...] = (
    (197, 384, 1536, 1), (197, 1536, 384, 1), (784, 192, 768, 1), (197, 768, 768, 1), (197, 768, 3072, 1),
    (3136, 96, 384, 1), (3136, 384, 96, 1),
    (197, 384, 1536, 4), (197, 1536, 384, 4), (197, 768, 768, 4),
)
#: batched products of explicit window attention (Swin-T, 7x7 windows of 32-wide heads):
#: (windows x heads per image, n, k, m, batch in units of ``scale``): ``q k^T`` and ``attn v``
#: of stage 1 (64 windows, 3 heads) and stage 3 (4 windows, 12 heads)
BATCHED: tuple[tuple[int, int, int, int, int], ...] = (
    (192, 49, 32, 49, 1), (192, 49, 49, 32, 1), (48, 49, 32, 49, 1), (48, 49, 49, 32, 1), (192, 49, 32, 49, 4),
)
#: fused attention: (heads, tokens, head dim, batch)
ATTENTION: tuple[tuple[int, int, int, int], ...] = ((6, 197, 64, 1), (12, 197, 64, 1), (6, 197, 64, 4))
#: batch norm: (channels, side, batch)
BATCH_NORMS: tuple[tuple[int, int, int], ...] = ((64, 56, 1), (256, 28, 1), (512, 14, 1), (64, 56, 4), (256, 56, 1))
#: layer norm: (rows per image, features, batch)
LAYER_NORMS: tuple[tuple[int, int, int], ...] = ((197, 384, 1), (3136, 96, 1), (197, 768, 1), (197, 384, 4),
                                                 (197, 768, 4))

#: Compute-bound benchmarks cycle through enough operand copies to touch this many bytes
#: per round (twice a 32 MiB last-level cache).
ROTATING_BYTES = 64 * 2**20
_MAX_COPIES = 16

#: parameter-sized values each optimizer reads and writes per parameter (fp32 state):
#: sgd reads p, g, writes p; momentum also reads and writes the buffer; Adam(W) reads
#: p, g, m, v and writes p, m, v.
OPTIMIZER_TRAFFIC: dict[str, int] = {"sgd": 3, "momentum": 5, "adam": 7, "adamw": 7}


def benchmarks(device: str = "cpu", dtype: str = "fp32", scale: int = 8) -> list[Benchmark]:
    """The microbenchmarks of one calibration (``scale`` is the image batch of the shapes)."""
    import torch

    from costmodel.cost.precision import FLOAT32, get_precision

    dt = torch_dtype(dtype)
    precision = FLOAT32 if canonical_dtype(dtype) in ("fp32", "tf32") else get_precision(
        {"bf16": "bfloat16", "fp16": "float16"}[canonical_dtype(dtype)])
    dev = torch.device(device)

    def rand(*shape: int, grad: bool = False, layout: Any = torch.contiguous_format) -> Any:
        return torch.randn(*shape, device=dev, dtype=dt).contiguous(memory_format=layout).requires_grad_(grad)

    out: list[Benchmark] = []
    for tokens, k, n, m in LINEARS:
        _linear(out, rand, precision, tokens * scale * m, k, n)
    for cin, cout, side, kernel, stride, groups, m in CONVS:
        _conv(out, rand, precision, scale * m, cin, cout, side, kernel, stride, groups, channels_last=groups > 1)
    for channels, side, kernel, stride, m in DEPTHWISE_NCHW:
        _conv(out, rand, precision, scale * m, channels, channels, side, kernel, stride, channels, channels_last=False)
    for per_image, n, k, m_, mult in BATCHED:
        _bmm(out, rand, precision, per_image * scale * mult, n, k, m_)
    for heads, tokens, head_dim, m in ATTENTION:
        _attention(out, rand, precision, scale * m, heads, tokens, head_dim)
    # one early ResNet-50 feature map (larger than a CPU's last-level cache), a quarter of it, and
    # four of them (the maps of a batch four times as large: Swin-T's and EfficientNet's at 4 scale)
    for elements in (scale * 256 * 56 * 56, scale * 64 * 56 * 56, 4 * scale * 256 * 56 * 56):
        _elementwise(out, rand, precision, elements)
    for channels, side, m in BATCH_NORMS:
        _batch_norm(out, rand, precision, scale * m, channels, side)
    for per_image, width, m in LAYER_NORMS:
        _layer_norm(out, rand, precision, scale * per_image * m, width)
    _max_pool(out, rand, precision, scale)
    out.extend(_optimizers(rand))
    return out


def torch_dtype(dtype: str) -> Any:
    """The torch dtype a calibration for ``dtype`` computes in (``tf32`` computes in float32)."""
    import torch

    name = canonical_dtype(dtype)
    if name in ("fp8",):
        raise InvalidConfigError("dtype", dtype, "calibration supports fp32, tf32, bf16 and fp16")
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


# -- building blocks ---------------------------------------------------------------------
def _pair(out: list[Benchmark], kind: str, label: str, cost: Any, mk_f: Maker, mk_b: Maker) -> None:
    """Forward and backward benchmarks of one op, counted by its own closed forms (``full``).

    Matmul-type kinds run on rotating operand copies (:data:`ROTATING_BYTES`)."""
    rotate = KIND_CLASS.get(kind) in ("matmul", "conv")
    for direction, make in (("forward", mk_f), ("backward", mk_b)):
        nbytes = float(getattr(cost.traffic, direction))
        if rotate:
            make = _rotating(make, copies=min(_MAX_COPIES, max(1, math.ceil(ROTATING_BYTES / max(nbytes, 1.0)))))
        out.append(Benchmark(kind=kind, direction=direction, label=label,
                             flops=float(getattr(cost, f"{direction}_flops")), bytes=nbytes, make=make))


def _rotating(make: Maker, *, copies: int) -> Maker:
    """A ``make`` whose closure calls ``copies`` independently built closures in turn."""
    if copies == 1:
        return make

    def make_rotating() -> Callable[[], Any]:
        closures = [make() for _ in range(copies)]
        state = {"i": 0}

        def call() -> Any:
            state["i"] = (state["i"] + 1) % copies
            return closures[state["i"]]()

        return call

    return make_rotating


def _grad(fn: Callable[..., Any], inputs: tuple[Any, ...], wrt: tuple[Any, ...]) -> Callable[[], Any]:
    """A closure running the backward of ``fn(*inputs)`` with respect to ``wrt``."""
    import torch

    y = fn(*inputs)
    g = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, wrt, g, retain_graph=True)


def _makers(fn: Callable[..., Any], make_inputs: Callable[[bool], tuple[Any, ...]],
            wrt: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda args: args) -> tuple[Maker, Maker]:
    """Forward and backward makers of ``fn`` on fresh inputs (``make_inputs(grad)``)."""

    def mk_f() -> Callable[[], Any]:
        args = make_inputs(False)
        return lambda: fn(*args)

    def mk_b() -> Callable[[], Any]:
        args = make_inputs(True)
        return _grad(fn, args, wrt(args))

    return mk_f, mk_b


# -- one function per op family ------------------------------------------------------------
def _linear(out: list[Benchmark], rand: Rand, precision: Any, rows: int, k: int, n: int) -> None:
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    cost = ops.linear(rows=rows, in_features=k, out_features=n, bias=False, convention=FULL, precision=precision)
    makers = _makers(F.linear, lambda grad: (rand(rows, k, grad=grad), rand(n, k, grad=grad)))
    _pair(out, "matmul", f"linear {rows}x{k} -> {n}", cost, *makers)


def _bmm(out: list[Benchmark], rand: Rand, precision: Any, batch: int, n: int, k: int, m: int) -> None:
    import torch

    from costmodel import ops

    cost = ops.matmul(batch=batch, n=n, k=k, m=m, precision=precision)
    makers = _makers(torch.bmm, lambda grad: (rand(batch, n, k, grad=grad), rand(batch, k, m, grad=grad)))
    _pair(out, "matmul", f"bmm {batch}x({n}x{k} @ {k}x{m})", cost, *makers)


def _conv(out: list[Benchmark], rand: Rand, precision: Any, batch: int, cin: int, cout: int, side: int, kernel: int,
          stride: int, groups: int, *, channels_last: bool) -> None:
    import torch
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL
    from costmodel.ops.conv import conv_kind

    layout = torch.channels_last if channels_last else torch.contiguous_format
    first, pad = cin == 3, kernel // 2
    side_out = (side + 2 * pad - kernel) // stride + 1
    cost = ops.conv2d(batch=batch, in_channels=cin, out_channels=cout, out_size=(side_out, side_out),
                      kernel_size=kernel, groups=groups, bias=False, input_grad=not first, convention=FULL,
                      in_size=(side, side), precision=precision)

    def conv(x: Any, w: Any) -> Any:
        return F.conv2d(x, w, stride=stride, padding=pad, groups=groups)

    def inputs(grad: bool) -> tuple[Any, ...]:
        return (rand(batch, cin, side, side, layout=layout, grad=grad and not first),
                rand(cout, cin // groups, kernel, kernel, grad=grad))

    makers = _makers(conv, inputs, lambda args: args[1:] if first else args)
    _pair(out, conv_kind(groups > 1, channels_last),
          f"conv {kernel}x{kernel}/{stride} {cin}->{cout} g{groups} @{side} b{batch}"
          f"{' NHWC' if channels_last else ''}", cost, *makers)


def _attention(out: list[Benchmark], rand: Rand, precision: Any, batch: int, heads: int, tokens: int,
               head_dim: int) -> None:
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    cost = ops.softmax_attention(batch=batch, heads=heads, q_len=tokens, kv_len=tokens, head_dim=head_dim,
                                 fused=True, convention=FULL, precision=precision)
    makers = _makers(F.scaled_dot_product_attention,
                     lambda grad: tuple(rand(batch, heads, tokens, head_dim, grad=grad) for _ in range(3)))
    _pair(out, "attention", f"sdpa h{heads} L{tokens} d{head_dim} b{batch}", cost, *makers)


def _elementwise(out: list[Benchmark], rand: Rand, precision: Any, n: int) -> None:
    """ReLU, GELU and a residual add over ``n`` elements, forward and backward."""
    import torch
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    def one(grad: bool) -> tuple[Any, ...]:
        return (rand(n, grad=grad),)

    _pair(out, "elementwise", "relu", ops.relu(n, FULL, precision=precision), *_makers(torch.relu, one))
    _pair(out, "elementwise", "gelu", ops.gelu(n, FULL, precision=precision), *_makers(F.gelu, one))

    def mk_add() -> Callable[[], Any]:
        a, b = rand(n), rand(n)
        return lambda: a + b

    # a residual add forward, and the add of two gradients its backward runs
    _pair(out, "elementwise", "add", ops.residual_add(n, FULL, precision=precision), mk_add, mk_add)


def _batch_norm(out: list[Benchmark], rand: Rand, precision: Any, batch: int, channels: int, side: int) -> None:
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    def bn(x: Any, w: Any, bias: Any) -> Any:
        return F.batch_norm(x, None, None, w, bias, training=True)

    def inputs(grad: bool) -> tuple[Any, ...]:
        return rand(batch, channels, side, side, grad=grad), rand(channels, grad=grad), rand(channels, grad=grad)

    cost = ops.batch_norm(elements=batch * channels * side * side, channels=channels, convention=FULL,
                          precision=precision)
    _pair(out, "batch_norm", f"batch_norm {channels}ch @{side} b{batch}", cost, *_makers(bn, inputs))


def _layer_norm(out: list[Benchmark], rand: Rand, precision: Any, rows: int, width: int) -> None:
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    def ln(x: Any, w: Any, bias: Any) -> Any:
        return F.layer_norm(x, (x.shape[-1],), w, bias)

    def inputs(grad: bool) -> tuple[Any, ...]:
        return rand(rows, width, grad=grad), rand(width, grad=grad), rand(width, grad=grad)

    cost = ops.layer_norm(rows=rows, features=width, convention=FULL, precision=precision)
    _pair(out, "layer_norm", f"layer_norm {rows}x{width}", cost, *_makers(ln, inputs))


def _max_pool(out: list[Benchmark], rand: Rand, precision: Any, batch: int) -> None:
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.core.conventions import FULL

    def pool(x: Any) -> Any:
        return F.max_pool2d(x, 3, 2, 1)

    cost = ops.max_pool2d(outputs=batch * 64 * 56 * 56, kernel_size=3, inputs=batch * 64 * 112 * 112,
                          convention=FULL, precision=precision)
    makers = _makers(pool, lambda grad: (rand(batch, 64, 112, 112, grad=grad),))
    _pair(out, "pool", "max_pool 3x3/2 64ch @112", cost, *makers)


def _optimizers(rand: Rand) -> list[Benchmark]:
    import torch

    out = []
    sizes = [1 << 20] * 12 + [4096] * 24  # 12 weight matrices and 24 bias / norm vectors
    total = sum(sizes)
    for name, traffic in OPTIMIZER_TRAFFIC.items():
        def mk(name: str = name) -> Callable[[], Any]:
            params = [torch.nn.Parameter(rand(s).detach().float()) for s in sizes]
            for p in params:
                p.grad = torch.randn_like(p)
            opt: Any
            if name == "sgd":
                opt = torch.optim.SGD(params, lr=1e-3)
            elif name == "momentum":
                opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
            else:
                opt = (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(params, lr=1e-3)
            step: Callable[[], Any] = opt.step
            return step

        out.append(Benchmark(kind=f"optimizer_{name}", direction="forward", label=f"{name} step {total:,} params",
                             flops=0, bytes=traffic * 4 * total, make=mk))
    return out


__all__ = ["Benchmark", "benchmarks", "torch_dtype", "OPTIMIZER_TRAFFIC", "ROTATING_BYTES", "CONVS", "LINEARS",
           "ATTENTION", "BATCH_NORMS", "LAYER_NORMS"]
