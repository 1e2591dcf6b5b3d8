"""The shared cache on a real S3 API (moto's server on 127.0.0.1) through s3fs.

Two teammates are two project folders with the same pipeline and the same
``[cache] remote``; each has its own local store. ``runs.log`` beside each
pipeline records which functions ran, so "cached" is checked by what did not run.
"""
from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from datamake.core.manifest import Manifest
from datamake.storage.store import Store

PIPELINE = '''
import os
import signal
from pathlib import Path

from datamake import asset

LOG = Path(__file__).parent / "runs.log"


def ran(key):
    with open(LOG, "a") as f:
        f.write(key + "\\n")
    knobs = os.environ.copy()  # the test's switches, not inputs of the values (a copy records no variable)
    if knobs.get("DM_KILL_REMOTE_IN") == key:  # take the remote down in the middle of the run
        os.kill(int(knobs["DM_REMOTE_PID"]), signal.SIGKILL)


@asset
def raw():
    ran("raw")
    return list(range(100))


@asset
def doubled(raw):
    ran("doubled")
    return [x * 2 for x in raw]


@asset
def total(doubled):
    ran("total")
    return {"total": sum(doubled)}


@asset
def report(total, raw):
    ran("report")
    return f"{len(raw)} rows, total {total['total']}"
'''

KEYS = ["raw", "doubled", "total", "report"]


@pytest.fixture(autouse=True)
def values_in_files(monkeypatch):
    """These tests follow artifact files through the remote; values kept in their manifests have
    their own tests (test_inline_values.py)."""
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")


def remote_toml(url: str, options: str, push: str = "manual") -> str:
    return f'[cache]\nremote = "{url}"\npush = "{push}"\n[cache.storage_options]\n{options}'


def build_and_push(project) -> dict:
    """Teammate A's side, in this process (the same library calls the CLI makes, without a new interpreter)."""
    import datamake.api as dm

    loaded = dm.load(str(project.root))
    assert dm.make(loaded, history=False).ok
    return dm.push(loaded)


def ran(project) -> list:
    log = project.root / "runs.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def team(tmp_path, s3_bucket):
    """Teammates A and B sharing one remote (a fresh bucket). Their commands run in this process, through
    click's test runner (see tests/conftest.py), which spares each an interpreter that imports s3fs and
    makes an S3 client; the tests about processes (concurrent pushes, a remote killed mid-run, gc waiting
    for a make) start real ones."""
    from tests.conftest import InProcessProjectDir

    def member(name: str, push: str = "manual") -> InProcessProjectDir:
        p = InProcessProjectDir(tmp_path / name)
        p.root.mkdir()
        p.pipeline(PIPELINE, remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options(), push))
        return p

    return member


def test_teammate_gets_everything_cached_after_a_push(team, s3_bucket):
    a, b = team("a"), team("b")
    pushed = build_and_push(a)
    assert {r["key"]: r["outcome"] for r in pushed["assets"]} == dict.fromkeys(KEYS, "pushed")
    assert pushed["artifacts"] == 4 and pushed["manifests"] == 4

    assert b.outcomes() == dict.fromkeys(KEYS, "cached")
    assert ran(b) == []
    assert b.run("show", "report", check=True).stdout.strip().endswith("100 rows, total 9900")
    # a second push has nothing to send
    again = build_and_push(a)
    assert again["artifacts"] == again["manifests"] == again["actions"] == 0
    assert {r["outcome"] for r in again["assets"]} == {"up_to_date"}


def test_small_values_travel_inside_their_manifests(team, s3_bucket, monkeypatch):
    monkeypatch.delenv("DATAMAKE_INLINE_LIMIT")  # every value here is small: none is a file
    a, b, c = team("a"), team("b"), team("c")
    pushed = build_and_push(a)
    assert {r["key"]: r["outcome"] for r in pushed["assets"]} == dict.fromkeys(KEYS, "pushed")
    assert pushed["artifacts"] == 0 and pushed["manifests"] == 4
    assert not s3_bucket.server.filesystem().exists(f"{s3_bucket.name}/cache/artifacts")
    assert b.outcomes() == dict.fromkeys(KEYS, "cached") and ran(b) == []
    assert b.run("show", "report", check=True).stdout.strip().endswith("100 rows, total 9900")
    pulled = c.json("pull", "total")
    assert {r["outcome"] for r in pulled["assets"]} == {"pulled"}
    assert c.states("total") == {"raw": "fresh", "doubled": "fresh", "total": "fresh"} and ran(c) == []


