"""Results files (atomic writes, checked reads) and validation runs that run out of memory.

Every writer of ``validation/`` and the profile writer go through a temporary file in the
same folder and one ``os.replace``; every reader turns a corrupt or wrongly shaped file
into one clear error naming the file. A case of a FLOP, memory or time validation run that
runs out of memory is recorded as such and the run goes on with the other cases.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import costmodel.validation.memory_report as memory_report
import costmodel.validation.results_io as results_io
import costmodel.validation.timing as timing
import pytest
import torch
from costmodel.validation import convergence, outcomes
from costmodel.validation.memory_report import MemoryRecord, format_memory_table, run_memory_validation
from costmodel.validation.report import ValidationRecord, read_results, records_from_results, write_results
from costmodel.validation.timing import TimeRecord, records_from_file, write_time_results
from costmodel.validation.timing_report import markdown_table

from costmodel.core.errors import CostModelError, InvalidConfigError, ResultsFileError
from costmodel.hardware.device_files import load_device_file
from costmodel.hardware.lookup import load_profile, save_profile
from costmodel.hardware.profiles import DeviceProfile, Rate
from costmodel.models import ConvNetConfig

TINY = ConvNetConfig(channels=(4,), image_size=8, num_classes=3, norm="none", pool="none")
PROFILE = DeviceProfile(device="cpu", rates={"matmul": {"forward": Rate(flops=1e9, bandwidth=1e9)}}, threads=1,
                        clock="cpu")


def flops_record(preset: str = "m", **changes) -> ValidationRecord:
    return ValidationRecord(**{"preset": preset, "device": "cpu", "batch": 1, "quantity": "params", "predicted": 7,
                               "measured": 7, "rel_error": 0.0, **changes})


def memory_record(batch: int = 1, **changes) -> MemoryRecord:
    return MemoryRecord(**{"preset": "m", "device": "cpu", "batch": batch, "optimizer": "sgd", "dtype": "float32",
                           "checkpoint": False, "quantity": "peak_training_bytes", "method": "rss", "predicted": 100,
                           "measured": 110, "rel_error": -1 / 11, **changes})


def time_record(model: str = "a", **changes) -> TimeRecord:
    return TimeRecord(**{"model": model, "batch": 8, "device": "cpu", "optimizer": "adamw", "predicted_step_s": 1.1,
                         "measured_step_s": 1.0, "predicted_forward_s": 0.3, "measured_forward_s": 0.25,
                         "round_errors": (0.1,), "breakdown": {"matmul": 0.5}, **changes})


# Each writer, given a path: the file it writes, through the one atomic helper.
WRITERS = {
    "flops": lambda path: write_results([flops_record()], "cpu", path),
    "memory": lambda path: memory_report.write_memory_results([memory_record()], "cpu", path),
    "time": lambda path: write_time_results([time_record()], PROFILE, path=path),
    "convergence": lambda path: convergence.write_results({"curves": [], "seed": 1}, path),
    "profile": lambda path: save_profile(PROFILE, path),
}


def test_the_doctests_of_the_helpers():
    for module in (results_io, outcomes):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_writer_replaces_the_file_atomically(writer, tmp_path, monkeypatch):
    path = tmp_path / "cpu.json"
    WRITERS[writer](path)
    path.chmod(0o644)
    before = path.read_text()
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: replaced.append((src, dst)) or real_replace(src, dst))
    WRITERS[writer](path)
    ((src, dst),) = replaced
    assert Path(src).parent == tmp_path and Path(dst) == path  # a temporary file in the same folder
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)  # not mkstemp's private 0o600
    json.loads(path.read_text())

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        WRITERS[writer](path)
    assert path.read_text() == before  # the old file untouched
    assert [p.name for p in tmp_path.iterdir()] == ["cpu.json"]  # no temporary file left


CORRUPT = {
    "truncated": b'{"flops": {"records": [{"preset": "m", "devi',
    "binary": bytes(range(256)) * 4,
    "empty": b"",
    "list": b"[1, 2, 3]",
    "section is a list": b'{"flops": [], "memory": [], "time": []}',
    "records is an object": b'{"flops": {"records": {}}, "memory": {"records": {}}, "time": {"records": {}}}',
    "record is a number": b'{"flops": {"records": [3]}, "memory": {"records": [3]}, "time": {"records": [3]}}',
    "missing keys": b'{"flops": {"records": [{"preset": "m"}]}, "memory": {"records": [{"preset": "m"}]},'
                    b' "time": {"records": [{"batch": 8}]}}',
    "wrong types": b'{"flops": {"records": [{"preset": "m", "device": "cpu", "batch": "one", "quantity": "params",'
                   b' "predicted": 1, "measured": 1, "rel_error": 0}]}, "memory": {"records": [{"preset": "m",'
                   b' "device": "cpu", "batch": 1, "optimizer": null, "dtype": "float32", "checkpoint": "no",'
                   b' "quantity": "q", "method": "rss", "predicted": 1, "measured": 1, "rel_error": 0}]},'
                   b' "time": {"records": [{"model": "a", "batch": 8, "device": "cpu", "optimizer": "adamw",'
                   b' "round_errors": "x"}]}}',
    "deeply nested": b"[" * 100_000,
}
READERS = {
    "flops": lambda path: records_from_results(read_results(path), path),
    "memory": lambda path: memory_report.memory_records_from_results(read_results(path), path),
    "time": records_from_file,
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("content", sorted(CORRUPT))
def test_a_corrupt_results_file_is_one_clear_error_naming_it(reader, content, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_bytes(CORRUPT[content])
    with pytest.raises(ResultsFileError) as exc:
        READERS[reader](path)
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert not isinstance(exc.value, (json.JSONDecodeError, KeyError, UnicodeDecodeError))


@pytest.mark.parametrize("content, problem", [
    ("truncated", "truncated"), ("binary", "not UTF-8"), ("list", "JSON list, expected an object"),
    ("section is a list", "section '{s}' is a JSON list"), ("records is an object", "'records' is a JSON object"),
    ("record is a number", "record 0 is a JSON number"), ("missing keys", "record 0: missing key"),
])
@pytest.mark.parametrize("section", ["flops", "memory", "time"])
def test_the_error_says_what_is_wrong(content, problem, section, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_bytes(CORRUPT[content])
    with pytest.raises(ResultsFileError, match=problem.format(s=section).replace("(", r"\(")):
        READERS[section](path)


def test_wrong_types_name_the_record_and_field(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_bytes(CORRUPT["wrong types"])
    for section, field, expected in [("flops", "batch", "int"), ("memory", "checkpoint", "bool"),
                                     ("time", "round_errors", "tuple")]:
        with pytest.raises(ResultsFileError, match=f"section '{section}', record 0: '{field}' should be {expected}"):
            READERS[section](path)


@pytest.mark.parametrize("writer", ["flops", "memory", "time"])
def test_writers_refuse_to_overwrite_a_file_they_cannot_read(writer, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_bytes(CORRUPT["truncated"])
    with pytest.raises(ResultsFileError):
        WRITERS[writer](path)
    assert path.read_bytes() == CORRUPT["truncated"]


def test_a_missing_file_is_a_clear_error_that_is_also_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        records_from_file(tmp_path / "none.json")
    assert isinstance(exc.value, CostModelError) and "none.json: no such file" in str(exc.value)
    assert read_results(tmp_path / "none.json", missing_ok=True) == {}


@pytest.mark.parametrize("content, problem", [
    (b"{", "is not valid JSON"), (b"\xff\xfe\x00garbage", "not UTF-8"), (b"[]", "JSON list"),
    (b'{"device": "cpu"}', "unexpected shape"), (b'{"device": "cpu", "rates": []}', "not a valid profile"),
    (b'{"device": "cpu", "rates": {"matmul": {"forward": {"flops": "fast", "bandwidth": 1}}}}', "not a valid profile"),
    (b'{"device": "cpu", "rates": {"matmul": {"forward": {"flops": -1, "bandwidth": 1}}}}', "must be positive"),
])
def test_a_corrupt_profile_is_one_clear_error_naming_it(content, problem, tmp_path):
    path = tmp_path / "profile.json"
    path.write_bytes(content)
    with pytest.raises(ResultsFileError, match=problem) as exc:
        load_profile(path=path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


@pytest.mark.parametrize("content, problem", [
    (bytes(range(256)), "not UTF-8"), (b"[1]", "needs a non-empty table 'devices'"),
    (b'{"devices": {"x": 3}}', "must be a table of fields"),
    (b'{"devices": {"x": {"memory": "8 GB", "memory_bandwidth": "1 GB/s", "peak_flops": {"fp32": "1 TFLOP/s"},'
     b' "aliases": 3}}}', "malformed entry"),
    (b'{"devices": {"x": {"memory": "8 GB", "memory_bandwidth": "1 GB/s", "peak_flops": {"fp32": "1 TFLOP/s"},'
     b' "sources": [1]}}}', "malformed entry"),
])
def test_a_corrupt_device_file_is_one_clear_error_naming_it(content, problem, tmp_path):
    path = tmp_path / "devices.json"
    path.write_bytes(content)
    with pytest.raises(InvalidConfigError, match=problem) as exc:
        load_device_file(path)
    assert "devices.json" in str(exc.value) and "\n" not in str(exc.value)


def test_merge_replaces_a_case_keeps_the_rest_and_reads_back_equal(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"other": {"kept": [1, 2]}}))
    write_time_results([time_record("a"), time_record("b", measured_step_s=2.0)], PROFILE, path=path)
    newer = time_record("a", measured_step_s=1.25, min_step_s=float("nan"))
    write_time_results([newer], PROFILE, path=path)
    data = json.loads(path.read_text())  # strict JSON: the NaN became null
    assert data["other"] == {"kept": [1, 2]}
    back = records_from_file(path)
    assert [r.model for r in back] == ["a", "b"]
    assert back[0] == TimeRecord(**{**newer.__dict__, "min_step_s": None})  # tuples and dicts read back as written
    assert data["time"]["summary"]["cases"] == 2


# -- out of memory: recorded as such, and the run goes on ---------------------------------------
@pytest.mark.parametrize("returncode, stderr, status", [
    (-9, "", "out of memory"),
    (137, "", "out of memory"),
    (1, "Traceback (most recent call last):\n...\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate",
     "out of memory"),
    (1, "RuntimeError: [enforce fail] DefaultCPUAllocator: can't allocate memory: you tried", "out of memory"),
    (-15, "", "failed: killed by SIGTERM"),
    (2, "Traceback\nValueError: bad | input", "failed: exit code 2: ValueError: bad | input"),
    (1, "", "failed: exit code 1: no output"),
])
def test_subprocess_status(returncode, stderr, status):
    assert outcomes.subprocess_status(returncode, stderr) == status


def _fake_worker(killed_model: str, returncode: int = -9):
    """A stand-in for the timing subprocess: killed (by the OOM killer) for one model."""
    def run(cmd, **options):
        model, batch = cmd[cmd.index("--models") + 1], int(cmd[cmd.index("--batches") + 1])
        if model == killed_model:
            return subprocess.CompletedProcess(cmd, returncode, "", "")
        samples = [0.01 * batch, 0.011 * batch]
        return subprocess.CompletedProcess(cmd, 0, json.dumps({"forward_s": [s / 3 for s in samples],
                                                               "step_s": samples, "wall_step_s": samples}), "")
    return run


def test_a_timing_case_killed_by_the_oom_killer_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    profile_path = tmp_path / "profile.json"
    save_profile(PROFILE, profile_path)
    monkeypatch.setattr(timing, "run_worker", _fake_worker("resnet50"))
    monkeypatch.setattr(timing, "predict", lambda model, batch, profile, optimizer="adamw": {
        "forward_s": 0.004 * batch, "step_s": 0.012 * batch, "breakdown": {"matmul": 0.01}, "single_rate_step_s": 0.01})
    log = []
    records, _ = timing.run_time_validation(["resnet18", "resnet50", "vit_ti_16"], [8], calibrate=False,
                                            profile_path=str(profile_path), log=log.append)
    by_model = {r.model: r for r in records}
    assert by_model["resnet50"].status == "out of memory" and by_model["resnet50"].measured_step_s is None
    assert by_model["resnet50"].predicted_step_s == pytest.approx(0.096)  # still predicted
    for model in ("resnet18", "vit_ti_16"):  # measured: median of the two samples 0.08, 0.088
        assert by_model[model].ok and by_model[model].measured_step_s == pytest.approx(0.084)
        assert by_model[model].rel_error == pytest.approx((0.096 - 0.084) / 0.084)
    assert any("resnet50" in line and "out of memory" in line for line in log)
    table = markdown_table(records)
    assert "| resnet50 | 8 | 0.096 s | out of memory | - |" in table
    assert "over 2 cases" in table and "1 case(s) not measured: resnet50 batch 8: out of memory." in table
    path = write_time_results(records, PROFILE, path=tmp_path / "cpu.json")
    back = {r.model: r for r in records_from_file(path)}
    assert back["resnet50"].status == "out of memory" and back["vit_ti_16"].ok
    assert json.loads(path.read_text())["time"]["summary"]["not_measured"] == 1


def test_a_crashed_timing_worker_is_a_failed_case(monkeypatch):
    monkeypatch.setattr(timing, "run_worker", lambda cmd, **o: subprocess.CompletedProcess(
        cmd, 1, "", "Traceback (most recent call last):\n  ...\nKeyError: 'layers'\n"))
    with pytest.raises(outcomes.WorkerFailed) as exc:
        timing.measure_in_subprocess("resnet18", 8)
    assert exc.value.status == "failed: exit code 1: KeyError: 'layers'"
    monkeypatch.setattr(timing, "run_worker", lambda cmd, **o: subprocess.CompletedProcess(cmd, 0, "", ""))
    with pytest.raises(outcomes.WorkerFailed, match="printed no result"):
        timing.measure_in_subprocess("resnet18", 8)


@pytest.mark.parametrize("exc", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
                                 MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_a_memory_case_out_of_memory_is_recorded_and_the_run_goes_on(exc, monkeypatch, tmp_path):
    def saved(config, batch, **options):
        if batch == 64:
            raise exc
        return SimpleNamespace(bytes=1000 * batch)

    def peak(config, batch, **options):
        if batch == 64:
            raise exc
        return SimpleNamespace(peak=5000 * batch)

    monkeypatch.setattr(memory_report.measure, "measure_saved", saved)
    monkeypatch.setattr(memory_report.peak_measures, "measure_tracked_peak", peak)
    records = run_memory_validation([TINY], batches=[1, 64, 2], optimizers=["sgd"], method="memtracker")
    assert len(records) == 6
    for r in records:
        if r.batch == 64:
            assert r.status == "out of memory" and r.measured is None and r.error.startswith(type(exc).__name__)
        else:  # the cases before and after were still measured
            assert r.status == "ok" and r.measured == (1000 if r.quantity.startswith("saved") else 5000) * r.batch
            assert r.predicted is not None and r.predicted > 0
    table = format_memory_table(records)
    assert sum(line.endswith("  out of memory") for line in table.splitlines()) == 2  # the rows' error column
    assert table.count("OUT OF MEMORY convnet(") == 2 and "FAILED" not in table
    path = memory_report.write_memory_results(records, "cpu", tmp_path / "cpu.json")
    back = memory_report.memory_records_from_results(read_results(path), path)
    assert sorted((r.batch, r.quantity, r.status) for r in back) == sorted((r.batch, r.quantity, r.status)
                                                                          for r in records)


def test_an_rss_worker_killed_by_the_oom_killer_is_retried_case_by_case(monkeypatch):
    calls = []

    def killed(command, **options):
        calls.append(command)
        return subprocess.CompletedProcess(command, -9, "", "")

    monkeypatch.setattr(memory_report.peak_measures.subprocess, "run", killed)
    with pytest.raises(outcomes.WorkerFailed) as exc:  # the one-subprocess batch of cases: killed
        memory_report.peak_measures.measure_rss_peaks([(TINY, 1, "sgd", "float32", False)])
    assert exc.value.status == "out of memory" and "exit -9" in str(exc.value)

    def one_case(config, batch, **options):  # retried alone: only batch 8 is too big
        if batch == 8:
            raise outcomes.WorkerFailed("RSS subprocess (exit -9)", "out of memory")
        return SimpleNamespace(peak=4096 * batch)

    monkeypatch.setattr(memory_report.peak_measures, "measure_rss_peak", one_case)
    records = run_memory_validation([TINY], batches=[1, 8], optimizers=["sgd", "adam"], saved=False, method="rss")
    assert len(calls) == 2  # the first try above, then one batch attempt before the retries
    assert [(r.batch, r.optimizer, r.status) for r in records] == [
        (1, "sgd", "ok"), (1, "adam", "ok"), (8, "sgd", "out of memory"), (8, "adam", "out of memory")]
    assert records[0].measured == 4096
