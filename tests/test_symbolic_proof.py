"""Closed forms proved equal to PyTorch's own symbolic FLOP counts.

``symbolic_flops`` traces the real module with symbolic batch / height / width
(FakeTensorMode + ShapeEnv); FlopCounterMode then yields PyTorch's closed form, which
``prove_equal`` shows to be identical to ``costmodel.models.cost`` for *all* sizes, not
only for the sizes a numeric test happens to try. The measured side is independent of
the code under test: it is PyTorch's symbolic shape propagation through the real module.
"""

from __future__ import annotations

import functools

import costmodel.validation.symbolic as symbolic
import pytest
import sympy
import torch
import torch.utils._sympy.functions as tfn
from costmodel.validation.build import build
from costmodel.validation.flops import count_flops
from costmodel.validation.symbolic import (
    Proof,
    ProofError,
    SymbolicShapeError,
    canonical_floors,
    prove_equal,
    symbolic_flops,
    to_sympy,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.symbols import B, H, W
from costmodel.models import ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig, cost
from costmodel.models.presets import get_preset

floor = sympy.floor
G_h, G_w = sympy.symbols("G_h G_w", positive=True, integer=True)  # ViT patch grid

SMALL_RESNET = ResNetConfig(block="basic", layers=(1, 1), width=8, num_classes=10, image_size=32)
SMALL_CONVNET = ConvNetConfig(channels=(8, 16), num_classes=10, image_size=32)
STRIDED_CONVNET = ConvNetConfig(channels=(8, 16), kernel_size=5, stride=2, padding=2, dilation=2,
                                groups=2, pool="avg", activation="gelu", bias=False, image_size=64)
SMALL_VIT = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, num_classes=10)


@functools.cache
def _traced(config, dynamic=("batch", "height", "width")):
    """One trace per case for the whole module (a trace takes seconds)."""
    return symbolic_flops(config, dynamic)


def _prove_cost(config, measured, symbols, *, substitute=None):
    """Prove forward and backward FLOPs equal; return the two proofs."""
    predicted = cost(config, batch=B if B in symbols else 1)
    sub = substitute or {}
    return [prove_equal(p, m.subs(sub), symbols)
            for p, m in ((predicted.forward_flops, measured.forward), (predicted.backward_flops, measured.backward))]


# -- the families, sizes symbolic --------------------------------------------------------
@pytest.mark.parametrize("config", [SMALL_RESNET, SMALL_CONVNET, STRIDED_CONVNET],
                         ids=["resnet", "convnet", "convnet-strided"])
def test_convnets_batch_height_width_symbolic(config):
    measured = _traced(config)
    assert measured.forward.free_symbols == {B, H, W}
    proofs = _prove_cost(config.replace(image_size=(H, W)), measured, [B, H, W])
    assert all(p.complete for p in proofs), proofs
    assert measured.params == cost(config).params


def test_symbolic_count_matches_a_real_run():
    """PyTorch's closed form, evaluated at one size, is what a real CPU run counts."""
    measured = _traced(SMALL_RESNET)
    sizes = {"B": 2, "H": 35, "W": 50}
    assert measured.guards_hold(**sizes)
    torch.manual_seed(0)
    real = count_flops(build(SMALL_RESNET), torch.randn(2, 3, 35, 50))
    table = {B: 2, H: 35, W: 50}
    assert (measured.forward.subs(table), measured.backward.subs(table)) == (real.forward, real.backward)


def test_resnet_floor_structure():
    """Each stride-2 stage halves the map with a floor: sizes 1 + floor((H - 1)/2^k)."""
    forward, _ = _traced(SMALL_RESNET)
    floors = {canonical_floors(a) for a in forward.atoms(sympy.floor)}
    assert floors == {canonical_floors(floor((s - 1) / 2**k)) for s in (H, W) for k in (1, 2, 3)}


def test_guards_are_reported_in_canonical_symbols():
    measured = _traced(SMALL_RESNET)
    assert measured.hints == {B: 5, H: 39, W: 41}
    assert measured.guards and all(g.free_symbols <= {B, H, W} for g in measured.guards)
    assert measured.guards_hold(B=5, H=39, W=41)
    # a 2-pixel image leaves a 1-pixel map after the stem: PyTorch's trace excluded that case
    assert not measured.guards_hold(B=5, H=2, W=41)


def test_vit_batch_symbolic():
    measured = _traced(SMALL_VIT, ("batch",))
    assert measured.forward.free_symbols == {B}
    proofs = _prove_cost(SMALL_VIT, measured, [B])
    assert [p.method for p in proofs] == ["symbolic", "symbolic"]


@pytest.mark.parametrize("attention,fused", [("full", True), ("causal", False)])
def test_vit_patch_grid_symbolic(attention, fused):
    """Without a position embedding (fixed length L) PyTorch keeps the image size symbolic.

    PyTorch counts with ``floor(H/P)``; on images the patch divides (``H = P G_h``) that is
    the grid ``G_h`` of the closed form.
    """
    config = SMALL_VIT.replace(position_embedding=False, attention=attention, fused_attention=fused)
    measured = _traced(config)
    patch = config.patch_size
    grid_config = config.replace(image_size=(patch * G_h, patch * G_w))
    proofs = _prove_cost(grid_config, measured, [B, G_h, G_w], substitute={H: patch * G_h, W: patch * G_w})
    assert all(p.complete for p in proofs)


