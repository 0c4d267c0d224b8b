"""Hardware as data: published peak rates, memory and links of accelerators, with units.

Every number of a built-in :class:`DeviceSpec` carries a pint unit and the document it
comes from (``spec.sources[field]``). Peak rates are the datasheet's **dense** figures:
NVIDIA lists Tensor Core rates "with sparsity", twice the dense rate; the dense half is
stored here. Interconnect bandwidths are the datasheet's total (both directions) per GPU;
:attr:`DeviceSpec.link_bandwidth` is one direction, the rate a ring all-reduce sees.

``"cpu"`` is this machine as calibrated by ``costmodel calibrate`` (see
:mod:`costmodel.hardware.calibrate`): its spec is built from the measured profile, so there is
nothing to look up until the calibration ran. Users add devices with
:func:`register_device` or from a TOML/JSON file (:func:`load_device_file`)::

    [devices.my_gpu]
    description = "My accelerator"
    memory = "48 GB"
    memory_bandwidth = "960 GB/s"
    interconnect_bandwidth = "64 GB/s"
    peak_flops = { fp32 = "90 TFLOP/s", bf16 = "360 TFLOP/s" }
    source = "vendor datasheet, 2024"

Examples
--------
>>> datasheet_device("h100").peak("bf16").to("TFLOP/s")
<Quantity(989.5, 'teraflop / second')>
>>> datasheet_device("a100").memory.to("GB")
<Quantity(80, 'gigabyte')>
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.quantities import parse_quantity
from costmodel.core.units import Quantity, ureg

#: canonical compute dtypes, and the spellings accepted for them
DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8")
DTYPE_ALIASES: dict[str, str] = {
    "float32": "fp32", "float": "fp32", "f32": "fp32", "tensorfloat32": "tf32",
    "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "f16": "fp16", "float8": "fp8",
}
#: bytes per element of each dtype as stored in memory (TF32 is stored as fp32)
ITEMSIZE: dict[str, int] = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

#: GPU generations, by CUDA compute capability ("" = none given): sm_70 Volta (V100), sm_75 Turing (T4),
#: sm_80 Ampere GA100 (A100), sm_86 Ampere GA10x (RTX 30xx, A10, A40), sm_89 Ada (RTX 40xx, L4), sm_90 Hopper
GENERATIONS: tuple[str, ...] = ("", "sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90")

_BYTE_UNIT = re.compile(r"(byte|bit|\bB\b|iB)")


def canonical_dtype(dtype: str) -> str:
    """``"bfloat16"`` -> ``"bf16"``; an unknown dtype is an error naming the known ones."""
    if not isinstance(dtype, str):
        raise InvalidConfigError("dtype", dtype, f"must be one of {', '.join(DTYPES)}")
    name = dtype.strip().lower().replace("torch.", "")
    name = DTYPE_ALIASES.get(name, name)
    if name not in DTYPES:
        raise UnknownPresetError("dtype", dtype, (*DTYPES, *DTYPE_ALIASES))
    return name


def as_quantity(field_name: str, value: Any, unit: str) -> Quantity:
    """``value`` (a pint quantity or a string such as ``"3.35 TB/s"``) checked against ``unit``.

    Bytes have their own dimension in :mod:`costmodel.core.units`, so ``"80"`` alone or
    ``"80 GB/s"`` for a capacity are rejected; byte units must also name bytes, not bits
    (``"80 GB"``, ``"3.35 TB/s"``).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidConfigError(field_name, value, f"must be a finite quantity with a unit, e.g. '80 {unit}'")
        raise InvalidConfigError(field_name, value, f"needs a unit, e.g. '{value} {unit}'")
    try:
        q = parse_quantity(field_name, value) if isinstance(value, str) else value  # the safe parser: no arithmetic
    except InvalidConfigError as exc:
        raise InvalidConfigError(field_name, value, f"cannot be parsed as a quantity in {unit}: {exc.reason}") from None
    if isinstance(q, ureg.Quantity) and q.unitless:
        raise InvalidConfigError(field_name, value, f"needs a unit, e.g. '{q.magnitude} {unit}'")
    if not isinstance(q, ureg.Quantity) or not q.is_compatible_with(unit):
        raise InvalidConfigError(field_name, value, f"must be a quantity in {unit}")
    if "byte" in unit and not _BYTE_UNIT.search(f"{q.units:D}"):
        raise InvalidConfigError(field_name, value, f"must name a byte unit, e.g. '80 GB' or '3.35 TB/s' ({unit})")
    try:
        finite = math.isfinite(float(q.magnitude))
    except (TypeError, ValueError, OverflowError):
        finite = False
    if not finite:
        raise InvalidConfigError(field_name, value, "must be a finite number with a unit")
    if not q.magnitude > 0:
        raise InvalidConfigError(field_name, value, "must be positive")
    return q


