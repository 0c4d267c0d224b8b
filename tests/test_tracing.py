"""``trace_module``: any PyTorch module's costs traced with symbolic batch, height and width.

Two independent derivations must agree:

* for every preset family, tracing the validation module built from a config gives the
  FLOPs (forward, backward), parameters and saved bytes of the hand-written closed form
  ``cost(config)`` / ``memory_cost(config)``, *equal as expressions* (``prove_equal``:
  symbolically, or exhaustively over a grid complete for quasi-polynomials);
* on modules costmodel has no family for (written here), the traced expression evaluated
  at 20+ sizes equals what FlopCounterMode counts and the saved-tensor hooks see on real
  CPU tensors at those sizes.
"""

from __future__ import annotations

import functools
import itertools
import random

import pytest
import sympy
import torch
import torch.nn.functional as F
from costmodel.validation.build import build
from costmodel.validation.flops import count_flops
from costmodel.validation.memory import saved_by
from costmodel.validation.symbolic import prove_equal
from torch import nn

from costmodel.core.symbols import B, H, W
from costmodel.core.validity import violated
from costmodel.memory.footprint import memory_cost
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig, cost
from costmodel.tracing import SymbolicShapeError, trace_module

G_h, G_w = sympy.symbols("G_h G_w", positive=True, integer=True)  # ViT patch grid

FAMILIES = {
    "resnet": ResNetConfig(block="bottleneck", layers=(1, 1), width=8, num_classes=10, image_size=32),
    "convnet": ConvNetConfig(channels=(8, 16), kernel_size=5, stride=2, padding=2, groups=2, pool="avg",
                             activation="gelu", image_size=32),
    "convnext": ConvNeXtConfig(dims=(8, 16), depths=(1, 1), num_classes=10, image_size=32),
    "vit": ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, num_classes=10,
                     position_embedding=False),
}


@functools.cache
def _traced(family):
    config = FAMILIES[family]
    return trace_module(lambda: build(config), (config.in_channels, *config.image_hw))


def _holds(conditions, point):
    return not violated(conditions, point)


def _grid(conditions):
    """Sizes for the exhaustive proofs: from the smallest square image where PyTorch's guards hold
    (the trace says nothing below it), over 96 sizes (3 periods of 32) in each dimension."""
    lo = next(s for s in range(1, 128) if _holds(conditions, {B: 2, H: s, W: s}))
    return {B: range(1, 4), H: range(lo, lo + 96), W: range(lo, lo + 96)}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_module_traces_to_the_closed_form(family):
    config = FAMILIES[family]
    traced = _traced(family).model_cost()
    ranges = _grid(traced.conditions)
    symbols = [B, H, W]
    if isinstance(config, ViTConfig):  # the closed form needs whole patches: H = P G_h, W = P G_w
        patch = config.patch_size
        traced = traced.subs({H: patch * G_h, W: patch * G_w})
        symbols, ranges = [B, G_h, G_w], {B: range(1, 4), G_h: range(1, 13), G_w: range(1, 13)}
    symbolic = config.replace(image_size=tuple(patch * g for g in (G_h, G_w)) if isinstance(config, ViTConfig)
                              else (H, W))
    expected = cost(symbolic, batch=B)
    for name in ("forward_flops", "backward_flops"):
        prove_equal(getattr(expected, name), getattr(traced, name), symbols, ranges)
    assert traced.params == expected.params
    prove_equal(memory_cost(symbolic, batch=B).saved_bytes, traced.saved_bytes, symbols, ranges)


def test_vit_position_embedding_fixes_the_image_size():
    """A learned position embedding of fixed length: the image size is reported fixed, by it."""
    config = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, num_classes=10)
    traced = trace_module(lambda: build(config), (3, 32, 32))
    assert any("pos_embedding" in note and "image size fixed" in note for note in traced.notes), traced.notes
    assert "image size fixed by pos_embedding" in str(traced)
    c = traced.model_cost()
    assert "image_size" in {cond.field for cond in c.conditions}
    assert violated(c.conditions, {B: 2, H: 64, W: 32})
    assert not violated(c.conditions, {B: 2, H: 32, W: 32})
    prove_equal(cost(config, batch=B).forward_flops, c.forward_flops.subs({H: 32, W: 32}), [B])


# -- modules costmodel has no family for ---------------------------------------------------
class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        scale = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * scale


