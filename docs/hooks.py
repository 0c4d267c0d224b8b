"""MkDocs hook: one reference page per costmodel module, generated from its docstrings.

Every module of the installed package gets ``reference/<dotted.name>.md`` holding a
``::: dotted.name`` directive, so a new module can never be missing from the reference.
"""

from __future__ import annotations

import pkgutil
from typing import Any

from mkdocs.structure.files import File, Files

SKIP = ("costmodel.cli.__main__",)


def modules() -> list[str]:
    import costmodel

    names = ["costmodel"]
    for info in pkgutil.walk_packages(costmodel.__path__, prefix="costmodel."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


def on_config(config: Any) -> Any:
    """Add the generated pages to the navigation, before the changelog."""
    pages = [{name: f"reference/{name}.md"} for name in modules()]
    config["nav"].insert(len(config["nav"]) - 1, {"Reference": pages})
    return config


def on_files(files: Files, config: Any) -> Files:
    for name in modules():
        content = f"# `{name}`\n\n::: {name}\n    options:\n      show_root_heading: false\n"
        files.append(File.generated(config, f"reference/{name}.md", content=content))
    return files