@dataclass(frozen=True, kw_only=True)
class DeviceSpec:
    """Published capabilities of one device.

    The Tensor Core rates of ``bf16``/``fp16`` are those **with FP32 accumulate** (what
    PyTorch's autocast runs). Data-centre GPUs quote that rate; GeForce cards quote twice
    it (their FP16-accumulate rate) as the headline figure, so the half is stored.

    Parameters
    ----------
    name : str
        Registry key (``"h100_sxm"``); ``aliases`` are other names that find it.
    peak_flops : mapping dtype -> quantity in flop/s
        Dense peak per compute dtype (``fp32`` CUDA-core rate; ``tf32``, ``bf16``,
        ``fp16``, ``fp8`` Tensor Core rates where the device has them).
    memory_bandwidth : quantity in byte/s
    memory : quantity in byte
        Device memory capacity.
    interconnect_bandwidth : quantity in byte/s, or None
        Total (both directions) GPU-to-GPU bandwidth per GPU, as datasheets list it.
    sources : mapping field -> citation
    kind : {"gpu", "cpu"}
    sm_count : int or None
        Streaming multiprocessors (GPUs): the tiles of a matrix product run in waves of
        ``sm_count`` (:mod:`costmodel.hardware.kernels`).
    clock : quantity in Hz, or None
        Boost clock the datasheet peak rates are quoted at.
    generation : str
        CUDA compute capability (``sm_70`` Volta, ``sm_75`` Turing, ``sm_80`` A100, ``sm_86``
        GeForce Ampere, ``sm_89`` Ada, ``sm_90`` Hopper): the kernel model's fitted
        constants are per generation; ``""`` for none.
    """

    name: str
    description: str = ""
    peak_flops: Mapping[str, Quantity]
    memory_bandwidth: Quantity
    memory: Quantity
    interconnect_bandwidth: Quantity | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    kind: str = "gpu"
    sm_count: int | None = None
    clock: Quantity | None = None
    generation: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise InvalidConfigError("name", self.name, "must be a non-empty name of letters, digits, _ . -")
        if not self.peak_flops:
            raise InvalidConfigError("peak_flops", self.peak_flops, "needs at least one dtype, e.g. fp32")
        peaks = {canonical_dtype(k): as_quantity(f"peak_flops.{k}", v, "flop/s") for k, v in self.peak_flops.items()}
        object.__setattr__(self, "peak_flops", peaks)
        object.__setattr__(self, "memory_bandwidth", as_quantity("memory_bandwidth", self.memory_bandwidth, "byte/s"))
        object.__setattr__(self, "memory", as_quantity("memory", self.memory, "byte"))
        if self.interconnect_bandwidth is not None:
            object.__setattr__(self, "interconnect_bandwidth",
                               as_quantity("interconnect_bandwidth", self.interconnect_bandwidth, "byte/s"))
        if self.kind not in ("gpu", "cpu"):
            raise InvalidConfigError("kind", self.kind, "must be 'gpu' or 'cpu'")
        object.__setattr__(self, "aliases", tuple(a.lower() for a in self.aliases))
        if self.sm_count is not None and (isinstance(self.sm_count, bool) or not isinstance(self.sm_count, int)
                                          or self.sm_count <= 0):
            raise InvalidConfigError("sm_count", self.sm_count, "must be a positive integer")
        if self.clock is not None:
            object.__setattr__(self, "clock", as_quantity("clock", self.clock, "Hz"))
        if self.generation not in GENERATIONS:
            raise InvalidConfigError("generation", self.generation, f"must be one of {', '.join(GENERATIONS)}")

    def peak(self, dtype: str = "fp32") -> Quantity:
        """Dense peak rate for ``dtype`` (flop/s); a dtype the device lacks is an error."""
        name = canonical_dtype(dtype)
        if name not in self.peak_flops:
            raise InvalidConfigError("dtype", dtype, f"{self.name} has no published {name} rate "
                                                     f"(it has: {', '.join(self.peak_flops)})")
        return self.peak_flops[name]

    @property
    def link_bandwidth(self) -> Quantity | None:
        """One direction of the interconnect: half the datasheet's bidirectional total."""
        return None if self.interconnect_bandwidth is None else self.interconnect_bandwidth / 2

    def ridge_point(self, dtype: str = "fp32") -> Quantity:
        """Arithmetic intensity (flop/byte) where the roofline turns from memory- to compute-bound."""
        ridge: Quantity = (self.peak(dtype) / self.memory_bandwidth).to("flop/byte")
        return ridge


