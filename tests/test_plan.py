"""Training plans: step time from per-op rooflines, time to train, memory per GPU, errors, the CLI,
closed-form traffic against the bytes real kernels move, and a published throughput anchor."""

import json
import math
from fractions import Fraction

import pytest

from costmodel.cli import main
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.hardware.lookup import save_profile
from costmodel.hardware.planning import parse_count, plan
from costmodel.hardware.profiles import DeviceProfile, Rate
from costmodel.hardware.step import model_ops, step_time
from costmodel.models.convnext import ConvNeXtConfig
from costmodel.models.efficientnet import EfficientNetConfig
from costmodel.models.mobilenet import MobileNetV2Config, MobileNetV3Config
from costmodel.models.presets import get_preset
from costmodel.models.regnet import RegNetConfig
from costmodel.models.resnet import ResNetConfig
from costmodel.models.swin import SwinConfig
from costmodel.models.vit import ViTConfig

SMALL = {
    "resnet": ResNetConfig(block="bottleneck", layers=(1, 2), width=8, image_size=32, num_classes=10),
    "vit": ViTConfig(image_size=32, patch_size=8, width=32, depth=2, heads=2, num_classes=10),
    "convnext": ConvNeXtConfig(dims=(8, 16), depths=(1, 2), image_size=32, num_classes=10),
    # the efficient ConvNets: SiLU / hardswish / ReLU6 in place (autograd clones their input first),
    # squeeze-excitation (its input's two gradients are summed), odd sizes for the strided convs
    "efficientnet": EfficientNetConfig(width_mult=Fraction(1, 4), depth_mult=Fraction(1, 4), image_size=33,
                                       num_classes=5),
    "mobilenet_v2": MobileNetV2Config(width_mult=Fraction(1, 4), image_size=35, num_classes=5),
    "mobilenet_v3": MobileNetV3Config(variant="small", width_mult=Fraction(1, 4), image_size=35, num_classes=5),
    "regnet_y": RegNetConfig(depth=4, w_0=8, w_a=8, w_m=2, group_width=4, se=True, image_size=37, num_classes=5),
}


def flat_profile(flops=1e9, bandwidth=1e9, overhead=0.0, device="cpu"):
    """Every kind at the same rates (the classes carry them to every kind)."""
    rate = {"forward": Rate(flops=flops, bandwidth=bandwidth), "backward": Rate(flops=flops, bandwidth=bandwidth)}
    return DeviceProfile(device=device, rates={"matmul": rate, "conv": rate, "elementwise": rate},
                         overhead_s=overhead, memory=64e9, memory_bandwidth=bandwidth, peak_flops=flops,
                         threads=1, clock="cpu", source="test profile")


@pytest.mark.parametrize("text, value", [("1.28M", 1_280_000), ("50k", 50_000), ("1e6", 10**6), ("1281167", 1281167),
                                         (60000, 60000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["1.5", "-3", "lots", "0", "1.2345k"])
def test_parse_count_rejects_non_counts(text):
    with pytest.raises(InvalidConfigError, match="dataset_size"):
        parse_count(text)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"device": "h10"}, UnknownPresetError, "unknown device 'h10'. Did you mean h100"),
    ({"gpus": 0}, InvalidConfigError, "gpus=0: must be at least 1"),
    ({"gpus": 16, "batch": 1000}, InvalidConfigError, "batch=1000: must be divisible by the GPU count 16"),
    ({"price": "2.50"}, InvalidConfigError, "needs a currency"),
    ({"dtype": "fp12"}, UnknownPresetError, "unknown dtype"),
    ({"strategy": "zero5"}, UnknownPresetError, "unknown sharding strategy"),
    ({"epochs": 0}, InvalidConfigError, "epochs=0"),
    ({"dataset_size": "many"}, InvalidConfigError, "dataset_size='many'"),
    ({"device": "v100", "dtype": "bf16"}, InvalidConfigError, "v100 has no published bf16 rate"),
])
def test_bad_plans_are_clear_errors(kwargs, error, message):
    args = {"device": "h100", "batch": 1024, "gpus": 1, **kwargs}
    with pytest.raises(error, match=message):
        plan("resnet50", **args)


def test_cpu_device_needs_a_calibration_or_a_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="costmodel calibrate"):
        plan("resnet18", device="cpu", batch=8)


