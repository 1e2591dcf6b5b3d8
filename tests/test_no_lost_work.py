"""No tracebacks, no lost work: stores that cannot be written, broken event logs, a full disk and
store files of the wrong shape each get a clear message, and a build goes on where it can.

Everything here is real: folders made read-only by chmod (read by a process that really cannot
write them: as root, one with every capability dropped), a bucket whose writes the S3 server
denies, a SQLite file that is not a database, a tmpfs that is full.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from datamake.cli.main import main

PIPELINE = """\
from datamake import asset, source

orders = source("data/orders.txt", load="text")

@asset
def raw(orders):
    return orders.upper()

@asset
def report(raw):
    return raw + "!"
"""


def make_project(root: Path, toml_extra: str = "", pipeline: str = PIPELINE) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "orders.txt").write_text("a,b\n")
    (root / "pipeline.py").write_text(pipeline)
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n' + textwrap.dedent(toml_extra))
    return root / ".datamake"


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(root), *args])


def ok(result, *fragments: str) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}:\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    return result.output


def made(root: Path, *args: str, expect: int = 0):
    """``make --json``: each asset's outcome (and error), and what was said on stderr."""
    result = run(root, "make", "--json", *args)
    assert result.exit_code == expect, f"exit {result.exit_code}:\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output, result.output
    assets = json.loads(result.stdout)["assets"]
    return {a["key"]: a["error"] or a["outcome"] for a in assets}, result.stderr


def outcomes(root: Path, *args: str) -> dict:
    return made(root, *args)[0]


def touch_source(root: Path) -> None:
    """Give the source another mtime (same bytes), well in the past: it is hashed again and the
    observation cache is updated, which is a write to the store."""
    os.utime(root / "data" / "orders.txt", (1_000_000_000, 1_000_000_000))


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)


# -- 4. store files of the wrong shape ------------------------------------------------------------

WRONG_SHAPES = ["null", '"a string"', {"artifact": None}, {"code_parts": 5}, {"size": "12"}]


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=[json.dumps(s) for s in WRONG_SHAPES])
def test_manifest_of_the_wrong_shape_is_rebuilt(tmp_path, shape):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    path = store / "manifests" / "report.json"
    if isinstance(shape, dict):
        content = json.dumps({**json.loads(path.read_text()), **shape})
    else:
        content = shape
    path.unlink()  # a new file: the manifest shares its bytes with the action cache's entry
    path.write_text(content)

    text = ok(run(tmp_path, "status"), f"ignoring unreadable manifest {path}", "stale  report")
    assert "will be rebuilt" in text
    assert outcomes(tmp_path) == {"raw": "skipped", "report": "cached"}  # restored: the same inputs, known value
    assert ok(run(tmp_path, "show", "report")).strip() == "A,B\n!"
    assert "ignoring" not in ok(run(tmp_path, "status"))


@pytest.mark.parametrize("content", ["[]", '{"file:///x": 5}', "null"])
def test_observations_of_the_wrong_shape_are_ignored(tmp_path, content):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    (store / "observations.json").write_text(content)
    touch_source(tmp_path)

    text = ok(run(tmp_path, "status"), f"ignoring unreadable {store / 'observations.json'}", "fresh")
    assert "2 fresh" in text
    assert outcomes(tmp_path) == {"raw": "skipped", "report": "skipped"}
    assert isinstance(json.loads((store / "observations.json").read_text()), dict)  # rewritten whole


def test_per_user_code_cache_of_the_wrong_shape_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_project(tmp_path / "project")
    ok(run(tmp_path / "project", "make"))
    caches = list((tmp_path / "cache" / "datamake").glob("code-*.json"))
    assert caches
    for cache in caches:
        cache.write_text("[]")
    ok(run(tmp_path / "project", "status"), "2 fresh")