_H100_DATASHEET = "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 SXM column; Tensor Core rates halved (datasheet lists with sparsity)"  # noqa: E501
_H200_DATASHEET = "NVIDIA H200 Tensor Core GPU datasheet (2024), H200 SXM column; Tensor Core rates halved (datasheet lists with sparsity)"  # noqa: E501
_A100_DATASHEET = "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 80GB SXM column; dense rates (sparse in parentheses there)"  # noqa: E501
_V100_DATASHEET = "NVIDIA Tesla V100 GPU datasheet (2020), V100 SXM2 column"
_H100_PCIE_DATASHEET = "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 PCIe column; Tensor Core rates halved (datasheet lists with sparsity)"  # noqa: E501
_A100_40_DATASHEET = "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 40GB SXM column; dense rates (sparse in parentheses there)"  # noqa: E501
_T4_DATASHEET = "NVIDIA T4 Tensor Core GPU datasheet (2019): FP32 8.1 TFLOPS, mixed precision (FP16/FP32) 65 TFLOPS, 320+ GB/s"  # noqa: E501
_GA102_WHITEPAPER = "GeForce datasheet: NVIDIA Ampere GA102 GPU Architecture whitepaper (2020), Table 9 (GeForce RTX 3090): FP16 Tensor TFLOPS with FP32 Accumulate 71 (dense), TF32 Tensor 35.6, FP32 35.6; 936 GB/s; 82 SMs, boost 1695 MHz"  # noqa: E501
_AD102_WHITEPAPER = "GeForce datasheet: NVIDIA Ada GPU Architecture whitepaper (2022), Appendix A, Table 2 (GeForce RTX 4090): FP16/BF16 Tensor TFLOPS with FP32 Accumulate 165.2 (dense), TF32 Tensor 82.6, FP32 82.6; 1008 GB/s; 128 SMs, boost 2520 MHz"  # noqa: E501
_GV100_WHITEPAPER = "NVIDIA Tesla V100 GPU Architecture whitepaper (2017), Table 1: 80 SMs, boost 1530 MHz (SXM2)"
_GA100_WHITEPAPER = "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), Table 3: 108 SMs, boost 1410 MHz"
_GH100_WHITEPAPER = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), Table 3: H100 SXM5 132 SMs, H100 PCIe 114 SMs; boost 1980 / 1755 MHz"  # noqa: E501
_TU104_WHITEPAPER = "NVIDIA Turing GPU Architecture whitepaper (2018), Appendix (Tesla T4): 40 SMs, boost 1590 MHz"
_AD104_L4 = "NVIDIA Ada GPU Architecture whitepaper (2022) / L4 product brief: 58 SMs, boost 2040 MHz"
_L4_DATASHEET = "NVIDIA L4 Tensor Core GPU datasheet (2023); Tensor Core rates halved (datasheet lists with sparsity)"


def _spec(name: str, description: str, source: str, *, peaks: dict[str, str], bandwidth: str, memory: str,
          link: str | None, aliases: tuple[str, ...], link_source: str | None = None, sm_count: int | None = None,
          clock: str | None = None, generation: str = "", sm_source: str | None = None) -> DeviceSpec:
    sources = {"peak_flops": source, "memory_bandwidth": source, "memory": source}
    if link is not None:
        sources["interconnect_bandwidth"] = link_source or source
    if sm_count is not None:
        sources["sm_count"] = sources["clock"] = sm_source or source
    return DeviceSpec(name=name, description=description,
                      peak_flops={k: as_quantity(f"peak_flops.{k}", v, "flop/s") for k, v in peaks.items()},
                      memory_bandwidth=as_quantity("memory_bandwidth", bandwidth, "byte/s"),
                      memory=as_quantity("memory", memory, "byte"),
                      interconnect_bandwidth=None if link is None else as_quantity("interconnect_bandwidth", link,
                                                                                   "byte/s"),
                      sources=sources, aliases=aliases, sm_count=sm_count,
                      clock=None if clock is None else as_quantity("clock", clock, "Hz"), generation=generation)


