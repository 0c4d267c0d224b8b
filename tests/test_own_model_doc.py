"""``docs/own_model.md`` cannot rot: every example on the page runs and prints what the page says.

The page's numbers are checked independently there too: the attention FLOPs of one block by
hand (``4 T^2 d``), the leading term of the closed form (``8 d G^4`` for two blocks), and here
the parameter count by hand and the traced FLOPs against FlopCounterMode at 224 pixels.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "own_model.md"


@pytest.mark.slow
def test_page_examples_run_as_printed():
    body = "\n".join("" if line.lstrip().startswith("```") else line
                     for line in PAGE.read_text(encoding="utf-8").splitlines())
    test = doctest.DocTestParser().get_doctest(body, {"__name__": "own_model"}, PAGE.name, str(PAGE), 0)
    assert len(test.examples) >= 12
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=report.append, clear_globs=False)
    assert result.failed == 0, "docs/own_model.md is stale:\n" + "".join(report)
    glob = test.globs
    # parameters by hand: stem convs + batch norms, two blocks, final norm, head
    dim, classes = 192, 1000
    stem = (3 * 32 * 9 + 32) + 2 * 32 + (32 * 64 * 9 + 64) + 2 * 64 + (64 * dim * 4 + dim)
    block = (2 * 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim)  # norms, qkv, proj
             + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim))  # MLP
    assert glob["cost"](glob["hybrid"], batch=1).params == stem + 2 * block + 2 * dim + dim * classes + classes
    # the traced forward FLOPs at 224 pixels equal FlopCounterMode's count of the real module (fake tensors)
    import torch
    from costmodel.validation.flops import count_flops
    from torch._subclasses.fake_tensor import FakeTensorMode

    from costmodel.core.symbols import H, W
    with FakeTensorMode():
        measured = count_flops(glob["Hybrid"](), torch.empty(2, 3, 224, 224))
    traced = glob["cost"](glob["hybrid"], batch=2)
    table = {H: 224, W: 224}
    assert (traced.forward_flops.subs(table), traced.backward_flops.subs(table)) == (measured.forward,
                                                                                       measured.backward)
