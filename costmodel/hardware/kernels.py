r"""GPU kernel model: the time of one op's kernels from its shape, its bytes and a few constants per GPU generation.

Matrix products and convolutions (implicit GEMMs) run on Tensor Cores in tiles; the tiles
run in waves of one tile per SM (NVIDIA, *Matrix Multiplication Background User's Guide*,
sections "Tile quantization" and "Wave quantization"). For a product ``(m x k) @ (k x n)``
repeated ``b`` times in one launch (``bmm``, grouped convolution) and a tile ``t_m x t_n``:

.. math::
    T = b \left\lceil \frac{m}{t_m} \right\rceil \left\lceil \frac{n}{t_n} \right\rceil, \qquad
    W = \left\lceil \frac{T\,s}{N_{SM}} \right\rceil, \qquad
    u = \frac{b\,m\,n\,k}{W N_{SM}\, t_m t_n\, k / s} \; e(t)

with ``s`` the split-K factor (a product with fewer tiles than SMs and a long ``k``, e.g.
a weight gradient, splits ``k``: ``s = min(floor(N_SM / T), floor(k / 256))``, at least 1)
and ``e(t) = min(1, (t_m t_n / (t_m + t_n)) / 64)`` the tile's own efficiency (a tile
re-uses each loaded element ``t_m t_n / (t_m + t_n)`` times; below 64 (a 128x128 tile) it
is assumed to starve the Tensor Cores in proportion: an assumption, not fitted). The
library picks the tile with the highest ``u`` (as cuBLAS's heuristics approximately do).
The op's compute time is

.. math:: t_F = \sum_g \frac{F_g}{\eta_{TC}\, R_{dtype}\, u_g}

(``R``: the datasheet's dense Tensor Core rate with FP32 accumulate; fp32 without TF32
uses the CUDA-core fp32 rate and :math:`\eta_{CUDA}`, depthwise convolutions the same rate
and :math:`\eta_{DW}` forward, :math:`\eta_{DW,bwd}` backward: their weight gradient is a
reduction over every image and pixel, a kernel of its own class). On CUDA cores with
``cudnn.benchmark`` an unstrided 3x3 convolution is taken to run as Winograd F(2x2, 3x3):
:data:`WINOGRAD_SAVING` times fewer multiplications (cuDNN's Tensor Core kernels are
implicit GEMMs: no saving there). Every kernel is also bounded by its bytes :math:`Q`
(:mod:`costmodel.cost.traffic`) at a fraction :math:`\eta_{BW}` of the DRAM bandwidth, and pays a
launch gap :math:`t_L`:

.. math:: t = \max\left(t_F,\ \frac{Q}{\eta_{BW} B}\right) + \frac{Q_T}{\eta_{BW} B} + n_{launch}\, t_L

An NCHW convolution on Tensor Cores pays layout transposes (cuDNN's Tensor Core kernels
are NHWC): its input and output are read and written once more in each direction by
kernels of their own, :math:`Q_T = 2 (Q - Q_W)` bytes (:math:`Q_W` the weight's). The
forward pass of an unstrided 1x1 convolution is exempt: in NCHW it is a plain product
``W X`` per image (its backward, whose weight gradient reduces over images and pixels, is not). Casts
of a float32 input under autocast and bias-gradient sums are counted in the op's own
bytes :math:`Q` (:mod:`costmodel.cost.traffic`), under the max: a simplification. The host dispatches kernels
one by one (eager PyTorch), so a step is never shorter than :math:`n_{kernels}\, t_H`.

The constants :math:`\eta_{TC}, \eta_{CUDA}, \eta_{DW}, \eta_{DW,bwd}, \eta_{BW}, t_L, t_H` are per GPU generation
(:data:`GENERATION_CONSTANTS`), fitted once on published measurements and shared by every
model; nothing here depends on which model an op belongs to.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import DeviceSpec
from costmodel.hardware.profiles import DEPTHWISE_KINDS
from costmodel.hardware.settings import ExecutionSettings

#: Tensor Core tiles (t_m, t_n) the model chooses from (CUTLASS's and cuBLAS's common CTA tiles)
TILES: tuple[tuple[int, int], ...] = ((256, 128), (128, 256), (128, 128), (128, 64), (64, 128), (64, 64))
#: re-use per loaded element a tile needs to keep the Tensor Cores busy (a 128 x 128 tile's; assumption)
FULL_RATE_REUSE = 64.0
#: multiplications saved by Winograd F(2x2, 3x3) on an unstrided 3x3 convolution (Lavin & Gray,
#: "Fast Algorithms for Convolutional Neural Networks", CVPR 2016: 36 -> 16 per 2x2 output tile)
WINOGRAD_SAVING = 2.25
#: the shortest slice of ``k`` a split-K kernel gives one tile
SPLIT_K_MIN = 256
GEMM_KINDS: tuple[str, ...] = ("matmul", "conv", "attention")


@dataclass(frozen=True, kw_only=True)
class KernelConstants:
    """The fitted constants of one GPU generation (see the module docstring).

    Parameters
    ----------
    tensor_efficiency : float
        :math:`\\eta_{TC}`, fraction of the dense Tensor Core peak a full wave of large tiles reaches.
    cuda_efficiency : float
        :math:`\\eta_{CUDA}`, fraction of the fp32 CUDA-core peak matrix products reach without
        Tensor Cores (fp32 without TF32).
    depthwise_efficiency : float
        :math:`\\eta_{DW}`, fraction of the fp32 CUDA-core peak a depthwise (grouped)
        convolution reaches in its forward pass: a direct convolution with no reuse across
        channels, a kernel class of its own.
    depthwise_backward_efficiency : float
        :math:`\\eta_{DW,bwd}`, the same for its backward pass (input and weight gradients): the
        weight gradient reduces over every image and pixel for each of the ``k^2`` weights of a
        channel, a kernel class of its own that runs slower than the forward pass.
    bandwidth_efficiency : float
        :math:`\\eta_{BW}`, fraction of the datasheet DRAM bandwidth streaming kernels reach.
    launch_s : float
        :math:`t_L`, GPU time between two kernels (launch latency, tail of the previous kernel).
    host_s : float
        :math:`t_H`, host time to dispatch one kernel from eager PyTorch.
    source : str
        Where the numbers come from.
    """

    tensor_efficiency: float
    cuda_efficiency: float
    depthwise_efficiency: float
    depthwise_backward_efficiency: float
    bandwidth_efficiency: float
    launch_s: float
    host_s: float
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("tensor_efficiency", "cuda_efficiency", "depthwise_efficiency", "depthwise_backward_efficiency",
                     "bandwidth_efficiency"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise InvalidConfigError(name, value, "must be a fraction in (0, 1]")
        for name in ("launch_s", "host_s"):
            if not getattr(self, name) >= 0:
                raise InvalidConfigError(name, getattr(self, name), "must be >= 0 seconds")

    def as_tuple(self) -> tuple[float, float, float, float, float, float, float]:
        return (self.tensor_efficiency, self.cuda_efficiency, self.depthwise_efficiency,
                self.depthwise_backward_efficiency, self.bandwidth_efficiency, self.launch_s, self.host_s)


_FIT_SOURCE = ("fitted by `python -m costmodel.validation.published --fit` on the published anchors of this "
               "generation (validation/data/gpu-throughput-published.csv; weighted mean |log error|)")

#: The constants of each GPU generation (CUDA compute capability). Fitted on the published
#: anchors (no per-model constant exists: the same seven numbers time every model on every GPU
#: of a generation). ``sm_89`` (Ada: GeForce, GDDR6X) has no anchor rows and takes ``sm_86``'s
#: constants, ``sm_90`` (Hopper: HBM, data centre) takes ``sm_80``'s: assumptions, unvalidated.
GENERATION_CONSTANTS: dict[str, KernelConstants] = {
    "sm_70": KernelConstants(tensor_efficiency=0.644, cuda_efficiency=0.806, depthwise_efficiency=0.237,
                             depthwise_backward_efficiency=0.3, bandwidth_efficiency=0.703, launch_s=3.47e-06,
                             host_s=5.93e-05,
                             source=_FIT_SOURCE + ": 64 V100 rows (DeepLearningExamples ResNet-50; DeiT, "
                                                  "ConvNeXt, Swin and DINO papers); depthwise_backward_efficiency "
                                                  "not constrained (no depthwise training row): left at the start"),
    "sm_75": KernelConstants(tensor_efficiency=0.6, cuda_efficiency=0.669, depthwise_efficiency=0.3,
                             depthwise_backward_efficiency=0.3, bandwidth_efficiency=0.7, launch_s=2.96e-06,
                             host_s=5.62e-05,
                             source=_FIT_SOURCE + ": 18 T4 rows (DeepLearningExamples ResNet-50 inference); "
                                                  "depthwise_efficiency and depthwise_backward_efficiency not "
                                                  "constrained (no depthwise row): left at the start"),
    "sm_80": KernelConstants(tensor_efficiency=0.403, cuda_efficiency=0.75, depthwise_efficiency=0.261,
                             depthwise_backward_efficiency=0.3, bandwidth_efficiency=0.703, launch_s=3.16e-06,
                             host_s=3e-05,
                             source=_FIT_SOURCE + ": 12 A100 rows (DeepLearningExamples ResNet-50 training, "
                                                  "ConvNeXt paper's ConvNeXt and Swin TF32 inference); "
                                                  "cuda_efficiency, depthwise_backward_efficiency and host_s not "
                                                  "constrained: left at the start"),
    "sm_86": KernelConstants(tensor_efficiency=1, cuda_efficiency=0.75, depthwise_efficiency=0.3,
                             depthwise_backward_efficiency=0.0369, bandwidth_efficiency=0.723, launch_s=3.57e-06,
                             host_s=3e-05,
                             source=_FIT_SOURCE + ": 303 RTX 3090 rows (timm benchmark files); tensor_efficiency "
                                                  "at its upper bound (1); cuda_efficiency and host_s not "
                                                  "constrained (no fp32 or small-batch row): left at the start; "
                                                  "depthwise_backward_efficiency from the 6 ConvNeXt training rows"),
}
GENERATION_CONSTANTS["sm_89"] = GENERATION_CONSTANTS["sm_86"]
GENERATION_CONSTANTS["sm_90"] = GENERATION_CONSTANTS["sm_80"]


def constants_for(spec: DeviceSpec, table: dict[str, KernelConstants] | None = None) -> KernelConstants:
    """The constants of ``spec``'s generation (an error naming the device if it has none)."""
    table = GENERATION_CONSTANTS if table is None else table
    if spec.sm_count is None or spec.generation not in table:
        raise InvalidConfigError("device", spec.name, "needs sm_count and a generation with kernel constants "
                                                      f"({', '.join(sorted(table))}) for the GPU kernel model")
    return table[spec.generation]


