"""Which profile and spec a prediction uses: calibrated profiles on disk, else the datasheet.

* :func:`get_device`: the spec of a named device; ``"cpu"`` is this machine as calibrated.
* :func:`profile_for`: the rates predictions use for a device (a given file, a calibrated
  profile, else datasheet x :data:`~costmodel.hardware.profiles.DEFAULT_EFFICIENCY`).
* :func:`save_profile` / :func:`load_profile`: the JSON files ``costmodel calibrate``
  writes under :func:`profile_dir` (atomically; a damaged file is a clear error).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from costmodel.core.errors import CostModelError, ResultsFileError
from costmodel.core.jsonfile import write_json_atomically
from costmodel.hardware.devices import CPU, DeviceSpec, canonical_dtype, datasheet_device
from costmodel.hardware.profiles import DEFAULT_EFFICIENCY, DeviceProfile, ProfileNotFoundError, Rate


def get_device(name: str | DeviceSpec) -> DeviceSpec:
    """The spec of device ``name`` (a registry name or alias, case-insensitive).

    ``"cpu"`` is this machine as calibrated: it needs a profile written by
    ``costmodel calibrate`` (a :class:`~costmodel.hardware.profiles.ProfileNotFoundError`
    says so otherwise). Other names are looked up by
    :func:`~costmodel.hardware.devices.datasheet_device`.
    """
    if not isinstance(name, DeviceSpec) and str(name).strip().lower().replace(" ", "_") == CPU:
        return load_profile(CPU).spec()
    return datasheet_device(name)


def profile_dir() -> Path:
    """Where calibrated profiles live: ``$COSTMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/costmodel``,
    else ``~/.cache/costmodel``."""
    if os.environ.get("COSTMODEL_CACHE_DIR"):
        return Path(os.environ["COSTMODEL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "costmodel"


def profile_path(device: str, dtype: str = "fp32") -> Path:
    """The default file of the profile of ``device`` for ``dtype``."""
    return profile_dir() / f"profile-{device.lower()}-{canonical_dtype(dtype)}.json"


def save_profile(profile: DeviceProfile, path: str | Path | None = None) -> Path:
    """Write ``profile`` as JSON atomically (a temporary file in the same folder, then one
    ``os.replace``: a reader sees the old profile or the new one, never half a file); returns the path."""
    target = Path(path) if path is not None else profile_path(profile.device, profile.dtype)
    return write_json_atomically(target, profile.to_json())


def load_profile(device: str = CPU, dtype: str = "fp32", path: str | Path | None = None) -> DeviceProfile:
    """The calibrated profile of ``device`` (from ``path`` or :func:`profile_path`).

    A missing profile is a :class:`ProfileNotFoundError` saying how to make one; a file
    that is not a profile (not UTF-8, not JSON, truncated, the wrong shape) is a
    :class:`~costmodel.core.errors.ResultsFileError` naming it and what is wrong.
    """
    target = Path(path) if path is not None else profile_path(device, dtype)
    if not target.exists():
        raise ProfileNotFoundError(
            f"no calibrated profile for device {device!r} ({canonical_dtype(dtype)}) at {target}: "
            f"run `costmodel calibrate{_dtype_flag(dtype)}`"
            f" first (or pass --profile PATH)")
    data = _read_profile_json(target)
    if not isinstance(data, dict):
        raise ResultsFileError(target, f"holds a JSON {type(data).__name__}, expected a profile object; recalibrate")
    try:
        return DeviceProfile.from_json(data)
    except (CostModelError, KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ResultsFileError(target, f"is not a valid profile ({exc}); recalibrate") from None


def _read_profile_json(target: Path) -> Any:
    """The JSON value of a profile file; unreadable or corrupt is a :class:`ResultsFileError`."""
    try:
        return json.loads(target.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ResultsFileError(target, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ResultsFileError(target, "is not UTF-8 text: not a profile, or damaged; recalibrate") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(target, f"is not valid JSON ({exc.msg}: line {exc.lineno}); recalibrate") from None
    except RecursionError:
        raise ResultsFileError(target, "is not valid JSON (nested too deeply); recalibrate") from None


def _dtype_flag(dtype: str) -> str:
    name = canonical_dtype(dtype)
    return "" if name == "fp32" else f" --dtype {name}"


def spec_profile(spec: DeviceSpec, dtype: str = "fp32") -> DeviceProfile:
    """Rates from a datasheet: peak x :data:`DEFAULT_EFFICIENCY` (no calibration).

    Matmul-type kinds run at the ``dtype`` peak (Tensor Cores where the device has them),
    elementwise arithmetic at the fp32 peak, and every kind's traffic at the assumed
    fraction of the DRAM bandwidth.
    """
    dtype = canonical_dtype(dtype)
    peak = spec.peak(dtype).to("flop/s").magnitude
    fp32 = spec.peak("fp32").to("flop/s").magnitude if "fp32" in spec.peak_flops else peak
    bandwidth = DEFAULT_EFFICIENCY["bandwidth"][0] * spec.memory_bandwidth.to("byte/s").magnitude

    def both(rate: Rate) -> dict[str, Rate]:
        return {"forward": rate, "backward": rate}

    rates = {
        "matmul": both(Rate(flops=DEFAULT_EFFICIENCY["matmul"][0] * peak, bandwidth=bandwidth)),
        "attention": both(Rate(flops=DEFAULT_EFFICIENCY["attention"][0] * peak, bandwidth=bandwidth)),
        "conv": both(Rate(flops=DEFAULT_EFFICIENCY["conv"][0] * peak, bandwidth=bandwidth)),
        "elementwise": both(Rate(flops=DEFAULT_EFFICIENCY["elementwise_flops"][0] * fp32, bandwidth=bandwidth)),
    }
    return DeviceProfile(device=spec.name, dtype=dtype, rates=rates, overhead_s=DEFAULT_EFFICIENCY["overhead_s"][0],
                         source=f"{spec.description or spec.name} datasheet x default efficiencies (not calibrated)",
                         memory=spec.memory.to("byte").magnitude,
                         memory_bandwidth=spec.memory_bandwidth.to("byte/s").magnitude, peak_flops=peak)


def profile_for(device: str | DeviceSpec, dtype: str = "fp32", path: str | Path | None = None) -> DeviceProfile:
    """The profile predictions use: ``path``, else a calibrated file, else the datasheet's.

    ``"cpu"`` has no datasheet: without a calibration it is a :class:`ProfileNotFoundError`
    telling the user to run ``costmodel calibrate``.
    """
    name = device.name if isinstance(device, DeviceSpec) else str(device).strip().lower()
    if path is not None:
        profile = load_profile(path=path)
        names, wanted = {name}, name
        if name != CPU:
            try:
                spec = datasheet_device(device)
                names |= {spec.name.lower(), *spec.aliases}
                wanted = spec.name
            except CostModelError:  # a device only its profile knows (an unlisted GPU calibrated as "cuda")
                pass
        if profile.device.strip().lower() not in names:
            raise ResultsFileError(path, f"is a profile of device {profile.device!r}, not of the device asked for "
                                         f"({wanted!r}); calibrate that device or drop --profile")
        return profile
    if name == CPU:
        return load_profile(CPU, dtype)
    spec = datasheet_device(device)
    calibrated = profile_path(spec.name, dtype)
    if calibrated.exists():
        return load_profile(spec.name, dtype)
    return spec_profile(spec, dtype)


__all__ = ["get_device", "profile_dir", "profile_path", "save_profile", "load_profile", "spec_profile", "profile_for"]