# -- traffic: the closed forms against the bytes the real kernels move ---------------------
@pytest.mark.parametrize("name", sorted(SMALL))
def test_traffic_equals_the_bytes_of_every_kernel(name):
    """Per op kind and direction, the closed-form bytes equal the sum over the aten kernels of
    one real forward and backward pass (arguments read once, results written once)."""
    from costmodel.validation.traffic import measure_traffic

    config, batch = SMALL[name], 3
    predicted = predicted_traffic(config, batch)
    measured = measure_traffic(config, batch)
    assert {k: v for k, v in predicted.items() if v} == dict(measured.totals)
    # what the closed forms leave out: the head's token selection (ViT), layout copies (ConvNeXt);
    # (Swin is tested below: its layout copies are ``clone`` kernels the closed forms count)
    assert {op for op, _ in measured.other} <= {"select_backward", "clone", "copy_", "as_strided_"}


def predicted_traffic(config, batch):
    """The closed-form bytes (``full`` convention) per (op kind, direction), summed over the leaves."""
    from collections import Counter

    from costmodel.models import cost

    predicted: Counter = Counter()
    for _, leaf in cost(config, batch=batch, convention="full").leaves():
        if leaf.traffic.kind:
            for direction in ("forward", "backward"):
                predicted[(leaf.traffic.kind, direction)] += int(getattr(leaf.traffic, direction))
    return predicted


@pytest.mark.parametrize("config, batch", [
    # four stages, the last one a single window (no partition copy), one shifted block per stage where it shifts
    (SwinConfig(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(2, 2, 2, 2), image_size=224, num_classes=5), 1),
    (SwinConfig(embed_dim=16, depths=(2, 2), num_heads=(2, 4), image_size=224, num_classes=5), 1),
])
def test_swin_traffic_equals_the_kernels_with_its_layout_copies(config, batch):
    """Swin's window partition, padding, rolls (one pass per rolled dim), shift mask, position bias
    and the backward of ``qkv[0], qkv[1], qkv[2]``: its elementwise bytes equal the kernels'
    (``clone`` included: here every clone is a layout copy the closed forms count)."""
    from costmodel.validation.traffic import measure_traffic

    measured = measure_traffic(config, batch, fake=True)
    predicted = predicted_traffic(config, batch)
    for direction in ("forward", "backward"):
        copies = measured.other.get(("clone", direction), 0)
        assert predicted[("elementwise", direction)] == measured.totals[("elementwise", direction)] + copies, direction


@pytest.mark.slow
def test_swin_t_traffic_is_within_half_a_percent_of_the_kernels():
    """Swin-T at batch 2: forward exact; backward 3.0 MB short of 934 MB (0.3 %), a residue not yet
    found (it shows at batch 2, not at batch 1: a few passes over a stage's map in backward; padded
    toys and one-head stages miss up to 5 % of their much smaller elementwise traffic)."""
    from costmodel.validation.traffic import measure_traffic

    measured = measure_traffic(get_preset("swin_t"), 2, fake=True)
    predicted = predicted_traffic(get_preset("swin_t"), 2)
    kernels = {d: measured.totals[("elementwise", d)] + measured.other.get(("clone", d), 0)
               for d in ("forward", "backward")}
    assert predicted[("elementwise", "forward")] == kernels["forward"]
    assert predicted[("elementwise", "backward")] == pytest.approx(kernels["backward"], rel=0.005)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["resnet50", "vit_b_16", "convnext_tiny", "efficientnet_b0", "mobilenet_v3_large",
                                    "regnet_y_400mf"])
def test_traffic_of_presets_equals_the_kernels(preset):
    from costmodel.validation.traffic import measure_traffic

    measured = measure_traffic(get_preset(preset), 2).totals
    predicted = predicted_traffic(get_preset(preset), 2)
    for kind in {k for k, _ in measured}:
        for direction in ("forward", "backward"):
            assert predicted[(kind, direction)] == measured[(kind, direction)], (kind, direction)


def test_bf16_traffic_halves_the_activation_bytes():
    from costmodel.models import cost

    config = SMALL["resnet"]
    fp32 = cost(config, batch=4, convention="full", precision="float32").part("layer1/block0/conv2").traffic
    bf16 = cost(config, batch=4, convention="full", precision="bfloat16").part("layer1/block0/conv2").traffic
    assert bf16.forward * 2 == fp32.forward and bf16.kind == "conv"


# -- step time --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_leaf_is_an_op_and_every_flop_is_timed(name):
    from costmodel.models import cost

    ops = model_ops(SMALL[name], batch=2)
    full = cost(SMALL[name], batch=2, convention="full")
    assert sum(o.flops for o in ops if o.direction == "forward") == int(full.forward_flops)
    assert sum(o.flops for o in ops if o.direction == "backward") == int(full.backward_flops)
    assert sum(o.bytes for o in ops) == int(full.traffic.total)


