"""The kernel model against published GPU throughput (validation/data/gpu-throughput-published.csv).

The anchors are public measurements with their sources in the file (timm's RTX 3090
benchmark CSVs at commit 89b0452, NVIDIA DeepLearningExamples' ResNet-50 v1.5 README, the
DeiT (Touvron et al. 2021, Tables 5/7/10), ConvNeXt (Liu et al. 2022, Tables 1/2/12), Swin
(Liu et al. 2021, Table 1) and DINO (Caron et al. 2021, Table 2) papers). Targets (issue 14):
over the covered rows, median |error| <= 20 % per GPU and mode, no family's median above 30 %.
"""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from costmodel.validation.published import RESULTS, anchor_settings, load_anchors, predict
from costmodel.validation.published_report import meets_targets, results_json, summarise

from costmodel.hardware.kernels import GENERATION_CONSTANTS


@pytest.fixture(scope="module")
def anchors():
    return load_anchors()


@pytest.fixture(scope="module")
def predicted(anchors):
    return predict(anchors, GENERATION_CONSTANTS)


def test_every_anchor_row_is_read_with_its_source(anchors):
    assert len(anchors) == 415
    assert all(a.source and a.throughput > 0 and a.batch > 0 for a in anchors)
    timm = [a for a in anchors if a.harness == "timm"]
    assert len(timm) == 319 and {a.device for a in timm} == {"rtx3090"}


def test_settings_follow_what_each_source_says(anchors):
    rows = {(a.harness, a.mode, a.memory_format[:5], a.framework[:12]): anchor_settings(a) for a in anchors}
    timm_train = rows[("timm", "train", "chann", "PyTorch 1.12")]
    assert timm_train.dtype == "fp16" and timm_train.memory_format == "channels_last"
    assert not timm_train.foreach and not timm_train.fused_attention and timm_train.optimizer == "momentum"
    assert rows[("timm", "inference", "NCHW", "PyTorch 2.4.")].fused_attention
    dle_tf32 = next(anchor_settings(a) for a in anchors if a.precision == "tf32" and a.harness == "dle")
    assert dle_tf32.tf32_matmul and dle_tf32.tf32_conv  # NGC 21.03 = PyTorch 1.9: matmul TF32 on


def test_the_targets_hold_on_every_gpu_and_family(predicted):
    predictions, skipped = predicted
    assert len(predictions) >= 350
    assert meets_targets(predictions) == []
    gpus = {s.group for s in summarise(predictions, "gpu")}
    assert gpus == {"rtx3090", "v100", "a100_80gb", "a100_40gb", "t4"}
    assert {s.group for s in summarise(predictions, "family")} == {"resnet", "vit", "convnext", "swin"}


def test_only_rows_without_a_preset_are_skipped(predicted):
    _, skipped = predicted
    assert all(reason.startswith("no preset") for _, reason in skipped)


def test_a_family_added_to_the_presets_is_predicted_without_other_changes(anchors, monkeypatch):
    from costmodel.models import presets
    from costmodel.models.vit import ViTConfig

    rows = [a for a in anchors if a.model == "vit_s_32"]
    assert rows and not predict(rows, GENERATION_CONSTANTS)[0]
    extended = dict(presets.PRESETS, vit_s_32=ViTConfig(patch_size=32, width=384, depth=12, heads=6, mlp_ratio=4))
    monkeypatch.setattr(presets, "PRESETS", MappingProxyType(extended))
    got, skipped = predict(rows, GENERATION_CONSTANTS)
    assert len(got) == len(rows) and not skipped


def test_the_committed_results_are_this_model_s(predicted):
    predictions, skipped = predicted
    saved = json.loads(RESULTS.read_text(encoding="utf-8"))
    fresh = results_json(predictions, skipped, dict(GENERATION_CONSTANTS))
    assert [r["predicted_img_s"] for r in saved["rows"]] == pytest.approx(
        [r["predicted_img_s"] for r in fresh["rows"]], rel=1e-9)
    assert saved["failures"] == [] and "leave_one_family_out" in saved


def test_the_docs_show_these_results(predicted):
    from pathlib import Path

    from costmodel.validation.published_report import table

    predictions, _ = predicted
    text = (Path(__file__).resolve().parent.parent / "docs" / "validation.md").read_text(encoding="utf-8")
    assert table(summarise(predictions, "gpu"), "GPU") in text
    assert table(summarise(predictions, "family"), "family") in text


@pytest.mark.slow
def test_refitting_on_the_anchors_gives_the_committed_constants(anchors):
    """The constants in costmodel.hardware.kernels are the fit's output (rounded to 3 digits)."""
    from costmodel.validation.published_fit import fit_all

    fitted = fit_all(anchors)
    for gen, constants in fitted.items():
        assert constants.as_tuple() == pytest.approx(GENERATION_CONSTANTS[gen].as_tuple(), rel=0.01)