def test_remote_lookup_is_by_provenance_so_a_code_change_only_rebuilds_what_changed(team):
    a, b = team("a"), team("b")
    build_and_push(a)
    source = (b.root / "pipeline.py").read_text().replace("return {\"total\": sum(doubled)}",
                                                          "return {\"total\": sum(doubled) + 1}")
    (b.root / "pipeline.py").write_text(source)
    assert b.outcomes() == {"raw": "cached", "doubled": "cached", "total": "built", "report": "built"}
    assert sorted(ran(b)) == ["report", "total"]


def test_auto_push_uploads_each_asset_as_it_is_built(team):
    import datamake.api as dm

    a, b = team("a", push="auto"), team("b")
    assert dm.make(dm.load(str(a.root)), history=False).counts()["built"] == 4
    assert b.outcomes() == dict.fromkeys(KEYS, "cached")
    assert ran(b) == []


def test_pull_fetches_current_versions_without_computing(team):
    import datamake.api as dm

    a, b = team("a"), team("b")
    build_and_push(a)
    pulled = b.json("pull", "total")
    assert {r["key"]: r["outcome"] for r in pulled["assets"]} == {"raw": "pulled", "doubled": "pulled",
                                                                 "total": "pulled"}
    assert ran(b) == []
    assert b.states("total") == {"raw": "fresh", "doubled": "fresh", "total": "fresh"}
    again = dm.pull(dm.load(str(b.root)))
    assert {r["key"]: r["outcome"] for r in again["assets"]} == {**dict.fromkeys(KEYS, "up_to_date"),
                                                                "report": "pulled"}


def test_corrupted_remote_artifact_is_treated_as_absent_and_repaired_by_push(team, s3_bucket):
    import datamake.api as dm

    a, b = team("a"), team("b")
    build_and_push(a)
    fs = s3_bucket.server.filesystem()
    digest = _artifact(a, "doubled")
    artifact = f"{s3_bucket.name}/cache/artifacts/{digest[:2]}/{digest}"
    good = fs.cat_file(artifact)
    fs.pipe_file(artifact, bytes(reversed(good)))  # same size, wrong bytes

    proc = b.run("make", "--json")
    assert proc.returncode == 0, proc.stderr
    outcomes = {r["key"]: r["outcome"] for r in json.loads(proc.stdout)["assets"]}
    assert outcomes["doubled"] == "built" and outcomes["raw"] == "cached"
    assert "corrupt" in proc.stderr
    assert "doubled" in ran(b)
    # B's push puts the good bytes back; a third teammate restores everything
    dm.push(dm.load(str(b.root)))
    assert fs.cat_file(artifact) == good
    c = team("c")
    assert c.outcomes() == dict.fromkeys(KEYS, "cached")


def test_corrupted_remote_action_entry_is_ignored(team, s3_bucket):
    import datamake.api as dm

    a, b = team("a", push="auto"), team("b")  # an automatic push writes per-asset action entries
    assert dm.make(dm.load(str(a.root)), history=False).ok
    fs = s3_bucket.server.filesystem()
    for path in fs.find(f"{s3_bucket.name}/cache/manifests"):  # force the lookup through the action cache
        fs.rm_file(path)
    entries = fs.find(f"{s3_bucket.name}/cache/actions")
    fs.pipe_file(entries[0], b"{not json")
    proc = b.run("make", "--json")
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(proc.stdout)["assets"]
    assert sum(r["outcome"] == "built" for r in outcomes) >= 1
    assert sum(r["outcome"] == "cached" for r in outcomes) >= 1