def test_compute_only_roofline_is_training_flops_over_the_rate():
    # infinite bandwidth: t = (forward + backward FLOPs, full convention) / R
    from costmodel.models import cost

    config = SMALL["vit"]
    st = step_time(config, batch=4, profile=flat_profile(flops=1e9, bandwidth=1e30))
    flops = int(cost(config, batch=4, convention="full").training_flops)
    assert st.seconds == pytest.approx(flops / 1e9)
    assert st.bottleneck == "compute"


def test_memory_only_roofline_is_bytes_over_the_bandwidth():
    # infinite compute: t = (model traffic + AdamW's 7 float32 values per parameter) / bandwidth
    from costmodel.models import cost

    config = SMALL["resnet"]
    c = cost(config, batch=4, convention="full")
    st = step_time(config, batch=4, profile=flat_profile(flops=1e30, bandwidth=1e9), optimizer="adamw")
    assert st.seconds == pytest.approx((int(c.traffic.total) + 7 * 4 * int(c.params)) / 1e9)
    assert st.optimizer_s == pytest.approx(7 * 4 * int(c.params) / 1e9)
    assert st.bottleneck == "memory bandwidth"


def test_step_time_scales_with_the_rates_and_the_overhead():
    config = SMALL["convnext"]
    slow = step_time(config, batch=2, profile=flat_profile(flops=1e9, bandwidth=1e9))
    fast = step_time(config, batch=2, profile=flat_profile(flops=2e9, bandwidth=2e9))
    assert fast.seconds == pytest.approx(slow.seconds / 2)
    late = step_time(config, batch=2, profile=flat_profile(flops=1e9, bandwidth=1e9, overhead=1e-3))
    # one launch per op, direction and repetition: stem (conv, norm) 2, stage 0: one block of
    # 7 ops (dwconv, norm, pwconv1, act, pwconv2, layer_scale, residual), downsample 2,
    # stage 1: two blocks, head (pool, norm, fc) 3: 2 + 7 + 2 + 14 + 3 = 28, both directions
    assert late.seconds - slow.seconds == pytest.approx(2 * 28 * 1e-3)


# -- plans ------------------------------------------------------------------------------
@pytest.fixture
def cpu_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path))
    save_profile(flat_profile(flops=5e10, bandwidth=1e10))
    return tmp_path


