"""Device specs as data: datasheet numbers with units and sources, lookup, user devices, errors."""

import json

import pytest

from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.core.units import ureg
from costmodel.hardware.device_files import load_device_file
from costmodel.hardware.devices import (
    BUILTIN_DEVICES,
    DeviceSpec,
    as_quantity,
    canonical_dtype,
    list_devices,
    register_device,
    unregister_device,
)
from costmodel.hardware.lookup import get_device, save_profile
from costmodel.hardware.profiles import DeviceProfile, ProfileNotFoundError, Rate

# Expected values typed from the datasheets (not from costmodel.hardware.devices):
# * NVIDIA H100 Tensor Core GPU datasheet, H100 SXM: FP32 67 TFLOPS, BF16 Tensor Core 1,979
#   TFLOPS "with sparsity" (dense 989.5), 80 GB, 3.35 TB/s, NVLink 900 GB/s.
# * NVIDIA H200 datasheet, H200 SXM: 141 GB HBM3e, 4.8 TB/s.
# * NVIDIA A100 datasheet, A100 80GB SXM: FP32 19.5, TF32 156 (312 sparse), BF16 312 TFLOPS,
#   2,039 GB/s, NVLink 600 GB/s.
# * NVIDIA V100 datasheet, V100 SXM2: FP32 15.7 TFLOPS, Tensor 125 TFLOPS, 900 GB/s, 32 GB.
# * NVIDIA L4 datasheet: FP32 30.3 TFLOPS, FP16 Tensor Core 242 TFLOPS with sparsity (121
#   dense), 24 GB, 300 GB/s.
DATASHEET = [
    ("h100", "fp32", 67e12), ("h100", "bf16", 1979e12 / 2), ("h100", "fp8", 3958e12 / 2),
    ("h200", "bf16", 1979e12 / 2), ("a100", "fp32", 19.5e12), ("a100", "tf32", 312e12 / 2),
    ("a100", "bf16", 312e12), ("v100", "fp32", 15.7e12), ("v100", "fp16", 125e12), ("l4", "fp16", 242e12 / 2),
]
MEMORY = [("h100", 80e9, 3.35e12), ("h200", 141e9, 4.8e12), ("a100", 80e9, 2039e9), ("v100", 32e9, 900e9),
          ("l4", 24e9, 300e9)]


@pytest.mark.parametrize("name, dtype, flops", DATASHEET)
def test_peak_rates_are_the_dense_datasheet_figures(name, dtype, flops):
    assert get_device(name).peak(dtype).to("flop/s").magnitude == pytest.approx(flops, rel=1e-9)


@pytest.mark.parametrize("name, memory, bandwidth", MEMORY)
def test_memory_and_bandwidth_carry_byte_units(name, memory, bandwidth):
    spec = get_device(name)
    assert spec.memory.to("byte").magnitude == pytest.approx(memory)
    assert spec.memory_bandwidth.to("byte/s").magnitude == pytest.approx(bandwidth)


@pytest.mark.parametrize("spec", BUILTIN_DEVICES, ids=lambda s: s.name)
def test_every_builtin_number_cites_a_source(spec):
    for key in ("peak_flops", "memory_bandwidth", "memory", "interconnect_bandwidth"):
        assert "datasheet" in spec.sources[key].lower()
    assert all(q.is_compatible_with("flop/s") for q in spec.peak_flops.values())


def test_link_bandwidth_is_one_direction_of_the_nvlink_total():
    # H100 datasheet: NVLink 900 GB/s is the bidirectional total, 450 GB/s each way.
    assert get_device("h100").link_bandwidth.to("GB/s").magnitude == pytest.approx(450)


def test_ridge_point_hand_computed():
    # 989.5 TFLOP/s / 3.35 TB/s = 295.37 FLOP per byte
    assert get_device("h100_sxm").ridge_point("bf16").magnitude == pytest.approx(989.5 / 3.35)


def test_lookup_is_case_insensitive_with_aliases():
    assert get_device("H100").name == get_device("h100-sxm").name == "h100_sxm"
    assert get_device("A100").name == "a100_80gb"
    assert "cpu" in list_devices() and "l4" in list_devices()


def test_unknown_device_suggests_close_names():
    with pytest.raises(UnknownPresetError, match=r"unknown device 'h10'.*Did you mean h100"):
        get_device("h10")


def test_missing_dtype_is_a_clear_error():
    with pytest.raises(InvalidConfigError, match="v100 has no published bf16 rate"):
        get_device("v100").peak("bfloat16")
    with pytest.raises(UnknownPresetError, match="unknown dtype 'fp13'"):
        canonical_dtype("fp13")
    assert canonical_dtype("bfloat16") == "bf16" and canonical_dtype("torch.float16") == "fp16"


