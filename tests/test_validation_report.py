"""``costmodel.validation.report``: real runs compared with the closed forms, results file, table."""

from __future__ import annotations

import json
import os

import costmodel.validation.report as report
import costmodel.validation.results_io as results_io
import pytest
import torch
from costmodel.validation.report import (
    ResultsFileError,
    ValidationRecord,
    default_path,
    format_table,
    read_results,
    records_from_results,
    run_validation,
    write_results,
)

from costmodel.core.errors import UnknownPresetError
from costmodel.models import ConvNetConfig, ViTConfig

# One 3x3 conv (pad 1) to 4 channels on an 8x8 image, no norm or pool, linear head to 3.
TINY_CONVNET = ConvNetConfig(channels=(4,), image_size=8, num_classes=3, norm="none", pool="none")
TINY_VIT = ViTConfig(image_size=16, patch_size=8, width=16, depth=1, heads=2, num_classes=3)


@pytest.fixture(scope="module")
def records():
    return run_validation([TINY_CONVNET, TINY_VIT], device="cpu", batch=2)


def test_tiny_convnet_by_hand(records):
    # per image: conv 8*8 outputs * 4 channels * 3*3*3 MACs = 6912 MACs = 13824 FLOPs;
    #            linear 4*3 = 12 MACs = 24 FLOPs.             batch 2: forward 2 * 13848.
    # backward: the conv sees the image (weight gradient only: 13824), the linear has
    #           input and weight gradients (2 * 24); batch 2: 2 * 13872.
    # params: conv 4*3*3*3 + 4 = 112, linear 4*3 + 3 = 15: 127.
    conv = {r.quantity: r for r in records if r.preset.startswith("convnet")}
    assert {q: (r.predicted, r.measured) for q, r in conv.items()} == {
        "params": (127, 127),
        "forward_flops": (2 * 13848, 2 * 13848),
        "backward_flops": (2 * 13872, 2 * 13872),
    }


def test_records_shape(records):
    assert len(records) == 6
    assert [r.quantity for r in records[:3]] == ["params", "forward_flops", "backward_flops"]
    for r in records:
        assert (r.device, r.batch, r.error, r.rel_error) == ("cpu", 2, None, 0.0)
        assert r.ok and r.seconds is not None and r.seconds > 0
    assert records[3].preset == "vit(image_size=16, patch_size=8, width=16, depth=1, heads=2, num_classes=3)"
    assert {r.unit for r in records} == {"param", "FLOP"}


def test_preset_names_are_accepted_and_checked_first(monkeypatch):
    ran = []
    monkeypatch.setattr(report, "_measure", lambda config, device, batch: ran.append(config) or ({}, 0.0))
    with pytest.raises(UnknownPresetError, match="resnet18"):
        run_validation(["resnet18", "resnet181"])
    assert ran == []  # nothing ran before the bad name was found


@pytest.mark.slow
def test_resnet18_preset_on_cpu():
    rows = run_validation(["resnet18"], batch=1)
    assert [r.preset for r in rows] == ["resnet18"] * 3
    # torchvision resnet18: 11,689,512 parameters (torchvision model docs, ResNet18_Weights)
    assert rows[0].measured == rows[0].predicted == 11_689_512
    assert all(r.ok for r in rows)


@pytest.mark.parametrize("exc, status", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail"), "out of memory"),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB"), "out of memory"),
    (MemoryError(), "out of memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 123456 bytes."), "out of memory"),
    (ValueError("an uncounted op\nsecond line"), "failed: ValueError: an uncounted op"),
])
def test_failed_case_is_recorded_and_the_run_goes_on(monkeypatch, tmp_path, exc, status):
    real_build = report.build

    def build(config):
        if config is TINY_VIT:
            raise exc
        return real_build(config)

    monkeypatch.setattr(report, "build", build)
    rows = run_validation([TINY_VIT, TINY_CONVNET], batch=2)
    failed, passed = rows[:3], rows[3:]
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    for r in failed:
        assert r.error == f"{type(exc).__name__}: {first_line}".rstrip(": ")
        assert r.status == status
        assert (r.measured, r.rel_error, r.ok) == (None, None, False)
        assert r.predicted is not None  # the closed form was still computed
    assert all(r.ok and r.status == "ok" for r in passed)  # the other case was still measured
    table = format_table(rows)
    assert "3 of 6 quantities exact" in table
    if status == "out of memory":
        assert table.count("out of memory") >= 3 and "OUT OF MEMORY vit(" in table and "FAILED" not in table
    else:
        assert "FAILED vit(" in table and "an uncounted op" in table
    path = write_results(rows, "cpu", tmp_path / "cpu.json")  # and it reads back, status included
    assert [(r.preset, r.status, r.error) for r in records_from_results(read_results(path))] == \
        [(r.preset, r.status, r.error) for r in sorted(rows, key=lambda r: r.preset)]


