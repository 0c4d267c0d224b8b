"""``costmodel.testing``: ``assert_counts_match`` on hand-written user modules, and the reusable
properties (batch linearity, polynomial degree in the image sides, unit-invariant crossovers).

The user modules below are written here from the papers (ViT: Dosovitskiy et al. 2021, Eq. 1-4;
a plain ConvNet), not built by ``costmodel.validation``; the FLOP numbers the tests check in the
failure tables are derived by hand in each test."""

from __future__ import annotations

import re

import pytest
import sympy
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from torch import nn

from costmodel.core.symbols import B, H, R, W
from costmodel.cost.value import Cost
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig, cost
from costmodel.models.generative import ARTransformerConfig
from costmodel.strategies import configs
from costmodel.testing import (
    assert_counts_match,
    assert_crossovers_unit_invariant,
    assert_linear_in_batch,
    assert_polynomial_in_image,
    properties,
)


# -- a user's own small ViT ----------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.to_qkv, self.out = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, dim = x.shape
        q, k, v = (t.reshape(b, n, self.heads, dim // self.heads).transpose(1, 2)
                   for t in self.to_qkv(x).split(dim, dim=-1))
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, dim))


class Layer(nn.Module):
    def __init__(self, dim: int, heads: int, ratio: int) -> None:
        super().__init__()
        self.norm1, self.attention, self.norm2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        self.up, self.down = nn.Linear(dim, ratio * dim), nn.Linear(ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class TinyViT(nn.Module):
    def __init__(self, image: int = 16, patch: int = 4, dim: int = 8, heads: int = 2, depth: int = 2, ratio: int = 4,
                 classes: int = 3) -> None:
        super().__init__()
        self.patchify = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.layers = nn.ModuleList(Layer(dim, heads, ratio) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patchify(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


CONFIG = ViTConfig(image_size=16, patch_size=4, width=8, heads=2, depth=2, mlp_ratio=4, num_classes=3)
SHAPE = (2, 3, 16, 16)


def test_a_matching_module_passes():
    assert_counts_match(TinyViT(), SHAPE, CONFIG)
    assert_counts_match(TinyViT(), SHAPE, cost(CONFIG, batch=B))  # a Cost in B, evaluated at the input's batch


def test_one_layer_off_is_caught_and_named():
    with pytest.raises(AssertionError) as info:
        assert_counts_match(TinyViT(ratio=3), SHAPE, CONFIG)
    message = str(info.value)
    # fc1 by hand: 2 FLOP x batch 2 x 17 tokens (16 patches + class token) x 8 in x hidden (32 vs 24)
    expected, measured = 2 * 2 * 17 * 8 * 32, 2 * 2 * 17 * 8 * 24
    for layer in ("layers.0.up", "layers.0.down", "layers.1.up", "layers.1.down"):
        row = re.search(rf"^{re.escape(layer)}: addmm +([\d,]+) +([\d,]+) +([-+\d,]+)$", message, re.M)
        assert row, message
        assert [int(g.replace(",", "")) for g in row.groups()] == [expected, measured, measured - expected]
    # backward: input and weight gradients, each as many FLOPs as the forward product
    row = re.search(r"^layers\.1\.up: mm +([\d,]+) +([\d,]+) ", message, re.M)
    assert row and [int(g.replace(",", "")) for g in row.groups()] == [2 * expected, 2 * measured], message
    assert "attention" not in message and "patchify" not in message  # only the layers that disagree
    # params by hand: each layer's MLP loses 8 x 8 weights + 8 biases in fc1 and 8 x 8 weights in fc2
    assert re.search(rf"^params +2,323 +{2323 - 2 * (64 + 8 + 64):,} ", message, re.M), message


def test_a_wrong_cost_shows_the_totals_and_the_breakdowns():
    wrong = cost(CONFIG.replace(mlp_ratio=3), batch=B)
    with pytest.raises(AssertionError, match=r"(?s)forward_flops.*expected forward FLOPs by part.*layers\.0\.up"):
        assert_counts_match(TinyViT(), SHAPE, wrong)


class TinyConvNet(nn.Module):
    """``ConvNetConfig(channels=(4, 8), image_size=8, norm="none", pool="max", num_classes=5)`` by hand."""

    def __init__(self, second: int = 8) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, second, 3, padding=1)
        self.fc = nn.Linear(second, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.mean(dim=(2, 3)))


CONVNET = ConvNetConfig(channels=(4, 8), image_size=8, norm="none", pool="max", num_classes=5)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_convnet_on_cpu_and_meta(device):
    assert_counts_match(TinyConvNet(), (2, 3, 8, 8), CONVNET, device=device)
    with pytest.raises(AssertionError, match=r"c2: convolution") as info:
        assert_counts_match(TinyConvNet(second=6), (2, 3, 8, 8), CONVNET, device=device, saved=False)
    # conv 2 by hand: 2 x batch 2 x 4x4 map x 8 (vs 6) out x 4 in x 9 taps
    assert f"{2 * 2 * 16 * 8 * 4 * 9:,}" in str(info.value) and f"{2 * 2 * 16 * 6 * 4 * 9:,}" in str(info.value)


def test_a_preset_name_at_the_inputs_image_size():
    from costmodel.validation.build import build

    module = build(ResNetConfig(block="basic", layers=(2, 2, 2, 2), image_size=16))  # resnet18's layout
    assert_counts_match(module, (2, 3, 16, 16), "resnet18")


def test_an_object_with_a_cost_attribute():
    class Traced:  # the shape of a traced module's result (issue #12)
        cost = cost(CONVNET, batch=B)

    assert_counts_match(TinyConvNet(), (2, 3, 8, 8), Traced())
    with pytest.raises(TypeError, match="config, a preset name, a Cost"):
        assert_counts_match(TinyConvNet(), (2, 3, 8, 8), 42)


@settings(max_examples=3, deadline=None, database=None)
@given(configs(ConvNeXtConfig, image_size=(4, 16), max_params=3000))
def test_usable_inside_given(config):
    from costmodel.validation.build import build

    assert_counts_match(build(config), (2, config.in_channels, *config.image_hw), config)


# -- properties ------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [ResNetConfig(layers=(1, 1), width=4), ViTConfig(depth=1, width=16, heads=2),
                                    ConvNeXtConfig(dims=(4, 8), depths=(1, 1)), CONVNET, ARTransformerConfig(depth=1)],
                         ids=lambda c: c.family)
