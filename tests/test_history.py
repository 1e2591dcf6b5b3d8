"""The SQLite event log: runs and events, crash recovery, concurrent readers, retention, why and lineage."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from datamake.history.events import History, history_path, parse_older_than
from datamake.storage.store import Store

@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process; the concurrency test starts real ones


CHAIN = """
    from datamake import asset

    @asset
    def a():
        return {value}

    @asset
    def b(a):
        return a + 1
"""


def test_runs_and_materializations_are_recorded_with_their_versions(project):
    project.pipeline(CHAIN.format(value=1))
    built = {x["key"]: x for x in project.json("make")["assets"]}
    project.json("make")  # a no-op run is recorded too

    runs = project.json("log")["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    first = runs[1]
    assert first["command"] == "datamake make --json"
    assert first["counts"]["built"] == 2 and runs[0]["counts"]["skipped"] == 2
    assert first["host"] == socket.gethostname() and first["version"] and first["user"]
    assert first["finished"] >= first["started"]

    (row,) = project.json("log", "b")["materializations"]
    manifest = Store(str(project.root / ".datamake")).read_manifests(["b"])["b"].to_data()
    assert row["kind"] == "built" and row["run_id"] == first["run_id"]
    assert row["data_version"] == built["b"]["data_version"] == manifest["data_version"]
    assert row["provenance"] == manifest["provenance"] and row["code_version"] == manifest["code_version"]
    assert row["inputs"] == {"a": built["a"]["data_version"]}
    assert row["seconds"] >= 0 and row["size"] == manifest["size"]

    every = project.json("log", "b", "--all")["materializations"]
    assert [r["kind"] for r in every] == ["skipped", "built", "started"]

    events = project.json("log", "--run", first["run_id"])["events"]
    assert [(e["kind"], e["asset"]) for e in events] == [
        ("started", "a"), ("built", "a"), ("started", "b"), ("built", "b")]

    text = project.run("log", check=True).stdout
    assert first["run_id"] in text and "2 built" in text


def test_failed_run_and_its_error_are_recorded(project):
    project.pipeline("""
        from datamake import asset

        @asset
        def broken():
            raise RuntimeError("the API is down")

        @asset
        def after(broken):
            return broken
    """)
    project.json("make", expect=1)
    (run,) = project.json("log")["runs"]
    assert run["status"] == "failed" and run["counts"]["failed"] == 1 and run["counts"]["blocked"] == 1
    (row,) = project.json("log", "broken")["materializations"]
    assert row["kind"] == "failed" and "RuntimeError: the API is down" in row["message"]
    assert project.json("log", "after")["materializations"][0]["kind"] == "blocked"


def test_killed_run_is_marked_interrupted_on_the_next_start(project, tmp_path):
    marker = tmp_path / "hang-started"
    project.pipeline("""
        import os, time
        from datamake import asset

        @asset
        def quick():
            return 1

        @asset
        def hang(quick):
            open(os.environ["HANG_MARKER"], "w").close()
            while True:
                time.sleep(0.05)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make"], cwd=project.root,
                            env={**os.environ, "HANG_MARKER": str(marker)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # wait for the run to be inside `hang` (not a timing assumption)
            assert proc.poll() is None, "make ended before the hanging asset started"
            assert time.monotonic() < deadline, "the hanging asset never started"
            time.sleep(0.02)
        store = Store(str(project.root / ".datamake"))
        while store.read_manifests(["quick"])["quick"] is None:  # its batch of manifests is written soon after
            assert time.monotonic() < deadline, "quick's manifest was never written"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    project.pipeline("""
        from datamake import asset

        @asset
        def quick():
            return 1
    """)
    assert project.outcomes() == {"quick": "skipped"}  # the next start settles the dead run
    runs = project.json("log")["runs"]
    assert [r["status"] for r in runs] == ["ok", "interrupted"]
    assert runs[1]["finished"] is not None


def test_recover_marks_only_dead_processes(tmp_path):
    path = str(tmp_path / "h.sqlite")
    history = History(path)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    host = socket.gethostname()
    with history.transaction():
        for run_id, pid, where in [("dead", finished.pid, host), ("alive", os.getppid(), host),
                                   ("elsewhere", finished.pid, "another-host"), ("me", os.getpid(), host)]:
            history.conn.execute("INSERT INTO runs (run_id, started, status, host, pid) VALUES (?, ?, 'running', ?, ?)",
                                 (run_id, time.time(), where, pid))
    assert sorted(history.recover()) == ["dead", "me"]
    statuses = {r["run_id"]: r["status"] for r in history.runs()}
    assert statuses == {"dead": "interrupted", "me": "interrupted", "alive": "running", "elsewhere": "running"}
    history.close()


def test_recover_marks_a_run_whose_process_exited_unreaped_as_interrupted(tmp_path):
    # A killed `make` whose parent has not reaped it yet is a zombie: it is gone, and `log` says so.
    history = History(str(tmp_path / "h.sqlite"))
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # it has exited, and stays unreaped
    try:
        with history.transaction():
            history.conn.execute("INSERT INTO runs (run_id, started, status, host, pid) VALUES (?, ?, 'running', ?, ?)",
                                 ("zombie", time.time(), socket.gethostname(), zombie.pid))
        assert history.recover() == ["zombie"]
        assert [r["status"] for r in history.runs()] == ["interrupted"]
    finally:
        zombie.wait()
        history.close()


READER = """
import json, os, sys
from datamake.history.events import History

path, stop, ready = sys.argv[1:4]
reads, errors, most, saw_running = 0, [], 0, 0
open(ready, "w").close()
while True:
    last = os.path.exists(stop)
    try:
        history = History.open_existing(path)
        if history is not None:
            runs = history.runs()
            count = history.count_events()
            history.materializations("a0")
            saw_running += any(r["status"] == "running" for r in runs)
            history.close()
            if count < most:
                errors.append(f"event count went down from {most} to {count}")
            most = max(most, count)
        reads += 1
    except Exception as exc:
        errors.append(repr(exc))
    if last:
        break
print(json.dumps({"reads": reads, "errors": errors[:5], "saw_running": saw_running}))
"""

MANY = """
from datamake import asset

def make_asset(i):
    @asset(name=f"a{i}", deps=[f"a{(i - 1) // 2}"] if i else [])
    def work():
        return sum(range(20000)) + i
    return work

ASSETS = [make_asset(i) for i in range(N)]
"""


def test_parallel_make_while_another_process_reads_the_log(process_project, tmp_path):
    project = process_project
    n = 80
    project.pipeline(MANY.replace("N", str(n)))
    (project.root / "reader.py").write_text(READER)
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    db = project.root / ".datamake" / "history.sqlite"
    reader = subprocess.Popen([sys.executable, "reader.py", str(db), str(stop), str(ready)], cwd=project.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert reader.poll() is None, reader.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        result = project.json("make", "-j", "4", "--executor", "thread")
        forced = project.json("make", "-j", "4", "--executor", "process", "-B", "a0", "a1", "a2")
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    report = json.loads(out)
    print("reader:", report)
    assert report["errors"] == [] and report["reads"] > 0, err

    assert all(a["outcome"] == "built" for a in result["assets"]) and len(result["assets"]) == n
    history = History.open_existing(str(db))
    events = history.events(run_id=result["run_id"])
    assert sorted(e["asset"] for e in events if e["kind"] == "built") == sorted(f"a{i}" for i in range(n))
    assert sum(e["kind"] == "started" for e in events) == n
    assert history.run(result["run_id"])["status"] == "ok"
    assert sum(e["kind"] == "built" for e in history.events(run_id=forced["run_id"])) == 3
    history.close()


def test_prune_deletes_old_runs_and_their_events(project):
    project.pipeline(CHAIN.format(value=1))
    project.json("make")
    project.json("make")
    assert project.json("log", "--prune", "30d")["pruned_runs"] == 0
    pruned = project.json("log", "--prune", "2999-01-01")
    assert pruned["pruned_runs"] == 2 and pruned["pruned_events"] == 5  # 2 started + 2 built; 1 summary of skipped
    assert project.json("log")["runs"] == []
    bad = project.run("log", "--prune", "lately")
    assert bad.returncode == 2 and "30d" in bad.stderr


def test_why_names_the_run_and_lineage_follows_older_versions(project):
    project.pipeline(CHAIN.format(value=1))
    first = project.json("make")
    old_a = {x["key"]: x["data_version"] for x in first["assets"]}["a"]
    why = project.run("why", "b", check=True).stdout
    assert f"produced by run {first['run_id']}: `datamake make --json`" in why
    assert project.json("why", "b")["materialization"]["run"]["status"] == "ok"

    project.pipeline(CHAIN.format(value=2))
    second = project.json("make", "a")  # rebuild a only: b still holds the value built from the old a
    new_a = second["assets"][0]["data_version"]
    assert new_a != old_a

    info = project.json("lineage", "b")
    (up,) = info["upstream"]
    assert (up["key"], up["data_version"], up["current"], up["known"]) == ("a", old_a, False, True)
    assert up["run_id"] == first["run_id"]  # found in the event log, not in the current manifest
    down = project.json("lineage", "a")["downstream"]
    assert [(d["key"], d["from_current"]) for d in down] == [("b", False)]
    text = project.run("lineage", "b", check=True).stdout
    assert f"a @{old_a[:12]}  (older version)" in text


def test_history_location_can_be_configured(project):
    project.pipeline(CHAIN.format(value=1), '[history]\nurl = "logs/events.sqlite"\n')
    project.json("make")
    assert (project.root / "logs" / "events.sqlite").exists()
    assert not (project.root / ".datamake" / "history.sqlite").exists()
    assert len(project.json("log")["runs"]) == 1

    project.pipeline(CHAIN.format(value=1), '[history]\nurl = "s3://bucket/events.sqlite"\n')
    proc = project.run("make")
    assert proc.returncode == 2 and "local SQLite file" in proc.stderr and "Traceback" not in proc.stderr


def test_remote_store_keeps_the_log_beside_datamake_toml(project):
    project.pipeline(CHAIN.format(value=1), '[storage]\nroot = "memory://history-test"\n')
    project.json("make")
    assert (project.root / ".datamake-history.sqlite").exists()


def test_log_of_unknown_asset_is_a_usage_error(project):
    project.pipeline(CHAIN.format(value=1))
    proc = project.run("log", "bb")
    assert proc.returncode == 2 and "did you mean" in proc.stderr
    assert project.json("log", "b") == {"asset": "b", "materializations": []}
    assert project.json("log") == {"runs": []}


def test_history_path_and_durations():
    assert history_path("/p", None, "/p/.datamake", True) == "/p/.datamake/history.sqlite"
    assert history_path("/p", None, "bucket/prefix", False) == "/p/.datamake-history.sqlite"
    assert history_path("/p", "h.sqlite", "/s", True) == "/p/h.sqlite"
    assert history_path("/p", "sqlite:////var/h.sqlite", "/s", True) == "/var/h.sqlite"
    assert parse_older_than("2d", now=1_000_000) == 1_000_000 - 2 * 86400
    assert parse_older_than("90m", now=10_000) == 10_000 - 5400
    with pytest.raises(Exception, match="OLDER_THAN"):
        parse_older_than("soon")


def test_runs_record_the_tags_a_launcher_sets_in_the_environment(project):
    project.pipeline(CHAIN.format(value=1))
    tags = {"origin": "schedule", "schedule": "nightly", "tick": 1700000000}
    project.run("make", check=True, env={"DATAMAKE_RUN_TAGS": json.dumps(tags)})
    project.run("make", check=True, env={"DATAMAKE_RUN_TAGS": ""})

    untagged, tagged = project.json("log")["runs"]
    assert tagged["tags"] == tags and untagged["tags"] == {}
    assert project.json("log", "--run", tagged["run_id"])["run"]["tags"] == tags
    first, second = project.run("log", check=True).stdout.splitlines()
    assert second.endswith("[origin=schedule schedule=nightly tick=1700000000]") and "[" not in first


@pytest.mark.parametrize("value, problem", [("origin=ui", "is not valid JSON"), ('["ui"]', "must be a JSON object")])
def test_bad_run_tags_in_the_environment_are_a_usage_error(project, value, problem):
    project.pipeline(CHAIN.format(value=1))
    proc = project.run("make", env={"DATAMAKE_RUN_TAGS": value})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"DATAMAKE_RUN_TAGS {problem}" in proc.stderr and "hint: set it to a JSON object" in proc.stderr
    assert not (project.root / ".datamake" / "manifests" / "a.json").exists()  # nothing ran


def test_a_log_of_schema_2_gains_the_tags_column(tmp_path):
    import sqlite3

    path = str(tmp_path / "history.sqlite")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
            command TEXT, selection TEXT, user TEXT, host TEXT, pid INTEGER, version TEXT, counts TEXT, seconds REAL);
        CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
            asset TEXT, partition TEXT, code_version TEXT, provenance TEXT, data_version TEXT,
            inputs TEXT, seconds REAL, size INTEGER, metadata TEXT, message TEXT);
        INSERT INTO runs (run_id, started, status) VALUES ('old', 1, 'ok');
        PRAGMA user_version = 2;
    """)
    db.close()
    reader = History.open_existing(path)  # read as it is: the old run has no tags
    assert reader.version == 2 and reader.run("old")["tags"] == {}
    reader.close()
    history = History(path)  # opened for writing: migrated
    history.begin_run("new", [], "datamake run nightly", 2.0, {"job": "nightly"})
    assert history.run("new")["tags"] == {"job": "nightly"} and history.run("old")["tags"] == {}
    history.close()


def test_a_no_op_run_records_its_up_to_date_assets_once_for_all_runs(project):
    project.pipeline("from datamake import asset\n" + "".join(
        f"\n@asset\ndef asset_number_{i}():\n    return {i}\n" for i in range(60)))
    project.json("make")
    noops = [project.json("make")["run_id"] for _ in range(3)]
    names = [f"asset_number_{i}" for i in range(60)]

    for run_id in noops:  # each no-op shows the assets it found up to date
        (summary,) = project.json("log", "--run", run_id)["events"]
        assert summary["kind"] == "skipped" and sorted(summary["metadata"]["assets"]) == sorted(names)
        assert summary["message"] == "60 assets up to date"
    every = project.json("log", "asset_number_7", "--all")["materializations"]
    assert [(r["kind"], r["run_id"]) for r in every][:3] == [("skipped", r) for r in reversed(noops)]

    import sqlite3

    db = sqlite3.connect(str(project.root / ".datamake" / "history.sqlite"))
    sizes = [db.execute("SELECT SUM(LENGTH(metadata)) FROM events WHERE run_id = ?", (r,)).fetchone()[0]
             for r in noops]
    assert max(sizes) < 60  # a reference to the list, not the 60 names
    assert db.execute("SELECT COUNT(*) FROM asset_sets").fetchone()[0] == 1  # one list for the three runs
    db.close()

    project.json("log", "--prune", "2999-01-01")  # the list goes with the last run that named it
    db = sqlite3.connect(str(project.root / ".datamake" / "history.sqlite"))
    assert db.execute("SELECT COUNT(*) FROM asset_sets").fetchone()[0] == 0
    db.close()


def test_a_log_of_schema_4_keeps_showing_the_assets_its_no_op_runs_listed(project):
    import sqlite3

    project.pipeline(CHAIN.format(value=1))
    project.json("make")
    path = str(project.root / ".datamake" / "history.sqlite")
    db = sqlite3.connect(path)  # as a datamake of schema 4 recorded a no-op: the names in the row itself
    db.executescript("""
        DROP TABLE asset_sets;
        INSERT INTO runs (run_id, started, finished, status, counts) VALUES ('older', 1, 2, 'ok', '{"skipped": 2}');
        INSERT INTO events (run_id, ts, kind, metadata, message)
            VALUES ('older', 1.5, 'skipped', '{"assets":["a","b"]}', '2 assets up to date');
        PRAGMA user_version = 4;
    """)
    db.close()
    assert [r["run_id"] for r in project.json("log", "b", "--all")["materializations"] if r["kind"] == "skipped"] \
        == ["older"]
    noop = project.json("make")["run_id"]  # the log is brought to schema 5 and the new summary refers to a list
    skipped = [r["run_id"] for r in project.json("log", "b", "--all")["materializations"] if r["kind"] == "skipped"]
    assert skipped == [noop, "older"]
    (summary,) = project.json("log", "--run", "older")["events"]
    assert summary["metadata"] == {"assets": ["a", "b"]}


def test_a_column_an_event_has_no_value_for_is_sql_null(project):
    """Queries on the log (``WHERE message IS NULL``, ``datamake log``'s empty fields) see NULL, never a
    stand-in: not a NaN, not the text 'nan', wherever the row was written from."""
    import sqlite3

    project.pipeline(CHAIN.format(value=1))
    project.json("make")
    path = history_path(str(project.root), None, str(project.root / ".datamake"), True)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT kind, typeof(partition), typeof(code_version), typeof(inputs), typeof(seconds),"
                            " typeof(size), typeof(metadata), typeof(message) FROM events ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["started", "built", "started", "built"]
    assert rows[0][1:] == ("null", "null", "null", "null", "null", "null", "text")  # started: only its reasons
    assert rows[1][1:] == ("null", "text", "null", "real", "integer", "null", "null")  # built a: no inputs
    assert rows[3][3] == "text"  # built b: its input
    events = project.json("log", "a", "--all")["materializations"]
    assert all(e["partition"] is None and e["metadata"] in (None, {}) for e in events)


def test_an_event_row_of_the_wrong_width_is_refused_whole(tmp_path):
    """Rows go into SQLite in multi-row statements: one short row must not shift the values of the next."""
    from datamake.history.events import _EVENT_COLUMNS, History

    history = History(str(tmp_path / "history.sqlite"))
    good = ("run", 1.0, "finished", "a", None, None, None, None, None, None, None, None, None)
    assert len(good) == len(_EVENT_COLUMNS)
    with pytest.raises(ValueError, match="13 values"):
        history.add_events([good, good[:-1]] + [good] * 70)
    assert history.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