def test_unreachable_remote_degrades_to_a_warning(tmp_path):
    from tests.conftest import ProjectDir
    from tests.s3server import free_port

    p = ProjectDir(tmp_path)
    p.pipeline(PIPELINE, remote_toml("s3://nowhere/cache", f'endpoint_url = "http://127.0.0.1:{free_port()}"\n'
                                     'key = "k"\nsecret = "s"\n', push="auto"))
    proc = p.run("make", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {r["outcome"] for r in json.loads(proc.stdout)["assets"]} == {"built"}
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("unreachable") == 1  # said once, not per asset
    pushed = p.run("push")
    assert pushed.returncode == 1
    assert "cannot reach the remote cache" in pushed.stderr and "Traceback" not in pushed.stderr


def test_remote_down_mid_run(tmp_path, moto_process):
    """The remote dies while `make` runs: the rest is computed locally, the run succeeds."""
    from tests.conftest import ProjectDir

    moto_process.filesystem().mkdir("midrun")
    a = ProjectDir(tmp_path / "a")
    a.root.mkdir()
    a.pipeline(PIPELINE, remote_toml("s3://midrun/cache", moto_process.toml_options(), push="auto"))
    # A builds raw and pushes; then B runs with a changed `doubled`, and `doubled` kills the remote.
    import datamake.api as dm

    assert dm.make(dm.load(str(a.root)), ["raw"], history=False).counts()["built"] == 1
    b = ProjectDir(tmp_path / "b")
    b.root.mkdir()
    b.pipeline(PIPELINE.replace("x * 2 for", "x * 2 + 0 for"),
               remote_toml("s3://midrun/cache", moto_process.toml_options(), push="auto"))
    env = {"DM_KILL_REMOTE_IN": "doubled", "DM_REMOTE_PID": str(moto_process.proc.pid)}
    proc = b.run("make", "--json", "-j", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    outcomes = {r["key"]: r["outcome"] for r in json.loads(proc.stdout)["assets"]}
    assert outcomes == {"raw": "cached", "doubled": "built", "total": "built", "report": "built"}
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    assert moto_process.proc.wait(timeout=10) == -signal.SIGKILL
    assert b.states() == dict.fromkeys(KEYS, "fresh")


def test_concurrent_pushes_of_the_same_results(team, s3_bucket):
    """Two teammates who built the same thing push at the same time: the remote stays whole."""
    import datamake.api as dm

    a, b, c = team("a"), team("b"), team("c")
    for who in (a, b):
        assert dm.make(dm.load(str(who.root)), history=False).ok
    results = {}

    def push(who, name):
        results[name] = who.run_process("push", "--json")  # two real processes at once

    threads = [threading.Thread(target=push, args=(who, name)) for who, name in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
    assert c.outcomes() == dict.fromkeys(KEYS, "cached")
    assert c.run("show", "report", check=True).stdout.strip().endswith("100 rows, total 9900")
    fs = s3_bucket.server.filesystem()
    assert fs.find(f"{s3_bucket.name}/cache/leases") == []  # both released their lease


def _artifact(project, key):
    return Store(str(project.root / ".datamake")).read_manifests([key])[key].artifact


def _bump_total(project):
    source = (project.root / "pipeline.py").read_text().replace("sum(doubled)}", "sum(doubled) + 1}")
    (project.root / "pipeline.py").write_text(source)
    return source


def test_gc_deletes_only_unreferenced_and_old(team, s3_bucket):
    import datamake.api as dm

    a = team("a")
    build_and_push(a)
    old = sorted([_artifact(a, "total"), _artifact(a, "report")])
    source = _bump_total(a)
    assert a.outcomes() == {"raw": "skipped", "doubled": "skipped", "total": "built", "report": "built"}
    a.run("push", check=True)
    project = dm.load(str(a.root))
    # within the retention period nothing goes
    kept = dm.gc(project, remote=True)
    assert kept["deleted"] == {"artifacts": 0, "actions": 0, "bytes": 0}
    dry = dm.gc(project, remote=True, retention=0, dry_run=True)
    assert sorted(Path(p).name for p in dry["artifacts"]) == old
    assert len(dry["actions"]) == 2
    fs = s3_bucket.server.filesystem()
    paths = [f"{s3_bucket.name}/cache/artifacts/{h[:2]}/{h}" for h in old]
    assert all(fs.exists(p) for p in paths)
    done = a.json("gc", "--remote", "--older-than", "0")
    assert done["deleted"]["artifacts"] == 2 and done["deleted"]["actions"] == 2
    assert not any(fs.exists(p) for p in paths)
    # a teammate still gets every current version from the remote
    b = team("b")
    b.pipeline(source, remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options()))
    assert b.outcomes() == dict.fromkeys(KEYS, "cached")
    # and the local store is collected the same way, leaving the current versions intact
    local = dm.gc(project, retention=0)
    assert local["deleted"]["artifacts"] == 2 and local["deleted"]["actions"] == 2
    assert a.states() == dict.fromkeys(KEYS, "fresh")
    assert a.run("show", "report", check=True).stdout.strip().endswith("total 9901")


def test_gc_keeps_what_a_pin_references(project):
    import datamake.api as dm

    project.pipeline(PIPELINE)
    assert dm.make(dm.load(str(project.root)), history=False).ok
    old_version = Store(str(project.root / ".datamake")).read_manifests(["total"])["total"].code_version
    old_artifact = _artifact(project, "total")
    _bump_total(project)
    project.outcomes()
    (project.root / "datamake.pins.toml").write_text(
        f'[pins]\n"total" = {{ code_version = "{old_version}", source = "" }}\n')
    report = project.json("gc", "--older-than", "0")
    assert old_artifact not in [Path(p).name for p in report["artifacts"]]
    assert report["deleted"]["artifacts"] == 1  # report's old value: nothing pins it
    # going back to the pinned version restores it from the action cache
    assert project.outcomes("total")["total"] == "cached"


def test_gc_on_an_object_store_defers_while_a_writer_holds_a_lease(team, s3_bucket):
    from datamake.storage.gc import Lease
    from datamake.storage.store import Store

    a = team("a")
    build_and_push(a)
    store = Store(f"{s3_bucket.url}/cache", s3_bucket.server.options())
    with Lease(store, "datamake push"):
        proc = a.run("gc", "--remote", "--older-than", "0")
        assert proc.returncode == 1
        assert "deferred" in proc.stderr and "datamake push" in proc.stderr
    report = a.json("gc", "--remote", "--older-than", "0")
    assert report["deferred"] is None and report["kept"]["artifacts"] == 4


def test_commands_without_a_remote_say_how_to_configure_one(project):
    project.pipeline(PIPELINE)
    proc = project.run("push")
    assert proc.returncode == 2
    assert "no remote cache configured" in proc.stderr and "[cache]" in proc.stderr
    bad = project.run("gc", "--older-than", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_local_gc_waits_for_a_running_make(project):
    """gc takes the store lock that `make` holds, so it never deletes what a running make may still write."""
    import subprocess
    import sys

    import datamake.api as dm
    from datamake.storage.lock import store_lock

    project.pipeline(PIPELINE)
    loaded = dm.load(str(project.root))
    assert dm.make(loaded, history=False).ok
    with store_lock(loaded.store, "datamake make"):
        gc = subprocess.Popen([sys.executable, "-m", "datamake", "gc", "--older-than", "0", "--json"],
                              cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "waiting for datamake make" in gc.stderr.readline()  # blocks until gc reports the wait
        assert gc.poll() is None
    out, _ = gc.communicate(timeout=120)
    assert gc.returncode == 0
    assert json.loads(out)["deleted"]["artifacts"] == 0


PARTITIONED = '''
from datamake import StaticPartitions, asset

regions = StaticPartitions(["eu", "us"], name="region")


@asset(partitions=regions)
def sales(context):
    return {"region": context.partition_key, "total": len(context.partition_key)}


@asset
def overview(sales):
    return sorted(sales) if isinstance(sales, dict) else sales
'''


def test_partitions_travel_through_the_remote(team, s3_bucket):
    a, b = team("a"), team("b")
    for who in (a, b):
        who.pipeline(PARTITIONED, remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options()))
    assert set(a.outcomes().values()) == {"built"}
    pushed = a.json("push")
    assert {r["key"] for r in pushed["assets"]} == {"sales[eu]", "sales[us]", "overview"}
    assert set(b.outcomes().values()) == {"cached"}
    assert set(b.states().values()) == {"fresh"}