def test_costs_are_linear_in_the_batch(config):
    assert_linear_in_batch(config)


def test_linear_in_batch_failures_are_clear():
    with pytest.raises(AssertionError, match=r"forward_flops of Cost is not proportional to the batch B: "
                                             r"f\(2\) = 8 but .* = 6"):
        assert_linear_in_batch(Cost(forward_flops=B**2 + 2 * B, params=3))  # f(2) = 8, 2 f(1) = 6
    with pytest.raises(AssertionError, match="forward_flops .* not proportional"):
        assert_linear_in_batch(Cost(forward_flops=5 * B + 1))
    with pytest.raises(AssertionError, match="params of Cost depend on the batch"):
        assert_linear_in_batch(Cost(forward_flops=B, params=B))


@pytest.mark.parametrize("config, degree", [(CONVNET, 2), (ResNetConfig(layers=(1, 1), width=4), 2),
                                            (ViTConfig(depth=1, width=16, heads=2), 4),
                                            (ViTConfig(depth=1, width=16, heads=2, attention="performer"), 2)],
                         ids=["convnet", "resnet", "vit-full", "vit-performer"])
def test_costs_are_polynomials_of_the_declared_degree(config, degree):
    """Convolutions: H W positions; full attention: (H W / P^2)^2 scores; Performer: linear in tokens."""
    assert_polynomial_in_image(config, degree)


def test_polynomial_failures_are_clear():
    with pytest.raises(AssertionError, match="total degree 4 in H, W, not the declared 2"):
        assert_polynomial_in_image(ViTConfig(depth=1, width=16, heads=2), 2)
    with pytest.raises(AssertionError, match="not a polynomial in H, W"):
        assert_polynomial_in_image(Cost(forward_flops=sympy.floor(H / 3) * W), 2)


def test_crossovers_do_not_move_with_the_unit():
    # a = 1000 R^2, b = R^3: they cross at R = 1000 (b cheaper before, a after)
    assert_crossovers_unit_invariant(1000 * R**2, R**3, R, lo=1, hi=4096)
    a = cost(ResNetConfig(layers=(1, 1), width=8, image_size=R), batch=1)
    b = cost(ViTConfig(depth=1, width=32, heads=2, patch_size=16, image_size=R), batch=1)
    assert_crossovers_unit_invariant(a, b, R, lo=16, hi=2048)


def test_crossover_failure_message(monkeypatch):
    answers = iter([[(1000, "a")], [(999, "a")]])
    monkeypatch.setattr(properties, "_crossing_points", lambda *args: next(answers))
    with pytest.raises(AssertionError, match=r"change with the unit: in flop \[\(1000, 'a'\)\], in MAC \[\(999"):
        assert_crossovers_unit_invariant(1000 * R**2, R**3, R)


# -- the docs page -------------------------------------------------------------------------------
def test_docs_page_examples_print_what_the_page_says():
    """``docs/testing.md`` runs as a doctest (as ``tests/test_tutorial.py`` runs the tutorial)."""
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
    text = page.read_text(encoding="utf-8")
    body = "\n".join("" if line.lstrip().startswith("```") else line for line in text.splitlines())
    test = doctest.DocTestParser().get_doctest(body, {"__name__": "testing_page"}, page.name, str(page), 0)
    assert len(test.examples) >= 25
    report: list[str] = []
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "docs/testing.md is stale:\n" + "".join(report)


def test_a_cost_in_other_symbols_needs_values():
    symbolic = cost(CONVNET.replace(image_size=R), batch=B)
    assert_counts_match(TinyConvNet(), (2, 3, 8, 8), symbolic, values={"R": 8})
    with pytest.raises(ValueError, match="needs values for R"):
        assert_counts_match(TinyConvNet(), (2, 3, 8, 8), symbolic)
