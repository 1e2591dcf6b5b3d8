"""The local manifest index: a no-op reads one file, and never serves a manifest that has changed.

The index caches each manifest file's text under its stat; these tests make
the files old enough to be indexed, then change them the ways a user or
another process does, and check that ``status`` tells the truth.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from datamake.storage.manifest_index import RACY_NS, ManifestIndex
from datamake.storage.store import Store

PIPELINE = '''
from datamake import asset


@asset
def a():
    return 1


@asset
def b(a):
    return a + 1
'''


PER_FILE = {"DATAMAKE_BATCH_COMMITS": "0"}  # one manifest file per asset, as earlier versions wrote a store


def age(folder: Path, seconds: float = 60.0) -> None:
    """Date every file below ``folder`` back, as if written a while ago (old enough to be indexed)."""
    then = time.time() - seconds
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def indexed(store_root: Path) -> set:
    db = sqlite3.connect(store_root / "state.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT path FROM manifests")}
    finally:
        db.close()


def states(project) -> dict:
    """Each asset's state, with the first reason code of a stale one (``stale:never_materialized``)."""
    return {a["key"]: a["state"] + "".join(f":{r['code']}" for r in a["reasons"][:1])
            for a in project.json("status")["assets"]}


def built_and_indexed(project) -> Path:
    project.pipeline(PIPELINE)
    project.run("make", check=True, env=PER_FILE)
    root = project.root / ".datamake"
    age(root / "manifests")
    assert states(project) == {"a": "fresh", "b": "fresh"}
    assert indexed(root) == {"a.json", "b.json"}
    return root


def test_a_manifest_replaced_after_it_was_indexed_is_read_again(project):
    root = built_and_indexed(project)
    # another value is committed for `a` (as a second clone's make or a pull would): b is now stale
    manifest = json.loads((root / "manifests" / "a.json").read_text())
    manifest["data_version"] = "0" * 32
    tmp = root / "manifests" / "a.json.new"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, root / "manifests" / "a.json")
    age(root / "manifests")
    assert states(project) == {"a": "fresh", "b": "stale:input_changed"}


def test_a_deleted_manifest_is_missing_and_leaves_the_index(project):
    root = built_and_indexed(project)
    (root / "manifests" / "b.json").unlink()
    assert states(project) == {"a": "fresh", "b": "stale:never_materialized"}
    assert indexed(root) == {"a.json"}


def test_a_manifest_changed_within_the_last_mtime_tick_is_not_indexed(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    path = folder / "x.json"
    path.write_text('{"k": 1}')
    index = ManifestIndex(str(tmp_path / "state.sqlite"), str(folder))
    assert json.loads(index.read([str(path)])[str(path)]) == {"k": 1}
    assert not (tmp_path / "state.sqlite").exists() or indexed(tmp_path) == set()  # too recent to trust its stat
    then = time.time_ns() - 2 * RACY_NS
    os.utime(path, ns=(then, then))
    index.read([str(path)])
    assert indexed(tmp_path) == {"x.json"}


def test_a_broken_index_costs_only_reading_the_files(project):
    root = built_and_indexed(project)
    (root / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for wal in root.glob("state.sqlite-*"):
        wal.unlink()
    assert states(project) == {"a": "fresh", "b": "fresh"}
    assert project.outcomes() == {"a": "skipped", "b": "skipped"}


def test_an_unreadable_manifest_is_never_indexed_and_warns_every_time(project):
    root = built_and_indexed(project)
    (root / "manifests" / "b.json").write_text("{not json")
    age(root / "manifests")
    for _ in range(2):
        result = project.run("status")
        assert "unreadable manifest" in result.stderr
    assert "b.json" not in indexed(root)
    store = Store(str(root))
    assert store.read_manifests(["b"])["b"] is None


def test_a_long_lived_reader_sees_what_another_process_commits(project):
    """The daemon and the web UI keep entries and parsed manifests in memory between reads: a manifest
    another process replaces (same size, even) or removes is still read as it is on disk."""
    root = built_and_indexed(project)
    store = Store(str(root))
    store.keep_parsed_manifests()
    before = store.read_manifests(["a", "b"])
    assert store.read_manifests(["a", "b"]) == before and before["a"] is not None

    path = root / "manifests" / "a.json"
    data = json.loads(path.read_text())
    data["data_version"] = data["data_version"][::-1]  # same size, new content, as another make would write
    tmp = path.with_suffix(".new")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1))
    os.replace(tmp, path)
    age(root / "manifests")
    after = store.read_manifests(["a", "b"])
    assert after["a"].data_version == data["data_version"] and after["b"] is before["b"]

    (root / "manifests" / "b.json").unlink()
    assert store.read_manifests(["a", "b"])["b"] is None
