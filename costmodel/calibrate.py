"""``costmodel calibrate``: measure achievable rates with short torch microbenchmarks.

Each benchmark times one op of one kind (:data:`costmodel.roofline.KIND_CLASS`), forward
and backward separately, at a few shapes typical of vision models, and divides the
op's closed-form FLOPs and compulsory bytes (each operand read once, each result written
once: the same counting :mod:`costmodel.traffic` uses for whole models) by the median
time. The profile then holds, per kind and direction,

* for matmul-type kinds (``matmul``, ``attention``, ``conv``, ``conv_depthwise``) the
  achievable FLOP/s, the median of ``F / t`` over that kind's shapes;
* for memory-bound kinds (``elementwise``, ``batch_norm``, ``layer_norm``, ``pool``,
  ``optimizer_*``) the achievable bandwidth, the median of ``Q / t``; ``elementwise`` also
  gets an arithmetic rate from GELU, whose ``erf`` makes it compute-bound on a CPU;
* the per-kernel overhead ``t_0``: the median time of an op on a one-element tensor.

Timing: medians of ``repeats`` runs after ``warmup`` runs. ``clock="cpu"`` times process
CPU time instead of wall time: with one thread on a machine shared with other jobs it is
the uncontended wall time (a thread that waits for a core is not charged). On CUDA the
clock is wall time between synchronisations.

Allocation: with glibc's default settings every tensor above 32 MiB is a fresh ``mmap``
whose pages fault and are zeroed on first touch, a cost of the operating system, not of
the op (measured here: a ResNet-50 training step at batch 32 takes 40% longer that way
on one CPU thread). The time model leaves it out; :func:`use_heap_allocator` switches
glibc to reusing freed memory, as a caching allocator does (PyTorch's CUDA allocator;
jemalloc or tcmalloc, which PyTorch's CPU performance tuning guide recommends), and both
the calibration and the timing validation run that way.

torch is imported only when a calibration runs.
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from costmodel.errors import InvalidConfigError
from costmodel.hardware import CPU, canonical_dtype
from costmodel.roofline import KIND_CLASS, DeviceProfile, Rate

Progress = Callable[[int, int, str, str], None]


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


def measure(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, clock: str = "wall",
            device: str = "cpu") -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls (sorted).

    ``clock="cpu"`` uses :func:`time.process_time` (process CPU time); ``"wall"`` uses
    :func:`time.perf_counter`, synchronising CUDA before and after.
    """
    if clock not in ("wall", "cpu"):
        raise InvalidConfigError("clock", clock, "must be 'wall' or 'cpu'")
    sync = _synchronizer(device)
    timer = time.process_time if clock == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        start = timer()
        fn()
        sync()
        samples.append(timer() - start)
    return sorted(samples)


