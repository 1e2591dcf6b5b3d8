"""The daemon's evaluation on an injected clock, against its real SQLite state: schedule ticks and
catch-up across a restart, sensor cursors and run keys, a failing sensor, start/stop, bad targets."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest

from datamake import api
from datamake.automation.rules.queue import Limits
from datamake.automation.runtime.evaluate import Evaluator
from datamake.automation.runtime.launcher import Launcher
from datamake.automation.runtime.state import DaemonRunning, State
from datamake.define.loader import forget_project_code

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 2, 0, 30, tzinfo=UTC)

PIPELINE = """
import json, os
from datamake import (DailyPartitions, Definitions, RunRequest, SkipReason, asset, schedule, sensor)

@asset(partitions=DailyPartitions(start="2024-02-01"))
def daily(context):
    return context.partition_key

@asset
def summary():
    return 1

nightly = schedule(daily, cron="0 1 * * *", name="nightly")
hourly = schedule("summary", cron="0 * * * *", name="hourly", catch_up="all", tags={"db": "warehouse"})

@sensor("summary", minimum_interval=60)
def files(context):
    names = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "incoming")))
    new = [n for n in names if n not in (context.cursor or [])]
    if not new:
        return SkipReason("no new file")
    context.update_cursor(names)
    return [RunRequest(run_key=f"file:{n}") for n in new]

@sensor("summary", minimum_interval=0)
def broken(context):
    raise ValueError("the feed is down")

