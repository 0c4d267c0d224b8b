"""Fuzzing config construction, parsing and costing (issue 7).

Every input gives either a valid config whose cost is right, or one clear
:class:`~costmodel.core.errors.CostModelError` (one line, naming the field), never a
``TypeError``, ``ZeroDivisionError``, SymPy error or a computation that does not finish.

"Right" is checked by invariants derived by hand: parameters are positive and do not
depend on the batch, FLOPs are exactly linear in the batch, ``divisible`` changes nothing
for integer sizes, the ``full`` convention counts at least the ``flop_counter`` FLOPs, and,
for ConvNet, ViT, ConvNeXt, PixelCNN and the AR transformer, closed forms written out below
from the PyTorch layer definitions. The second half times the inputs that used to make
SymPy explode against the limits of :mod:`costmodel.core.checks`.
"""

from __future__ import annotations

import dataclasses
import re
import time
from fractions import Fraction
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.core.checks import MAX_SIZE, MAX_STAGES, MAX_SYMBOLIC_STAGES
from costmodel.core.errors import CostModelError, InvalidConfigError, UnknownPresetError, one_line
from costmodel.core.symbols import B, D, H, K, P, R, W, d, h
from costmodel.models import FAMILIES, ConvNetConfig, ConvNeXtConfig, ResNetConfig, ViTConfig, cost
from costmodel.models.generative import ARTransformerConfig, PixelCNNConfig, sample_cost
from costmodel.models.presets import PRESETS, get_preset
from costmodel.strategies import any_config

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
n = sympy.Symbol("n", positive=True, integer=True)
BOUND_S = 20  # generous wall-clock bound of every "used to explode" case

ODD_SYMPY = [n, n + 1, n / 2, -n, 2 * n, n**2, sympy.floor(n / 3), sympy.Symbol("x"), sympy.Symbol("m", integer=True),
             sympy.Integer(4), sympy.Integer(-3), sympy.Rational(1, 2), sympy.Float(2.0), sympy.oo, sympy.nan,
             sympy.zoo, sympy.I, 2**n, sympy.factorial(n), n**n, n**9, sympy.exp(n), sympy.Function("f")(n),
             sympy.MatrixSymbol("A", 2, 2), sympy.Symbol("c", commutative=False), n > 1, sympy.Integer(10**31) * n]
ODD = st.one_of(
    st.integers(-5, 70), st.sampled_from([0, 10**30, 10**30 + 1, 2**63, -(10**30), 10**5000]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-300, 2.5, 4.0, -0.0]),
    st.booleans(), st.none(), st.text(max_size=6), st.sampled_from(["3", "3,4", "a\nb", "ü", "2x2"]),
    st.lists(st.integers(-2, 40), max_size=5).map(tuple), st.sampled_from([(n, n), (0, 4), ((1, 2),), (8,) * 200]),
    st.sampled_from(ODD_SYMPY), st.sampled_from([Fraction(5, 2), Fraction(1, 10**40), 3 + 0j, b"x", {1: 2}]),
)


def valid_value(kind: str, f: dataclasses.Field[Any]) -> st.SearchStrategy[Any]:
    """Plausible values of a field of ``kind`` (many still break a cross-field rule)."""
    small = st.integers(0 if f.metadata.get("allow_zero") else 1, 40)
    return {
        "size": small, "sizes": st.lists(st.integers(1, 24), min_size=1, max_size=4).map(tuple),
        "image": st.one_of(st.integers(1, 96), st.tuples(st.integers(1, 96), st.integers(1, 96))),
        "ratio": st.sampled_from([1, 2, 4, Fraction(3, 2), 2.5]),
        "choice": st.sampled_from(f.metadata.get("choices", ("",))), "flag": st.booleans(),
    }[kind]


