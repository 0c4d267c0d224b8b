"""Notebook and terminal output of the result types: text, HTML and LaTeX (costmodel.display).

Expected strings are derived by hand here (a convolution's FLOPs and parameters, a
ConvNet's gradient bytes); HTML is checked with the standard library's parser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
import sympy

from costmodel.analysis.comparison import compare
from costmodel.analysis.crossover import crossovers, symbolic_crossovers
from costmodel.core.symbols import L, R, d
from costmodel.core.units import ureg
from costmodel.cost.value import Cost
from costmodel.display import Table, Value, format_quantity, format_value, row, tables
from costmodel.hardware.parallel import memory_per_gpu, model_states
from costmodel.hardware.planning import plan
from costmodel.memory.budget import largest_batch
from costmodel.memory.footprint import inference_memory, training_memory
from costmodel.models import ConvNetConfig, cost
from costmodel.models.presets import get_preset
from costmodel.ops.conv import conv2d

TINY = ConvNetConfig()  # 3 -> 32 -> 64 channels, 3x3 convs with bias, batch norm, 32 px, 10 classes
HTML_TAGS = {"div", "table", "caption", "b", "thead", "tbody", "tr", "th", "td", "code", "p"}


class _Checker(HTMLParser):
    """Collects the text of every tag and checks that tags nest and close."""

    VOID = {"br", "hr", "img", "meta"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[str] = []  # text of every <th>/<td>
        self.row_heads: list[str] = []  # text of the <th> that starts a body row
        self.tags: set[str] = set()
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "tbody":
            self._in_body = True
        if tag in ("th", "td"):
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]!r}"
        self.stack.pop()
        if tag == "tbody":
            self._in_body = False
        if tag == "th" and self._in_body:
            self.row_heads.append(self.cells[-1])

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("th", "td", "code"):
            self.cells[-1] += data


def parse_html(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], f"unclosed tags {checker.stack}"
    return checker


def check_latex(text: str) -> None:
    assert text.startswith("$") and text.endswith("$") and text.count("$") - text.count(r"\$") == 2
    bare = text.replace(r"\{", "").replace(r"\}", "")
    assert bare.count("{") == bare.count("}")
    assert text.count(r"\begin{array}") == text.count(r"\end{array}") >= 2


# -- hand-derived values -----------------------------------------------------------------
def stem_conv() -> Cost:
    # ResNet's stem: Conv2d(3, 64, 7, stride 2, padding 3, bias=False) on 224 px -> 112 x 112; the image
    # needs no gradient. MACs = Cout Cin k k Ho Wo = 64 * 3 * 7 * 7 * 112 * 112 = 118,013,952;
    # forward FLOPs = 2 MACs = 236,027,904 (236.0 MFLOP); backward: the weight gradient only, the
    # same 236,027,904; params = 64 * 3 * 7 * 7 = 9408.
    return conv2d(batch=1, in_channels=3, out_channels=64, out_size=(112, 112), kernel_size=7, bias=False,
                  input_grad=False)


def test_conv_cost_str_hand_derived() -> None:
    c = stem_conv()
    assert int(c.forward_flops) == 2 * 64 * 3 * 7 * 7 * 112 * 112  # the derivation above, checked first
    text = str(c)
    assert re.search(r"^  forward +236 MFLOP \(118 MMAC\)$", text, re.M), text
    assert re.search(r"^  backward +236 MFLOP$", text, re.M), text
    assert re.search(r"^  forward \+ backward +472.1 MFLOP$", text, re.M), text  # 472,055,808
    assert re.search(r"^  params +9.408 kparam$", text, re.M), text
    assert str(c.evaluate()).splitlines()[1:] == text.splitlines()[1:5]


def test_cost_of_three_macs_shows_six_flops() -> None:
    flops = (3 * ureg.MAC).to("flop").magnitude
    c = Cost(forward_flops=flops, params=1)
    assert format_quantity(3 * ureg.MAC) == "6 FLOP"
    for text in (str(c), c._repr_html_(), c._repr_latex_(), str(c.evaluate())):
        assert "6" in text and "3 FLOP" not in text and "3\\ \\mathrm{FLOP}" not in text
    assert "6 FLOP (3 MAC)" in str(c)
    assert "6\\ \\mathrm{FLOP}" in c._repr_latex_()


def test_gradient_bytes_of_a_convnet_hand_derived() -> None:
    # params: conv 3*32*9 + 32 = 896, bn 2*32 = 64, conv 32*64*9 + 64 = 18496, bn 128, fc 64*10 + 10 = 650
    params = 896 + 64 + 18496 + 128 + 650
    memory = training_memory(TINY, batch=2, optimizer="adam")
    assert int(memory.gradients) == 4 * params
    text = str(memory)
    assert re.search(r"^  gradients +79.04 KiB$", text, re.M), text  # 80936 B / 1024 = 79.039
    assert re.search(r"^  optimizer state +158.1 KiB$", text, re.M), text  # two Adam moments: 161872 B


def test_symbolic_cost_shows_expressions_with_units() -> None:
    c = cost(get_preset("vit_ti_16").replace(image_size=R), divisible=True)
    text = str(c)
    assert text.startswith("Cost (symbolic in B, R)")
    assert f"({sympy.sstr(c.forward_flops)}) FLOP" in text
    assert c.params.is_Add and f"({sympy.sstr(c.params)}) params" in text  # 3*R**2/4 + ...: the position embedding
    latex = c._repr_latex_()
    check_latex(latex)
    assert sympy.latex(c.forward_flops) in latex and sympy.latex(c.backward_flops) in latex
    assert r"\mathrm{FLOP}" in latex
    assert "<code>" in c._repr_html_()


def test_memory_symbols_read_as_bytes_and_long_maxima_are_abbreviated() -> None:
    memory = training_memory(get_preset("vit_ti_16"))  # batch B
    text = str(memory)
    assert f"{sympy.sstr(memory.inputs)} bytes" in text  # "B" would be confused with the batch
    (maximum,) = [m for m in memory.peak.atoms(sympy.Max)]
    assert f"Max(<{len(maximum.args)} terms>)" in text
    assert len(maximum.args) > 2


def test_html_parses_and_escapes() -> None:
    table = Table("<script>alert(1)</script> & co", (row("a<b", "x & y"), row("n", 5, "byte")),
                  notes=("note <i>",))
    text = table.html()
    assert "<script>" not in text and "<i>" not in text
    assert "&lt;script&gt;" in text and "x &amp; y" in text and "a&lt;b" in text
    checker = parse_html(text)
    assert checker.row_heads == ["a<b", "n"]
    assert "5 B" in checker.cells


def test_cost_html_has_a_row_per_top_level_part() -> None:
    c = cost(TINY, batch=4)
    checker = parse_html(c._repr_html_())
    names = [name for name, _ in c.parts]
    assert names and all(name in checker.row_heads for name in names)
    assert {"table", "caption", "thead", "tbody"} <= checker.tags
    weird = Cost.group({"x<y&z": Cost(forward_flops=2)})
    assert "x&lt;y&amp;z" in weird._repr_html_() and "x<y" not in weird._repr_html_()


def test_latex_escapes_text() -> None:
    latex = Cost.group({"patch_embed": Cost(forward_flops=4), "50%": Cost(params=1)})._repr_latex_()
    check_latex(latex)
    assert r"\text{patch}\_\text{embed}" in latex and r"\text{50}\%" in latex


def test_format_value_units_and_symbols() -> None:
    D = sympy.Symbol("D", positive=True)
    assert format_value(102_400_000, "byte") == "97.66 MiB"
    assert format_value(5400.0, "s") == "1.5 h"
    assert format_value(3 * D, "param") == "3*D params"
    assert format_value(10 * D + 1, "flop") == "(10*D + 1) FLOP"
    assert Value(sympy.sqrt(2)).text().startswith("sqrt(2) ≈ 1.414")


# -- every result type, on a real small case ---------------------------------------------
def _plan() -> Any:
    return plan(TINY, device="h100", gpus=2, batch=8, dataset_size="50k", price="2.50 USD/h")


def _compare() -> Any:
    return compare([TINY, TINY.replace(channels=(16, 32, 64))], over="image_size", lo=8, hi=512,
                   names=["two <layers>", "three & more"])


CASES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "Cost": (lambda: cost(TINY, batch=4), ("FLOP", "MAC", "param")),
    "CostValue": (lambda: cost(TINY, batch=4).evaluate(), ("FLOP", "param")),
    "TrainingMemory": (lambda: training_memory(TINY, batch=4), ("KiB", "MiB")),
    "MemoryValue": (lambda: training_memory(TINY, batch=4).evaluate(), ("KiB", "MiB", "backward pass")),
    "InferenceMemory": (lambda: inference_memory(TINY, batch=4), ("KiB",)),
    "StepTime": (lambda: _plan().step, ("µs", "bottleneck", "%")),
    "TrainingPlan": (_plan, ("µs", "MiB", "GiB", "FLOP", "USD", "GPU-h")),
    "ModelStates": (lambda: model_states(25_557_032, optimizer="adam"), ("MiB",)),
    "MemoryPerGPU": (lambda: memory_per_gpu(model_states(25_557_032), gpus=8, strategy="zero3",
                                            activations=2**30), ("MiB", "GiB")),
    "Crossover": (lambda: crossovers(R**2, 100 * R, R, lo=1, hi=1000)[0], ("100", "101")),
    "Crossovers": (lambda: crossovers(R**2, 100 * R, R, lo=1, hi=1000), ("cheaper from R = 101",)),
    "SymbolicCrossover": (lambda: symbolic_crossovers(2 * L**2 * d, 12 * L * d**2, L)[0], ("6*d",)),
    "Comparison": (_compare, ("FLOP", "image_size")),
    "Fit": (lambda: largest_batch(TINY, "64MiB", optimizer="sgd"), ("MiB", "largest batch")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_result_type_renders(name: str) -> None:
    build, expected = CASES[name]
    result = build()
    assert type(result).__name__ == name
    assert repr(result).startswith(f"{name}(")  # the dataclass repr is kept
    text = str(result)
    assert text and all(word in text for word in expected), text
    checker = parse_html(result._repr_html_())
    assert "table" in checker.tags and checker.row_heads
    assert checker.tags <= HTML_TAGS  # no text leaked in as markup
    check_latex(result._repr_latex_())
    assert tables(result) and text == "\n\n".join(t.text() for t in tables(result))


def test_comparison_names_are_escaped() -> None:
    html = _compare()._repr_html_()
    assert "two &lt;layers&gt;" in html and "three &amp; more" in html


def test_tables_of_an_unknown_object_is_an_error() -> None:
    with pytest.raises(TypeError, match="no tabular display"):
        tables(object())


def test_dataclass_behaviour_is_kept() -> None:
    a, b = Cost(forward_flops=4, params=1), Cost(forward_flops=4, params=1)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.params = 2  # type: ignore[misc]
    assert repr(a) == "Cost(forward_flops=4, backward_flops=0, params=1)"


def test_exact_counts_beyond_a_float_are_shown_in_scientific_form():
    # 3 * 10**400 FLOP cannot become a float (max ~1.8e308); its digits give 3.000e+400
    from costmodel.core.units import ureg
    from costmodel.display import format_quantity

    assert format_quantity(3 * 10**400 * ureg.flop) == "3.000e+400 FLOP"
    assert format_quantity(12345 * 10**5000 * ureg.byte) == "1.234e+5004 B"  # more digits than int -> str allows