defs = Definitions([daily, summary], schedules=[nightly, hourly], sensors=[files, broken])
"""


@contextlib.contextmanager
def evaluators(project):
    """``load()`` -> an Evaluator of the project as it is now (as a restarted daemon sees it), on its real state."""
    opened = []

    def load():
        forget_project_code([str(project.root)])
        p = api.load(str(project.root))
        state = State(api.history_file(p))
        opened.append(state)
        return Evaluator(p, state, Launcher(str(project.root), api.history_file(p), str(project.root / "logs")),
                         Limits(), freshness_interval=0)

    try:
        yield load
    finally:
        for state in opened:
            state.close()
        forget_project_code([str(project.root)])


@pytest.fixture
def loaded(project):
    project.pipeline(PIPELINE)
    (project.root / "incoming").mkdir()
    with evaluators(project) as load:
        def load_with_state():
            ev = load()
            return ev, ev.state

        yield project, load_with_state


def queued(state):
    return {r["run_key"]: r for r in state.open_runs()}


def test_a_schedule_starts_at_its_next_tick_makes_the_closed_partition_and_survives_a_restart(loaded):
    project, load = loaded
    ev, state = load()
    ev.evaluate(T0)
    assert queued(state) == {}  # first sight: from the next tick on
    ev.evaluate(T0 + dt.timedelta(hours=1))  # 01:30: the 01:00 tick of 2 March
    runs = queued(state)
    key = "schedule:nightly:2024-03-02T01:00:00+00:00"
    assert runs[key]["argv"] == ["make", "daily", "-p", "2024-03-01"]
    assert runs[key]["tags"]["origin"] == "schedule" and runs[key]["tags"]["schedule"] == "nightly"
    ev2, state2 = load()  # a restarted daemon, same moment: nothing requested twice
    ev2.evaluate(T0 + dt.timedelta(hours=1))
    assert set(queued(state2)) == set(runs)
    assert [t["status"] for t in state2.ticks("nightly")] == ["requested", "started"]


def test_missed_ticks_follow_each_schedules_policy(loaded):
    project, load = loaded
    ev, state = load()
    ev.evaluate(T0)
    ev.evaluate(T0 + dt.timedelta(days=3))  # the daemon was down for three days
    nightly = [r for r in state.open_runs() if r["name"] == "nightly"]
    assert [r["argv"][-1] for r in nightly] == ["2024-03-03"]  # catch_up="latest": the latest, once
    assert "2 missed tick(s)" in state.ticks("nightly")[0]["message"]
    hourly = [r for r in state.open_runs() if r["name"] == "hourly"]
    assert len(hourly) == 72 and hourly[0]["tags"]["db"] == "warehouse"  # catch_up="all": each of them


def test_sensor_cursor_and_run_keys_make_requests_idempotent(loaded):
    project, load = loaded
    ev, state = load()
    (project.root / "incoming" / "a.csv").write_text("1")
    ev.evaluate(T0)
    assert [k for k in queued(state) if k.startswith("file:")] == ["file:a.csv"]
    assert state.cursor("files")["cursor"] == ["a.csv"]
    (project.root / "incoming" / "b.csv").write_text("2")
    ev.evaluate(T0 + dt.timedelta(seconds=30))  # within minimum_interval: not evaluated
    assert "file:b.csv" not in queued(state)
    ev.evaluate(T0 + dt.timedelta(seconds=61))
    assert "file:b.csv" in queued(state) and state.cursor("files")["cursor"] == ["a.csv", "b.csv"]
    state.conn.execute("UPDATE automation_queue SET status = 'done'")  # both ran
    state.conn.execute("UPDATE automation_cursors SET cursor = NULL WHERE name = 'files'")  # the cursor is lost
    decisions = ev.evaluate(T0 + dt.timedelta(seconds=200))
    assert [k for k in queued(state) if k.startswith("file:")] == []  # the run keys were seen: nothing runs twice
    assert any(d["name"] == "files" and "already seen" in d["message"] for d in decisions)


def test_a_sensor_that_raises_is_recorded_failed_with_its_traceback_and_the_rest_goes_on(loaded):
    project, load = loaded
    ev, state = load()
    (project.root / "incoming" / "a.csv").write_text("1")
    decisions = ev.evaluate(T0)
    failed = state.ticks("broken")[0]
    assert failed["status"] == "failed"
    assert "pipeline.py" in failed["message"] and "ValueError: the feed is down" in failed["message"]
    assert "datamake/automation" not in failed["message"]  # the user's frames only
    assert "file:a.csv" in queued(state)  # the other sensor was evaluated
    assert any(d["name"] == "broken" and d["status"] == "failed" for d in decisions)


def test_a_stopped_schedule_requests_nothing_until_started_again(loaded):
    project, load = loaded
    ev, state = load()
    ev.evaluate(T0)
    project.run("schedules", "stop", "nightly", check=True)
    ev.evaluate(T0 + dt.timedelta(hours=1))
    assert not [r for r in state.open_runs() if r["name"] == "nightly"]
    listing = project.json("schedules")["schedules"]
    assert {s["name"]: s["enabled"] for s in listing} == {"nightly": False, "hourly": True}
    project.run("schedules", "start", "nightly", check=True)
    ev.evaluate(T0 + dt.timedelta(hours=2))
    assert [r["argv"][-1] for r in state.open_runs() if r["name"] == "nightly"] == ["2024-03-01"]


def test_one_daemon_per_project(loaded):
    project, load = loaded
    ev, state = load()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state.conn.execute("INSERT INTO automation_daemon (id, pid, host, started) VALUES (1, ?, ?, ?)",
                           (holder.pid, os.uname().nodename, time.time()))
        with pytest.raises(DaemonRunning):
            state.claim_daemon()
        proc = project.run("daemon", "--once")
        assert proc.returncode != 0 and f"pid {holder.pid}" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    state.claim_daemon()  # the holder is gone: taken over


@pytest.mark.parametrize("declaration, words", [
    ('schedule("nosuch", cron="0 1 * * *")', ["schedule 'nosuch_schedule'", "unknown asset 'nosuch'"]),
    ('schedule("a", cron="0 25 * * *")', ["not a valid cron expression"]),
    ('schedule("a", cron="0 1 * * *", timezone="Mars/Olympus")', ["unknown timezone 'Mars/Olympus'"]),
])
def test_bad_schedules_are_definition_errors_at_load_time(project, declaration, words):
    project.pipeline(f"""
        from datamake import Definitions, asset, schedule

        @asset
        def a():
            return 1

        defs = Definitions([a], schedules=[{declaration}])
    """)
    for command in (("schedules",), ("daemon", "--once")):
        proc = project.run(*command)
        assert proc.returncode == 2, proc.stderr
        assert all(w in proc.stderr for w in words) and "Traceback" not in proc.stderr, proc.stderr


def test_a_run_left_launching_by_a_killed_daemon_is_launched_once(loaded):
    project, load = loaded
    ev, state = load()
    state.record_tick("hourly", "schedule", "requested", requests=[
        {"run_key": "k1", "argv": ["make", "summary"], "tags": {"origin": "schedule"}}])
    assert state.mark("k1", "launching", expect="queued")  # decided, then SIGKILL before the child claimed it
    ev2, state2 = load()  # the next daemon starts it
    assert [d["status"] for d in ev2.process_queue(T0)] == ["relaunched"]
    child = ev2.launcher.children["k1"]
    assert child.wait(timeout=60) == 0
    again = subprocess.run([sys.executable, "-m", "datamake.automation.runtime.child", api.history_file(ev2.project),
                            "k1", "-C", str(project.root), "make", "summary"], timeout=60)  # a late duplicate
    assert again.returncode == 0
    ev2.process_queue(T0)
    assert state2.open_runs() == []
    runs = project.json("log")["runs"]
    assert len(runs) == 1 and runs[0]["pid"] == child.pid


def test_a_schedule_of_a_job_runs_it_with_the_partition_of_the_tick(project):
    project.pipeline("""
        from datamake import DailyPartitions, Definitions, asset, job, schedule

        @asset(partitions=DailyPartitions(start="2024-02-01"))
        def daily(context):
            return context.partition_key

        nightly_job = job("nightly_job", selection="daily")
        defs = Definitions([daily], jobs=[nightly_job],
                           schedules=[schedule(nightly_job, cron="0 1 * * *", name="nightly")])
    """)
    with evaluators(project) as load:
        ev = load()
        ev.evaluate(T0)
        ev.evaluate(T0 + dt.timedelta(hours=1))
        [run] = ev.state.open_runs()
        assert run["argv"] == ["run", "nightly_job", "-p", "2024-03-01"] and run["tags"]["job"] == "nightly_job"


def test_a_schedule_of_an_unregistered_job_is_a_definition_error(project):
    project.pipeline("""
        from datamake import Definitions, asset, job, schedule

        @asset
        def a():
            return 1

        defs = Definitions([a], schedules=[schedule(job("forgotten", selection="a"), cron="0 1 * * *")])
    """)
    proc = project.run("schedules")
    assert proc.returncode == 2 and "job 'forgotten' is not registered" in proc.stderr, proc.stderr


def test_the_queue_starts_runs_as_its_limits_allow_and_drops_none(loaded):
    project, load = loaded
    ev, state = load()
    ev.limits = Limits(max_concurrent=1, tag_limits={})
    state.record_tick("hourly", "schedule", "requested", requests=[
        {"run_key": key, "argv": ["make", "summary"], "tags": {"origin": "schedule"}} for key in ("k1", "k2")])
    assert [d["status"] for d in ev.process_queue(T0)] == ["launched"]
    assert {r["run_key"]: r["status"] for r in state.open_runs()}["k2"] == "queued"  # waits its turn
    assert ev.launcher.children["k1"].wait(timeout=60) == 0
    assert [(d["status"], d["run_keys"]) for d in ev.process_queue(T0)] == [("ended", ["k1"]), ("launched", ["k2"])]
    assert ev.launcher.children["k2"].wait(timeout=60) == 0
    ev.process_queue(T0)
    assert state.open_runs() == [] and len(project.json("log")["runs"]) == 2


RELOADED = """
from datamake import Definitions, asset, schedule

