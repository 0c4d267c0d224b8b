"""The documentation builds without a warning (mkdocs --strict), reference pages included."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "reference" / "costmodel.cost.value" / "index.html").exists()
    assert "Cost" in (tmp_path / "reference" / "costmodel.cost.value" / "index.html").read_text()