class DepthwiseSeparable(nn.Module):
    """MobileNet-style: depthwise 3x3 (stride 2), squeeze-excitation, pointwise 1x1."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.se = SqueezeExcite(8, 2)
        self.pointwise = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = F.hardswish(self.bn(self.depthwise(self.stem(x))))
        x = F.relu6(self.pointwise(self.se(x)))
        return self.head(x.mean((2, 3)))


class InvertedResidual(nn.Module):
    """MobileNetV2: expand 1x1, depthwise 3x3, project 1x1, residual add."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.expand = nn.Conv2d(8, 24, 1, bias=False)
        self.depthwise = nn.Conv2d(24, 24, 3, padding=1, groups=24, bias=False)
        self.project = nn.Conv2d(24, 8, 1, bias=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(F.relu6(self.depthwise(F.relu6(self.expand(x)))))
        return self.head(x.amax((2, 3)))


class WindowAttention(nn.Module):
    """Swin-style attention in 4x4 windows; the map is padded to a multiple of the window."""

    def __init__(self, dim: int = 8, window: int = 4) -> None:
        super().__init__()
        self.window = window
        self.patch = nn.Conv2d(3, dim, 2, stride=2)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)  # b, h, w, c
        b, h, w, c = x.shape
        s = self.window
        pad_h, pad_w = (s - h % s) % s, (s - w % s) % s  # zero rows and columns up to whole windows
        x = self.norm(x)
        x = torch.cat([x, x.new_zeros(b, pad_h, w, c)], dim=1)
        x = torch.cat([x, x.new_zeros(b, h + pad_h, pad_w, c)], dim=2)
        hp, wp = x.shape[1], x.shape[2]
        windows = x.reshape(b, hp // s, s, wp // s, s, c).transpose(2, 3).reshape(-1, s * s, c)
        q, k, v = self.qkv(windows).reshape(-1, s * s, 3, 2, c // 2).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(-1, s * s, c)
        return self.head(self.proj(out).mean(1)).reshape(b, -1).sum(1, keepdim=True)


class UpsampleConcat(nn.Module):
    """U-Net-style: downsample, upsample (nearest by repetition, and a learned transposed
    convolution), crop to the input and concatenate with the skip."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(6, 3, 2, stride=2)
        self.fuse = nn.Conv2d(6 + 3 + 3, 4, 3, padding=1)

    def forward(self, x):
        skip, (height, width) = x, x.shape[2:]
        y = self.down(x)
        nearest = y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[..., :height, :width]
        learned = self.up(y)[..., :height, :width]
        return self.fuse(torch.cat([nearest, skip, learned], dim=1))


CUSTOM = {"depthwise_se": DepthwiseSeparable, "inverted_residual": InvertedResidual,
          "window_attention": WindowAttention, "upsample_concat": UpsampleConcat}


def _validity(conditions):
    """A fast exact test of the conditions at a point (a condition that fails to evaluate fails)."""
    checks = [sympy.lambdify([B, H, W], c.relation, modules="math") for c in conditions]

    def valid(point):
        try:
            return all(bool(check(point[B], point[H], point[W])) for check in checks)
        except (ZeroDivisionError, ValueError):
            return False

    return valid


def _sizes(n: int, seed: int) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(2, 3), rng.randint(9, 40), rng.randint(9, 40)) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_custom_module_matches_real_runs(name):
    """At 20 sizes where the trace claims validity (its conditions hold): FlopCounterMode's
    forward and backward counts and the hooks' saved bytes on real CPU tensors.

    The windowed attention is traced at 26x22 (feature map 13x11, padded by 3 and 1 to whole
    4x4 windows); its conditions say for which sizes that trace holds.
    """
    torch.manual_seed(0)
    model = CUSTOM[name]().train()
    traced = trace_module(model, (3, 26, 22))
    c = traced.model_cost()
    assert c.free_symbols == {B, H, W}, traced.notes
    assert not traced.unknown_ops
    candidates = ({B: b, H: h, W: w} for b, h, w in _sizes(200, seed=len(name)))
    valid = _validity(c.conditions)
    points = list(itertools.islice((p for p in candidates if valid(p)), 20))
    assert len(points) == 20
    # PyTorch's CPU trace also notes a kernel choice for B < 16 (not a condition): check a batch past it
    points.append(next(p for p in ({B: 17, H: h, W: h + 1} for h in range(13, 40)) if valid(p)))
    for point in points:
        batch, height, width = point[B], point[H], point[W]
        images = torch.randn(batch, 3, height, width)
        measured = count_flops(model, images)
        model.zero_grad(set_to_none=True)
        saved = saved_by(model, images)
        got = [sympy.sympify(e).subs(point) for e in (c.forward_flops, c.backward_flops, c.saved_bytes)]
        assert got == [measured.forward, measured.backward, saved.bytes], point
    assert c.params == sum(p.numel() for p in model.parameters())


def test_breakdown_is_named_by_module_path():
    model = DepthwiseSeparable().eval()
    c = trace_module(model, (3, 16, 16)).model_cost()  # traced as a training step runs: batch norm in train mode
    assert not any(m.training for m in model.modules())  # the caller's module is left in eval mode
    assert c.part("se/fc1").traffic.kind == "conv"
    assert c.part("depthwise").traffic.kind == "conv_depthwise_nchw"  # its input is contiguous NCHW
    assert c.part("head").traffic.kind == "matmul"
    assert c.part("bn").traffic.kind == "batch_norm"
    # ops run in a module's own forward are grouped by kind: the SE scale multiply
    assert c.part("se/(elementwise)").traffic.forward != 0
    assert sum(leaf.forward_flops for _, leaf in c.leaves()) == c.forward_flops


def test_a_depthwise_conv_on_channels_last_strides_is_its_own_kind():
    """ConvNeXt's depthwise convs read maps left channels-last by a permute; oneDNN runs another kernel."""
    config = ConvNeXtConfig(dims=(8, 16), depths=(1, 1), image_size=32, num_classes=10)
    traced = trace_module(build(config), (3, 32, 32)).model_cost()
    kinds = {leaf.traffic.kind for path, leaf in traced.leaves() if path.endswith("block/0")}
    assert kinds == {"conv_depthwise"}
    assert kinds == {leaf.traffic.kind for path, leaf in cost(config, batch=1).leaves() if path.endswith("dwconv")}


# -- honest limits -------------------------------------------------------------------------
def test_guard_in_a_size_becomes_a_condition():
    """A stride-2 stem then batch norm: a 1-pixel map is excluded by PyTorch's guard."""
    traced = trace_module(DepthwiseSeparable(), (3, 16, 16))
    c = traced.model_cost()
    assert c.conditions
    assert violated(c.conditions, {B: 2, H: 2, W: 16})   # the map after the stride-2 conv is 1 pixel high
    assert not violated(c.conditions, {B: 2, H: 16, W: 16})
    assert "valid for" in str(traced)


class DotHead(nn.Module):
    """A product PyTorch's FLOP counter has no formula for (``aten.dot``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.v = nn.Parameter(torch.ones(4))

    def forward(self, x):
        pooled = self.conv(x).mean((0, 2, 3))
        return torch.dot(pooled, self.v)


def test_unknown_ops_are_listed_not_dropped():
    traced = trace_module(DotHead(), (3, 16, 16))
    assert traced.unknown_ops == {"aten.dot": 1}
    assert any("aten.dot x1" in note for note in traced.notes)
    assert "aten.dot" in str(traced)


class CachedTable(nn.Module):
    """Caches a table by input size (``functools.lru_cache``): symbolic sizes are unhashable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    @staticmethod
    @functools.lru_cache
    def _table(height, width):
        return torch.ones(height, width)

    def forward(self, x):
        return self.conv(x) * self._table(x.shape[2], x.shape[3])


def test_failed_symbolic_trace_falls_back_to_the_concrete_size():
    traced = trace_module(CachedTable(), (3, 12, 10), batch=2)
    assert traced.dynamic == ()
    assert any("symbolic tracing failed" in note and "concrete size" in note for note in traced.notes)
    c = traced.model_cost(batch=2)
    real = count_flops(CachedTable(), torch.randn(2, 3, 12, 10))
    assert (c.forward_flops, c.backward_flops) == (real.forward, real.backward)
    with pytest.raises(Exception, match="fixed at 2"):
        traced.model_cost(batch=3)


def test_not_a_module_is_an_error():
    with pytest.raises(Exception, match="not a torch.nn.Module"):
        trace_module(lambda: 3, (3, 8, 8))
    with pytest.raises(Exception, match="input_shape"):
        trace_module(nn.Conv2d(3, 3, 1), (3, 8))


def test_traced_model_stands_for_a_config():
    """``costmodel.models.cost`` and ``replace(image_size=)`` work on a traced model as on a config."""
    traced = trace_module(InvertedResidual(), (3, 32, 32))
    at = traced.replace(image_size=64)
    assert cost(at, batch=4).forward_flops == traced.model_cost().forward_flops.subs({B: 4, H: 64, W: 64})
    assert sympy.sympify(at.image_size) == 64
    import numpy as np

    from costmodel import sweep
    swept = sweep(traced, batch=np.array([1, 3]), image_size=np.array([40, 64]), metrics=["forward_flops"])
    assert list(swept["forward_flops"]) == [int(cost(traced.replace(image_size=s), batch=b).forward_flops)
                                            for b, s in ((1, 40), (3, 64))]


def test_symbolic_error_is_a_costmodel_error():
    assert issubclass(SymbolicShapeError, Exception)


# -- downstream: a traced model against a preset -------------------------------------------
class TinyHybrid(nn.Module):
    """A ConvNet stem (8x downsampling) feeding one transformer block over the map's pixels."""

    def __init__(self, dim: int = 64, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, dim, 4, stride=4))
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        return self.head(x.mean(1))


def test_crossover_of_a_traced_model_with_a_preset():
    """Attention over the pixels of an 8x-downsampled map grows as R^4, ResNet-50 as R^2: one
    crossing, found on ResNet-50's valid sizes (multiples of 32) and checked by evaluating both
    sides directly, the hybrid's side also by FlopCounterMode (on fake tensors) at those sizes."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from costmodel import compare
    from costmodel.models.presets import get_preset

    traced = trace_module(TinyHybrid, (3, 64, 64), name="hybrid")
    result = compare([traced, "resnet50"], over="image_size", lo=32, hi=4096)
    (point,) = result.crossovers.points
    first, before = point.first_valid, point.first_valid - result.step
    hybrid = {s: int(cost(traced.replace(image_size=s), batch=1).forward_flops) for s in (before, first)}
    resnet = {s: int(cost(get_preset("resnet50").replace(image_size=s), batch=1).forward_flops)
              for s in (before, first)}
    assert hybrid[before] < resnet[before] and hybrid[first] > resnet[first]
    assert point.cheaper_after == "b"
    for size in (before, first):
        with FakeTensorMode():
            measured = count_flops(TinyHybrid(), torch.empty(1, 3, size, size), backward=False)
        assert measured.forward == hybrid[size]


def test_from_module_returns_the_cost():
    """``costmodel.from_module`` gives the Cost itself, conditions attached."""
    import costmodel
    from costmodel.cost.value import Cost

    c = costmodel.from_module(DepthwiseSeparable(), (3, 16, 16))
    assert isinstance(c, Cost) and c.free_symbols == {B, H, W} and c.conditions
    assert c.forward_flops == costmodel.trace_module(DepthwiseSeparable(), (3, 16, 16)).model_cost().forward_flops


def test_full_convention_by_hand():
    """``full`` adds the elementwise ops at their per-element rates (ReLU 1 FLOP forward, 1 backward)
    and counts a grouped convolution's weight gradient at its true size.

    Conv(3->4, 3x3) on a 1x3x8x8 image: 4x6x6 = 144 outputs of 27 MACs: 2*27*144 = 7776 FLOPs;
    ReLU on 144 elements: +144 forward. Then a depthwise 3x3 conv (4 groups, padding 1) on the
    4x6x6 map: 2*9*144 = 2592 FLOPs forward; backward: input gradient 2592 and weight gradient 2592
    (FlopCounterMode counts that one as dense: 4 x 2592). Backward of the first conv: its weight
    gradient only (the image needs none): 7776; of the ReLU: 144.
    """
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4,
                                                                                   bias=False))
    traced = trace_module(model, (3, 8, 8), dynamic=(), batch=1)
    counter, full = traced.model_cost(batch=1), traced.model_cost(batch=1, convention="full")
    assert (counter.forward_flops, counter.backward_flops) == (7776 + 2592, 7776 + 2592 + 4 * 2592)
    assert (full.forward_flops, full.backward_flops) == (7776 + 144 + 2592, 7776 + 144 + 2592 + 2592)