def field_values(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """A few fields of ``cls`` with valid-looking or odd values."""
    fields = dataclasses.fields(cls)
    pairs = [st.tuples(st.just(f.name), st.one_of(valid_value(f.metadata["kind"], f), ODD)) for f in fields]
    return st.lists(st.one_of(*pairs), max_size=4).map(dict)


def assert_clear(exc: CostModelError, names: tuple[str, ...] = ()) -> None:
    """One line; an InvalidConfigError names a field of the config (or the batch) and its value first."""
    text = str(exc)
    assert "\n" not in text and text.strip(), repr(text)
    if isinstance(exc, InvalidConfigError) and names:
        root = exc.field.split("[")[0].split(".")[0]
        assert exc.field in names or root in (*names, "batch", "config"), text
        assert text.startswith(f"{one_line(exc.field)}="), text


def is_integer_config(config: Any) -> bool:
    values = [getattr(config, f.name) for f in dataclasses.fields(config)]
    flat = [v for value in values for v in (value if isinstance(value, tuple) else (value,))]
    return not any(isinstance(v, sympy.Basic) and v.free_symbols for v in flat)


def try_cost(config: Any, **options: Any) -> Any:
    """``cost(config, ...)``, or None after checking a refusal is one clear error."""
    try:
        return cost(config, **options)
    except CostModelError as exc:
        assert_clear(exc, type(config).field_names())
        return None


def check_invariants(config: Any, batch: int) -> None:
    """The invariants of every integer config (module docstring)."""
    one = try_cost(config, batch=batch)
    if one is None:
        return
    two = cost(config, batch=2 * batch)
    assert one.params.is_Integer and one.params > 0
    assert two.params == one.params
    assert two.forward_flops == 2 * one.forward_flops and two.backward_flops == 2 * one.backward_flops
    assert one.forward_flops.is_Integer and one.forward_flops > 0 and one.backward_flops >= 0
    assert cost(config, batch=batch, divisible=True).metrics() == one.metrics()
    assert cost(config, batch=batch, convention="full").forward_flops >= one.forward_flops
    expected = HAND.get(type(config))
    if expected is not None:
        for name, value in expected(config, batch).items():
            assert getattr(one, name) == value, (name, config)


# -- closed forms by hand, from the PyTorch layer definitions --------------------------------
def convnet_by_hand(c: ConvNetConfig, b: int) -> dict[str, int]:
    """Conv2d output ``floor((S + 2p - dil (k - 1) - 1) / s) + 1``, 2x2/2 pool ``floor(S / 2)``.

    Forward ``2 B Ho Wo C_out C_in / g k^2`` per conv, ``2 B C n`` for the head; backward the
    weight gradient (dense: ``g`` times, as FlopCounterMode counts it) and, after the first
    layer, the input gradient; the head has both.
    """
    (hh, ww), forward, backward, params, c_in = c.image_hw, 0, 0, 0, c.in_channels
    for i, c_out in enumerate(c.channels):
        g = 1 if i == 0 else c.groups
        hh, ww = ((s + 2 * c.padding - c.dilation * (c.kernel_size - 1) - 1) // c.stride + 1 for s in (hh, ww))
        macs = b * hh * ww * c_out * (c_in // g) * c.kernel_size**2
        forward += 2 * macs
        backward += 2 * macs * g + (2 * macs if i > 0 else 0)
        params += c_out * (c_in // g) * c.kernel_size**2 + (c_out if c.bias else 0) + (2 * c_out if c.norm == "batch"
                                                                                      else 0)
        if c.pool != "none":
            hh, ww = hh // 2, ww // 2
        c_in = c_out
    head = 2 * b * c_in * c.num_classes
    return {"forward_flops": forward + head, "backward_flops": backward + 2 * head,
            "params": params + c_in * c.num_classes + c.num_classes}


def vit_by_hand(c: ViTConfig, b: int) -> dict[str, int]:
    """Dosovitskiy et al. Eq. 1-4 with torchvision's layer shapes (full or causal attention)."""
    if c.attention not in ("full", "causal"):
        return {}
    (hh, ww), p, dd, m = c.image_hw, c.patch_size, c.width, int(c.mlp_ratio * c.width)
    patches = (hh // p) * (ww // p)
    tokens = patches + 1
    block = 2 * dd + (3 * dd * dd + 3 * dd) + (dd * dd + dd) + 2 * dd + (dd * m + m) + (m * dd + dd)
    params = (p * p * c.in_channels * dd + dd) + dd + (tokens * dd if c.position_embedding else 0) \
        + c.depth * block + 2 * dd + dd * c.num_classes + c.num_classes
    macs = patches * p * p * c.in_channels * dd + c.depth * (4 * tokens * dd * dd + 2 * tokens**2 * dd
                                                             + 2 * tokens * dd * m) + dd * c.num_classes
    return {"params": params, "forward_flops": 2 * b * macs}


def convnext_params_by_hand(c: ConvNeXtConfig, b: int) -> dict[str, int]:
    """Liu et al. Fig. 4 / torchvision CNBlock: stem, blocks, downsamplings, head."""
    k, r, dims = c.kernel_size, c.mlp_ratio, c.dims
    params = 16 * c.in_channels * dims[0] + dims[0] + 2 * dims[0]
    for i, (dd, depth) in enumerate(zip(dims, c.depths, strict=True)):
        params += depth * ((k * k * dd + dd) + 2 * dd + (r * dd * dd + r * dd) + (r * dd * dd + dd) + dd)
        if i + 1 < len(dims):
            params += 2 * dd + 4 * dd * dims[i + 1] + dims[i + 1]
    return {"params": params + 2 * dims[-1] + dims[-1] * c.num_classes + c.num_classes}


def pixelcnn_by_hand(c: PixelCNNConfig, b: int) -> dict[str, int]:
    """van den Oord et al. 2016: mask-A stem, ``D`` mask-B blocks, two 1x1 convs (dense kernels)."""
    (hh, ww), f, ch, v = c.image_hw, c.width, c.in_channels, c.levels
    macs = b * hh * ww * (c.first_kernel**2 * ch * f + c.depth * c.kernel_size**2 * f * f + f * f + f * ch * v)
    params = (c.first_kernel**2 * ch * f + f) + c.depth * (c.kernel_size**2 * f * f + f) + (f * f + f) \
        + (f * ch * v + ch * v)
    return {"forward_flops": 2 * macs, "params": params}


def ar_by_hand(c: ARTransformerConfig, b: int) -> dict[str, int]:
    """GPT-2 style decoder on ``tau = C H W`` tokens: ``2 B [D ((4 + 2r) tau d^2 + 2 tau^2 d) + tau d V]``."""
    hh, ww = c.image_hw
    tau, dd, m, v = c.in_channels * hh * ww, c.width, c.mlp_dim, c.vocab_size
    block = 4 * dd * dd + 2 * m * dd + 9 * dd + m
    return {"forward_flops": 2 * b * (c.depth * (4 * tau * dd * dd + 2 * tau * m * dd + 2 * tau * tau * dd)
                                      + tau * dd * v),
            "params": (v + 1) * dd + tau * dd + c.depth * block + 2 * dd + dd * v}


HAND = {ConvNetConfig: convnet_by_hand, ViTConfig: vit_by_hand, ConvNeXtConfig: convnext_params_by_hand,
        PixelCNNConfig: pixelcnn_by_hand, ARTransformerConfig: ar_by_hand}


def test_hand_forms_agree_with_known_counts():
    """The hand forms themselves, on published / documented counts."""
    assert vit_by_hand(get_preset("vit_b_16"), 1)["params"] == 86_567_656  # torchvision ViT_B_16_Weights
    assert convnext_params_by_hand(get_preset("convnext_tiny"), 1)["params"] == 28_589_128  # torchvision
    small = ConvNetConfig(channels=(8,), image_size=4, pool="none", norm="none", num_classes=2)
    assert convnet_by_hand(small, 1)["forward_flops"] == 2 * 16 * 8 * 27 + 2 * 8 * 2


# -- the fuzzing ------------------------------------------------------------------------------
@pytest.mark.parametrize("family", sorted(FAMILIES))
@FUZZ
@given(data=st.data())
def test_random_fields_give_a_correct_config_or_one_clear_error(family, data):
    cls = FAMILIES[family]
    values = data.draw(field_values(cls), label="fields")
    try:
        config = cls(**values)
    except CostModelError as exc:
        assert_clear(exc, cls.field_names())
        return
    batch = data.draw(st.integers(1, 4), label="batch")
    if is_integer_config(config):
        check_invariants(config, batch)
    elif (c := try_cost(config, batch=B)) is not None:
        numbers = {s: data.draw(st.integers(1, 64), label=str(s)) for s in c.free_symbols}
        try:
            c.evaluate(numbers)
        except CostModelError as exc:  # e.g. floor(n/3) = 0 somewhere: a clear refusal
            assert_clear(exc)


#: valid integer configs of every family, from the public strategies (costmodel.strategies); configs
#: whose image is too small for the network are drawn by the random-fields test above
VALID_CONFIGS = any_config(image_size=(1, 48))


@settings(max_examples=80, deadline=None)
@given(config=VALID_CONFIGS, batch=st.integers(1, 5))
def test_valid_integer_configs_have_the_hand_derived_costs(config, batch):
    check_invariants(config, batch)


TEXTS = st.one_of(st.text(max_size=10), st.sampled_from([
    "", " ", "0", "-3", "3,4", "3,,4", ",", "x", "HxW", "1x2", "2X3", "1x2x3", "3/0", "8/3", "2.5", "nan", "inf",
    "1e400", "1e-300", "true", "YES", "maybe", "ü", "lambda", "None", "a b", "1_000", "²", "9" * 5000, "1," * 300,
    "0x10", "\x00",
    "(3,4)", "[3]", "2**n", "factorial(n)", "__import__('os')"]))


@pytest.mark.parametrize("family", sorted(FAMILIES))
@FUZZ
@given(data=st.data())
def test_parse_field_and_replace_give_a_config_or_one_clear_error(family, data):
    cls = FAMILIES[family]
    name = data.draw(st.one_of(st.sampled_from(cls.field_names()), st.text(max_size=5)), label="field")
    text = data.draw(TEXTS, label="text")
    try:
        config = cls().replace(**{name: cls.parse_field(name, text)})
    except CostModelError as exc:
        assert_clear(exc, (*cls.field_names(), name))
        return
    if is_integer_config(config):
        check_invariants(config, 1)
    else:
        try_cost(config, batch=B)


@pytest.mark.parametrize("name", sorted(PRESETS))
@settings(max_examples=8, deadline=None)
@given(batch=st.one_of(st.integers(1, 8), ODD), field=st.data())
def test_presets_with_random_batches_and_replacements(name, batch, field):
    config = get_preset(name)
    try:
        c = cost(config, batch=batch)
    except InvalidConfigError as exc:
        assert exc.field == "batch" and "\n" not in str(exc)
    else:
        if isinstance(batch, int) and batch <= MAX_SIZE // 2:
            assert cost(config, batch=2 * batch).forward_flops == 2 * c.forward_flops and c.params > 0
    f = field.draw(st.sampled_from(dataclasses.fields(config)), label="field")
    try:
        changed = config.replace(**{f.name: field.draw(ODD, label="value")})
    except CostModelError as exc:
        assert_clear(exc, config.field_names())
    else:
        try_cost(changed, batch=1)


OPTION_VALUES = ["full", "flop_counter", "FULL", "float32", "bfloat16", "float16", "fp8", "", [1], {}, True, False,
                 None, 3, 1.5, n]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("option", ["convention", "precision", "divisible"])
def test_cost_options_give_a_count_or_one_clear_error(family, option):
    config = FAMILIES[family]()
    for value in OPTION_VALUES:
        try:
            c = cost(config, batch=1, **{option: value})
        except CostModelError as exc:
            assert_clear(exc)
        else:
            assert c.params == cost(config, batch=1).params  # no option changes the parameters


@settings(max_examples=30, deadline=None)
@given(name=st.text(max_size=12))
def test_unknown_preset_names_are_one_clear_error(name):
    if name in PRESETS:
        return
    with pytest.raises(UnknownPresetError) as exc:
        get_preset(name)
    assert "\n" not in str(exc.value) and "Known: convnext_base" in str(exc.value)


@pytest.mark.parametrize("family", ["pixelcnn", "ar_transformer", "conv_vae", "vit_vae"])
@FUZZ
@given(data=st.data(), batch=st.one_of(st.integers(1, 4), ODD), cache=st.one_of(st.booleans(), ODD),
       steps=st.one_of(st.none(), st.integers(1, 5), ODD))
def test_sample_cost_gives_a_count_or_one_clear_error(family, data, batch, cache, steps):
    cls = FAMILIES[family]
    try:
        config = cls(**data.draw(field_values(cls), label="fields"))
        c = sample_cost(config, batch=batch, cache=cache, steps=steps)
        value = c.evaluate({s: 3 for s in c.free_symbols})
    except CostModelError as exc:
        assert_clear(exc)
    else:
        assert c.backward_flops == 0 and value.forward_flops.magnitude > 0


# -- blow-ups: fast, or one clear error, within a bound --------------------------------------
def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        out = fn()
    except CostModelError as exc:
        out = exc
    return out, time.perf_counter() - start


@pytest.mark.parametrize("make, message", [
    (lambda: ConvNetConfig(channels=(8,) * 10**6, pool="none"), "at most 128"),
    (lambda: ResNetConfig(layers=list(range(1, MAX_STAGES + 2))), "at most 128"),
    (lambda: ConvNetConfig(channels="1," * 10**5), "at most 128"),
    (lambda: ConvNetConfig(channels=(8,) * (MAX_SYMBOLIC_STAGES + 1), image_size=n), "symbolic size supports at most"),
    (lambda: ConvNeXtConfig(dims=(d,) * 13, depths=(3,) * 13), "symbolic size supports at most"),
    (lambda: ViTConfig(image_size=2**n * 16), r"found 2\*\*n"),
    (lambda: ViTConfig(depth=sympy.factorial(n)), "found factorial"),
    (lambda: ViTConfig(width=sympy.Add(*sympy.symbols("s0:300", positive=True, integer=True))), "too large"),
    (lambda: ViTConfig(image_size=16 * sympy.Add(*sympy.symbols("a:d", positive=True, integer=True))**8),
     "degree at most 4"),
    (lambda: ViTConfig(width=sympy.Add(*sympy.symbols("a:f", positive=True, integer=True))), "at most 4 symbols"),
    (lambda: ViTConfig(depth=10**31), "at most 10\\*\\*30"),
    (lambda: ViTConfig(depth=10**100000), "at most 10\\*\\*30"),
    (lambda: ViTConfig.parse_field("image_size", "9" * 5000), "cannot be parsed"),
    (lambda: ViTConfig(mlp_ratio=float("inf")), "finite positive"),
    (lambda: ViTConfig(mlp_ratio=1e-300), "rounds to 0"),
])
def test_explosive_inputs_are_refused_quickly(make, message):
    out, seconds = timed(make)
    assert isinstance(out, InvalidConfigError) and "\n" not in str(out), out
    assert re.search(message, str(out)), str(out)
    assert seconds < BOUND_S


SYMBOLS = sympy.symbols("a:d", positive=True, integer=True)
BIG_POLYNOMIAL = sympy.Add(*SYMBOLS)**4  # the largest a size may be: degree 4 in 4 symbols

WORST_SYMBOLIC = [
    ConvNetConfig(channels=(d,) * MAX_SYMBOLIC_STAGES, image_size=(H, W), stride=2, kernel_size=K, dilation=2),
    ResNetConfig(layers=(D,) * MAX_SYMBOLIC_STAGES, width=d, image_size=(H, W)),
    ConvNeXtConfig(dims=(d,) * MAX_SYMBOLIC_STAGES, depths=(D,) * MAX_SYMBOLIC_STAGES, image_size=R),
    ViTConfig(image_size=(H, W), patch_size=P, width=d, depth=D, heads=h, mlp_ratio=sympy.Symbol("r", positive=True)),
    ViTConfig(image_size=16 * BIG_POLYNOMIAL, patch_size=sympy.floor(BIG_POLYNOMIAL / 3), width=2 * BIG_POLYNOMIAL,
              heads=2, depth=BIG_POLYNOMIAL, in_channels=BIG_POLYNOMIAL),
]


@pytest.mark.parametrize("config", WORST_SYMBOLIC, ids=["convnet", "resnet", "convnext", "vit", "vit-polynomials"])
def test_symbolic_configs_at_the_limit_cost_and_evaluate_in_bounded_time(config):
    def run():
        c = cost(config, batch=B)
        values = {s: 2**40 + 7 for s in c.free_symbols}
        return c.expand() if getattr(config, "patch_size", None) == P else c, c.evaluate(values)

    out, seconds = timed(run)
    assert seconds < BOUND_S
    if isinstance(out, InvalidConfigError):  # the point breaks a rule of the config (issue 18): one-line refusal
        assert "\n" not in str(out) and str(out).startswith(f"{out.field}=")
        return
    c, value = out
    assert value.forward_flops.magnitude > 0 and c.free_symbols


@pytest.mark.parametrize("config", [
    ConvNetConfig(channels=(3,) * MAX_STAGES, pool="none"),
    ResNetConfig(layers=(2,) * MAX_STAGES, width=1, image_size=32),
    ConvNeXtConfig(dims=(2,) * 7, depths=(MAX_SIZE,) * 7, image_size=256),
    ViTConfig(image_size=16 * 10**28, patch_size=16, width=10**30, heads=10**30, depth=10**30, mlp_ratio=1),
], ids=["convnet-128", "resnet-128", "convnext-huge-depth", "vit-huge"])
def test_integer_configs_at_the_limits_cost_in_bounded_time(config):
    (c, seconds) = timed(lambda: cost(config, batch=MAX_SIZE if config.family == "vit" else 2).evaluate())
    assert seconds < BOUND_S and c.params.magnitude > 0


def test_sampling_with_a_polynomial_width_does_not_expand_it():
    config = ARTransformerConfig(image_size=(1, 8), width=BIG_POLYNOMIAL, heads=1, depth=2)
    (c, seconds) = timed(lambda: sample_cost(config, batch=1, steps=3))
    assert seconds < BOUND_S
    values = {s: 3 for s in SYMBOLS}  # width 12**4: the closed form summed over 3 steps, by hand
    assert c.forward_flops.subs(values) == sum(ar_step_by_hand(config, 12**4, step) for step in (1, 2, 3))


def ar_step_by_hand(c: ARTransformerConfig, width: int, step: int) -> int:
    """Uncached step ``t``: ``2 [D ((4 + 2r) t d^2 + 2 t^2 d) + d V]`` (the head on the last position)."""
    return 2 * (c.depth * ((4 + 2 * 4) * step * width**2 + 2 * step**2 * width) + width * c.vocab_size)


def test_evaluating_at_giant_or_degenerate_values_is_a_number_or_one_clear_error():
    c = cost(ViTConfig(image_size=R, patch_size=16, width=d, heads=1, depth=D), batch=B, divisible=True)
    out, seconds = timed(lambda: c.evaluate(B=10**30, R=16 * 10**30, d=10**30, D=10**30))
    assert seconds < BOUND_S and out.forward_flops.magnitude > 10**150  # exact integers, no float overflow
    for values in ({"B": 1e308, "R": 16, "d": 1, "D": 1}, {"B": None, "R": 16, "d": 1, "D": 1},
                   {"B": sympy.oo, "R": 16, "d": 1, "D": 1}):
        out, _ = timed(lambda values=values: c.evaluate(**values))
        assert isinstance(out, InvalidConfigError) and "\n" not in str(out), out
    groups = cost(ConvNetConfig(channels=(4, 4), groups=sympy.floor(n / 3)), batch=1)
    out, _ = timed(lambda: groups.evaluate(n=1))  # groups = 0 there: refused as ConvNetConfig(groups=0) is (issue 18)
    assert isinstance(out, InvalidConfigError) and str(out) == "groups=0: must be a positive integer"
