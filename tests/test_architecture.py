"""The layer contracts in pyproject.toml ([tool.importlinter]) hold: see docs/architecture.md."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import datamake

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency: pip install -e '.[test]'"
    proc = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_public_surface_is_sorted_and_importable():
    assert datamake.__all__ == sorted(datamake.__all__)
    for name in datamake.__all__:
        assert getattr(datamake, name) is not None, name