BUILTIN_DEVICES: tuple[DeviceSpec, ...] = (
    _spec("h100_sxm", "NVIDIA H100 SXM5 80GB", _H100_DATASHEET,
          peaks={"fp32": "67 TFLOP/s", "tf32": "494.5 TFLOP/s", "bf16": "989.5 TFLOP/s",
                 "fp16": "989.5 TFLOP/s", "fp8": "1979 TFLOP/s"},
          bandwidth="3.35 TB/s", memory="80 GB", link="900 GB/s",
          link_source=_H100_DATASHEET + ": NVLink 900 GB/s", aliases=("h100", "h100-sxm", "h100sxm"),
          sm_count=132, clock="1.98 GHz", generation="sm_90", sm_source=_GH100_WHITEPAPER),
    _spec("h100_pcie", "NVIDIA H100 PCIe 80GB", _H100_PCIE_DATASHEET,
          peaks={"fp32": "51.2 TFLOP/s", "tf32": "378 TFLOP/s", "bf16": "756 TFLOP/s",
                 "fp16": "756 TFLOP/s", "fp8": "1513 TFLOP/s"},
          bandwidth="2 TB/s", memory="80 GB", link="600 GB/s",
          link_source=_H100_PCIE_DATASHEET + ": NVLink bridge 600 GB/s", aliases=("h100-pcie",),
          sm_count=114, clock="1.755 GHz", generation="sm_90", sm_source=_GH100_WHITEPAPER),
    _spec("h200", "NVIDIA H200 SXM 141GB", _H200_DATASHEET,
          peaks={"fp32": "67 TFLOP/s", "tf32": "494.5 TFLOP/s", "bf16": "989.5 TFLOP/s",
                 "fp16": "989.5 TFLOP/s", "fp8": "1979 TFLOP/s"},
          bandwidth="4.8 TB/s", memory="141 GB", link="900 GB/s",
          link_source=_H200_DATASHEET + ": NVLink 900 GB/s", aliases=("h200_sxm", "h200-sxm"),
          sm_count=132, clock="1.98 GHz", generation="sm_90", sm_source=_GH100_WHITEPAPER),
    _spec("a100_80gb", "NVIDIA A100 SXM4 80GB", _A100_DATASHEET,
          peaks={"fp32": "19.5 TFLOP/s", "tf32": "156 TFLOP/s", "bf16": "312 TFLOP/s", "fp16": "312 TFLOP/s"},
          bandwidth="2039 GB/s", memory="80 GB", link="600 GB/s",
          link_source=_A100_DATASHEET + ": NVLink 600 GB/s", aliases=("a100", "a100-80gb", "a100_sxm"),
          sm_count=108, clock="1.41 GHz", generation="sm_80", sm_source=_GA100_WHITEPAPER),
    _spec("a100_40gb", "NVIDIA A100 SXM4 40GB", _A100_40_DATASHEET,
          peaks={"fp32": "19.5 TFLOP/s", "tf32": "156 TFLOP/s", "bf16": "312 TFLOP/s", "fp16": "312 TFLOP/s"},
          bandwidth="1555 GB/s", memory="40 GB", link="600 GB/s",
          link_source=_A100_40_DATASHEET + ": NVLink 600 GB/s", aliases=("a100-40gb",),
          sm_count=108, clock="1.41 GHz", generation="sm_80", sm_source=_GA100_WHITEPAPER),
    _spec("v100", "NVIDIA Tesla V100 SXM2 32GB", _V100_DATASHEET,
          peaks={"fp32": "15.7 TFLOP/s", "fp16": "125 TFLOP/s"},
          bandwidth="900 GB/s", memory="32 GB", link="300 GB/s",
          link_source=_V100_DATASHEET + ": NVLink 300 GB/s", aliases=("v100_sxm2", "v100-32gb", "tesla_v100"),
          sm_count=80, clock="1.53 GHz", generation="sm_70", sm_source=_GV100_WHITEPAPER),
    _spec("t4", "NVIDIA T4 16GB (PCIe)", _T4_DATASHEET,
          peaks={"fp32": "8.1 TFLOP/s", "fp16": "65 TFLOP/s"},
          bandwidth="320 GB/s", memory="16 GB", link="32 GB/s",
          link_source=_T4_DATASHEET + "; PCIe Gen3 x16 32 GB/s (no NVLink)", aliases=("tesla_t4",),
          sm_count=40, clock="1.59 GHz", generation="sm_75", sm_source=_TU104_WHITEPAPER),
    _spec("rtx3090", "NVIDIA GeForce RTX 3090 24GB", _GA102_WHITEPAPER,
          peaks={"fp32": "35.6 TFLOP/s", "tf32": "35.6 TFLOP/s", "bf16": "71 TFLOP/s", "fp16": "71 TFLOP/s"},
          bandwidth="936 GB/s", memory="24 GB", link="112.5 GB/s",
          link_source=_GA102_WHITEPAPER + "; NVLink (3rd gen, 4 x4 links) 112.5 GB/s", aliases=("rtx_3090", "3090"),
          sm_count=82, clock="1.695 GHz", generation="sm_86"),
    _spec("rtx4090", "NVIDIA GeForce RTX 4090 24GB", _AD102_WHITEPAPER,
          peaks={"fp32": "82.6 TFLOP/s", "tf32": "82.6 TFLOP/s", "bf16": "165.2 TFLOP/s", "fp16": "165.2 TFLOP/s",
                 "fp8": "330.3 TFLOP/s"},
          bandwidth="1008 GB/s", memory="24 GB", link="64 GB/s",
          link_source=_AD102_WHITEPAPER + "; PCIe Gen4 x16 64 GB/s (no NVLink)", aliases=("rtx_4090", "4090"),
          sm_count=128, clock="2.52 GHz", generation="sm_89"),
    _spec("l4", "NVIDIA L4 24GB (PCIe)", _L4_DATASHEET,
          peaks={"fp32": "30.3 TFLOP/s", "tf32": "60 TFLOP/s", "bf16": "121 TFLOP/s", "fp16": "121 TFLOP/s",
                 "fp8": "242.5 TFLOP/s"},
          bandwidth="300 GB/s", memory="24 GB", link="64 GB/s",
          link_source=_L4_DATASHEET + ": PCIe Gen4 x16 64 GB/s (no NVLink)", aliases=("nvidia_l4",),
          sm_count=58, clock="2.04 GHz", generation="sm_89", sm_source=_AD104_L4),
)