def test_cli_plan_json_on_the_calibrated_cpu(cpu_profile, capsys):
    code = main(["plan", "resnet18", "--device", "cpu", "--batch", "32", "--epochs", "2", "--dataset-size", "1000",
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["device"] == "cpu" and data["gpus"] == 1
    assert data["steps_per_epoch"] == math.ceil(1000 / 32) == 32 and data["total_steps"] == 64
    assert data["train_time_s"] == pytest.approx(64 * data["step_time_s"])
    assert data["step_time_s"] == pytest.approx(data["forward_s"] + data["backward_s"] + data["optimizer_s"])
    from costmodel.memory.footprint import training_memory

    peak = training_memory(get_preset("resnet18"), batch=32, optimizer="adamw").evaluate().peak
    assert data["memory_per_gpu_bytes"]["total"] == pytest.approx(peak)  # one device: the memory model's peak
    assert data["fits"] is True and data["cost"] is None


def test_cli_plan_prints_the_table(cpu_profile, capsys):
    code = main(["plan", "vit_ti_16", "--device", "cpu", "--batch", "8", "--price", "0.10 EUR/h"])
    out = capsys.readouterr().out
    assert code == 0
    for text in ("time per step", "time to train", "memory per GPU", "fits", "bottleneck", "EUR", "matmul"):
        assert text in out


@pytest.mark.parametrize("argv, message", [
    (["plan", "resnet50", "--device", "h10", "--batch", "8"], "unknown device 'h10'"),
    (["plan", "resnet50", "--device", "h100", "--gpus", "0", "--batch", "8"], "gpus=0"),
    (["plan", "resnet50", "--device", "h100", "--gpus", "3", "--batch", "8"], "divisible by the GPU count 3"),
    (["plan", "resnet50", "--device", "h100", "--batch", "8", "--price", "2.5"], "needs a currency"),
])
def test_cli_plan_errors_are_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_data_parallel_plan_hand_checked():
    one = plan("resnet50", device="a100", gpus=1, batch=64, dataset_size="1.28M")
    eight = plan("resnet50", device="a100", gpus=8, batch=512, dataset_size="1.28M", strategy="ddp")
    # the same per-GPU work; the all-reduce of float32 gradients over NVLink, 300 GB/s each way
    assert eight.per_gpu_batch == 64 and eight.step.forward_s == pytest.approx(one.step.forward_s)
    assert eight.step.communication_s == pytest.approx(2 * 7 / 8 * 4 * 25_557_032 / 300e9)
    assert eight.step.exposed_communication_s == 0.0  # hidden behind the backward pass
    assert eight.steps_per_epoch == 2500 and eight.gpu_hours == pytest.approx(8 * eight.train_time_s / 3600)
    sharded = plan("resnet50", device="a100", gpus=8, batch=512, strategy="fsdp")
    assert sharded.memory.total < eight.memory.total
    assert sharded.memory.optimizer == pytest.approx(eight.memory.optimizer / 8)


def test_a_slow_link_makes_communication_the_bottleneck():
    from costmodel.hardware.devices import DeviceSpec, register_device, unregister_device

    register_device(DeviceSpec(name="slow_link_gpu", peak_flops={"fp32": "100 TFLOP/s"}, memory_bandwidth="2 TB/s",
                               memory="40 GB", interconnect_bandwidth="0.2 GB/s"))
    try:
        p = plan("resnet50", device="slow_link_gpu", gpus=4, batch=128, price="$3/h")
    finally:
        unregister_device("slow_link_gpu")
    assert p.bottleneck == "communication" and p.step.exposed_communication_s > 0
    assert p.cost == pytest.approx((p.gpu_hours * 3.0, "USD"))


def test_too_large_a_batch_does_not_fit():
    p = plan("vit_b_16", device="l4", batch=512)
    assert not p.fits and p.memory.total > 24e9


# -- a published anchor ------------------------------------------------------------------
# NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5/README.md
# (commit 291f0d0), "Training performance: NVIDIA DGX A100 (8x A100 80GB)": 1 GPU, mixed
# precision, 2470 img/s; "Training performance: NVIDIA DGX-1 16GB (8x V100 16GB)": 1 GPU,
# mixed precision, 1200 img/s. Both train ResNet-50 v1.5 (torchvision's layout, as our
# preset) with SGD + momentum at batch 256 per GPU, AMP (fp16), channels_last (NHWC, per the
# example's configs.yml). The prediction uses the GPU kernel model (costmodel.hardware.kernels),
# whose per-generation constants were fitted on the anchor set these rows belong to
# (validation/data/gpu-throughput-published.csv; the full comparison is tests/test_published.py);
# tolerance 20%.
@pytest.mark.parametrize("device, images_per_second", [("a100", 2470), ("v100", 1200)])
def test_resnet50_mixed_precision_throughput_anchor(device, images_per_second):
    p = plan("resnet50", device=device, batch=256, dtype="fp16", optimizer="momentum", memory_format="channels_last")
    predicted = p.batch / p.step_time_s
    assert predicted == pytest.approx(images_per_second, rel=0.20)


# -- the recorded time validation ------------------------------------------------------------
def test_recorded_cpu_time_validation_meets_the_targets_and_the_docs_show_it():
    """The committed CPU run (benchmarks/time_cpu.sh) covers the 16 cases (the four hand-written
    families, Swin-T and EfficientNet-B0 at batch 8 and 32), meets the targets (median |error|
    <= 15 %, none over 30 %), and docs/validation.md shows that run."""
    from pathlib import Path

    from costmodel.validation.timing import records_from_file, summary
    from costmodel.validation.timing_report import markdown_table

    root = Path(__file__).resolve().parent.parent
    records = records_from_file(root / "validation" / "results" / "cpu.json")
    cases = {(r.model, r.batch) for r in records if r.dtype == "fp32"}
    models = ("resnet18", "resnet50", "vit_ti_16", "vit_s_16", "vit_b_16", "convnext_tiny", "swin_t",
              "efficientnet_b0")
    assert cases == {(m, b) for m in models for b in (8, 32)}
    s = summary([r for r in records if r.dtype == "fp32"])
    assert s["median_abs_error"] <= 0.15 and s["max_abs_error"] <= 0.30
    assert markdown_table(records) in (root / "docs" / "validation.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_current_model_still_meets_the_cpu_time_targets_on_the_recorded_run():
    """Re-predict every recorded CPU case with today's code and the profile recorded with it:
    a change in the traffic or kernel model that breaks the CPU step time fails here
    (targets: median |error| <= 15 %, max <= 30 %, against the measured times on file)."""
    import json
    import statistics

    from costmodel.validation.timing import RESULTS_DIR, predict

    from costmodel.hardware.profiles import DeviceProfile

    run = json.loads((RESULTS_DIR / "cpu.json").read_text())["time"]
    profile = DeviceProfile.from_json(run["profiles"]["fp32"])
    errors = [abs(predict(r["model"], r["batch"], profile, r["optimizer"])["step_s"] / r["measured_step_s"] - 1)
              for r in run["records"] if r.get("measured_step_s")]
    assert len(errors) == 16
    assert statistics.median(errors) <= 0.15 and max(errors) <= 0.30, errors