@pytest.mark.parametrize("value, unit, message", [
    ("80", "byte", "needs a unit"),
    (80, "byte", "needs a unit"),
    ("80 GB/s", "byte", "must be a quantity in byte"),
    ("3 TFLOP", "flop/s", "must be a quantity in flop/s"),
    ("-1 GB", "byte", "must be positive"),
    ("eighty GB", "byte", "cannot be parsed"),
])
def test_quantities_need_the_right_unit(value, unit, message):
    with pytest.raises(InvalidConfigError, match=message):
        as_quantity("x", value, unit)


def test_register_device_by_call_then_look_it_up():
    spec = DeviceSpec(name="test_accel", peak_flops={"fp32": "10 TFLOP/s", "bfloat16": "40 TFLOP/s"},
                      memory_bandwidth="1 TB/s", memory="16 GiB", interconnect_bandwidth="100 GB/s",
                      sources={"peak_flops": "made up for a test"}, aliases=("TACCEL",))
    try:
        register_device(spec)
        found = get_device("taccel")
        assert found.peak("bf16").to("TFLOP/s").magnitude == pytest.approx(40)
        assert found.memory.to("byte").magnitude == 16 * 2**30
        with pytest.raises(InvalidConfigError, match="already registered"):
            register_device(spec)
    finally:
        unregister_device("test_accel")
    with pytest.raises(UnknownPresetError):
        get_device("test_accel")


def test_cpu_and_builtin_names_are_protected():
    with pytest.raises(InvalidConfigError, match="reserved"):
        register_device(DeviceSpec(name="cpu", peak_flops={"fp32": "1 TFLOP/s"}, memory_bandwidth="1 GB/s",
                                   memory="1 GB"))
    with pytest.raises(InvalidConfigError, match="built-in"):
        unregister_device("h100_sxm")


def test_load_device_file_toml_and_json(tmp_path):
    toml = tmp_path / "devices.toml"
    toml.write_text('[devices.toml_gpu]\nmemory = "48 GB"\nmemory_bandwidth = "960 GB/s"\n'
                    'peak_flops = { fp32 = "90 TFLOP/s" }\nsource = "vendor sheet"\n')
    js = tmp_path / "devices.json"
    js.write_text(json.dumps({"devices": {"json_gpu": {"memory": "8 GiB", "memory_bandwidth": "200 GB/s",
                                                       "peak_flops": {"fp16": "50 TFLOP/s"}}}}))
    try:
        (a,) = load_device_file(toml)
        (b,) = load_device_file(js)
        assert get_device("toml_gpu").memory.to("GB").magnitude == pytest.approx(48)
        assert a.sources["peak_flops"] == "vendor sheet"
        assert get_device("json_gpu").peak("float16").to("TFLOP/s").magnitude == pytest.approx(50)
        assert b.link_bandwidth is None
    finally:
        unregister_device("toml_gpu")
        unregister_device("json_gpu")


@pytest.mark.parametrize("content, message", [
    ('{"devices": {"x": {"memory": "8 GB", "peak_flops": {"fp32": "1 TFLOP/s"}}}}',
     "memory_bandwidth=None: is required"),
    ('{"devices": {"x": {"memory": "8", "memory_bandwidth": "1 GB/s", "peak_flops": {"fp32": "1 TFLOP/s"}}}}',
     "memory=.8.: needs a unit"),
    ('{"devices": {"x": {"memory": "8 GB", "memory_bandwidth": "1 GB/s", "peak_flops": {"fp32": "1 TFLOP/s"},'
     ' "colour": "red"}}}', "unknown keys"),
    ('{"gpus": {}}', "needs a non-empty table 'devices'"),
    ("{not json", "is not valid"),
])
def test_bad_device_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidConfigError, match=message):
        load_device_file(path)


def test_cpu_needs_a_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path))
    with pytest.raises(ProfileNotFoundError, match="run `costmodel calibrate"):
        get_device("cpu")
    rate = Rate(flops=5e10, bandwidth=2e10)
    save_profile(DeviceProfile(device="cpu", rates={"matmul": {"forward": rate}}, memory=16 * 2**30,
                               memory_bandwidth=2e10, peak_flops=5e10, source="test"))
    spec = get_device("cpu")
    assert spec.kind == "cpu" and spec.peak("fp32").to("GFLOP/s").magnitude == pytest.approx(50)
    assert "measured" in spec.sources["peak_flops"]
    assert ureg.Quantity(spec.memory).to("GiB").magnitude == pytest.approx(16)
