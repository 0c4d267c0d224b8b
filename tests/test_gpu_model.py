"""The GPU kernel model: tile and wave quantization, execution settings, devices, no per-model constants.

Expected values are hand derivations written here (NVIDIA, *Matrix Multiplication Background
User's Guide*: tiles = ceil(M/t_m) ceil(N/t_n), waves = ceil(tiles / SMs)), datasheet numbers
cited per test, or published measurements (timm's RTX 3090 benchmark files).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import GENERATIONS, datasheet_device
from costmodel.hardware.gpu_step import gpu_time, model_kernel_ops
from costmodel.hardware.kernels import (
    GENERATION_CONSTANTS,
    KernelConstants,
    KernelOp,
    Shape,
    gemm_utilization,
    kernel_terms,
    tile_efficiency,
)
from costmodel.hardware.settings import ExecutionSettings, pytorch_defaults
from costmodel.models.presets import get_preset

ROOT = Path(__file__).resolve().parent.parent


# -- tiles and waves ---------------------------------------------------------------------
def test_one_full_wave_of_128_tiles_is_fully_used():
    # 108 SMs (A100), M = 108 * 128, N = 128: 108 tiles of 128 x 128, exactly one wave.
    assert gemm_utilization(Shape(m=108 * 128, n=128, k=4096), 108) == pytest.approx(1.0)


def test_one_row_past_a_full_wave_halves_the_utilization():
    # M = 108 * 128 + 1: 109 tiles of 128 x 128 -> 2 waves (216 slots) for 108 + 1/128 tiles
    # of work: u = 13825 * 128 / (2 * 108 * 128 * 128) = 0.50004. No other tile does better
    # (256 x 128: 55 tiles, one wave, 13825 / (108 * 256) = 0.50004 too; 128 x 64: 218 tiles,
    # 3 waves, 0.667 of the slots times the tile's 0.667 efficiency = 0.444).
    u = gemm_utilization(Shape(m=108 * 128 + 1, n=128, k=4096), 108)
    assert u == pytest.approx(13825 / (2 * 108 * 128), rel=1e-9)


def test_a_small_product_splits_k_to_fill_the_sms():
    # 192 x 192 output, k = 4096, 108 SMs. 64 x 64 tiles: 9 tiles, split k 12 ways (108 // 9,
    # each slice 4096 / 12 >= 256 deep) -> 108 CTAs, one wave, every slot full; the 64 x 64
    # tile re-uses each element 64*64/128 = 32 times, half of the 64 assumed for full rate:
    # u = 0.5. (128 x 128 tiles: 4 tiles x 16 splits, u = 192^2 / (108 * 128^2 / 16) = 1/3.)
    assert tile_efficiency(64, 64) == pytest.approx(0.5)
    assert gemm_utilization(Shape(m=192, n=192, k=4096), 108) == pytest.approx(0.5)


def test_batched_products_fill_waves_together():
    # bmm of 768 (batch x heads) products (197 x 64) @ (64 x 197) on 82 SMs (RTX 3090).
    # 128 x 128 tiles: 2 x 2 per product, 3072 tiles = 37.46 waves -> 38: u = 768 * 197^2 /
    # (38 * 82 * 128^2) = 0.5838 (256 x 128: 1536 tiles, 19 waves, the same 0.5838; 128 x 64:
    # 6144 tiles, 75 waves, 0.592 of the slots at the tile's 2/3 efficiency = 0.394).
    u = gemm_utilization(Shape(m=197, n=197, k=64, batch=768), 82)
    assert u == pytest.approx(768 * 197 * 197 / (38 * 82 * 128 * 128))


# -- execution settings ------------------------------------------------------------------
def test_pytorch_default_tf32_and_fused_attention_by_version():
    # torch.backends.cuda.matmul.allow_tf32 defaulted to True in 1.7-1.11 and False from 1.12
    # (PyTorch 1.12 release notes); cudnn.allow_tf32 has always defaulted to True.
    assert pytorch_defaults("1.11").tf32_matmul and not pytorch_defaults("1.12").tf32_matmul
    assert pytorch_defaults("1.12").tf32_conv and pytorch_defaults("2.4").tf32_conv
    assert not pytorch_defaults("1.13").fused_attention and pytorch_defaults("2.0").fused_attention
    default = ExecutionSettings()
    assert default.tensor_core_dtype("conv", "sm_80") == "tf32"
    assert default.tensor_core_dtype("matmul", "sm_80") is None
    assert default.tensor_core_dtype("conv", "sm_70") is None  # Volta has no TF32


def test_linear_bias_fusion_follows_the_pytorch_version():
    # F.linear fused the bias (addmm) for 2-D inputs only until 1.11 (pytorch/pytorch#39661),
    # for contiguous 3-D inputs from 1.12 (#72728, Feb 2022), and 4-D from 2.1 (#106433, Aug 2023).
    assert [pytorch_defaults(v).fused_bias_rank for v in ("1.10", "1.11", "1.12", "2.0", "2.1", "2.4")] == [
        2, 2, 3, 3, 4, 4]
    assert ExecutionSettings().fused_bias_rank == 4


def test_an_unfused_bias_is_an_add_kernel_over_the_output():
    # ConvNeXt-T at batch 2, fp32, PyTorch 1.13 (3-D fused, 4-D not): stage 0's pwconv1 is a
    # linear layer on the (2, 56, 56, 96) block input -> (2, 56, 56, 384), 3 blocks. Its bias
    # add reads the output and the bias and writes the output: 4 B x (2 x 6272 x 384 + 384)
    # per block, one launch per block. PyTorch 2.4 fuses it; ResNet's head (2-D input) never.
    ops = {op.path: op for op in model_kernel_ops(get_preset("convnext_tiny"), 2, pytorch_defaults("1.13"),
                                                  "inference")}
    bias = ops["stage0/blocks/pwconv1/bias"]
    assert bias.kind == "elementwise" and bias.launches == 3
    assert bias.bytes == pytest.approx(3 * 4 * (2 * 2 * 56 * 56 * 384 + 384))
    assert "stage3/blocks/pwconv2/bias" in ops and "head/fc/bias" not in ops
    newer = [op.path for op in model_kernel_ops(get_preset("convnext_tiny"), 2, pytorch_defaults("2.4"), "inference")]
    assert not [p for p in newer if p.endswith("/bias")]
    # ViT's blocks take (B, N, d) inputs: unfused before 1.12 only
    old_vit = [op.path for op in model_kernel_ops(get_preset("vit_ti_16"), 2, pytorch_defaults("1.10"), "inference")]
    assert {p for p in old_vit if p.endswith("/bias")} == {f"blocks/{n}/bias" for n in (
        "attn/qkv", "attn/proj", "mlp/fc1", "mlp/fc2")}
    assert not [op for op in model_kernel_ops(get_preset("resnet50"), 2, pytorch_defaults("1.10"), "inference")
                if op.path.endswith("/bias")]


def test_the_installed_pytorch_fuses_what_its_defaults_say():
    """Independent check on the installed PyTorch: which aten ops ``F.linear`` runs per input rank."""
    torch = pytest.importorskip("torch")
    from costmodel.validation.flops import OpRecorder

    rank = pytorch_defaults(torch.__version__).fused_bias_rank
    layer = torch.nn.Linear(8, 4)
    for dims in (2, 3, 4):
        with torch.no_grad(), OpRecorder() as seen:
            layer(torch.randn(*([2] * (dims - 1)), 8))
        names = {op.__name__ for op in seen.seen}
        separate = any(name.startswith("add") and name != "addmm" for name in names)
        assert separate == (dims > rank), (dims, names)


@pytest.mark.parametrize("field, value, message", [
    ("memory_format", "nchwc", "memory_format='nchwc'"),
    ("fused_bias_rank", 5, "fused_bias_rank=5"),
    ("optimizer", "lion", "optimizer='lion'"),
    ("dtype", "fp8", "fp8 training is not modelled"),
    ("compiled", "yes", "compiled='yes'"),
])
def test_settings_errors_name_the_field(field, value, message):
    with pytest.raises(InvalidConfigError, match=message):
        ExecutionSettings(**{field: value})


def test_bf16_on_a_gpu_without_it_is_an_error():
    with pytest.raises(InvalidConfigError, match="bf16"):
        gpu_time(get_preset("resnet18"), batch=8, device=datasheet_device("t4"), settings=ExecutionSettings(
            dtype="bf16"))


# -- devices -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, sms, fp16, fp32, bandwidth", [
    # NVIDIA Ampere GA102 whitepaper, Table 9: RTX 3090 82 SMs, 71 dense FP16-with-FP32-accumulate
    # TFLOPS (the headline 142 is FP16 accumulate), 35.6 FP32, 936 GB/s.
    ("rtx3090", 82, 71, 35.6, 936),
    # NVIDIA Ada whitepaper, Appendix A: RTX 4090 128 SMs, 165.2 (330.3 FP16 accumulate), 82.6, 1008 GB/s.
    ("rtx4090", 128, 165.2, 82.6, 1008),
    # A100 datasheet (40GB SXM): 312 dense FP16, 19.5 FP32, 1555 GB/s; GA100 whitepaper: 108 SMs.
    ("a100_40gb", 108, 312, 19.5, 1555),
    # H100 datasheet, PCIe column: 1513 FP16 with sparsity -> 756 dense, 51 FP32, 2 TB/s; 114 SMs.
    ("h100_pcie", 114, 756, 51.2, 2000),
    # T4 datasheet: 65 mixed-precision TFLOPS, 8.1 FP32, 320 GB/s; Turing whitepaper: 40 SMs.
    ("t4", 40, 65, 8.1, 320),
])
def test_datasheet_devices(name, sms, fp16, fp32, bandwidth):
    spec = datasheet_device(name)
    assert spec.sm_count == sms and spec.generation in GENERATIONS and spec.generation
    assert spec.peak("fp16").to("TFLOP/s").magnitude == pytest.approx(fp16)
    assert spec.peak("fp32").to("TFLOP/s").magnitude == pytest.approx(fp32)
    assert spec.memory_bandwidth.to("GB/s").magnitude == pytest.approx(bandwidth)
    assert "datasheet" in spec.sources["sm_count"].lower() or "whitepaper" in spec.sources["sm_count"].lower()


# -- the model of a step -------------------------------------------------------------------
def test_channels_last_speeds_up_resnet50_amp_training_as_published():
    """timm results/benchmark-train-amp-{nchw,nhwc}-pt112-cu113-rtx3090.csv: resnet50 at batch 512,
    826 img/s NCHW and 1218 img/s channels_last (ratio 1.47). The transposes of NCHW Tensor Core
    convolutions must account for most of it: a predicted ratio within 20 % of the published one."""
    spec, config = datasheet_device("rtx3090"), get_preset("resnet50")
    base = ExecutionSettings(dtype="fp16", optimizer="momentum", foreach=False, fused_attention=False)
    nchw = gpu_time(config, batch=512, device=spec, settings=base).throughput
    nhwc = gpu_time(config, batch=512, device=spec,
                    settings=dataclasses.replace(base, memory_format="channels_last")).throughput
    assert nhwc / nchw == pytest.approx(1218 / 826, rel=0.20)


def test_memory_format_does_not_matter_without_tensor_cores():
    # fp32 on a V100 (no TF32): cuDNN's CUDA-core kernels run NCHW natively, no transposes.
    spec, config = datasheet_device("v100"), get_preset("resnet18")
    times = [gpu_time(config, batch=32, device=spec, settings=ExecutionSettings(memory_format=f)).seconds
             for f in ("nchw", "channels_last")]
    assert times[0] == pytest.approx(times[1])


def test_inference_is_the_forward_pass_only():
    spec, config = datasheet_device("a100"), get_preset("vit_ti_16")
    settings = ExecutionSettings(dtype="bf16")
    ops = model_kernel_ops(config, 16, settings, "inference")
    assert {op.direction for op in ops} == {"forward"} and not any(op.path == "optimizer" for op in ops)
    train = gpu_time(config, batch=16, device=spec, settings=settings)
    infer = gpu_time(config, batch=16, device=spec, settings=settings, mode="inference")
    assert infer.seconds < train.seconds / 2


def test_compiled_fuses_elementwise_traffic():
    spec, config = datasheet_device("a100"), get_preset("convnext_tiny")
    eager = gpu_time(config, batch=64, device=spec, settings=ExecutionSettings(dtype="bf16"))
    fused = gpu_time(config, batch=64, device=spec, settings=ExecutionSettings(dtype="bf16", compiled=True))
    assert fused.by("kind")["elementwise"] < eager.by("kind")["elementwise"] / 2 and fused.seconds < eager.seconds


def test_a_kernel_time_does_not_depend_on_which_model_it_belongs_to():
    spec, settings = datasheet_device("rtx3090"), ExecutionSettings(dtype="fp16")
    op = KernelOp(path="layer1/blocks/conv2", kind="conv", direction="forward", flops=2e12, bytes=4e9,
                  shapes=(Shape(m=3136 * 256, n=64, k=576),), weight_bytes=2 * 64 * 576)
    renamed = dataclasses.replace(op, path="stage0/anything")
    assert kernel_terms(op, spec, settings) == kernel_terms(renamed, spec, settings)


# -- no per-model constant -----------------------------------------------------------------
def test_constants_are_per_generation_only():
    """Every fitted constant is one of seven fields, keyed by a GPU generation: nothing per model."""
    fields = {f.name for f in dataclasses.fields(KernelConstants)} - {"source"}
    assert fields == {"tensor_efficiency", "cuda_efficiency", "depthwise_efficiency", "depthwise_backward_efficiency",
                      "bandwidth_efficiency", "launch_s", "host_s"}
    assert set(GENERATION_CONSTANTS) <= set(GENERATIONS) - {""}
    assert len({id(c) for c in GENERATION_CONSTANTS.values()}) <= len(GENERATION_CONSTANTS)


@pytest.mark.parametrize("module", ["kernels.py", "gpu_step.py", "settings.py"])
def test_the_kernel_model_names_no_model(module):
    """A per-model constant would need a model's name (or a family's) in the kernel model's code
    (docstrings and the ``source=`` provenance of the constants may name the anchors they came from)."""
    from costmodel.models.presets import PRESETS

    tree = ast.parse((ROOT / "costmodel" / "hardware" / module).read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "source":
            skip |= {id(n) for n in ast.walk(node)}
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            skip.add(id(node.body[0].value))  # type: ignore[attr-defined]
    strings = {node.value.lower() for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and id(node) not in skip}
    words = {w for s in strings for w in s.replace("/", " ").replace(",", " ").split()}
    names = set(PRESETS) | {"resnet", "vit", "convnext", "swin", "efficientnet", "deit"}
    assert not names & words