@asset
def report():
    return {value}

defs = Definitions([report], schedules=[{schedules}])
"""


def test_the_daemon_obeys_edited_definitions_without_a_restart(project, monkeypatch):
    from datamake.automation.runtime.daemon import Daemon
    from datamake.project import holder

    monkeypatch.setattr(holder, "RETRY_SECONDS", 0.0)  # a broken project is tried again at every pass

    def write(value, schedules):
        project.pipeline(RELOADED.format(value=value, schedules=schedules))

    write(1, 'schedule(report, cron="0 3 * * *", name="nightly")')
    forget_project_code([str(project.root)])
    decisions = []
    p = api.load(str(project.root))
    daemon = Daemon(p, api.history_file(p), decisions.append, clock=lambda: T0.timestamp())
    try:
        daemon.run(once=True)
        assert [(d["name"], d["status"]) for d in decisions] == [("nightly", "started")]
        version = daemon.project.code_version("report").value

        decisions.clear()  # an edit: a second schedule, and new code for the asset
        write(2, 'schedule(report, cron="0 3 * * *", name="nightly"), schedule(report, cron="0 4 * * *", name="late")')
        daemon.run(once=True)
        assert [(d["name"], d["status"]) for d in decisions] == [("definitions", "reloaded"), ("late", "started")]
        assert daemon.project.code_version("report").value != version  # the new code is what it plans with

        decisions.clear()  # a broken file: evaluation pauses with one logged error, the daemon goes on
        project.pipeline("from datamake import Definitions\ndefs = Definitions([undefined_name])\n")
        daemon.run(once=True)
        daemon.run(once=True)
        assert [(d["name"], d["status"]) for d in decisions] == [("definitions", "failed")]
        assert "undefined_name" in decisions[0]["message"] and "paused" in decisions[0]["message"]

        decisions.clear()  # fixed: loaded again, and the schedules it knew keep their state
        write(3, 'schedule(report, cron="0 3 * * *", name="nightly")')
        daemon.run(once=True)
        assert [(d["name"], d["status"]) for d in decisions] == [("definitions", "reloaded")]
    finally:
        forget_project_code([str(project.root)])
