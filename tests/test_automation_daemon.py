"""The daemon as users run it: a real subprocess with a schedule every second, SIGKILLed mid-run and
restarted: no run launched twice, no tick lost beyond the catch-up policy, every run in `datamake log`."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from datamake.automation.rules.cron import Cron
from datamake.core.errors import DefinitionError
from datamake.storage.liveness import HOST, process_gone
from tests.polling import wait_for


def _has_seconds() -> bool:
    try:
        Cron("* * * * * *")
    except DefinitionError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_seconds(), reason="cron's seconds field needs cronsim 2.7 (Python 3.10+)")

PIPELINE = """
import time
from datamake import Definitions, asset, schedule

@asset
def slow():
    time.sleep(0.2)
    return time.time()

defs = Definitions([slow], schedules=[schedule(slow, cron="* * * * * *", name="every_second")])
"""


def start_daemon(project, *args):
    return subprocess.Popen([sys.executable, "-m", "datamake", "daemon", *args], cwd=project.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def rows(project, sql):
    path = project.root / ".datamake" / "history.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # the tables are not created yet
    finally:
        db.close()


def alive(pid) -> bool:
    return not process_gone(HOST, pid)


def test_sigkill_and_restart_launch_nothing_twice_and_lose_no_tick(project):
    project.pipeline(PIPELINE, "[daemon]\nmax_concurrent_runs = 2\n")
    first = start_daemon(project)
    try:
        wait_for(lambda: rows(project, "SELECT 1 FROM automation_queue WHERE status = 'running'"), what="a run")
    finally:
        first.send_signal(signal.SIGKILL)  # mid-run: no cleanup at all
        first.wait()
    last_tick = max(t for (t,) in rows(project, "SELECT tick FROM automation_ticks WHERE name = 'every_second'"
                                      " AND tick IS NOT NULL"))
    # down for at least two ticks past the last one it recorded: one the restart runs, one passed over
    wait_for(lambda: time.time() >= last_tick + 2.5, what="two ticks of outage")
    launched_before = len(rows(project, "SELECT 1 FROM automation_queue WHERE pid IS NOT NULL"))
    second = start_daemon(project)
    try:
        # two runs finished after the restart, besides those the first daemon launched
        wait_for(lambda: len(rows(project, "SELECT 1 FROM automation_queue WHERE status = 'done'"))
                 >= launched_before + 2, what="runs after the restart")
        refused = project.run("daemon", "--once")  # a second daemon on the same project
        assert refused.returncode != 0 and f"pid {second.pid}" in refused.stderr
    finally:
        second.send_signal(signal.SIGTERM)  # stop evaluating; runs in flight finish on their own
        assert second.wait(timeout=30) == 0, second.stderr.read()

    def settled():
        open_runs = rows(project, "SELECT status, pid FROM automation_queue WHERE status IN ('launching', 'running')")
        return all(status == "running" and not alive(pid) for status, pid in open_runs)

    wait_for(settled, what="the runs in flight to end")
    queue = rows(project, "SELECT run_key, status, pid, tags FROM automation_queue ORDER BY rowid")
    claimed = [(key, pid, tags) for key, status, pid, tags in queue if pid is not None]
    assert len(claimed) >= 3 and all(status != "launching" for _k, status, _p, _t in queue)
    log = project.json("log", "-n", "1000")["runs"]
    pids = [r["pid"] for r in log]
    by_pid = {r["pid"]: r for r in log}
    for key, pid, _tags in claimed:  # each launched request ran exactly once, and is in the log with its origin
        assert pids.count(pid) == 1, (pid, pids)
        assert by_pid[pid]["tags"]["origin"] == "schedule" and by_pid[pid]["tags"]["run_key"] == key
    assert len(log) == len(claimed)
    assert all(run["status"] == "ok" and "make slow" in run["command"] for run in log)

    # every tick from the first to the last is either requested or recorded as passed over
    ticks = rows(project, "SELECT status, tick, message FROM automation_ticks WHERE name = 'every_second' ORDER BY id")
    requested = sorted(t for s, t, _m in ticks if s == "requested")
    assert len(requested) == len(queue) == len(set(requested))
    passed_over = sum(int(m.split(" missed")[0].rsplit("(", 1)[-1]) for s, _t, m in ticks
                      if s == "requested" and "missed tick(s)" in m)
    assert passed_over >= 1  # the outage, covered by catch_up="latest"
    assert len(requested) + passed_over == int(requested[-1] - requested[0]) + 1
