"""Declarative freshness and the built-in sensors, on real projects: `datamake status` shows each
goal, the daemon asks for the minimal make that meets them; source, asset and run-status sensors."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.test_automation_state import evaluators

UTC = dt.timezone.utc

PIPELINE = """
import os
from datamake import Definitions, asset, asset_sensor, job, run_status_sensor, source, source_sensor

incoming = source("incoming/*.csv", name="incoming")

@asset
def raw(incoming):
    return 1

@asset(fresh_within="1h")
def report(raw):
    return raw + 1

@asset(automation="eager")
def mirror(raw):
    return raw

@asset
def plain():
    return 0

@asset
def flaky():
    raise RuntimeError("flaky broke")

@run_status_sensor("failed", minimum_interval=0)
def on_failure(context, run):
    with open(os.path.join(os.path.dirname(__file__), "failures.txt"), "a") as f:
        f.write(run["command"] + "\\n")

flaky_job = job("flaky_job", selection="flaky")

@run_status_sensor("failed", job=flaky_job, minimum_interval=0)
def on_job_failure(context, run):
    with open(os.path.join(os.path.dirname(__file__), "job_failures.txt"), "a") as f:
        f.write(run["tags"]["job"] + "\\n")

defs = Definitions([incoming, raw, report, mirror, plain, flaky], jobs=[flaky_job], sensors=[
    source_sensor(incoming, minimum_interval=0),
    asset_sensor(report, "plain", minimum_interval=0),
    on_failure,
    on_job_failure,
])
"""


@pytest.fixture
def evaluator(project):
    project.pipeline(PIPELINE)
    project.write("incoming/a.csv", "1\n")
    with evaluators(project) as load:
        yield project, load


def by_name(state, name):
    return [r for r in state.open_runs() if r["name"] == name]


def test_status_shows_each_goal_and_by_when_the_asset_must_be_rebuilt(evaluator):
    project, _load = evaluator
    before = {a["key"]: a for a in project.json("status")["assets"]}
    assert before["report"]["freshness"]["meets_goal"] is False and before["report"]["freshness"]["overdue"]
    assert before["report"]["freshness"]["goal"] == "fresh within 1h"
    assert "freshness" not in before["plain"] and before["plain"]["state"] == "stale"  # the contracted shape stays
    text = project.run("status").stdout
    assert "OVERDUE     report (fresh within 1h)" in text
    project.run("make", "report", "mirror", "plain", check=True)
    after = {a["key"]: a for a in project.json("status")["assets"]}
    assert after["report"]["freshness"] == {"goal": "fresh within 1h", "meets_goal": True, "rebuild_by": None,
                                            "overdue": False}
    project.write("incoming/b.csv", "2\n")  # the source changed: stale, due within the hour
    stale = {a["key"]: a for a in project.json("status")["assets"]}["report"]["freshness"]
    assert stale["meets_goal"] and stale["rebuild_by"] is not None
    assert "meets goal  report (fresh within 1h; rebuild by" in project.run("status").stdout


def test_the_daemon_asks_for_the_minimal_make_that_meets_every_goal(evaluator):
    project, load = evaluator
    project.run("make", "report", "mirror", check=True)
    project.write("incoming/b.csv", "2\n")
    ev = load()
    now = dt.datetime.now(UTC)
    ev.evaluate(now)
    assert [r["argv"] for r in by_name(ev.state, "freshness")] == [["make", "mirror"]]  # eager: at once
    ev.state.conn.execute("UPDATE automation_queue SET status = 'done'")
    ev.evaluate(now + dt.timedelta(hours=2))  # report's hour is up too
    assert [r["argv"] for r in by_name(ev.state, "freshness")] == [["make", "mirror", "report"]]
    assert by_name(ev.state, "freshness")[0]["tags"]["origin"] == "freshness"


def test_a_source_sensor_makes_what_depends_on_the_source_once_per_version(evaluator):
    project, load = evaluator
    ev = load()
    now = dt.datetime.now(UTC)
    ev.evaluate(now)
    first = by_name(ev.state, "incoming_changed")
    assert len(first) == 1 and first[0]["argv"] == ["make", "incoming+"]
    ev.evaluate(now + dt.timedelta(seconds=1))
    assert len(by_name(ev.state, "incoming_changed")) == 1  # unchanged: nothing new
    project.write("incoming/b.csv", "2\n")
    ev.evaluate(now + dt.timedelta(seconds=2))
    assert len(by_name(ev.state, "incoming_changed")) == 2


def test_an_asset_sensor_and_a_run_status_sensor_follow_the_event_log(evaluator):
    project, load = evaluator
    ev = load()
    now = dt.datetime.now(UTC)
    ev.evaluate(now)  # the run-status sensor starts watching from now
    assert by_name(ev.state, "report_materialized") == []
    project.run("make", "report", check=True)
    assert project.run("make", "flaky").returncode == 1
    assert project.run("run", "flaky_job").returncode == 1
    ev.evaluate(now + dt.timedelta(seconds=1))
    assert [r["argv"] for r in by_name(ev.state, "report_materialized")] == [["make", "plain"]]
    assert (project.root / "failures.txt").read_text().count("make flaky") == 1
    assert (project.root / "job_failures.txt").read_text() == "flaky_job\n"  # the job's run only
    ev.evaluate(now + dt.timedelta(seconds=2))
    assert (project.root / "failures.txt").read_text().count("make flaky") == 1  # each failed run once
    assert len(by_name(ev.state, "report_materialized")) == 1
