"""``docs/tutorial.md`` cannot rot: every example on the page runs and prints what the page
says (doctest), its figures are written, and its answers agree with sources that do not
come from costmodel: torchvision's published model table, hand derivations of FLOPs and
saved bytes, unit arithmetic, and a published training time (DeiT)."""

from __future__ import annotations

import doctest
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "tutorial.md"
FIGURE = re.compile(r"\]\(figures/(tutorial_[\w.-]+\.png)\)")
GiB, MiB = 2**30, 2**20
FOUR_DIGITS = 5e-4  #: the page prints 4 significant digits


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def printed(pattern: str) -> tuple[str, ...]:
    """The groups of ``pattern`` in the page (it must be there, exactly once)."""
    found = re.findall(pattern, page())
    assert len(found) == 1, f"expected one match of {pattern!r} in docs/tutorial.md, got {found}"
    return found[0] if isinstance(found[0], tuple) else (found[0],)


def examples(text: str) -> doctest.DocTest:
    """The page's examples; fence lines become blank lines so that a closing ``` is never
    read as expected output (line numbers stay those of the page)."""
    body = "\n".join("" if line.lstrip().startswith("```") else line for line in text.splitlines())
    return doctest.DocTestParser().get_doctest(body, {"__name__": "tutorial"}, PAGE.name, str(PAGE), 0)


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Runs the whole page once, figures into a temporary folder; fails with doctest's report."""
    folder = tmp_path_factory.mktemp("figures")
    test = examples(page())
    assert len(test.examples) >= 40
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    old = os.environ.get("COSTMODEL_FIGURES")
    os.environ["COSTMODEL_FIGURES"] = str(folder)
    try:
        result = runner.run(test, out=report.append, clear_globs=True)
    finally:
        if old is None:
            del os.environ["COSTMODEL_FIGURES"]
        else:
            os.environ["COSTMODEL_FIGURES"] = old
    assert result.failed == 0, "docs/tutorial.md is stale:\n" + "".join(report)
    yield folder


def test_every_example_prints_what_the_page_says(figures: Path) -> None:
    assert figures.is_dir()  # the fixture ran every example and compared every output


def test_figures_are_written_and_committed(figures: Path) -> None:
    embedded = set(FIGURE.findall(page()))
    assert len(embedded) == 4
    assert {p.name for p in figures.glob("tutorial_*.png")} == embedded
    for name in embedded:
        assert (figures / name).stat().st_size > 10_000, name
        assert (ROOT / "docs" / "figures" / name).stat().st_size > 10_000, f"commit docs/figures/{name}"


def test_fences_cannot_hide_examples() -> None:
    """Every ``>>>`` line sits in a ```python block (so mkdocs shows it as code)."""
    inside = False
    for number, line in enumerate(page().splitlines(), 1):
        if line.startswith("```"):
            inside = line.strip() == "```python" if not inside else False
        elif line.startswith((">>>", "...")):
            assert inside, f"docs/tutorial.md:{number}: example outside a ```python block"


# -- 1. ConvNet or ViT -----------------------------------------------------------------
#: torchvision's model table (docs, "Classification"): "GFLOPS" there are GMACs
TORCHVISION = {"resnet50": (4.09, 25_557_032), "vit_b_16": (17.56, 86_567_656)}
RESNET50_MAC_224 = 4.09e9  # torchvision's published count, multiply-accumulates
RESNET50_FC_MAC = 2048 * 1000
RESNET50_STEM_MAC_224 = 7 * 7 * 3 * 64 * 112 * 112  # 7x7 stride-2 conv: the image needs no gradient