@pytest.mark.slow
def test_convnext_batch_height_width_symbolic():
    config = ConvNeXtConfig(dims=(8, 16), depths=(1, 1), num_classes=10, image_size=32)
    measured = _traced(config)
    proofs = _prove_cost(config.replace(image_size=(H, W)), measured, [B, H, W])
    assert all(p.complete for p in proofs)


def test_specialised_size_is_an_error(monkeypatch):
    """A module that branches on the batch size makes PyTorch fix it: no closed form in B."""

    class BranchOnBatch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)

        def forward(self, x):
            y = self.fc(x.mean((2, 3)))
            return y if x.shape[0] == 5 else 2 * y

    monkeypatch.setattr(symbolic, "build", lambda config: BranchOnBatch())
    with pytest.raises(SymbolicShapeError, match=r"specialised \['batch'\].*Eq\(B, 5\)"):
        symbolic_flops(SMALL_CONVNET)


def test_vit_position_embedding_fixes_the_image_size():
    with pytest.raises(SymbolicShapeError, match="height"):
        symbolic_flops(SMALL_VIT, ("batch", "height"))


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["resnet18", "vit_b_16"])
def test_presets_batch_symbolic(preset):
    config = get_preset(preset)
    measured = _traced(config, ("batch",))
    assert measured.forward.free_symbols == {B}
    proofs = _prove_cost(config, measured, [B])
    assert [p.method for p in proofs] == ["symbolic", "symbolic"]
    assert measured.params == cost(config).params


# -- PyTorch's sympy -> plain sympy --------------------------------------------------------
def test_to_sympy_translates_torch_functions():
    s0, s1 = sympy.symbols("s0 s1", positive=True, integer=True)
    names = {s0: H, s1: W}
    assert to_sympy(tfn.FloorDiv(s0 - 1, 2) + 1, names) == floor((H - 1) / 2) + 1
    assert prove_equal(to_sympy(tfn.CeilDiv(s0, 3), names), sympy.ceiling(H / 3), [H]).method == "symbolic"
    assert to_sympy(tfn.PythonMod(s0, s1), names) == sympy.Mod(H, W)
    assert to_sympy(tfn.ModularIndexing(s0, 4, 8), names) == sympy.Mod(floor(H / 4), 8)
    with pytest.raises(SymbolicShapeError, match="s2"):
        to_sympy(sympy.Symbol("s2", positive=True, integer=True) + 1, names)


# -- prove_equal on hand-made identities -------------------------------------------------
def test_nested_floors_prove_symbolically():
    # floor(floor(x/a)/b) = floor(x/(a b)) (Graham, Knuth, Patashnik, Concrete Mathematics, eq. 3.11): two stride-2
    # halvings of (H - 1) are one division by 4.
    proof = prove_equal(floor(floor((H - 1) / 2) / 2) + 1, floor((H - 1) / 4) + 1, [H])
    assert proof == Proof(method="symbolic")


def test_ceiling_and_mod_are_canonicalised():
    assert prove_equal(sympy.ceiling(H / 2), floor((H + 1) / 2), [H]).method == "symbolic"
    assert prove_equal(sympy.Mod(H, 3) + 3 * floor(H / 3), H, [H]).method == "symbolic"


def test_identity_beyond_sympy_is_proved_exhaustively():
    # floor(H/2) + floor((H+1)/2) = H (Hermite's identity for n = 2): period 2, degree 1,
    # so 2 points of each residue prove it for all H.
    proof = prove_equal(B * W * (floor(H / 2) + floor((H + 1) / 2)), B * H * W, [B, H, W])
    assert proof.method == "exhaustive" and proof.complete
    assert proof.points == 8 * 8 * 8


def test_difference_at_a_large_size_is_found():
    # equal below 32, different from H = 32 on: the grid must reach a full period.
    with pytest.raises(ProofError, match="'H': 32"):
        prove_equal(floor(H / 32) + H, H, [H])


def test_small_explicit_grid_is_not_complete():
    proof = prove_equal(floor(H / 2) + floor((H + 1) / 2), H, [H], ranges={H: range(5, 7)})
    assert (proof.method, proof.points, proof.complete) == ("exhaustive", 2, False)


def test_unlisted_symbol_is_an_error():
    with pytest.raises(ProofError, match="W"):
        prove_equal(H * W, W * H, [H])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3)),
                min_size=1, max_size=4),
       st.integers(40, 400))
def test_canonical_floors_keeps_the_value(layers, size):
    """A chain of conv/pool output sizes keeps its value at any size once canonicalised."""
    from costmodel.ops.conv import conv_out_size

    expr = H
    value = size
    for kernel, stride, padding, dilation in layers:
        expr = conv_out_size(expr, kernel, stride, padding, dilation)
        value = (value + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1  # torch.nn.Conv2d docs
    if value < 1:
        return
    canonical = canonical_floors(expr)
    assert canonical.subs(H, size) == value
    assert len(canonical.atoms(sympy.floor)) <= 1  # nested floors flattened into one