_REGISTRY: dict[str, DeviceSpec] = {spec.name: spec for spec in BUILTIN_DEVICES}

#: the name under which this machine's calibrated profile is looked up
CPU = "cpu"


def register_device(spec: DeviceSpec, *, replace: bool = False) -> DeviceSpec:
    """Add ``spec`` to the registry (``replace=True`` to overwrite a device of that name)."""
    if not isinstance(spec, DeviceSpec):
        raise InvalidConfigError("spec", spec, "must be a DeviceSpec")
    taken = _lookup_table()
    for key in (spec.name.lower(), *spec.aliases):
        if key == CPU:
            raise InvalidConfigError("name", key, "'cpu' is reserved for this machine as calibrated")
        if key in taken and not replace and taken[key].name != spec.name:
            raise InvalidConfigError("name", key, f"is already the name of device {taken[key].name!r}")
    if spec.name in _REGISTRY and not replace:
        raise InvalidConfigError("name", spec.name, "is already registered (pass replace=True to overwrite)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_device(name: str) -> None:
    """Remove a user-registered device (built-in devices stay)."""
    if any(spec.name == name for spec in BUILTIN_DEVICES):
        raise InvalidConfigError("name", name, "built-in devices cannot be removed")
    _REGISTRY.pop(name, None)


def _lookup_table() -> dict[str, DeviceSpec]:
    table: dict[str, DeviceSpec] = {}
    for spec in _REGISTRY.values():
        table[spec.name.lower()] = spec
        for alias in spec.aliases:
            table[alias] = spec
    return table


def list_devices() -> list[str]:
    """Registered device names (and ``"cpu"``), sorted."""
    return sorted([*_REGISTRY, CPU])


def datasheet_device(name: str | DeviceSpec) -> DeviceSpec:
    """The datasheet spec of device ``name`` (a registry name or alias, case-insensitive).

    An unknown name is an :class:`~costmodel.core.errors.UnknownPresetError` suggesting
    close names. ``"cpu"`` has no datasheet: its spec is measured
    (:func:`costmodel.hardware.lookup.get_device` reads the calibrated profile).
    """
    if isinstance(name, DeviceSpec):
        return name
    key = str(name).strip().lower().replace(" ", "_")
    if key == CPU:
        raise InvalidConfigError("device", name, "has no datasheet: its spec comes from `costmodel calibrate` "
                                                 "(costmodel.hardware.get_device)")
    table = _lookup_table()
    if key not in table:
        raise UnknownPresetError("device", str(name), [*table, CPU])
    return table[key]


__all__ = ["DeviceSpec", "BUILTIN_DEVICES", "GENERATIONS", "DTYPES", "ITEMSIZE", "CPU", "canonical_dtype",
           "as_quantity",
           "register_device", "unregister_device", "list_devices", "datasheet_device"]