def use_heap_allocator() -> bool:
    """Make glibc reuse freed memory instead of mapping fresh pages for large blocks.

    ``mallopt(M_MMAP_MAX, 0)`` serves every allocation from the heap and
    ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)`` keeps freed heap memory, so after a warm-up
    step a training step allocates without page faults. Returns False where the C
    library is not glibc (nothing is changed then).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, ctypes.c_int(2**31 - 1)))


def _synchronizer(device: str) -> Callable[[], None]:
    if str(device).startswith("cuda"):
        import torch

        return lambda: torch.cuda.synchronize(device)
    return lambda: None


# -- the benchmark set -----------------------------------------------------------------
#: convolutions benchmarked: (C_in, C_out, side, kernel, stride, groups). Dense ones in
#: NCHW, as ResNets run them; depthwise ones in channels-last memory, because
#: torchvision's ConvNeXt block permutes to channels-last for its LayerNorm and linears and
#: adds the residual in place (``result += input``), so its depthwise convs see NHWC
#: tensors (oneDNN's depthwise backward is about 3x faster there than in NCHW on a CPU).
#: A 3-channel input is a network's first layer: its backward has no input gradient.
_CONVS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (64, 64, 56, 3, 1, 1), (128, 128, 28, 3, 1, 1), (256, 256, 14, 3, 1, 1), (128, 128, 56, 3, 2, 1),
    (256, 64, 56, 1, 1, 1), (128, 512, 28, 1, 1, 1), (256, 512, 56, 1, 2, 1), (3, 64, 224, 7, 2, 1),
    (96, 96, 56, 7, 1, 96), (192, 192, 28, 7, 1, 192), (384, 384, 14, 7, 1, 384),
)
_LINEARS = ((1576, 384, 1536), (1576, 1536, 384), (6272, 192, 768), (1576, 768, 768))  #: (rows, in, out)
_ATTENTION = ((6, 197, 64), (12, 197, 64))  #: (heads, tokens, head dim), at ``scale`` sequences
_BATCH_NORMS = ((64, 56), (256, 28), (512, 14))  #: (channels, side)
_LAYER_NORMS = ((197, 384), (3136, 96), (197, 768))  #: (rows per image, features)


def _pair(out: list[Benchmark], kind: str, label: str, cost: Any, mk_f: Callable[[], Any],
          mk_b: Callable[[], Any]) -> None:
    """Forward and backward benchmarks of one op, counted by its own closed forms (``full``)."""
    out.append(Benchmark(kind=kind, direction="forward", label=label, flops=float(cost.forward_flops),
                         bytes=float(cost.traffic.forward), make=mk_f))
    out.append(Benchmark(kind=kind, direction="backward", label=label, flops=float(cost.backward_flops),
                         bytes=float(cost.traffic.backward), make=mk_b))


def _grad(fn: Callable[..., Any], inputs: tuple[Any, ...], wrt: tuple[Any, ...]) -> Callable[[], Any]:
    """A closure running the backward of ``fn(*inputs)`` with respect to ``wrt``."""
    import torch

    y = fn(*inputs)
    g = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, wrt, g, retain_graph=True)


def benchmarks(device: str = "cpu", dtype: str = "fp32", scale: int = 8) -> list[Benchmark]:
    """The microbenchmarks of one calibration (``scale`` is the image batch of the shapes).

    Shapes are typical of ImageNet vision models (token counts of a 224 px ViT, feature
    maps of a ResNet or ConvNeXt stage), kept small enough that the whole set takes about
    a minute on one CPU core. FLOPs and bytes of each come from the same op functions
    (:mod:`costmodel.ops`, ``full`` convention) that count the models.
    """
    import torch
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.conventions import FULL
    from costmodel.precision import FLOAT32, get_precision

    dt = _torch_dtype(dtype)
    precision = FLOAT32 if canonical_dtype(dtype) in ("fp32", "tf32") else get_precision(
        {"bf16": "bfloat16", "fp16": "float16"}[canonical_dtype(dtype)])
    dev = torch.device(device)
    out: list[Benchmark] = []
    b = scale

    def rand(*shape: int, grad: bool = False, layout: Any = torch.contiguous_format) -> Any:
        return torch.randn(*shape, device=dev, dtype=dt).contiguous(memory_format=layout).requires_grad_(grad)

    for rows, k, n in _LINEARS:
        cost = ops.linear(rows=rows, in_features=k, out_features=n, bias=False, convention=FULL, precision=precision)

        def mk_f(rows: int = rows, k: int = k, n: int = n) -> Any:
            x, w = rand(rows, k), rand(n, k)
            return lambda: F.linear(x, w)

        def mk_b(rows: int = rows, k: int = k, n: int = n) -> Any:
            x, w = rand(rows, k, grad=True), rand(n, k, grad=True)
            return _grad(F.linear, (x, w), (x, w))

        _pair(out, "matmul", f"linear {rows}x{k} -> {n}", cost, mk_f, mk_b)

    for cin, cout, hw, k, stride, groups in _CONVS:
        layout = torch.channels_last if groups > 1 else torch.contiguous_format
        first, pad = cin == 3, k // 2
        ho = (hw + 2 * pad - k) // stride + 1
        cost = ops.conv2d(batch=b, in_channels=cin, out_channels=cout, out_size=(ho, ho), kernel_size=k,
                          groups=groups, bias=False, input_grad=not first, convention=FULL, in_size=(hw, hw),
                          precision=precision)

        def conv(x: Any, w: Any, stride: int = stride, pad: int = pad, groups: int = groups) -> Any:
            return F.conv2d(x, w, stride=stride, padding=pad, groups=groups)

        def mk_f(cin: int = cin, cout: int = cout, hw: int = hw, k: int = k, groups: int = groups,
                 layout: Any = layout, conv: Any = conv) -> Any:
            x, w = rand(b, cin, hw, hw, layout=layout), rand(cout, cin // groups, k, k)
            return lambda: conv(x, w)

        def mk_b(cin: int = cin, cout: int = cout, hw: int = hw, k: int = k, groups: int = groups,
                 layout: Any = layout, conv: Any = conv, first: bool = first) -> Any:
            x = rand(b, cin, hw, hw, layout=layout, grad=not first)
            w = rand(cout, cin // groups, k, k, grad=True)
            return _grad(conv, (x, w), (w,) if first else (x, w))

        _pair(out, "conv_depthwise" if groups > 1 else "conv", f"conv {k}x{k}/{stride} {cin}->{cout} g{groups} @{hw}",
              cost, mk_f, mk_b)

    for heads, tokens, head_dim in _ATTENTION:
        cost = ops.softmax_attention(batch=b, heads=heads, q_len=tokens, kv_len=tokens, head_dim=head_dim,
                                     fused=True, convention=FULL, precision=precision)

        def mk_f(heads: int = heads, tokens: int = tokens, head_dim: int = head_dim) -> Any:
            q, k_, v = (rand(b, heads, tokens, head_dim) for _ in range(3))
            return lambda: F.scaled_dot_product_attention(q, k_, v)

        def mk_b(heads: int = heads, tokens: int = tokens, head_dim: int = head_dim) -> Any:
            qkv = tuple(rand(b, heads, tokens, head_dim, grad=True) for _ in range(3))
            return _grad(F.scaled_dot_product_attention, qkv, qkv)

        _pair(out, "attention", f"sdpa h{heads} L{tokens} d{head_dim}", cost, mk_f, mk_b)

    out.extend(_memory_benchmarks(rand, precision, scale))
    return out


def _memory_benchmarks(rand: Callable[..., Any], precision: Any, scale: int) -> list[Benchmark]:
    import torch
    import torch.nn.functional as F

    from costmodel import ops
    from costmodel.conventions import FULL

    out: list[Benchmark] = []
    n = scale * 256 * 56 * 56  # elements of one early ResNet-50 feature map (larger than the L3 cache)

    def unary(fn: Callable[[Any], Any]) -> tuple[Callable[[], Any], Callable[[], Any]]:
        def mk_f() -> Any:
            x = rand(n)
            return lambda: fn(x)

        def mk_b() -> Any:
            x = rand(n, grad=True)
            return _grad(fn, (x,), (x,))

        return mk_f, mk_b

    _pair(out, "elementwise", "relu", ops.relu(n, FULL, precision=precision), *unary(torch.relu))
    _pair(out, "elementwise", "gelu", ops.gelu(n, FULL, precision=precision), *unary(F.gelu))

    def mk_add() -> Any:
        a, b = rand(n), rand(n)
        return lambda: a + b

    # a residual add forward, and the add of two gradients its backward runs
    _pair(out, "elementwise", "add", ops.residual_add(n, FULL, precision=precision), mk_add, mk_add)

    for channels, hw in _BATCH_NORMS:
        def bn(x: Any, w: Any, bias: Any) -> Any:
            return F.batch_norm(x, None, None, w, bias, training=True)

        def mk_f(channels: int = channels, hw: int = hw) -> Any:
            x, w, bias = rand(scale, channels, hw, hw), rand(channels), rand(channels)
            return lambda: bn(x, w, bias)

        def mk_b(channels: int = channels, hw: int = hw) -> Any:
            args = (rand(scale, channels, hw, hw, grad=True), rand(channels, grad=True), rand(channels, grad=True))
            return _grad(bn, args, args)

        cost = ops.batch_norm(elements=scale * channels * hw * hw, channels=channels, convention=FULL,
                              precision=precision)
        _pair(out, "batch_norm", f"batch_norm {channels}ch @{hw}", cost, mk_f, mk_b)

    for per_image, width in _LAYER_NORMS:
        rows = scale * per_image

        def ln(x: Any, w: Any, bias: Any) -> Any:
            return F.layer_norm(x, (x.shape[-1],), w, bias)

        def mk_f(rows: int = rows, width: int = width) -> Any:
            x, w, bias = rand(rows, width), rand(width), rand(width)
            return lambda: ln(x, w, bias)

        def mk_b(rows: int = rows, width: int = width) -> Any:
            args = (rand(rows, width, grad=True), rand(width, grad=True), rand(width, grad=True))
            return _grad(ln, args, args)

        cost = ops.layer_norm(rows=rows, features=width, convention=FULL, precision=precision)
        _pair(out, "layer_norm", f"layer_norm {rows}x{width}", cost, mk_f, mk_b)

    def pool(x: Any) -> Any:
        return F.max_pool2d(x, 3, 2, 1)

    def mk_pool_f() -> Any:
        x = rand(scale, 64, 112, 112)
        return lambda: pool(x)

    def mk_pool_b() -> Any:
        x = rand(scale, 64, 112, 112, grad=True)
        return _grad(pool, (x,), (x,))

    cost = ops.max_pool2d(outputs=scale * 64 * 56 * 56, kernel_size=3, inputs=scale * 64 * 112 * 112,
                          convention=FULL, precision=precision)
    _pair(out, "pool", "max_pool 3x3/2 64ch @112", cost, mk_pool_f, mk_pool_b)

    out.extend(_optimizer_benchmarks(rand))
    return out


#: parameter-sized values each optimizer reads and writes per parameter (fp32 state):
#: sgd reads p, g, writes p; momentum also reads and writes the buffer; Adam(W) reads
#: p, g, m, v and writes p, m, v.
OPTIMIZER_TRAFFIC: dict[str, int] = {"sgd": 3, "momentum": 5, "adam": 7, "adamw": 7}


def _optimizer_benchmarks(rand: Callable[..., Any]) -> list[Benchmark]:
    import torch

    out = []
    sizes = [1 << 20] * 12 + [4096] * 24  # 12 weight matrices and 24 bias / norm vectors
    total = sum(sizes)
    for name, traffic in OPTIMIZER_TRAFFIC.items():
        def mk(name: str = name) -> Any:
            params = [torch.nn.Parameter(rand(s).detach().float()) for s in sizes]
            for p in params:
                p.grad = torch.randn_like(p)
            opt = {"sgd": lambda: torch.optim.SGD(params, lr=1e-3),
                   "momentum": lambda: torch.optim.SGD(params, lr=1e-3, momentum=0.9),
                   "adam": lambda: torch.optim.Adam(params, lr=1e-3),
                   "adamw": lambda: torch.optim.AdamW(params, lr=1e-3)}[name]()
            return opt.step

        out.append(Benchmark(kind=f"optimizer_{name}", direction="forward", label=f"{name} step {total:,} params",
                             flops=0, bytes=traffic * 4 * total, make=mk))
    return out


def _torch_dtype(dtype: str) -> Any:
    import torch

    name = canonical_dtype(dtype)
    if name in ("fp8",):
        raise InvalidConfigError("dtype", dtype, "calibration supports fp32, tf32, bf16 and fp16")
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


# -- running ---------------------------------------------------------------------------
def run_calibration(*, device: str = "cpu", dtype: str = "fp32", threads: int | None = None, clock: str | None = None,
                    repeats: int = 5, warmup: int = 1, scale: int = 8, progress: Progress | None = None
                    ) -> DeviceProfile:
    """Run every benchmark on ``device`` and return the measured :class:`DeviceProfile`.

    Parameters
    ----------
    device : "cpu" or "cuda[:i]"
    dtype : compute dtype of the benchmarks (``fp32``; ``bf16``/``fp16`` where supported;
        ``tf32`` enables TF32 matmuls on CUDA).
    threads : CPU threads (``torch.set_num_threads``); None keeps torch's default.
    clock : ``"cpu"`` or ``"wall"``; default ``"cpu"`` for a one-thread CPU run, else ``"wall"``.
    progress : called as ``progress(i, n, label, result)`` after each benchmark.
    """
    import torch

    dtype = canonical_dtype(dtype)
    if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
        raise InvalidConfigError("device", device, "must be 'cpu' or an available 'cuda' device")
    if threads is not None:
        if threads <= 0:
            raise InvalidConfigError("threads", threads, "must be a positive integer")
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    if clock is None:
        clock = "cpu" if device == "cpu" and threads == 1 else "wall"
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = dtype == "tf32"
    if device == "cpu":
        use_heap_allocator()
    torch.manual_seed(0)
    records: list[dict[str, Any]] = []
    suite = [*benchmarks(device, dtype, scale), _overhead_benchmark(device)]
    _warm_up(suite[0], seconds=0.5, device=device)
    for i, bench in enumerate(suite, 1):
        fn = bench.make()
        samples = measure(fn, repeats=repeats, warmup=warmup, clock=clock, device=device)
        del fn
        median = statistics.median(samples)
        records.append({"kind": bench.kind, "direction": bench.direction, "label": bench.label,
                        "flops": bench.flops, "bytes": bench.bytes, "seconds": median,
                        "spread": (samples[-1] - samples[0]) / median if median > 0 else 0.0})
        if progress is not None:
            progress(i, len(suite), f"{bench.kind:<15} {bench.direction:<8} {bench.label}", _describe(records[-1]))
    return profile_from_records(records, device=_device_name(device), dtype=dtype, threads=threads, clock=clock)


def _warm_up(bench: Benchmark, *, seconds: float, device: str) -> None:
    """Run ``bench`` for about ``seconds`` untimed: the first kernels of a process run slow
    (library initialisation, first-touch of the heap, the clock ramping up); measured
    here, without this the first benchmark came out 25% below its rate later in the run."""
    fn, sync = bench.make(), _synchronizer(device)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
    sync()


def _overhead_benchmark(device: str) -> Benchmark:
    import torch

    def mk() -> Any:
        x = torch.ones(1, device=device)
        return lambda: x + x

    return Benchmark(kind="overhead", direction="forward", label="one-element add", flops=0, bytes=0, make=mk)


def _describe(record: dict[str, Any]) -> str:
    t = record["seconds"]
    if record["kind"] == "overhead":
        return f"{t * 1e6:.1f} us"
    if record["flops"] and record["kind"] in ("matmul", "attention", "conv", "conv_depthwise"):
        return f"{record['flops'] / t / 1e9:.1f} GFLOP/s ({t * 1e3:.1f} ms)"
    return f"{record['bytes'] / t / 1e9:.2f} GB/s ({t * 1e3:.1f} ms)"


def _device_name(device: str) -> str:
    if device == "cpu":
        return CPU
    import re

    import torch

    from costmodel.hardware import list_devices

    gpu = torch.cuda.get_device_name(device).lower()
    for name in list_devices():
        if name != CPU and re.search(rf"\b{name.split('_')[0]}\b", gpu):
            return name
    return "cuda"


def profile_from_records(records: list[dict[str, Any]], *, device: str, dtype: str, threads: int | None,
                         clock: str) -> DeviceProfile:
    r"""Rates from benchmark records: per kind and direction, the median over its shapes of
    :math:`F / t` (matmul-type kinds) or :math:`Q / t` (memory-bound kinds).

    The median, not :math:`\sum F / \sum t`: one slow shape (a strided 1x1 convolution's
    backward runs at half the rate of a 3x3's here) should not set the rate of every op of
    its kind. Matmul-type kinds get, as their memory roof, the streaming bandwidth of the
    ``relu`` and ``add`` benchmarks (they are compute-bound at these shapes);
    memory-bound kinds get an unbounded arithmetic rate, except ``elementwise``, whose
    arithmetic rate comes from GELU.
    """
    overhead = [r["seconds"] for r in records if r["kind"] == "overhead"]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] != "overhead" and r["seconds"] > 0:
            grouped.setdefault((r["kind"], r["direction"]), []).append(r)

    def median_rate(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] / r["seconds"] for r in rows) if rows else float("inf")

    streaming = [r for r in records if r["kind"] == "elementwise" and r["label"] in ("relu", "add") and r["seconds"]]
    stream_bw = median_rate(streaming, "bytes") if streaming else None
    rates: dict[str, dict[str, Rate]] = {}
    for (kind, direction), rows in grouped.items():
        if KIND_CLASS.get(kind) in ("matmul", "conv"):
            rate = Rate(flops=median_rate(rows, "flops"), bandwidth=stream_bw or float("inf"))
        elif kind == "elementwise":
            rate = Rate(flops=median_rate([r for r in rows if r["label"] == "gelu"], "flops"),
                        bandwidth=median_rate([r for r in rows if r["label"] != "gelu"], "bytes"))
        else:
            rate = Rate(flops=float("inf"), bandwidth=median_rate(rows, "bytes"))
        rates.setdefault(kind, {})[direction] = rate
    matmul = [r["flops"] / r["seconds"] for r in records if r["kind"] == "matmul" and r["seconds"] > 0]
    return DeviceProfile(
        device=device, dtype=dtype, rates=rates, overhead_s=statistics.median(overhead) if overhead else 0.0,
        source=f"costmodel calibrate, {threads} thread(s), {clock} clock",
        threads=threads, clock=clock, memory=_memory_bytes(device), memory_bandwidth=stream_bw,
        peak_flops=max(matmul) if matmul else None,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        measurements=tuple(records))


def _memory_bytes(device: str) -> float | None:
    if device == CPU:
        try:
            return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return None
    import torch

    return float(torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else None


def print_progress(i: int, n: int, label: str, result: str) -> None:
    """The default progress display: one line per benchmark on stderr."""
    print(f"[{i:>2}/{n}] {label:<58} {result}", file=sys.stderr, flush=True)


__all__ = ["Benchmark", "benchmarks", "measure", "use_heap_allocator", "run_calibration", "profile_from_records",
           "print_progress",
           "OPTIMIZER_TRAFFIC"]
