"""Device profiles: the achievable rate of every op kind, calibrated or from a datasheet.

The time of one kernel (one op, one direction) is the roofline bound

.. math:: t = \\max\\left(\\frac{F}{R_F},\\ \\frac{Q}{R_Q}\\right) + t_0

with ``F`` its FLOPs, ``Q`` the bytes it reads and writes, ``R_F`` and ``R_Q`` the
*achievable* compute rate and bandwidth of its op kind and direction, and ``t_0`` a
fixed per-kernel overhead (launch, dispatch). Williams, Waterman & Patterson, "Roofline:
an insightful visual performance model for multicore architectures", CACM 52(4), 2009.

Op kinds and the class each falls back to when a profile has no rate of its own for it:

==================  =============  ===============================================
kind                class          ops
==================  =============  ===============================================
``matmul``          matmul         linear layers, ``bmm``
``attention``       matmul         fused scaled-dot-product attention
``conv``            conv           dense convolutions
``conv_depthwise``  conv           grouped / depthwise convolutions on a channels-last
                                   input (ConvNeXt's blocks leave their maps so)
``conv_depthwise``  conv           the same on a contiguous NCHW input (EfficientNet,
``_nchw``                          MobileNet, RegNet); falls back to ``conv_depthwise``
``elementwise``     elementwise    activations, residual adds, scaling
``batch_norm``      elementwise    batch norm (training mode)
``layer_norm``      elementwise    layer norm
``pool``            elementwise    max / average pooling
``optimizer_*``     elementwise    the update of SGD, momentum SGD, Adam or AdamW
==================  =============  ===============================================

A :class:`DeviceProfile` holds the rates. Calibrated ones are measured by
``costmodel calibrate`` (:mod:`costmodel.hardware.calibrate`) and saved as JSON under
:func:`~costmodel.hardware.lookup.profile_dir`; for a device that was never calibrated,
:func:`~costmodel.hardware.lookup.profile_for`
derives rates from its datasheet (:mod:`costmodel.hardware.devices`) times the
:data:`DEFAULT_EFFICIENCY` fractions, each of which is an assumption stated with its
reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costmodel.core.errors import CostModelError, InvalidConfigError, UnknownPresetError
from costmodel.core.units import ureg
from costmodel.hardware.devices import CPU, DeviceSpec, canonical_dtype, datasheet_device

#: op kind -> op class (the rate used when a profile has none for the kind itself)
KIND_CLASS: dict[str, str] = {
    "matmul": "matmul", "attention": "matmul",
    "conv": "conv", "conv_depthwise": "conv", "conv_depthwise_nchw": "conv",
    "elementwise": "elementwise", "batch_norm": "elementwise", "layer_norm": "elementwise",
    "pool": "elementwise", "optimizer_sgd": "elementwise", "optimizer_momentum": "elementwise",
    "optimizer_adam": "elementwise", "optimizer_adamw": "elementwise",
}
#: op kind -> the kind whose rate it takes before its class's, where a profile has none of its own
#: (a profile calibrated before ``conv_depthwise_nchw`` existed: the depthwise rate is the closer one)
KIND_FALLBACK: dict[str, str] = {"conv_depthwise_nchw": "conv_depthwise"}
#: grouped convolution kinds (one rule for every memory format)
DEPTHWISE_KINDS: tuple[str, ...] = ("conv_depthwise", "conv_depthwise_nchw")
OP_CLASSES: tuple[str, ...] = ("matmul", "conv", "elementwise")
DIRECTIONS: tuple[str, ...] = ("forward", "backward")

#: Fractions of datasheet peaks assumed achievable on a GPU that was never calibrated.
#: Each is an assumption, stated with its reason; ``costmodel calibrate`` replaces them.
DEFAULT_EFFICIENCY: dict[str, tuple[float, str]] = {
    "matmul": (0.70, "Dao, 'FlashAttention-2', 2023, Sec. 1: optimized GEMM reaches up to 80-90% of the "
                     "theoretical maximum; 0.70 allows for the smaller GEMMs of vision models (assumption)"),
    "attention": (0.50, "Dao, 'FlashAttention-2', 2023, abstract: 50-73% of the theoretical maximum FLOP/s on "
                        "A100; the lower end (assumption)"),
    "conv": (0.50, "assumption: cuDNN convolutions of ImageNet models run below large-GEMM efficiency "
                   "(small channel counts, layout transforms); not from a measurement"),
    "elementwise_flops": (0.50, "assumption: elementwise arithmetic on CUDA cores at half the fp32 peak"),
    "bandwidth": (0.80, "assumption: streaming kernels reach about 80% of peak DRAM bandwidth "
                        "(STREAM-like copy/scale kernels)"),
    "overhead_s": (5e-6, "assumption: about 5 us of launch and framework overhead per kernel"),
}


class ProfileNotFoundError(CostModelError, FileNotFoundError):
    """No calibrated profile for a device that needs one (``"cpu"``)."""


@dataclass(frozen=True, kw_only=True)
class Rate:
    r"""Achievable compute rate (flop/s) and bandwidth (byte/s) of one op kind in one direction.

    ``flops`` may be ``inf`` for a kind whose time is all traffic (e.g. pooling).

    A calibrated rate may also carry curves measured on ops of different shapes:
    ``flops_curve`` holds ``(I, R_F)`` points against the op's arithmetic intensity
    :math:`I = F / Q` (flop per byte), ``bandwidth_curve`` holds ``(Q, R_Q)`` points
    against its traffic ``Q`` (bytes). Where a curve has two or more distinct abscissae,
    the rate of an op is the least-squares line through the points in the log of the
    abscissa,

    .. math:: R(x) = a + b \ln x, \quad \text{clamped to } [\min_i R_i, \max_i R_i],

    so a long, thin matrix product (ConvNeXt's stage-1 MLP: 96 features, low intensity)
    gets the lower rate measured on such shapes while a ViT projection (high intensity)
    keeps the high one, and a normalisation whose working set spills out of the cache
    gets the lower bandwidth measured at that size. The clamp keeps extrapolation inside
    what was measured.
    """

    flops: float
    bandwidth: float
    flops_curve: tuple[tuple[float, float], ...] = ()
    bandwidth_curve: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("flops", "bandwidth"):
            value = float(getattr(self, name))
            if not value > 0:
                raise InvalidConfigError(name, value, "an achievable rate must be positive")
            if name == "bandwidth" and not math.isfinite(value):  # flops may be inf: a kind that is all traffic
                raise InvalidConfigError(name, value, "an achievable bandwidth must be finite")
            object.__setattr__(self, name, value)
        for name in ("flops_curve", "bandwidth_curve"):
            points = tuple(sorted((float(q), float(r)) for q, r in getattr(self, name)))
            for q, r in points:
                if not (q > 0 and r > 0 and math.isfinite(q) and math.isfinite(r)):
                    raise InvalidConfigError(name, (q, r), "curve points need a positive size and rate")
            object.__setattr__(self, name, points)

    def flops_at(self, flops: float, nbytes: float) -> float:
        """Achievable flop/s of an op of ``flops`` moving ``nbytes`` (the curve's fit at its
        intensity ``flops / nbytes``, else ``flops``)."""
        return _fit(self.flops_curve, flops / nbytes if nbytes > 0 else 0.0, self.flops)

    def bandwidth_at(self, nbytes: float) -> float:
        """Achievable byte/s of an op that moves ``nbytes`` (the curve's fit, else ``bandwidth``)."""
        return _fit(self.bandwidth_curve, nbytes, self.bandwidth)

    def time(self, flops: float, nbytes: float) -> float:
        r"""Roofline time :math:`\max(F / R_F(I), Q / R_Q(Q))` in seconds (no overhead)."""
        return max(flops / self.flops_at(flops, nbytes), nbytes / self.bandwidth_at(nbytes))

    def bound(self, flops: float, nbytes: float) -> str:
        """``"compute"`` or ``"memory"``: which term of :meth:`time` is larger."""
        return "compute" if flops / self.flops_at(flops, nbytes) >= nbytes / self.bandwidth_at(nbytes) else "memory"


def _fit(points: tuple[tuple[float, float], ...], size: float, default: float) -> float:
    """The rate at ``size`` (intensity or bytes) from a least-squares line in its log, clamped to the measured rates."""
    if len({q for q, _ in points}) < 2 or not size > 0:
        return default
    xs = [math.log(q) for q, _ in points]
    ys = [r for _, r in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    value = my + slope * (math.log(size) - mx)
    return min(max(value, min(ys)), max(ys))


@dataclass(frozen=True, kw_only=True)
class DeviceProfile:
    """Achievable rates of one device for one compute dtype.

    Parameters
    ----------
    device : str
        Device name (``"cpu"`` or a :mod:`costmodel.hardware.devices` name).
    dtype : str
        Compute dtype the rates are for (``fp32``, ``bf16``, ...).
    rates : mapping kind or class -> {"forward": Rate, "backward": Rate}
    overhead_s : float
        Fixed time per kernel launch.
    source : str
        Where the numbers come from (a calibration run, or datasheet x default efficiencies).
    threads : int or None
        CPU threads the calibration used (predictions hold for the same count).
    clock : {"wall", "cpu"}
        What the calibration timed: wall-clock time, or process CPU time (used on a shared
        machine with one thread, where CPU time is the uncontended wall time).
    memory, memory_bandwidth, peak_flops : float or None
        Capacity (byte), best measured bandwidth (byte/s) and best matmul rate (flop/s):
        what :meth:`spec` reports for a calibrated CPU.
    measurements : list of dict
        The raw microbenchmark records of a calibration.
    """

    device: str
    dtype: str = "fp32"
    rates: Mapping[str, Mapping[str, Rate]]
    overhead_s: float = 0.0
    source: str = ""
    threads: int | None = None
    clock: str = "wall"
    memory: float | None = None
    memory_bandwidth: float | None = None
    peak_flops: float | None = None
    created: str = ""
    measurements: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", canonical_dtype(self.dtype))
        rates: dict[str, dict[str, Rate]] = {}
        for kind, by_direction in self.rates.items():
            if kind not in KIND_CLASS and kind not in OP_CLASSES:
                raise UnknownPresetError("op kind", kind, [*KIND_CLASS, *OP_CLASSES])
            rates[kind] = {}
            for direction, rate in by_direction.items():
                if direction not in DIRECTIONS:
                    raise InvalidConfigError(f"rates.{kind}", direction, "direction must be forward or backward")
                rates[kind][direction] = rate if isinstance(rate, Rate) else Rate(**rate)
        object.__setattr__(self, "rates", rates)
        if isinstance(self.overhead_s, bool) or not isinstance(self.overhead_s, (int, float)) \
                or not (math.isfinite(self.overhead_s) and self.overhead_s >= 0):
            raise InvalidConfigError("overhead_s", self.overhead_s, "must be a finite number of seconds >= 0")
        for name in ("memory", "memory_bandwidth", "peak_flops"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not (math.isfinite(value) and value > 0)):
                raise InvalidConfigError(name, value, "must be a finite positive number (or absent)")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads <= 0):
            raise InvalidConfigError("threads", self.threads, "must be a positive integer (or absent)")
        if self.clock not in ("wall", "cpu"):
            raise InvalidConfigError("clock", self.clock, "must be 'wall' or 'cpu'")
        object.__setattr__(self, "measurements", tuple(self.measurements))

    def rate(self, kind: str, direction: str = "forward") -> Rate:
        """The rate of op ``kind`` in ``direction``: its own, else its fallback kind's (:data:`KIND_FALLBACK`),
        else its class's; in a direction without a rate, forward's."""
        if kind not in KIND_CLASS:
            raise UnknownPresetError("op kind", kind, KIND_CLASS)
        for key in (kind, KIND_FALLBACK.get(kind, kind), KIND_CLASS[kind]):
            by_direction = self.rates.get(key)
            if by_direction:
                return by_direction.get(direction) or by_direction.get("forward") or next(iter(by_direction.values()))
        raise InvalidConfigError("profile", self.device, f"has no rate for op kind {kind!r} or its class "
                                                         f"{KIND_CLASS[kind]!r}")

    def op_time(self, kind: str, direction: str, flops: float, nbytes: float, launches: float = 1.0) -> float:
        r"""Roofline time of one op: :math:`\max(F/R_F, Q/R_Q) + n\,t_0`."""
        return self.rate(kind, direction).time(flops, nbytes) + launches * self.overhead_s

    def spec(self) -> DeviceSpec:
        """A :class:`DeviceSpec` of a calibrated device: measured, not published, numbers."""
        if self.peak_flops is None or self.memory_bandwidth is None or self.memory is None:
            return datasheet_device(self.device)
        note = f"measured by costmodel calibrate ({self.source}); achievable, not a datasheet peak"
        return DeviceSpec(name=self.device, description=f"{self.device} as calibrated", kind="cpu" if self.device == CPU
                          else "gpu", peak_flops={self.dtype: ureg.Quantity(self.peak_flops, "flop/s")},
                          memory_bandwidth=ureg.Quantity(self.memory_bandwidth, "byte/s"),
                          memory=ureg.Quantity(self.memory, "byte"),
                          sources={"peak_flops": note, "memory_bandwidth": note, "memory": "os.sysconf / device query"})

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device, "dtype": self.dtype, "source": self.source, "created": self.created,
            "threads": self.threads, "clock": self.clock, "overhead_s": self.overhead_s,
            "memory": self.memory, "memory_bandwidth": self.memory_bandwidth, "peak_flops": self.peak_flops,
            "rates": {k: {d: _rate_json(r) for d, r in v.items()} for k, v in self.rates.items()},
            "measurements": list(self.measurements),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceProfile:
        try:
            rates = {k: {d: _rate_from_json(f"rates.{k}.{d}", r) for d, r in v.items()}
                     for k, v in data["rates"].items()}
            return cls(device=data["device"], dtype=data.get("dtype", "fp32"), rates=rates,
                       overhead_s=float(data.get("overhead_s", 0.0)), source=data.get("source", ""),
                       threads=data.get("threads"), clock=data.get("clock", "wall"), memory=data.get("memory"),
                       memory_bandwidth=data.get("memory_bandwidth"), peak_flops=data.get("peak_flops"),
                       created=data.get("created", ""), measurements=tuple(data.get("measurements", ())))
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidConfigError("profile", "JSON", f"has an unexpected shape: {exc}") from exc


def _rate_from_json(where: str, r: Mapping[str, Any]) -> Rate:
    """One rate of a profile file; a bad value is an error naming its place (``rates.matmul.forward.bandwidth``)."""
    try:
        return Rate(flops=_inf(r["flops"]), bandwidth=r["bandwidth"],
                    flops_curve=tuple(map(tuple, r.get("flops_curve", ()))),
                    bandwidth_curve=tuple(map(tuple, r.get("bandwidth_curve", ()))))
    except InvalidConfigError as exc:
        raise InvalidConfigError(f"{where}.{exc.field}", exc.value, exc.reason) from None


def _rate_json(rate: Rate) -> dict[str, Any]:
    out: dict[str, Any] = {"flops": _finite(rate.flops), "bandwidth": rate.bandwidth}
    if rate.flops_curve:
        out["flops_curve"] = [list(p) for p in rate.flops_curve]
    if rate.bandwidth_curve:
        out["bandwidth_curve"] = [list(p) for p in rate.bandwidth_curve]
    return out


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def _inf(x: float | None) -> float:
    return math.inf if x is None else float(x)


__all__ = ["KIND_CLASS", "KIND_FALLBACK", "DEPTHWISE_KINDS", "OP_CLASSES", "DIRECTIONS", "DEFAULT_EFFICIENCY",
           "Rate", "DeviceProfile", "ProfileNotFoundError"]
