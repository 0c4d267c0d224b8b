"""Per-op roofline time, device profiles (datasheet-derived and calibrated), and the calibration."""

import json
import math

import pytest

from costmodel.core.errors import InvalidConfigError, ResultsFileError, UnknownPresetError
from costmodel.hardware import calibrate
from costmodel.hardware.lookup import get_device, load_profile, profile_for, save_profile, spec_profile
from costmodel.hardware.profiles import DEFAULT_EFFICIENCY, KIND_CLASS, DeviceProfile, Rate
from costmodel.hardware.roofline import Op, time_ops


def test_rate_is_the_larger_of_compute_and_traffic():
    r = Rate(flops=1e12, bandwidth=1e11)
    # 2e9 FLOP / 1e12 = 2 ms; 1e8 B / 1e11 = 1 ms -> compute-bound, 2 ms
    assert r.time(2e9, 1e8) == pytest.approx(2e-3) and r.bound(2e9, 1e8) == "compute"
    # 1e9 FLOP -> 1 ms; 5e8 B -> 5 ms -> memory-bound
    assert r.time(1e9, 5e8) == pytest.approx(5e-3) and r.bound(1e9, 5e8) == "memory"
    with pytest.raises(InvalidConfigError, match="must be positive"):
        Rate(flops=0, bandwidth=1)


def test_time_ops_adds_the_per_launch_overhead():
    profile = DeviceProfile(device="x", rates={"matmul": {"forward": Rate(flops=1e9, bandwidth=1e9)},
                                               "elementwise": {"forward": Rate(flops=1e9, bandwidth=1e8)}},
                            overhead_s=1e-3)
    ops = [Op(path="a", kind="matmul", direction="forward", flops=2e9, bytes=1e6, launches=3),
           Op(path="b", kind="batch_norm", direction="backward", flops=0, bytes=1e8)]
    timed = time_ops(ops, profile)
    # a: 2 s + 3 ms; b: falls back to the elementwise class and to its forward rate: 1 s + 1 ms
    assert [t.seconds for t in timed.ops] == pytest.approx([2.003, 1.001])
    assert timed.seconds == pytest.approx(3.004)
    assert timed.by("class") == pytest.approx({"matmul": 2.003, "elementwise": 1.001})
    assert timed.bottleneck == "compute"


def test_profile_without_the_kind_or_its_class_is_an_error():
    profile = DeviceProfile(device="x", rates={"matmul": {"forward": Rate(flops=1, bandwidth=1)}})
    with pytest.raises(InvalidConfigError, match="no rate for op kind 'conv'"):
        profile.rate("conv")
    with pytest.raises(UnknownPresetError, match="unknown op kind"):
        profile.rate("fft")


def test_nchw_depthwise_takes_its_own_rate_else_the_channels_last_one_else_the_class():
    dense, nhwc, nchw = Rate(flops=50, bandwidth=1), Rate(flops=20, bandwidth=1), Rate(flops=5, bandwidth=1)
    full = DeviceProfile(device="x", rates={"conv": {"forward": dense}, "conv_depthwise": {"forward": nhwc},
                                            "conv_depthwise_nchw": {"forward": nchw}})
    assert (full.rate("conv"), full.rate("conv_depthwise"), full.rate("conv_depthwise_nchw")) == (dense, nhwc, nchw)
    # a profile calibrated before the NCHW kind existed: the depthwise rate, not the dense one
    older = DeviceProfile(device="x", rates={"conv": {"forward": dense}, "conv_depthwise": {"forward": nhwc}})
    assert older.rate("conv_depthwise_nchw", "backward") == nhwc
    assert DeviceProfile(device="x", rates={"conv": {"forward": dense}}).rate("conv_depthwise_nchw") == dense


def test_spec_profile_is_peak_times_the_stated_efficiencies():
    spec = get_device("a100")
    p = spec_profile(spec, "bf16")
    assert p.rate("matmul").flops == pytest.approx(DEFAULT_EFFICIENCY["matmul"][0] * 312e12)
    assert p.rate("conv_depthwise").flops == pytest.approx(DEFAULT_EFFICIENCY["conv"][0] * 312e12)
    assert p.rate("layer_norm").bandwidth == pytest.approx(DEFAULT_EFFICIENCY["bandwidth"][0] * 2039e9)
    # elementwise arithmetic runs on the CUDA cores: the fp32 peak, not the Tensor Core one
    assert p.rate("elementwise").flops == pytest.approx(DEFAULT_EFFICIENCY["elementwise_flops"][0] * 19.5e12)
    assert "not calibrated" in p.source
    assert all(reason for _, reason in DEFAULT_EFFICIENCY.values())