def vit_forward_flops(side: int, *, width: int, depth: int = 12, patch: int = 16, classes: int = 1000) -> int:
    """By hand: per block 24 L d^2 (qkv 6, proj 2, MLP 16) + 4 L^2 d (scores and values), the patch
    embedding (a conv with 3 P^2 inputs per patch) and the head on the class token; 2 FLOPs per MAC."""
    patches = (side // patch) ** 2
    tokens = patches + 1
    blocks = depth * (24 * tokens * width**2 + 4 * tokens**2 * width)
    return blocks + 2 * patches * 3 * patch**2 * width + 2 * width * classes


def vit_training_flops(side: int, *, width: int, depth: int = 12, patch: int = 16, classes: int = 1000) -> int:
    """Forward plus backward by hand: a linear layer's backward is two products of its size (3x in
    all), fused attention recomputes the scores (4 + 10 = 14 L^2 d), the patch embedding has no
    input gradient (2x)."""
    patches = (side // patch) ** 2
    tokens = patches + 1
    return (depth * (3 * 24 * tokens * width**2 + 14 * tokens**2 * width) + 2 * 2 * patches * 3 * patch**2 * width
            + 3 * 2 * width * classes)


def resnet50_forward_flops(side: float) -> float:
    """From the published 224 px count: every conv scales with the pixels, the classifier does not."""
    return 2 * ((RESNET50_MAC_224 - RESNET50_FC_MAC) * (side / 224) ** 2 + RESNET50_FC_MAC)


def resnet50_training_flops(side: float) -> float:
    return 3 * resnet50_forward_flops(side) - 2 * RESNET50_STEM_MAC_224 * (side / 224) ** 2


def bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    assert f(lo) * f(hi) < 0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(lo) * f(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def test_forward_counts_are_torchvisions_published_ones() -> None:
    for name, (gmac, params) in TORCHVISION.items():
        (shown,) = printed(rf"\n{name} ([\d.]+) GMAC\n")
        assert round(float(shown), 2) == gmac
        (mparam,) = printed(rf"{name} +224 px: forward +[\d.]+ GFLOP, ([\d.]+) Mparam")
        assert float(mparam) == pytest.approx(params / 1e6, abs=0.005)
    (resnet,) = printed(r"resnet50 +224 px: forward +([\d.]+) GFLOP")
    assert float(resnet) == pytest.approx(2 * 4.09, abs=0.01)  # 1 MAC = 2 FLOP


def test_vit_counts_by_hand() -> None:
    for name, width, side in (("vit_ti_16", 192, 224), ("vit_b_16", 768, 224)):
        (shown,) = printed(rf"{name} +{side} px: forward +([\d.]+) GFLOP")
        assert float(shown) == pytest.approx(vit_forward_flops(side, width=width) / 1e9, rel=FOUR_DIGITS)
    (big,) = printed(r"vit_b_16  1024 px: forward +([\d.]+) TFLOP")
    assert float(big) == pytest.approx(vit_forward_flops(1024, width=768) / 1e12, rel=FOUR_DIGITS)
    (resnet,) = printed(r"resnet50  1024 px: forward +([\d.]+) GFLOP")
    assert float(resnet) == pytest.approx(resnet50_forward_flops(1024) / 1e9, rel=1e-3)  # 4.09: 3 digits


def test_resnet50_meets_vit_ti_where_the_hand_counts_cross() -> None:
    found = re.findall(r"vit_ti_16 is cheaper on image_size in \(32, [\d.]+\); "
                       r"resnet50 is cheaper from image_size = (\d+) on \(root ([\d.]+)\)", page())
    assert len(found) == 2  # forward FLOPs, then training FLOPs
    for (first, root), training, expected in zip(found, (False, True), (928, 864), strict=True):
        resnet = resnet50_training_flops if training else resnet50_forward_flops

        def gap(r: float, resnet: Callable[[float], float] = resnet, training: bool = training) -> float:
            return resnet(r) - _vit_ti_smooth(r, training=training)

        crossing = bisect(gap, 500, 1500)
        assert float(root) == pytest.approx(crossing, abs=0.5)
        assert int(first) == math.ceil(crossing / 32) * 32 == expected  # multiples of 32 (ResNet) and 16 (patch)


def _vit_ti_smooth(side: float, *, training: bool) -> float:
    """The hand counts of ViT-Ti/16 with the token count (side / 16)^2 + 1 taken as a real number."""
    d, n = 192, (side / 16) ** 2
    tokens = n + 1
    if training:
        return 12 * (72 * tokens * d**2 + 14 * tokens**2 * d) + 4 * n * 768 * d + 6 * d * 1000
    return 12 * (24 * tokens * d**2 + 4 * tokens**2 * d) + 2 * n * 768 * d + 2 * d * 1000


# -- 2. ViT-L/16 on 80 GB --------------------------------------------------------------
VIT_L_PARAMS = 304_326_632  # torchvision's table


def test_gigabytes_and_gibibytes() -> None:
    assert f"{80e9 / GiB:.2f} GiB" == "74.51 GiB"
    assert "80 GB = 74.51 GiB" in page()
    assert f"{81559 * MiB / GiB:.2f}" == "79.65"  # what nvidia-smi reports for an H100 80GB HBM3
    assert "81559 MiB = 79.65 GiB" in page()


def test_largest_vit_l_batch_by_hand() -> None:
    """A block keeps 36 L d bytes per image under autocast; the backward peak also holds 14 bytes per
    parameter (float32 weights and two AdamW moments, bf16 weight copies)."""
    per_image = 36 * 197 * 1024 * 24
    mib, mb = printed(r"each image adds ([\d.]+) MiB \(([\d.]+) MB\)")
    assert float(mb) * 1e6 == pytest.approx(float(mib) * MiB, rel=1e-3)
    assert per_image == pytest.approx(float(mb) * 1e6, rel=0.03)
    (batch,) = printed(r"largest batch that fits 74.506 GiB: (\d+) \(peak 74.4")
    assert (80e9 - 14 * VIT_L_PARAMS) / per_image == pytest.approx(int(batch), rel=0.03)


# -- 3. Linformer ----------------------------------------------------------------------
def first_side(tokens: float, patch: int = 16) -> int:
    side = patch
    while (side // patch) ** 2 + 1 <= tokens:
        side += patch
    return side


def test_linformer_crossovers_by_hand() -> None:
    """Full fused attention: 4 L^2 d forward, 14 L^2 d with the backward; Linformer 8 L k d and
    26 L k d. The other parts of a layer are the same in both."""
    k, d = 256, 768
    forward, training = 8 * k * d / (4 * d), 26 * k * d / (14 * d)
    assert (forward, first_side(forward)) == (512, 368)
    assert (round(training, 2), first_side(training)) == (475.43, 352)
    assert "Linformer cheaper from L = 513 tokens (root 512.00), images from 368 px" in page()
    assert "Linformer cheaper from L = 476 tokens (root 475.43), images from 352 px" in page()
    assert f"root {16 * math.sqrt(forward - 1):.6g})" in page()   # (R / 16)^2 + 1 = L
    assert f"root {16 * math.sqrt(training - 1):.6g})" in page()


def test_linformer_at_1024_px_by_hand() -> None:
    tokens, d, k = 4097, 768, 256
    shared = 12 * 24 * tokens * d**2 + 2 * 4096 * 768 * d + 2 * d * 1000
    ratio = (shared + 12 * 8 * tokens * k * d) / (shared + 12 * 4 * tokens**2 * d)
    (shown,) = printed(r"1024 px: full [\d.]+ TFLOP, linformer [\d.]+ GFLOP \(([\d.]+)%\)")
    assert float(shown) == pytest.approx(100 * ratio, abs=0.05)
    full, linformer = printed(r"1024 px: .*; params ([\d.]+) Mparam vs ([\d.]+) Mparam")
    assert (float(linformer) - float(full)) * 1e6 == pytest.approx(12 * 2 * k * tokens, abs=0.1e6)  # E, F: k x L


# -- 4. ViT-B/16 on 8 H100s ------------------------------------------------------------
DEIT_B_HOURS_8_V100 = 53  # Touvron et al., "Training data-efficient image transformers", ICML 2021: "Training time"


def test_training_plan_arithmetic() -> None:
    steps = 300 * math.ceil(1_281_167 / 1024)
    assert f"1252 steps per epoch, {steps} steps, per-GPU batch 128" in page()
    (step_ms,) = printed(r"\nstep ([\d.]+) ms \(forward")
    hours, gpu_hours, usd = printed(r"time to train ([\d.]+) h, ([\d.]+) GPU-hours, ([\d.]+) USD at 2.5 USD/GPU-hour")
    assert steps * float(step_ms) / 1e3 / 3600 == pytest.approx(float(hours), abs=0.01)
    assert 8 * float(hours) == pytest.approx(float(gpu_hours), abs=0.1)
    assert float(gpu_hours) * 2.50 == pytest.approx(float(usd), abs=0.2)
    (floor_ms,) = printed(r"compute floor ([\d.]+) ms per step")
    assert float(floor_ms) < float(step_ms)
    assert 1024 * vit_training_flops(224, width=768) / (8 * 0.70 * 989.5e12) * 1e3 == pytest.approx(
        float(floor_ms), rel=0.03)  # the floor counts the full convention's few elementwise FLOPs too


def test_six_n_t_is_close_to_the_exact_training_count() -> None:
    six_nt, exact = printed(r"6 N T = ([\d.]+) GFLOP, exact ([\d.]+) GFLOP")
    assert float(six_nt) == pytest.approx(6 * 86_567_656 * 197 / 1e9, abs=0.05)
    assert float(exact) == pytest.approx(vit_training_flops(224, width=768) / 1e9, abs=0.05)
    assert float(six_nt) == pytest.approx(float(exact), rel=0.05)


def test_v100_prediction_is_below_deits_measured_time() -> None:
    """The plan models GPU work only (no data loading, evaluation, augmentation)."""
    (hours,) = printed(r"8 x V100, fp16: ([\d.]+) h")
    assert float(hours) < DEIT_B_HOURS_8_V100 < 3 * float(hours)


# -- 5. ResNet-50 memory ---------------------------------------------------------------
STAGES = {"layer1": (64, 3, 1), "layer2": (128, 4, 2), "layer3": (256, 6, 2), "layer4": (512, 3, 2)}


def resnet50_saved_bytes(batch: int) -> dict[str, int]:
    """Bytes saved for the backward pass, float32, by hand (torchvision's ResNet-50 v1.5, in-place
    ReLUs): a conv keeps its input, a batch norm its input and two float32 statistics per
    channel, a ReLU its output (the batch norm's output storage, also the next conv's input), max
    pooling its input and int64 indices, the classifier its input; each storage once."""
    f = 4
    stats = 0
    stem = batch * (3 * 224**2 * f + 2 * 64 * 112**2 * f + 64 * 56**2 * 8)  # image, conv out = BN in, ReLU out, indices
    stats += 2 * 64 * f
    out = {"stem": stem + stats}
    side, channels = 56, 64
    for stage, (mid, blocks, stride) in STAGES.items():
        saved = batch * channels * side**2 * f if stage == "layer1" else 0  # max-pool output: conv1's input
        bn = 0
        for block in range(blocks):
            inner = side // stride if block == 0 else side
            saved += batch * f * (2 * mid * side**2 + 2 * mid * inner**2 + 2 * 4 * mid * inner**2)
            bn += 2 * mid + 4 * mid
            if block == 0:
                saved += batch * f * 4 * mid * inner**2  # downsample BN input
                bn += 4 * mid
            side = inner
        out[stage] = saved + 2 * bn * f
        channels = 4 * mid
    out["head"] = batch * 2048 * f
    return out


def test_resnet50_saved_activations_by_hand() -> None:
    from costmodel.core.units import ureg
    from costmodel.display import format_quantity

    hand = resnet50_saved_bytes(32)
    for stage, saved in hand.items():
        shown = format_quantity(float(saved) * ureg.byte)
        assert re.search(rf"\n{stage} +saves +{re.escape(shown)} ", page()), (stage, shown)


def test_resnet50_states_and_crossover_by_hand() -> None:
    """Weights: 4 bytes per parameter plus batch-norm running statistics (8 bytes per channel and
    an int64 counter, 53 batch norms over 26,560 channels); gradients and momentum 4 each."""
    params, channels, norms = 25_557_032, 26_560, 53
    states = 4 * params + 8 * channels + 8 * norms + 2 * 4 * params
    assert f"states {states / MiB:.1f} MiB" in page()
    per_image = sum(resnet50_saved_bytes(2).values()) - sum(resnet50_saved_bytes(1).values())
    constant = sum(resnet50_saved_bytes(1).values()) - per_image
    root = (states - constant) / per_image
    assert f"from batch {math.ceil(root)} (root {root:.2f})" in page()
