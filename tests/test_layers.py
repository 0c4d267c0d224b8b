"""The layer rule of ``docs/design.md``: each subpackage imports only from the layers below it.

Every ``import`` and ``from ... import`` statement of the package is read from the source
(module level and inside functions alike, so a lazy import cannot hide an upward
dependency) and each imported costmodel module is mapped to its layer. A module may
import from its own layer or from a lower one, never from a higher one; inside a layer
the module-level imports form no cycle. The top-level ``costmodel/__init__.py`` only names
its lazy exports as strings and is not a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: bottom to top; the names are subpackages or top-level modules of costmodel
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("display",),
    ("cost",),
    ("ops",),
    ("models",),
    ("tracing",),
    ("memory",),
    ("hardware",),
    ("analysis",),
    ("plot",),
    ("article",),
    ("validation",),
    ("cli", "testing", "strategies"),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _sources() -> dict[str, Path]:
    """Dotted module name -> file, for costmodel/ and validation/ (installed as costmodel.validation)."""
    found: dict[str, Path] = {}
    for folder, prefix in ((ROOT / "costmodel", "costmodel"), (ROOT / "validation", "costmodel.validation")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found


SOURCES = _sources()


def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported costmodel module, line, at module level) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top_level) for a in node.names if a.name.startswith("costmodel")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("costmodel"):
                continue
            for alias in node.names:  # ``from costmodel.x import y``: y may itself be a module
                target = f"{base}.{alias.name}"
                out.append((target if target in SOURCES else base, node.lineno, id(node) in top_level))
    return out


def layer_of(module: str) -> str:
    """``costmodel.memory.budget`` -> ``memory``; ``costmodel`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_subpackage_has_a_layer() -> None:
    missing = sorted({layer_of(m) for m in SOURCES} - set(LEVEL) - {""})
    assert not missing, f"add {missing} to LAYERS here and to the layer table of docs/design.md"


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m != "costmodel"))
def test_imports_only_from_lower_layers(module: str) -> None:
    own = LEVEL[layer_of(module)]
    bad = []
    for target, line, _ in _imports(module, SOURCES[module]):
        layer = layer_of(target)
        if layer == "":
            bad.append(f"line {line}: imports the top-level package (import {target}'s names from their own module)")
        elif layer in LEVEL and LEVEL[layer] > own:
            bad.append(f"line {line}: imports {target} (layer {layer!r}, above {layer_of(module)!r})")
    assert not bad, f"{module}:\n" + "\n".join(bad)


def test_no_import_cycles_at_module_level() -> None:
    graph = {m: {t for t, _, top in _imports(m, p) if top and t in SOURCES and t != m} for m, p in SOURCES.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a core module importing from analysis is reported."""
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from costmodel.analysis.sweeps import sweep\n    return sweep\n")
    (target, line, top), = _imports("costmodel.core.bad", fake)
    assert (layer_of(target), line, top) == ("analysis", 2, False)
    assert LEVEL[layer_of(target)] > LEVEL["core"]


def test_design_page_shows_every_layer() -> None:
    """docs/design.md's layer table names every subpackage that exists, in the order of :data:`LAYERS`."""
    page = (ROOT / "docs" / "design.md").read_text()
    table = page[page.index("## Layers"):]
    present = [n for names in LAYERS for n in names if any(layer_of(m) == n for m in SOURCES)]
    where = {n: table.find("`validation/`" if n == "validation" else f"`costmodel/{n}") for n in present}
    missing = [n for n, at in where.items() if at < 0]
    assert not missing, f"docs/design.md's layer table lacks {missing}"
    order = sorted(present, key=lambda n: -where[n])  # the table runs from the top floor down
    assert order == present, f"docs/design.md lists the layers in another order: {order[::-1]}"