def test_profile_json_round_trip_and_lookup(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path))
    p = DeviceProfile(device="cpu", dtype="float32", rates={"pool": {"forward": Rate(flops=math.inf, bandwidth=2e9)},
                                                           "matmul": {"backward": Rate(flops=5e10, bandwidth=1e10)}},
                      overhead_s=3e-6, threads=1, clock="cpu", source="test")
    path = save_profile(p)
    assert path.parent == tmp_path and json.loads(path.read_text())["rates"]["pool"]["forward"]["flops"] is None
    back = load_profile("cpu")
    assert back.rates == p.rates and back.overhead_s == 3e-6 and back.clock == "cpu"
    assert profile_for("cpu").dtype == "fp32"
    # a calibrated GPU profile wins over the datasheet
    assert "not calibrated" in profile_for("h100").source
    save_profile(DeviceProfile(device="h100_sxm", rates={"matmul": {"forward": Rate(flops=1, bandwidth=1)}},
                               source="calibrated here"))
    assert profile_for("H100").source == "calibrated here"


def test_bad_profiles_are_clear_errors(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{")
    with pytest.raises(ResultsFileError, match=r"p\.json: is not valid JSON"):
        load_profile(path=bad)
    bad.write_text('{"device": "cpu"}')
    with pytest.raises(ResultsFileError, match="unexpected shape"):
        load_profile(path=bad)
    with pytest.raises(UnknownPresetError):
        DeviceProfile(device="x", rates={"fft": {"forward": Rate(flops=1, bandwidth=1)}})


def _record(kind, direction, label, flops, nbytes, seconds):
    return {"kind": kind, "direction": direction, "label": label, "flops": flops, "bytes": nbytes,
            "seconds": seconds}


def test_profile_from_records_sums_work_over_time():
    records = [
        _record("matmul", "forward", "a", 4e9, 1e6, 0.1), _record("matmul", "forward", "b", 2e9, 1e6, 0.1),
        _record("elementwise", "forward", "relu", 1e6, 8e8, 0.1), _record("elementwise", "forward", "add", 1e6,
                                                                          1.2e9, 0.1),
        _record("elementwise", "forward", "gelu", 5e8, 8e8, 0.2),
        _record("batch_norm", "backward", "bn", 0, 3e8, 0.1),
        _record("overhead", "forward", "tiny", 0, 0, 4e-6),
    ]
    p = calibrate.profile_from_records(records, device="cpu", dtype="fp32", threads=1, clock="cpu")
    # matmul: 6e9 FLOP in 0.2 s = 30 GFLOP/s; its memory roof is the relu+add stream: 2e9 B / 0.2 s
    assert p.rate("matmul").flops == pytest.approx(3e10)
    assert p.rate("matmul").bandwidth == pytest.approx(1e10)
    # elementwise: bandwidth from relu and add, arithmetic rate from gelu: 5e8 / 0.2 s
    assert p.rate("elementwise").bandwidth == pytest.approx(1e10)
    assert p.rate("elementwise").flops == pytest.approx(2.5e9)
    assert p.rate("batch_norm", "backward").bandwidth == pytest.approx(3e9)
    assert p.rate("batch_norm", "backward").flops == math.inf
    assert p.overhead_s == pytest.approx(4e-6) and p.peak_flops == pytest.approx(4e10)


def test_every_benchmarked_kind_is_a_known_kind():
    pytest.importorskip("torch")
    kinds = {b.kind for b in calibrate.benchmarks(scale=1)}
    assert kinds <= set(KIND_CLASS)
    assert {"matmul", "conv", "conv_depthwise", "attention", "elementwise", "batch_norm", "layer_norm", "pool",
            "optimizer_adamw"} <= kinds


def test_measure_uses_the_requested_clock():
    samples = calibrate.measure(lambda: sum(range(1000)), repeats=3, warmup=1, clock="cpu")
    assert len(samples) == 3 and samples == sorted(samples) and all(s >= 0 for s in samples)
    with pytest.raises(InvalidConfigError, match="clock"):
        calibrate.measure(lambda: None, clock="sundial")


def test_a_short_calibration_runs_and_reports_progress(monkeypatch):
    torch = pytest.importorskip("torch")
    small = [b for b in calibrate.benchmarks(scale=1) if b.label in ("linear 197x384 -> 1536", "relu", "add")]
    monkeypatch.setattr(calibrate, "benchmarks", lambda device, dtype, scale: small)
    seen = []
    threads = torch.get_num_threads()
    try:
        p = calibrate.run_calibration(threads=1, repeats=1, progress=lambda i, n, label, result: seen.append((i, n)))
    finally:
        torch.set_num_threads(threads)
    assert seen[-1] == (len(small) + 1, len(small) + 1)  # the overhead benchmark comes last
    assert p.threads == 1 and p.clock == "cpu" and p.rate("matmul").flops > 1e8
    assert len(p.measurements) == len(small) + 1


def test_cli_calibrate_writes_a_profile_that_plan_then_uses(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    from costmodel.cli import main

    keep = ("linear 197x384 -> 1536", "conv 3x3/1 64->64 g1 @56 b1", "relu", "add")
    small = [b for b in calibrate.benchmarks(scale=1) if b.label in keep]
    monkeypatch.setattr(calibrate, "benchmarks", lambda device, dtype, scale: small)
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path))
    threads = torch.get_num_threads()
    try:
        assert main(["calibrate", "--threads", "1", "--repeats", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr()
    n = len(small) + 1  # the benchmarks kept (relu and add at two sizes) and the overhead benchmark
    assert f" 1/{n}]" in out.err and f"{n}/{n}] overhead" in out.err and "profile written to" in out.out
    profile = load_profile("cpu")
    assert profile.threads == 1 and profile.rate("matmul").flops > 1e8
    # batch norm and pooling were not measured: they fall back to the elementwise class
    assert main(["plan", "resnet18", "--device", "cpu", "--batch", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step_time_s"] > 0


def test_time_results_merge_by_case_and_keep_other_sections(tmp_path):
    pytest.importorskip("torch")
    from costmodel.validation.timing import TimeRecord, records_from_file, write_time_results
    from costmodel.validation.timing_report import markdown_table

    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"memory": {"records": [1, 2]}}))
    profile = DeviceProfile(device="cpu", rates={"matmul": {"forward": Rate(flops=1e9, bandwidth=1e9)}}, threads=1,
                            clock="cpu")

    def rec(model, measured, dtype="fp32"):
        return TimeRecord(model=model, batch=8, device="cpu", optimizer="adamw", predicted_step_s=1.1,
                          measured_step_s=measured, predicted_forward_s=0.3, measured_forward_s=0.25, dtype=dtype)

    write_time_results([rec("a", 1.0), rec("b", 2.0)], profile, path=path)
    data = write_time_results([rec("a", 1.25), rec("a", 1.0, dtype="bf16")], profile, path=path)
    data = json.loads(path.read_text())
    assert data["memory"] == {"records": [1, 2]}
    rows = {(r["model"], r["dtype"]): r["measured_step_s"] for r in data["time"]["records"]}
    assert rows == {("a", "fp32"): 1.25, ("b", "fp32"): 2.0, ("a", "bf16"): 1.0}
    # |1.1 - 1.25| / 1.25 = 0.12, |1.1 - 2| / 2 = 0.45, |1.1 - 1| / 1 = 0.1
    assert data["time"]["summary"]["median_abs_error"] == pytest.approx(0.12)
    assert data["time"]["summary"]["max_abs_error"] == pytest.approx(0.45)
    table = markdown_table(records_from_file(path))
    assert "| a | 8 |" in table and "+10.0%" in table


def test_measure_step_times_a_real_training_step():
    pytest.importorskip("torch")
    from costmodel.validation.timing import measure_step

    from costmodel.models.convnet import ConvNetConfig

    config = ConvNetConfig(channels=(4, 8), image_size=16, num_classes=10)
    out = measure_step(config, 2, repeats=3, warmup=1, clock="cpu")
    assert len(out["step_s"]) == 3 and out["step_s"] == sorted(out["step_s"])
    assert 0 < out["forward_s"][0] <= out["step_s"][-1]


def test_a_rate_curve_interpolates_in_log_intensity_and_clamps_to_the_measured_rates():
    # two points: 40 GFLOP/s at 25 flop/byte, 100 GFLOP/s at 400 flop/byte. The least-squares
    # line through two points is the line through them: at 100 flop/byte (halfway in ln I)
    # the rate is 70 GFLOP/s.
    r = Rate(flops=90e9, bandwidth=20e9, flops_curve=((400.0, 100e9), (25.0, 40e9)))
    assert r.flops_at(1e9, 1e7) == pytest.approx(70e9)  # 1 GFLOP over 10 MB: 100 flop/byte
    assert r.flops_at(1e9, 1e6) == pytest.approx(100e9)  # 1000 flop/byte: clamped to the best measured rate
    assert r.flops_at(1e9, 1e9) == pytest.approx(40e9)  # 1 flop/byte: nor below the worst
    # the time of that 100 flop/byte op is 1e9 / 70e9 s (compute-bound: 1e7 / 20e9 is smaller)
    assert r.time(1e9, 1e7) == pytest.approx(1 / 70)
    # without a curve (or with one abscissa only) the scalar rate is used
    assert Rate(flops=90e9, bandwidth=20e9, flops_curve=((100.0, 50e9),)).flops_at(1e9, 1e6) == 90e9
    # the bandwidth curve is against traffic: 30 GB/s at 1 MB, 10 GB/s at 100 MB -> 20 GB/s at 10 MB
    r = Rate(flops=90e9, bandwidth=20e9, bandwidth_curve=((1e6, 30e9), (1e8, 10e9)))
    assert r.bandwidth_at(1e7) == pytest.approx(20e9)
    with pytest.raises(InvalidConfigError, match="flops_curve"):
        Rate(flops=1.0, bandwidth=1.0, flops_curve=((0.0, 1.0), (1.0, 2.0)))


def test_size_curves_survive_a_json_round_trip():
    r = Rate(flops=90e9, bandwidth=20e9, bandwidth_curve=((1e6, 30e9), (1e8, 10e9)))
    p = DeviceProfile(device="cpu", rates={"elementwise": {"forward": r}})
    back = DeviceProfile.from_json(json.loads(json.dumps(p.to_json())))
    assert back.rate("elementwise").bandwidth_at(1e7) == pytest.approx(20e9)
