"""Validity conditions (issue 18): a symbolic cost keeps its config's rules and refuses invalid points.

The oracle is the integer config itself: ``ViTConfig(width=100, heads=12)`` is refused by its
``__post_init__``, so ``cost(ViTConfig(width=d, heads=12)).evaluate(d=100)`` must be refused with the
same one-line error, and at a valid point both must give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.analysis.comparison import compare
from costmodel.analysis.sweeps import sweep
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B, D, R, d
from costmodel.core.validity import Condition, check_arrays, collecting, normalise, require
from costmodel.cost.value import Cost
from costmodel.models import ConvNeXtConfig, ResNetConfig, ViTConfig, cost

SMALL_VIT = dict(depth=1, num_classes=10, image_size=32, patch_size=8, width=24, heads=3)


def refusal(call: object) -> str:
    with pytest.raises(InvalidConfigError) as info:
        call()  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the examples of the issue -----------------------------------------------------------------
def test_width_not_divisible_by_heads_is_refused_like_the_integer_config() -> None:
    symbolic = refusal(lambda: cost(ViTConfig(width=d, heads=12), batch=1).evaluate(d=100))
    integer = refusal(lambda: ViTConfig(width=100, heads=12))
    assert symbolic == integer == "width=100: must be divisible by heads=12"


def test_image_not_divisible_by_patch_is_refused() -> None:
    symbolic = refusal(lambda: cost(ViTConfig(image_size=R)).evaluate(R=100, B=1))
    expected = "image_size=100: must be divisible by patch_size=16"
    assert symbolic == refusal(lambda: ViTConfig(image_size=100)) == expected


@pytest.mark.parametrize("batch", [1.5, -2.5, np.int64(-3), np.float64(0.5), 0, -3, np.int32(0), float("nan"),
                                   float("inf"), True, "8"])
def test_bad_batches_are_refused_whatever_their_type(batch: object) -> None:
    message = refusal(lambda: cost(ViTConfig(**SMALL_VIT)).evaluate(B=batch))
    assert message.startswith("B=")


def test_fractional_depth_is_refused() -> None:
    assert "must be a positive integer" in refusal(lambda: cost(ViTConfig(depth=D), batch=1).evaluate(D=0.5))


def test_numpy_and_python_integers_give_the_same_exact_counts() -> None:
    c = cost(ViTConfig(**SMALL_VIT))
    plain = c.evaluate(B=3)
    for value in (np.int64(3), np.int8(3), 3.0, np.float32(3.0), sympy.Integer(3)):
        assert c.evaluate(B=value) == plain
    assert isinstance(c.evaluate(B=np.int64(3)).forward_flops.magnitude, int)


def test_sweep_refuses_a_symbolic_field_it_does_not_sweep() -> None:
    """Was ``NameError: name 'd' is not defined``."""
    message = refusal(lambda: sweep(ViTConfig(width=d), image_size=np.array([224, 448])))
    assert message.startswith("width=d: is symbolic")


def test_compare_refuses_a_string_for_the_list_of_models() -> None:
    """Was ``unknown preset 'r'`` (the string iterated letter by letter)."""
    message = refusal(lambda: compare("resnet50"))  # type: ignore[arg-type]
    assert message.startswith("models='resnet50': must be a list of two or more models")


# -- the same rules everywhere: evaluate, subs, lambdify, sweep ---------------------------------
def test_subs_checks_and_keeps_the_conditions() -> None:
    c = cost(ViTConfig(width=d, heads=12), batch=1)
    assert refusal(lambda: c.subs(d=100)) == "width=100: must be divisible by heads=12"
    assert c.subs(d=768).conditions == ()
    two = cost(ViTConfig(width=d, heads=12, image_size=R), batch=1).subs(d=768)
    assert {x.field for x in two.conditions} == {"image_size"}


def test_lambdify_checks_every_point_vectorised() -> None:
    c = cost(ViTConfig(width=d, heads=12, depth=1, num_classes=10, image_size=32, patch_size=8), batch=1)
    f = c.lambdify(d)
    values = f(np.array([12, 24, 768]))
    assert list(values) == [int(c.evaluate(d=v).forward_flops.magnitude) for v in (12, 24, 768)]
    assert refusal(lambda: f(np.array([12, 100, 768]))) == "width=100: must be divisible by heads=12"
    assert refusal(lambda: f(np.array([12.0, 24.5]))).startswith("d=24.5: must be a positive integer")
    assert refusal(lambda: f(np.array([12, -12]))).startswith("d=-12: must be a positive integer")


def test_sweep_checks_every_point_not_only_the_ends() -> None:
    widths = np.array([192, 200, 384])  # 200 is not a multiple of 3 heads; 192 and 384 are
    message = refusal(lambda: sweep("vit_ti_16", width=widths))
    assert message == refusal(lambda: ViTConfig(width=200, heads=3)) == "width=200: must be divisible by heads=3"
    images = np.arange(16, 16 * 40, 16)
    images[17] = 300
    expected = "image_size=300: must be divisible by patch_size=16"
    assert refusal(lambda: sweep("vit_ti_16", image_size=images)) == expected


def test_convnext_rules_become_conditions() -> None:
    """The hand-written rules of a family (odd kernel, a smallest image) are conditions too."""
    k = sympy.Symbol("k", positive=True, integer=True)
    rules = {c.field: c.rule for c in ConvNeXtConfig(kernel_size=k, image_size=R).conditions()}
    assert "must be odd" in rules["kernel_size"] and "is too small" in rules["image_size"]
    c = cost(ConvNeXtConfig(image_size=R, dims=(8, 16), depths=(1, 1), num_classes=10), batch=1)
    assert refusal(lambda: c.evaluate(R=4)) == refusal(lambda: ConvNeXtConfig(image_size=4, dims=(8, 16),
                                                                               depths=(1, 1), num_classes=10))


def test_windows_too_small_for_a_symbolic_image_are_refused_at_the_point() -> None:
    """A ResNet's stem (7x7, stride 2, padding 3) then a 3x3/2 max pool: every side >= 1 works, 0 does not."""
    c = cost(ResNetConfig(image_size=R, layers=(1, 1), width=8, num_classes=10), batch=1)
    assert c.evaluate(R=1).forward_flops.magnitude > 0
    assert "must be a positive integer" in refusal(lambda: c.evaluate(R=0))


