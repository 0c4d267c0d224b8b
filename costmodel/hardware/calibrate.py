"""``costmodel calibrate``: measure achievable rates with short torch microbenchmarks.

Each benchmark times one op of one kind (:data:`costmodel.hardware.profiles.KIND_CLASS`), forward
and backward separately, at a few shapes typical of vision models, and divides the
op's closed-form FLOPs and compulsory bytes (each operand read once, each result written
once: the same counting :mod:`costmodel.cost.traffic` uses for whole models) by the median
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
from typing import Any

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import CPU, canonical_dtype
from costmodel.hardware.microbench import OPTIMIZER_TRAFFIC, Benchmark, benchmarks
from costmodel.hardware.profiles import DEPTHWISE_KINDS, KIND_CLASS, DeviceProfile, Rate

Progress = Callable[[int, int, str, str], None]


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
    if record["flops"] and record["kind"] in ("matmul", "attention", "conv", *DEPTHWISE_KINDS):
        return f"{record['flops'] / t / 1e9:.1f} GFLOP/s ({t * 1e3:.1f} ms)"
    return f"{record['bytes'] / t / 1e9:.2f} GB/s ({t * 1e3:.1f} ms)"


def _device_name(device: str) -> str:
    if device == "cpu":
        return CPU
    import re

    import torch

    from costmodel.hardware.devices import list_devices

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

    Every rate also keeps its points as curves (:class:`~costmodel.hardware.profiles.Rate`):
    flop/s against the op's arithmetic intensity, byte/s against its traffic, so that
    predictions use the rate fitted at each op's own shape. A GEMM's rate depends on its
    shape more than on its size: on this project's 2-core CPU a ViT-S projection
    (1576 x 384 -> 1536) ran at about 85-90 GFLOP/s, a long thin one (25088 x 96 -> 384,
    ConvNeXt-T's stage-1 MLP at batch 8) at 36 GFLOP/s forward. The medians stay as the
    rates of ops without a curve.
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
            rate = Rate(flops=median_rate(rows, "flops"), bandwidth=stream_bw or float("inf"),
                        flops_curve=_curve(rows, "flops"))
        elif kind == "elementwise":
            gelu, other = [r for r in rows if r["label"] == "gelu"], [r for r in rows if r["label"] != "gelu"]
            rate = Rate(flops=median_rate(gelu, "flops"), bandwidth=median_rate(other, "bytes"),
                        flops_curve=_curve(gelu, "flops"), bandwidth_curve=_curve(other, "bytes"))
        else:
            rate = Rate(flops=float("inf"), bandwidth=median_rate(rows, "bytes"), bandwidth_curve=_curve(rows, "bytes"))
        rates.setdefault(kind, {})[direction] = rate
    matmul = [r["flops"] / r["seconds"] for r in records if r["kind"] == "matmul" and r["seconds"] > 0]
    return DeviceProfile(
        device=device, dtype=dtype, rates=rates, overhead_s=statistics.median(overhead) if overhead else 0.0,
        source=f"costmodel calibrate, {threads} thread(s), {clock} clock",
        threads=threads, clock=clock, memory=_memory_bytes(device), memory_bandwidth=stream_bw,
        peak_flops=max(matmul) if matmul else None,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        measurements=tuple(records))


def _curve(rows: list[dict[str, Any]], key: str) -> tuple[tuple[float, float], ...]:
    """Points of benchmark records for :class:`~costmodel.hardware.profiles.Rate`: flop/s against the
    op's arithmetic intensity (``key="flops"``), or byte/s against its traffic (``"bytes"``)."""
    def x(r: dict[str, Any]) -> float:
        return float(r["flops"]) / r["bytes"] if key == "flops" else float(r["bytes"])

    return tuple((x(r), r[key] / r["seconds"]) for r in rows if r["bytes"] > 0 and r[key] > 0)


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
