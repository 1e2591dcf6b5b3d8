"""Code shapes a data engineer writes, each driven through real ``datamake`` processes: after an edit
that changes what an asset computes, ``status`` says it is stale and ``make`` (the up-to-date
shortcut on) rebuilds it; after a cosmetic edit of the same places, nothing is stale.

Each test puts several shapes in one project (one asset each) and edits all of them at once: an
asset is stale only on account of its own edit, so every asset is checked while the project is made
only once.
"""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

Edit = Tuple[str, str, str]  # file, old text, new text


def _apply(project, edits: List[Edit]) -> None:
    for relpath, old, new in edits:
        path = project.root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new))


def _stale(project) -> List[str]:
    proc = project.run("status", "--json", env={"DATAMAKE_NO_SHORTCUT": "1"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return sorted(a["key"] for a in doc["assets"] if a["state"] == "stale")


def assert_sound(project, files: Dict[str, str], real: List[Edit], cosmetic: List[Edit]) -> None:
    """Make ``files``; a cosmetic edit leaves every asset fresh (and ``make`` builds nothing); the real
    edits make every asset stale, and ``make`` rebuilds each of them."""
    for relpath, text in files.items():
        project.write(relpath, text)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    keys = sorted(project.outcomes())
    assert set(project.outcomes().values()) == {"skipped"}  # the shortcut's certificate is written
    _apply(project, cosmetic)
    assert _stale(project) == []
    assert set(project.outcomes().values()) == {"skipped"}
    _apply(project, real)
    assert _stale(project) == keys
    assert project.outcomes() == {key: "built" for key in keys}


def test_project_modules_imported_inside_a_function_are_followed_to_what_they_import(project):
    """``from helpers import f`` inside the asset runs helpers, and whatever helpers imports (also
    through ``importlib.import_module("helpers")``); a module of a namespace package is found too."""
    project.write("pipeline.py", """
        import importlib

        from datamake import asset

        @asset
        def local():
            from helpers import f
            return f(1)

        @asset
        def named():
            return importlib.import_module("helpers").f(2)

        @asset
        def namespace_package():
            from nspkg.util import g
            return g(1)
    """)
    files = {
        "helpers.py": "from deep import g\n\ndef f(x):\n    return g(x)\n",
        "deep.py": "def g(x):\n    return x + 1\n",
        "nspkg/util.py": "def g(x):\n    return x + 1\n",  # no __init__.py: a namespace package
    }
    assert_sound(project, files,
                 real=[("deep.py", "x + 1", "x + 2"), ("nspkg/util.py", "x + 1", "x + 3")],
                 cosmetic=[])
