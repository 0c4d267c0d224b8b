"""The built wheel: its contents, an installed ``costmodel`` command, and a light ``import costmodel``.

The wheel is built from a copy of the sources (``pyproject.toml``, ``README.md``, the
``costmodel`` and ``validation`` folders) so that setuptools' ``build/`` folder and
egg-info never touch the working tree, which the editable install and parallel test runs
share. Nothing here uses the network: the build uses the installed setuptools
(``--no-build-isolation``) and the install takes the wheel alone (``--no-index --no-deps``).

The installed copy is run in a fresh virtual environment, from a folder outside the
source tree. Its dependencies (SymPy, pint, numpy, rich) come from the interpreter that
runs the tests: a ``.pth`` file in the new venv lists that interpreter's site-packages
folders. This works wherever the tests run: in a virtual environment (as ``.ci/run``
makes one, whose packages a ``--system-site-packages`` venv would *not* see, since that
flag shows the base interpreter's packages) or in a system interpreter. A ``.pth`` line
only appends its folder to ``sys.path`` after the venv's own site-packages, and the
``.pth`` files inside that folder (the editable install's ``__editable__`` finder of this
checkout) are not processed, so the installed copy is the one found. The tests check
that it is (``costmodel.__file__`` inside the venv), also under ``python -I``, which
ignores ``PYTHONPATH`` and the current folder; ``PYTHONPATH`` is removed from the
environment of every run besides.

Expected values: ResNet-50 has 25,557,032 parameters, the ``num_params`` that torchvision
publishes for ``ResNet50_Weights.IMAGENET1K_V1``.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what setuptools needs to build the wheel (see [tool.setuptools] in pyproject.toml)
SOURCES = ("pyproject.toml", "README.md", "costmodel", "validation")
RESNET50_PARAMS = 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]


def _env() -> dict[str, str]:
    """This environment without anything that could put the source tree on ``sys.path``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    out = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", out], cwd=src, timeout=120)
    (found,) = out.glob("costmodel-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (seeing this interpreter's packages) with the wheel installed; its ``bin`` folder.

    ``--without-pip``: the venv's python runs this interpreter's pip (visible through the
    ``.pth`` file), which installs into the venv; this saves seeding pip anew.
    """
    base = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", base / "venv"], cwd=base)
    bin_dir = base / "venv" / "bin"
    purelib = subprocess.run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_costmodel_test_deps.pth").write_text("\n".join(_site_folders()) + "\n")
    _run([bin_dir / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=base)
    return bin_dir


def _site_folders() -> list[str]:
    """The site-packages folders of the interpreter running the tests (a venv's or the system's)."""
    folders = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    assert folders, f"no site-packages folder on sys.path: {sys.path}"
    return folders


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder outside the source tree."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_wheel_has_type_marker_cli_validation_and_entry_point(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_file).decode()
    for needed in ("costmodel/py.typed", "costmodel/cli/__init__.py", "costmodel/validation/build.py",
                   "costmodel/validation/torch_models/__init__.py", "costmodel/ops/conv.py",
                   "costmodel/models/generative/__init__.py"):
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert not any(n.startswith(("tests/", "validation/")) for n in names)  # validation ships as costmodel.validation
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert dict(parser["console_scripts"]) == {"costmodel": "costmodel.cli:main"}


@pytest.mark.slow
def test_installed_package_is_imported_from_the_venv(venv: Path, elsewhere: Path) -> None:
    code = "import costmodel, costmodel.validation; print(costmodel.__file__); print(costmodel.validation.__file__)"
    for flags in ([], ["-I"]):
        out = _run([venv / "python", *flags, "-c", code], cwd=elsewhere).stdout.split()
        for path in map(Path, out):
            assert path.is_relative_to(venv.parent), (flags, path)
            assert not path.is_relative_to(ROOT), (flags, path)


@pytest.mark.slow
def test_installed_command_help_count_and_validate(venv: Path, elsewhere: Path) -> None:
    command = venv / "costmodel"
    assert command.exists()
    top = _run([command, "--help"], cwd=elsewhere).stdout
    for sub in ("count", "validate", "compare"):
        assert sub in top
    counted = json.loads(_run([command, "count", "resnet50", "--json"], cwd=elsewhere).stdout)
    assert counted["model"] == "resnet50"
    assert counted["params"] == RESNET50_PARAMS
    assert counted["units"]["params"] == "param"
    validate = _run([command, "validate", "--help"], cwd=elsewhere).stdout
    assert "--device" in validate and "--memory" in validate


def test_import_costmodel_loads_no_heavy_dependency() -> None:
    """``import costmodel`` is lazy (PEP 562): torch, matplotlib and rich load only on use, and
    (as its docstring says) SymPy and pint too."""
    code = ("import costmodel, sys; print('torch' in sys.modules, 'matplotlib' in sys.modules, "
            "'rich' in sys.modules); print('sympy' in sys.modules, 'pint' in sys.modules)")
    out = _run([sys.executable, "-c", code], cwd=ROOT).stdout.splitlines()
    assert out == ["False False False", "False False"]
    # and the names it exports do load them when used
    used = _run([sys.executable, "-c", "import costmodel, sys; costmodel.Cost; print('sympy' in sys.modules)"],
                cwd=ROOT).stdout
    assert used.strip() == "True"