def test_relative_error_and_table_units():
    rows = [ValidationRecord("m", "cpu", 1, "forward_flops", 110, 100, 0.1, 0.5),
            ValidationRecord("m", "cpu", 1, "params", 7, 7, 0.0, 0.5)]
    table = format_table(rows)
    assert "110 FLOP" in table and "100 FLOP" in table and "+1.000e-01" in table
    assert "7 param" in table and "exact" in table and "0.50 s" in table
    assert report.relative_error(110, 100) == pytest.approx(0.1)
    assert report.relative_error(0, 0) == 0.0 and report.relative_error(None, 3) is None


# -- results file ---------------------------------------------------------------------------
def test_write_results_content_and_merge(records, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"memory": {"kept": True}, "flops": {"records": []}}))
    assert write_results(records[:3], "cpu", path) == path
    data = json.loads(path.read_text())
    assert data["memory"] == {"kept": True}
    assert data["flops"]["device"] == "cpu"
    rows = data["flops"]["records"]
    assert [(r["preset"], r["quantity"], r["predicted"], r["measured"]) for r in rows] == [
        (records[0].preset, "params", 127, 127),
        (records[0].preset, "forward_flops", 27696, 27696),
        (records[0].preset, "backward_flops", 27744, 27744),
    ]
    # a second run adds its case and replaces a re-run one; other keys survive
    changed = ValidationRecord(records[0].preset, "cpu", 2, "params", 127, 128, -1 / 128)
    write_results([*records[3:], changed], "cpu", path)
    data = read_results(path)
    assert data["memory"] == {"kept": True}
    merged = records_from_results(data)
    assert len(merged) == 6
    assert [r for r in merged if r.quantity == "params" and r.preset == records[0].preset] == [changed]


def test_write_is_atomic(records, tmp_path, monkeypatch):
    path = tmp_path / "cpu.json"
    write_results(records[:3], "cpu", path)
    before = path.read_text()
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(results_io.os, "replace",
                        lambda src, dst: replaced.append((src, dst)) or real_replace(src, dst))
    write_results(records[3:], "cpu", path)
    (src, dst), = replaced
    assert os.path.dirname(src) == str(tmp_path) and dst == path  # temp file in the same folder

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results_io.json, "dump", broken_dump)
    after_second = path.read_text()
    with pytest.raises(OSError, match="disk full"):
        write_results(records, "cpu", path)
    assert path.read_text() == after_second != before  # the old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.json"]  # no temp file left


def test_corrupt_file_is_a_clear_error(records, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text('{"flops": {"records": [\n')
    with pytest.raises(ResultsFileError, match=r"cpu\.json: is not valid JSON .* line 2"):
        read_results(path)
    with pytest.raises(ResultsFileError):
        write_results(records, "cpu", path)  # refuses to overwrite what it cannot read
    assert path.read_text() == '{"flops": {"records": [\n'
    path.write_text("[1, 2]")
    with pytest.raises(ResultsFileError, match="list"):
        read_results(path)
    path.write_text('{"flops": {"records": [{"preset": 1}]}}')
    with pytest.raises(ResultsFileError, match="flops"):
        records_from_results(read_results(path))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "none.json")
    assert read_results(tmp_path / "none.json", missing_ok=True) == {}


def test_default_path():
    assert default_path("cuda").name == "cuda.json"
    assert default_path("cuda").parent.name == "results"
    assert default_path("cuda").parent.parent.name == "validation"
