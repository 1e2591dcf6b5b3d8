"""Small values kept in their manifests: one file per built asset, read, checked and restored like files.

A value of at most ``INLINE_LIMIT`` bytes (``DATAMAKE_INLINE_LIMIT``) is written into its manifest and
action entry instead of an artifact file of its own. Everything a user does with a value must work the
same: ``show``, inputs, the action cache, corruption detection, and stores written before this existed.
"""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from datamake.core.manifest import Manifest
from datamake.storage.store import Store

OLD_PROJECT = Path(__file__).parent / "data" / "store_before_inline"

PIPELINE = '''
from datamake import asset


@asset
def small():
    return list(range(10))


@asset
def large():
    return "datamake " * 500


@asset
def total(small, large):
    return {"total": sum(small), "words": len(large.split())}
'''


def artifact_files(root: Path) -> list:
    return sorted(p.name for p in (root / ".datamake" / "artifacts").rglob("*") if p.is_file())


def manifest(root: Path, key: str) -> Manifest:
    return Store(str(root / ".datamake")).read_manifests([key])[key]


def test_small_values_live_in_their_manifests_and_read_back(inprocess_project):
    p = inprocess_project
    p.pipeline(PIPELINE)
    assert p.outcomes() == dict.fromkeys(["small", "large", "total"], "built")
    # only the 4.5 KB value has a file of its own
    assert artifact_files(p.root) == [manifest(p.root, "large").artifact]
    assert manifest(p.root, "small").inline is not None and manifest(p.root, "large").inline is None
    assert ast.literal_eval(p.run("show", "total", check=True).stdout) == {"total": 45, "words": 500}
    assert p.states() == dict.fromkeys(["small", "large", "total"], "fresh")
    # the action cache gives an inline value back when the code returns to an earlier version
    source = (p.root / "pipeline.py").read_text()
    p.write("pipeline.py", source.replace("range(10)", "range(11)"))
    assert p.outcomes() == {"small": "built", "large": "skipped", "total": "built"}
    p.write("pipeline.py", source)
    assert p.outcomes() == {"small": "cached", "large": "skipped", "total": "cached"}
    assert ast.literal_eval(p.run("show", "total", check=True).stdout)["total"] == 45


def test_a_limit_of_zero_stores_every_value_as_a_file(inprocess_project):
    p = inprocess_project
    p.pipeline(PIPELINE)
    p.run("make", check=True, env={"DATAMAKE_INLINE_LIMIT": "0"})
    assert len(artifact_files(p.root)) == 3
    assert manifest(p.root, "small").inline is None


def test_a_tampered_inline_value_is_never_fresh(inprocess_project):
    p = inprocess_project
    p.pipeline(PIPELINE)
    p.run("make", check=True)
    path = p.root / ".datamake" / "manifests" / "small.json"
    data = manifest(p.root, "small").to_data()
    data["inline"] = "WzEsMiwzXQ=="  # valid base64 of [1,2,3]: not the bytes the hash names
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)  # a manifest file shares its bytes with the action entry: a new file
    path.write_text(json.dumps(data))  # newer than the pack the make wrote: the current version
    status = p.json("status")["assets"]
    small = next(a for a in status if a["key"] == "small")
    assert small["state"] == "stale" and [r["code"] for r in small["reasons"]] == ["artifact_missing"]
    outcomes = p.outcomes()
    assert outcomes["small"] in ("built", "cached") and outcomes["total"] == "skipped"
    assert ast.literal_eval(p.run("show", "small", check=True).stdout) == list(range(10))


def test_a_store_written_before_inline_values_is_read_as_it_was(inprocess_project):
    """The store in tests/data was written by the release before this one (every value a file)."""
    p = inprocess_project
    shutil.copy(OLD_PROJECT / "pipeline.py", p.root / "pipeline.py")
    shutil.copytree(OLD_PROJECT / "store", p.root / ".datamake")
    p.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    assert p.states() == dict.fromkeys(["numbers", "text", "total"], "fresh")
    assert ast.literal_eval(p.run("show", "total", check=True).stdout) == {"total": 45, "words": 500}
    assert p.outcomes() == dict.fromkeys(["numbers", "text", "total"], "skipped")
    # a new build reads the old files as its inputs, and keeps its own small value inline
    source = (p.root / "pipeline.py").read_text()
    p.write("pipeline.py", source.replace('''@asset(code_version="1")
def total''', '''@asset(code_version="2")
def total''').replace('"words": len(text.split())', '"words": len(text.split()) + 1'))
    assert p.outcomes() == {"numbers": "skipped", "text": "skipped", "total": "built"}
    assert ast.literal_eval(p.run("show", "total", check=True).stdout) == {"total": 45, "words": 501}
    assert manifest(p.root, "total").inline is not None


def test_a_bad_inline_limit_is_a_clear_error(inprocess_project):
    p = inprocess_project
    p.pipeline(PIPELINE)
    proc = p.run("make", env={"DATAMAKE_INLINE_LIMIT": "2k"})
    assert proc.returncode == 2 and "DATAMAKE_INLINE_LIMIT='2k'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (p.root / ".datamake" / "manifests").exists()
