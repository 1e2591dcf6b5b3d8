"""A local ``make`` commits the manifests it builds in batches, one pack file per batch, not a file per asset.

Everything a user relies on must hold as with one file per asset: ``status`` in another process sees
what a running ``make`` finished, the action cache restores values, a store written by the previous
release (one manifest file per asset) is read as it was, a corrupted pack is never trusted, and
``gc`` keeps every value a pack references.
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from datamake.storage.store import Store
from tests.test_inline_values import PIPELINE

DATA = Path(__file__).parent / "data"
OLD_STORE = DATA / "store_before_packs"  # the release before this one made it, from this pipeline:
OLD_PIPELINE = DATA / "store_before_inline" / "pipeline.py"


def files_under(root: Path, folder: str) -> list:
    return sorted(p.name for p in (root / ".datamake" / folder).rglob("*") if p.is_file())


def test_a_cold_build_writes_one_pack_and_no_file_per_asset(project):
    project.pipeline(PIPELINE)
    assert project.outcomes() == dict.fromkeys(["small", "large", "total"], "built")
    assert files_under(project.root, "manifests") == [] and files_under(project.root, "actions") == []
    assert len(files_under(project.root, "packs")) == 1
    assert project.states() == dict.fromkeys(["small", "large", "total"], "fresh")
    assert ast.literal_eval(project.run("show", "total", check=True).stdout) == {"total": 45, "words": 500}
    # the action cache finds a value kept in a pack when the code returns to an earlier version
    source = (project.root / "pipeline.py").read_text()
    project.write("pipeline.py", source.replace("range(10)", "range(11)"))
    assert project.outcomes() == {"small": "built", "large": "skipped", "total": "built"}
    project.write("pipeline.py", source)
    assert project.outcomes() == {"small": "cached", "large": "skipped", "total": "cached"}
    assert project.states() == dict.fromkeys(["small", "large", "total"], "fresh")


def test_one_manifest_file_per_asset_when_asked(project):
    project.pipeline(PIPELINE)
    project.run("make", check=True, env={"DATAMAKE_BATCH_COMMITS": "0"})
    assert files_under(project.root, "manifests") == ["large.json", "small.json", "total.json"]
    assert files_under(project.root, "packs") == []


def test_a_store_written_before_packs_is_read_as_it_was(project):
    """The store in tests/data was written by the release before this one (one manifest file per asset)."""
    shutil.copy(OLD_PIPELINE, project.root / "pipeline.py")
    shutil.copytree(OLD_STORE, project.root / ".datamake")
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    assert project.states() == dict.fromkeys(["numbers", "text", "total"], "fresh")
    assert project.outcomes() == dict.fromkeys(["numbers", "text", "total"], "skipped")
    assert ast.literal_eval(project.run("show", "total", check=True).stdout) == {"total": 45, "words": 500}
    source = (project.root / "pipeline.py").read_text()
    project.write("pipeline.py", source.replace('"1")\ndef total', '"2")\ndef total')
                  .replace('len(text.split())', 'len(text.split()) + 1'))
    assert project.outcomes() == {"numbers": "skipped", "text": "skipped", "total": "built"}
    # the new version is in a pack; the file it supersedes is gone, the old ones are read as before
    assert files_under(project.root, "manifests") == ["numbers.json", "text.json"]
    assert project.states() == dict.fromkeys(["numbers", "text", "total"], "fresh")
    assert ast.literal_eval(project.run("show", "total", check=True).stdout) == {"total": 45, "words": 501}
    project.write("pipeline.py", source)  # back to the old code: restored from the old action entry
    assert project.outcomes() == {"numbers": "skipped", "text": "skipped", "total": "cached"}


def test_a_corrupt_pack_is_never_trusted_and_its_assets_are_rebuilt(project):
    project.pipeline(PIPELINE)
    project.run("make", check=True)
    packs = list((project.root / ".datamake" / "packs").iterdir())  # two when the build outlasts a batch's 0.2 s
    for pack in packs:
        raw = pack.read_bytes()
        key = raw.index(b'"key":"') + len(b'"key":"')
        pack.write_bytes(raw[:key] + raw[key:key + 1].swapcase() + raw[key + 1:])  # valid JSON, one letter
    status = project.run("status")
    assert all(f"ignoring corrupt pack {pack}" in status.stderr for pack in packs)
    assert "Traceback" not in status.stderr
    assert project.states() == dict.fromkeys(["small", "large", "total"], "stale")
    assert project.outcomes() == dict.fromkeys(["small", "large", "total"], "built")
    assert ast.literal_eval(project.run("show", "small", check=True).stdout) == list(range(10))


def test_gc_keeps_what_packs_reference_and_merges_them(project, tmp_path, monkeypatch):
    machine_cache = tmp_path / "machine-cache"
    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(machine_cache))
    project.pipeline(PIPELINE)
    project.run("make", check=True, env={"DATAMAKE_INLINE_LIMIT": "0"})  # every value a file
    source = (project.root / "pipeline.py").read_text()
    project.write("pipeline.py", source.replace("range(10)", "range(11)"))
    project.run("make", check=True, env={"DATAMAKE_INLINE_LIMIT": "0"})
    assert len(files_under(project.root, "packs")) >= 2  # one per run at least
    report = project.json("gc", "--older-than", "0")
    assert report["deleted"]["artifacts"] == 2  # small's and total's first values: nothing current uses them
    assert len(files_under(project.root, "packs")) == 1
    assert project.states() == dict.fromkeys(["small", "large", "total"], "fresh")
    assert ast.literal_eval(project.run("show", "total", check=True).stdout) == {"total": 55, "words": 500}
    # a local store's packs are read where they are: no copy of them in the machine's cache
    assert not (machine_cache / "packs").exists()


SLOW = '''
from datamake import asset


@asset
def quick():
    return 1


@asset
def slow(quick):
    wait_at_gate(GATE_PORT, "go")  # the test says when
    return quick + 1
'''


def test_status_in_another_process_sees_what_a_running_make_finished(project, gate):
    project.pipeline(gate.code(SLOW))
    make = subprocess.Popen([sys.executable, "-m", "datamake", "make", "--json"], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        states = {}
        while time.monotonic() < deadline and states.get("quick") != "fresh":
            states = {a["key"]: a["state"] for a in json.loads(project.run("status", "--json").stdout)["assets"]}
        assert states == {"quick": "fresh", "slow": "stale"}, states
    finally:
        gate.release("go")
        out, err = make.communicate(timeout=120)
    assert make.returncode == 0, err
    assert {a["key"]: a["outcome"] for a in json.loads(out)["assets"]} == {"quick": "built", "slow": "built"}
    assert project.states() == {"quick": "fresh", "slow": "fresh"}


def test_a_long_lived_reader_sees_packs_another_process_writes(project):
    project.pipeline(PIPELINE)
    store = Store(str(project.root / ".datamake"))
    store.keep_parsed_manifests()
    assert store.read_manifests(["small"]) == {"small": None}
    project.run("make", check=True)
    assert store.read_manifests(["small"])["small"].inline is not None


def test_an_unreadable_entry_in_a_whole_pack_is_reported_and_rebuilt(project):
    from datamake.core.hashing import hash_bytes

    project.pipeline(PIPELINE)
    project.run("make", check=True)
    raw = json.dumps({"datamake_pack": 1, "manifests": [{"key": "small", "provenance": "0" * 32}],
                      "actions": [], "written": time.time()}).encode()  # newer, whole, but no manifest
    (project.root / ".datamake" / "packs" / f"{hash_bytes(raw)}.json").write_bytes(raw)
    status = project.run("status")
    assert "ignoring an unreadable manifest of 'small' in a pack" in status.stderr, status.stderr
    assert project.states() == {"small": "stale", "large": "fresh", "total": "stale"}
    assert project.outcomes() == {"small": "cached", "large": "skipped", "total": "skipped"}


PILING = '''
import os
from datamake import Definitions, asset, source

feed = source("feed.txt")
other_feed = source("aside.txt")
HERE = os.path.dirname(__file__)

@asset(deps=[feed])
def raw():
    with open(os.path.join(HERE, "feed.txt")) as f:
        return f.read()

@asset
def doubled(raw):
    return raw * 2

@asset(deps=[other_feed])
def other():
    with open(os.path.join(HERE, "aside.txt")) as f:
        return f.read()
'''


def test_packs_piling_up_are_merged_and_what_each_said_still_holds(tmp_path, monkeypatch):
    from datamake import api
    from datamake.storage.store import MERGE_PACKS_AT

    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(PILING)
    (tmp_path / "aside.txt").write_text("other 0")
    packs = tmp_path / ".datamake" / "packs"

    def make(*selection):
        result = api.make(api.load(str(tmp_path)), list(selection), executor="inprocess", history=False)
        return {o.key: o.outcome for o in result.assets}

    for i in range(MERGE_PACKS_AT):  # a pack per run, none merged yet
        (tmp_path / "feed.txt").write_text(f"feed {i}")
        assert make()["raw"] == "built"
    assert len(list(packs.glob("*.json"))) == MERGE_PACKS_AT
    # a run writing one manifest file per asset: its raw is newer than raw's entry in any pack
    monkeypatch.setenv("DATAMAKE_BATCH_COMMITS", "0")
    (tmp_path / "feed.txt").write_text("feed by file")
    assert make("raw", "doubled") == {"raw": "built", "doubled": "built"}
    monkeypatch.delenv("DATAMAKE_BATCH_COMMITS")
    (tmp_path / "aside.txt").write_text("other 1")
    assert make("other") == {"other": "built"}  # the pack past the limit: this run merges them all

    assert len(list(packs.glob("*.json"))) == 1
    before = {d.key: d.stale for d in api.status(api.load(str(tmp_path))).decisions}
    assert before == {"raw": False, "doubled": False, "other": False}  # raw's newer file still wins
    store = Store(str(tmp_path / ".datamake"))
    assert api.show(api.load(str(tmp_path)), "doubled") == "feed by file" * 2
    # every version the merged packs held is still in the action cache
    (tmp_path / "feed.txt").write_text("feed 3")
    assert make() == {"raw": "cached", "doubled": "cached", "other": "skipped"}
    assert store.read_manifests(["doubled"])["doubled"] is not None