@dataclass(frozen=True)
class Shape:
    """One matrix product of a kernel: ``count`` launches of ``batch`` products ``(m x k) @ (k x n)``."""

    m: float
    n: float
    k: float
    batch: float = 1.0
    count: float = 1.0
    window: float = 1.0
    strided: bool = False

    @property
    def winograd(self) -> bool:
        """An unstrided 3x3 convolution: cuDNN may run it as a Winograd transform."""
        return self.window == 9 and not self.strided

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k * self.batch * self.count


@dataclass(frozen=True, kw_only=True)
class KernelOp:
    """One op in one direction, numeric: FLOPs, bytes, kernel launches, the products it runs.

    ``weight_bytes``: the bytes of its weights and weight gradients inside ``bytes`` (what
    a layout transpose does not touch).
    """

    path: str
    kind: str
    direction: str
    flops: float
    bytes: float
    launches: float = 1.0
    shapes: tuple[Shape, ...] = ()
    weight_bytes: float = 0.0


def tile_efficiency(tm: int, tn: int) -> float:
    r""":math:`e(t) = \min(1, (t_m t_n / (t_m + t_n)) / 64)`."""
    return min(1.0, tm * tn / (tm + tn) / FULL_RATE_REUSE)


@functools.lru_cache(maxsize=4096)
def gemm_utilization(shape: Shape, sms: int, tiles: tuple[tuple[int, int], ...] = TILES) -> float:
    """Useful fraction :math:`u` of the SMs' time for ``shape``, best tile (module docstring)."""
    best = 0.0
    for tm, tn in tiles:
        count = shape.batch * math.ceil(shape.m / tm) * math.ceil(shape.n / tn)
        splits = max(1, min(sms // count if count < sms else 1, int(shape.k // SPLIT_K_MIN)))
        waves = math.ceil(count * splits / sms)
        useful = shape.batch * shape.m * shape.n * shape.k
        best = max(best, useful / (waves * sms * tm * tn * shape.k / splits) * tile_efficiency(tm, tn))
    return best


@dataclass(frozen=True, kw_only=True)
class KernelTime:
    """An op timed by the kernel model: total seconds, and the compute and memory terms."""

    op: KernelOp
    seconds: float
    compute_s: float
    memory_s: float
    launch_s: float

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"


#: where an op's arithmetic runs: Tensor Cores, CUDA-core GEMM, direct depthwise convolution, and
#: elementwise arithmetic (norms, activations, optimizer), taken at the full fp32 peak: those
#: kernels are memory-bound, their arithmetic only a floor, and no constant is fitted for it
UNITS: tuple[str, ...] = ("tensor", "cuda", "depthwise", "depthwise_backward", "vector")


def efficiency(unit: str, constants: KernelConstants) -> float:
    """The fitted efficiency of compute ``unit`` (1 for elementwise arithmetic)."""
    return {"tensor": constants.tensor_efficiency, "cuda": constants.cuda_efficiency,
            "depthwise": constants.depthwise_efficiency,
            "depthwise_backward": constants.depthwise_backward_efficiency, "vector": 1.0}[unit]


@dataclass(frozen=True, kw_only=True)
class KernelTerms:
    """The efficiency-free terms of an op's time: seconds at 100 % of the peak and of the bandwidth.

    ``time = max(compute_s / eta, memory_s / eta_BW) + extra_s / eta_BW + launches t_L`` with
    ``eta`` the efficiency of the ``unit`` the products run on (:data:`UNITS`); ``extra_s``
    is the traffic of separate memory-bound kernels the op needs (NCHW transposes).
    """

    compute_s: float
    unit: str
    memory_s: float
    launches: float
    extra_s: float = 0.0

    def seconds(self, constants: KernelConstants) -> tuple[float, float, float]:
        """(total, compute, memory) seconds with ``constants``."""
        eta = efficiency(self.unit, constants)
        compute, memory = self.compute_s / eta, self.memory_s / constants.bandwidth_efficiency
        extra = self.extra_s / constants.bandwidth_efficiency
        return max(compute, memory) + extra + self.launches * constants.launch_s, compute, memory + extra


def peak_rate(kind: str, spec: DeviceSpec, settings: ExecutionSettings) -> tuple[float, bool]:
    """(datasheet flop/s, on Tensor Cores?) for the products of op ``kind``."""
    fp32 = float(spec.peak("fp32").to("flop/s").magnitude)
    if kind not in GEMM_KINDS:
        return fp32, False
    tc = settings.tensor_core_dtype(kind, spec.generation)
    if tc is None:
        return fp32, False
    if tc not in spec.peak_flops:
        raise InvalidConfigError("dtype", tc, f"{spec.name} has no {tc} Tensor Core rate (it has: "
                                              f"{', '.join(spec.peak_flops)})")
    return float(spec.peak(tc).to("flop/s").magnitude), True


def kernel_terms(op: KernelOp, spec: DeviceSpec, settings: ExecutionSettings) -> KernelTerms:
    """The terms of ``op`` on ``spec`` run with ``settings`` (the module docstring's equation)."""
    sms = spec.sm_count or 1
    bandwidth = float(spec.memory_bandwidth.to("byte/s").magnitude)
    rate, tensor = peak_rate(op.kind, spec, settings)
    if op.shapes and op.kind in GEMM_KINDS:
        shape_flops = sum(s.flops for s in op.shapes) or 1.0
        winograd = op.kind == "conv" and not tensor and settings.cudnn_benchmark
        per_flop = sum(s.flops / shape_flops / gemm_utilization(s, sms) / (WINOGRAD_SAVING if winograd
                                                                             and s.winograd else 1.0)
                       for s in op.shapes)
        compute = op.flops * per_flop / rate
    else:
        compute = op.flops / rate
    extra = 0.0
    launches = op.launches
    pointwise = op.direction == "forward" and all(s.window == 1 and not s.strided for s in op.shapes)
    if op.kind == "conv" and tensor and settings.memory_format == "nchw" and not pointwise:
        extra = 2.0 * max(0.0, op.bytes - op.weight_bytes)  # transposes NCHW <-> NHWC: kernels of their own
        launches *= 3
    depthwise = "depthwise_backward" if op.direction == "backward" else "depthwise"
    unit = "tensor" if tensor else (depthwise if op.kind in DEPTHWISE_KINDS else
                                    "cuda" if op.kind in GEMM_KINDS else "vector")
    return KernelTerms(compute_s=compute, unit=unit, memory_s=op.bytes / bandwidth, launches=launches,
                       extra_s=extra / bandwidth)


def kernel_time(op: KernelOp, spec: DeviceSpec, settings: ExecutionSettings,
                constants: KernelConstants | None = None) -> KernelTime:
    """Seconds of ``op`` on ``spec`` run with ``settings``, with ``constants`` (the generation's by default)."""
    constants = constants_for(spec) if constants is None else constants
    terms = kernel_terms(op, spec, settings)
    total, compute, memory = terms.seconds(constants)
    return KernelTime(op=op, seconds=total, compute_s=compute, memory_s=memory,
                      launch_s=terms.launches * constants.launch_s)


def time_kernels(ops: Iterable[KernelOp], spec: DeviceSpec, settings: ExecutionSettings,
                 constants: KernelConstants | None = None) -> tuple[KernelTime, ...]:
    """:func:`kernel_time` of every op."""
    constants = constants_for(spec) if constants is None else constants
    return tuple(kernel_time(op, spec, settings, constants) for op in ops)


__all__ = ["TILES", "FULL_RATE_REUSE", "WINOGRAD_SAVING", "SPLIT_K_MIN", "GEMM_KINDS", "KernelConstants",
           "GENERATION_CONSTANTS",
           "constants_for", "Shape", "KernelOp", "tile_efficiency", "gemm_utilization", "KernelTime",
           "UNITS", "efficiency", "KernelTerms", "peak_rate", "kernel_terms", "kernel_time", "time_kernels"]
