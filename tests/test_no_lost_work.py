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
from datamake.history.events import SCHEMA_VERSION
from datamake.storage.store import Store

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


# -- 1. a store this process cannot write ---------------------------------------------------------

def unprivileged(*argv: str) -> list:
    """A command line that runs without the right to write read-only files: as root, with every
    capability dropped (root otherwise writes anywhere, whatever the mode bits say)."""
    if os.geteuid() != 0:
        return list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop the right to write read-only files")
    return [setpriv, "--bounding-set=-all", *argv]


def datamake_unprivileged(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(unprivileged(sys.executable, "-m", "datamake", *args), cwd=root, capture_output=True,
                          text=True, timeout=240)


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    probe = folder / "probe"
    attempt = subprocess.run(unprivileged(sys.executable, "-c", f"open({str(probe)!r}, 'w')"), capture_output=True)
    assert attempt.returncode != 0 and not probe.exists(), "the store is still writable: the test would prove nothing"


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def read_only_store(tmp_path):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    touch_source(tmp_path)
    ok(run(tmp_path, "make"))  # records the new observation; nothing rebuilt
    touch_source(tmp_path)
    os.utime(tmp_path / "data" / "orders.txt", (1_000_000_100, 1_000_000_100))  # status has to observe it again
    make_read_only(store)
    yield store
    for path in [store, *store.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_read_only_store_status_make_log_why(tmp_path, read_only_store):
    before = snapshot(read_only_store)

    status = datamake_unprivileged(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert {a["key"]: a["state"] for a in json.loads(status.stdout)["assets"]} == {"raw": "fresh", "report": "fresh"}

    noop = datamake_unprivileged(tmp_path, "make")
    assert noop.returncode == 0, noop.stderr
    assert "2 up to date" in noop.stdout
    assert "this run is not recorded" in noop.stderr  # the log is in the store: said once, and the build goes on

    log = datamake_unprivileged(tmp_path, "log")
    assert log.returncode == 0, log.stderr
    assert log.stdout.count(" ok ") == 2, log.stdout  # the two runs recorded before the store became read-only

    why = datamake_unprivileged(tmp_path, "why", "report")
    assert why.returncode == 0, why.stderr
    assert "produced by run" in why.stdout

    for proc in (status, noop, log, why):
        assert "Traceback" not in proc.stderr, proc.stderr
    assert snapshot(read_only_store) == before


def test_read_only_store_with_something_to_build_fails_cleanly(tmp_path, read_only_store):
    (tmp_path / "data" / "orders.txt").write_text("c,d\n")
    proc = datamake_unprivileged(tmp_path, "make")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "failed   raw" in proc.stdout and "Permission denied" in proc.stdout


def test_read_only_store_whose_checks_changed_fails_cleanly(tmp_path, read_only_store):
    with open(tmp_path / "pipeline.py", "a") as f:  # a new check re-runs on the kept value, which records it
        f.write("\nfrom datamake import asset_check\n\n@asset_check(asset=report)\ndef short(report):\n"
                "    return len(report) < 100\n")
    proc = datamake_unprivileged(tmp_path, "make")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "failed   report  recording its manifest failed: PermissionError" in proc.stdout


def test_status_and_noop_make_on_a_read_only_bucket(tmp_path, s3_bucket):
    make_project(tmp_path, f'[storage]\nroot = "{s3_bucket.url}/store"\n'
                           f'[storage.storage_options]\n{s3_bucket.server.toml_options()}')
    ok(run(tmp_path, "make"))
    touch_source(tmp_path)  # observed again: a write of observations.json into the bucket
    s3_bucket.server.read_only.add(s3_bucket.name)
    try:
        status = run(tmp_path, "status", "--json")
        ok(status)
        assert {a["state"] for a in json.loads(status.stdout)["assets"]} == {"fresh"}
        assert outcomes(tmp_path) == {"raw": "skipped", "report": "skipped"}
    finally:
        s3_bucket.server.read_only.discard(s3_bucket.name)


# -- 2. the event log never fails a build ---------------------------------------------------------

def test_corrupt_event_log(tmp_path):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    log_file = store / "history.sqlite"
    for leftover in store.glob("history.sqlite-*"):
        leftover.unlink()
    log_file.write_bytes(b"this is not a SQLite database " * 200)

    result = run(tmp_path, "log")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"the event log {log_file} is corrupt" in result.output
    assert "hint: move it away" in result.output

    text = ok(run(tmp_path, "why", "report"), "report: fresh", "is corrupt")
    assert "produced by run" not in text

    built, said = made(tmp_path, "-B")
    assert built == {"raw": "built", "report": "built"}
    assert said.count("is corrupt") == 1


@pytest.mark.parametrize("url", ["pipeline.py/history.sqlite", "pipeline.py/logs/history.sqlite"])
def test_event_log_in_a_folder_that_cannot_be_created(tmp_path, url):
    make_project(tmp_path, f'[history]\nurl = "{url}"\n')
    built, said = made(tmp_path)
    assert built == {"raw": "built", "report": "built"}
    assert said.count("this run is not recorded") == 1
    assert str(tmp_path / url) in said
    ok(run(tmp_path, "log"), "no runs recorded yet")


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
    command TEXT, selection TEXT, user TEXT, host TEXT, pid INTEGER, version TEXT,
    counts TEXT, seconds REAL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
    asset TEXT, partition TEXT, code_version TEXT, provenance TEXT, data_version TEXT,
    inputs TEXT, seconds REAL, size INTEGER, metadata TEXT, message TEXT);
CREATE INDEX events_asset ON events (asset, id);
CREATE INDEX events_run ON events (run_id);
CREATE INDEX runs_started ON runs (started);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO runs VALUES ('20240101T000000-0a0a0a0a', 1704067200, 1704067201, 'ok', 'datamake make', '[]',
                         'alice', 'laptop', 1, '0.1.0', '{"built": 2}', 1.0);
"""


def test_a_log_of_the_first_schema_is_migrated(tmp_path):
    store = make_project(tmp_path)
    store.mkdir()
    db = sqlite3.connect(store / "history.sqlite")
    db.executescript(OLD_SCHEMA)
    db.close()

    assert outcomes(tmp_path) == {"raw": "built", "report": "built"}
    text = ok(run(tmp_path, "log"), "20240101T000000-0a0a0a0a")
    assert text.count(" ok ") == 2, text

    db = sqlite3.connect(store / "history.sqlite")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(SCHEMA_VERSION)
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE status = 'running' AND host = 'x'"))
        assert "runs_running" in plan  # what the migration added: no scan of every run at each start
        old, new = db.execute("SELECT tags FROM runs ORDER BY started").fetchall()
        assert old == (None,) and new == (None,)  # the tags column exists; runs without tags leave it empty
    finally:
        db.close()


def test_a_log_of_a_newer_schema_is_left_alone(tmp_path):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    db = sqlite3.connect(store / "history.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()

    result = run(tmp_path, "log")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "written by a newer datamake (log schema 99" in result.output and "hint: upgrade datamake" in result.output

    built, said = made(tmp_path, "-B")
    assert built == {"raw": "built", "report": "built"}
    assert said.count("newer datamake") == 1
    db = sqlite3.connect(store / "history.sqlite")
    try:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # not written by this older datamake
    finally:
        db.close()


# -- 3. a full disk while the manifest is committed -----------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real file system that fills up (mounting it needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def open_files_under(folder: Path) -> list:
    fds = "/proc/self/fd"
    return [target for target in (os.readlink(f"{fds}/{fd}") for fd in os.listdir(fds) if os.path.exists(f"{fds}/{fd}"))
            if target.startswith(str(folder))]


def test_disk_full_while_committing_the_manifest(tmp_path, small_disk):
    project = tmp_path / "project"
    store = small_disk / "store"
    make_project(project, f'[storage]\nroot = "{store}"\n',
                 pipeline='from datamake import asset\n\n@asset\ndef report():\n    return "v1"\n')
    assert outcomes(project) == {"report": "built"}
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    # The new value is empty, so its artifact takes no block of the full disk; its manifest does.
    (project / "pipeline.py").write_text('from datamake import asset\n\n@asset\ndef report():\n    return ""\n')

    failed, _ = made(project, expect=1)
    assert failed == {"report": "recording its manifest failed: OSError: [Errno 28] No space left on device"}
    assert ok(run(project, "show", "report")).strip() == "v1"  # the previous value is still current
    assert not list((store / "tmp").iterdir())  # nothing half-written left behind
    assert open_files_under(small_disk) == []

    filler.unlink()
    assert outcomes(project) == {"report": "built"}
    assert ok(run(project, "show", "report")).strip() == ""


# -- 4. store files of the wrong shape ------------------------------------------------------------

WRONG_SHAPES = ["null", '"a string"', {"artifact": None}, {"code_parts": 5}, {"size": "12"}]


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=[json.dumps(s) for s in WRONG_SHAPES])
def test_manifest_of_the_wrong_shape_is_rebuilt(tmp_path, shape):
    store = make_project(tmp_path)
    ok(run(tmp_path, "make"))
    path = store / "manifests" / "report.json"
    if isinstance(shape, dict):
        content = json.dumps({**Store(str(store)).read_manifests(["report"])["report"].to_data(), **shape})
    else:
        content = shape
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)  # a new file: a manifest file shares its bytes with the action cache's entry
    path.write_text(content)  # newer than what make committed: the current version

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
    monkeypatch.delenv("DATAMAKE_CACHE_DIR", raising=False)  # the suite's own: this test looks for the XDG one
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from datamake import api

    make_project(tmp_path / "project")
    ok(run(tmp_path / "project", "make"))
    cache = Path(api.load(str(tmp_path / "project"))._code_cache_path())
    assert cache.parent.parent == tmp_path / "cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("[]")
    ok(run(tmp_path / "project", "status"), "2 fresh")
