"""``docs/claims.md`` is current: regenerating it gives the committed text, and its figures exist."""

import re
from pathlib import Path

import pytest

from costmodel.article.claims import BEGIN_GENERATIVE, END_GENERATIVE, generate

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("docs"), figures=False)


def test_claims_page_is_current(regenerated):
    committed = (DOCS / "claims.md").read_text()
    assert committed == regenerated, "docs/claims.md is stale: run `python -m costmodel.article.claims`"


def test_every_figure_the_docs_embed_exists(regenerated):
    pages = [regenerated, (DOCS / "analysis.md").read_text()]
    names = {name for page in pages for name in re.findall(r"\]\(figures/([\w.-]+\.png)\)", page)}
    assert len(names) >= 8
    for name in names:
        assert (DOCS / "figures" / name).stat().st_size > 10_000, name


def test_page_answers_the_main_claims_with_numbers(regenerated):
    assert "ResNet-50 overtakes ViT-Ti/16 at 928 px" in regenerated
    assert "| vit_b_16 | 197 | 4.1 % | 1088 px (L > 4608) |" in regenerated  # 197 / (197 + 6 * 768)
    for verdict in ("**wrong for resolution", "**right but incomplete**", "too vague to test"):
        assert verdict in regenerated


def test_generative_section_is_marked_for_its_owner(regenerated):
    begin, end = regenerated.index(BEGIN_GENERATIVE), regenerated.index(END_GENERATIVE)
    assert begin < end and '<a id="generative"></a>' in regenerated[:begin]