def test_integer_configs_have_no_conditions() -> None:
    assert ViTConfig().conditions() == ()
    assert cost(ViTConfig(**SMALL_VIT), batch=2).conditions == ()


# -- the hook for other producers (traced guards, new families) ---------------------------------
def test_require_refuses_now_or_records_for_later() -> None:
    with pytest.raises(InvalidConfigError, match="k=4: must be odd"):
        require("k", 4, "must be odd", sympy.Eq(sympy.Mod(4, 2), 1))
    with collecting() as found:
        require("k", d, "must be odd", sympy.Eq(sympy.Mod(d, 2), 1))
        require("k", 3, "must be odd", sympy.Eq(sympy.Mod(3, 2), 1))  # true: nothing to keep
    assert [c.field for c in found] == ["k"]
    guarded = Cost(forward_flops=2 * d).with_conditions(*found)
    assert refusal(lambda: guarded.evaluate(d=4)) == "k=4: must be odd"
    assert guarded.evaluate(d=5).forward_flops.magnitude == 10


def test_a_condition_over_two_symbols_quotes_its_value_expression() -> None:
    h = sympy.Symbol("h", positive=True, integer=True)
    cond = Condition(field="width", rule="must be divisible by heads", relation=sympy.Eq(sympy.Mod(d, h), 0), value=d)
    c = Cost(forward_flops=d * h).with_conditions(cond)
    assert refusal(lambda: c.evaluate(d=10, h=3)) == "width=10: must be divisible by heads"
    with pytest.raises(InvalidConfigError, match="width=10"):
        check_arrays((cond,), (d, h), (np.array([12, 10]), np.array([3, 3])))


def test_normalise_refuses_what_the_symbol_rules_out() -> None:
    assert normalise(B, np.int64(8)) == 8
    assert normalise(sympy.Symbol("x"), -2.5) == sympy.Float(-2.5)  # no assumptions: any finite number
    with pytest.raises(InvalidConfigError, match="must be a finite"):
        normalise(sympy.Symbol("x"), float("nan"))


@settings(max_examples=40, deadline=None, database=None)
@given(width=st.integers(1, 200), heads=st.integers(1, 12), batch=st.integers(1, 4))
def test_symbolic_evaluation_agrees_with_the_integer_config(width: int, heads: int, batch: int) -> None:
    """Valid for the integer config iff valid at the point, with the same error or the same numbers."""
    symbolic = cost(ViTConfig(**{**SMALL_VIT, "width": d, "heads": heads}))
    try:
        expected = cost(ViTConfig(**{**SMALL_VIT, "width": width, "heads": heads}), batch=batch).evaluate()
    except InvalidConfigError as exc:
        with pytest.raises(InvalidConfigError) as info:
            symbolic.evaluate(d=width, B=batch)
        assert str(info.value) == str(exc)
        return
    assert symbolic.evaluate(d=width, B=batch) == expected


def test_a_part_of_a_symbolic_cost_keeps_the_models_rules():
    """``cost.part(...)`` is checked like the whole: 12 heads do not divide a width of 100."""
    from costmodel.core.errors import InvalidConfigError
    from costmodel.core.symbols import d
    from costmodel.models import ViTConfig, cost

    part = cost(ViTConfig(width=d, heads=12), batch=1).part("blocks")
    assert part.evaluate(d=768).forward_flops.magnitude > 0
    with pytest.raises(InvalidConfigError, match="width=100"):
        part.evaluate(d=100)
