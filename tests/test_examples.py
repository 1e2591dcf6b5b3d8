"""The bundled examples run as their docs say, from a clean copy (tests/test_cli_smoke.py drives the real
program; the commands here run in this process, except the daemon's pass)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def datamake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``datamake ARGS`` in ``cwd``: the command line a user types, run in this process through click's
    test runner, as a new process would run it (tests/conftest.py), without an interpreter that imports
    pyarrow for each command. The daemon's pass runs in a real process (``datamake_process``)."""
    from tests.conftest import InProcessProjectDir

    return InProcessProjectDir(cwd).run(*args)


def datamake_process(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datamake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240)


@pytest.fixture
def example(tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns(".datamake", "__pycache__"))
        return target

    return copy


def test_quickstart_builds_then_is_fresh_and_reports(example):
    root = example("quickstart")
    first = datamake(root, "make")
    assert first.returncode == 0, first.stderr
    assert "5 built" in first.stdout
    again = datamake(root, "make", "--json")
    assert again.returncode == 0 and '"built"' not in again.stdout
    report = datamake(root, "show", "sales_report")
    assert report.stdout.startswith("Revenue, all regions:")
    # Editing the bundled CSV is a source change: raw_orders and what depends on it are stale.
    csv = root / "data" / "orders.csv"
    csv.write_text(csv.read_text().replace("shipped", "cancelled", 1))
    status = datamake(root, "status")
    assert "source_changed" in status.stdout


def test_daily_sales_backfills_a_week_and_reports(example):
    root = example("daily_sales")
    week = datamake(root, "make", "-q", "-p", "2024-03-01...2024-03-07")
    assert week.returncode == 0, week.stdout + week.stderr
    status = datamake(root, "status", "revenue_7d")
    assert "2024-03-01…2024-03-07: 7 fresh" in status.stdout
    assert datamake(root, "show", "revenue_7d", "-p", "2024-03-03").returncode == 0
    changed = datamake(root, "status", "--config", "daily_orders.orders_per_day=50", "-p", "2024-03-03", "daily_orders")
    assert "config_changed" in changed.stdout


def test_word_counts_recounts_only_the_edited_line(example):
    root = example("word_counts")
    assert datamake(root, "make").returncode == 0
    assert datamake(root, "show", "top_three").stdout.strip() == "['the', 'is', 'there']"
    books = root / "data" / "books.txt"
    books.write_text(books.read_text().replace("saves nine", "saves ten"))
    assert "source_changed" in datamake(root, "status").stdout
    assert datamake(root, "make").returncode == 0
    why = datamake(root, "why", "word_counts").stdout
    assert "ran      count_words[1]" in why and "count_words[0]" not in why and "cached   4 invocations" in why
    first, again = (json.loads(datamake(root, "run", "sample", "--json").stdout) for _ in range(2))
    assert {o["status"] for o in first["ops"]} == {"ran"} and {o["status"] for o in again["ops"]} == {"cached"}


def test_the_root_project_file_points_at_the_quickstart():
    text = (EXAMPLES.parent / "datamake.toml").read_text()
    assert "examples/quickstart/pipeline.py" in text


def test_hackernews_port_backfills_hours_and_recommends_from_the_hours_that_exist(example):
    root = example("hackernews")
    hours = datamake(root, "make", "-q", "-p", "2024-06-01-00:00...2024-06-01-02:00", "items", "stories", "comments")
    assert hours.returncode == 0, hours.stdout + hours.stderr
    assert hours.stderr == ""  # no warning: every global the assets read is versioned
    run = json.loads(datamake(root, "run", "recommender", "--json").stdout)  # a job: the group's make
    assert run["job"] == "recommender"
    made = run["assets"]
    assert len(made) == 13  # 3 hours x 3 partitioned assets + 4 downstream, not every hour since the start
    assert {a["key"]: a["outcome"] for a in made if a["partition"] is None} == dict.fromkeys(
        ["comment_stories", "story_titles", "recommender_model", "user_top_recommended_stories"], "built")
    recommended = json.loads(datamake(root, "show", "user_top_recommended_stories", "-n", "100").stdout)
    assert len(recommended) >= 10 and all(t.startswith("Show HN: ") for ts in recommended.values() for t in ts)
    fresh = datamake(root, "status", "--exit-code", "user_top_recommended_stories")
    assert fresh.returncode == 0 and "0 stale, 13 fresh" in fresh.stdout
    # One more hour arrives: what reads the hours that exist is stale, for that reason only.
    assert datamake(root, "make", "-q", "-p", "2024-06-01-03:00", "stories", "comments").returncode == 0
    schedules = json.loads(datamake(root, "schedules", "--json").stdout)["schedules"]
    assert [(s["name"], s["target"]) for s in schedules] == [("core_schedule", "job core"),
                                                             ("recommender_schedule", "job recommender")]
    graph = json.loads(datamake(root, "graph", "user_top_recommended_stories", "--format", "json").stdout)
    nodes = {n["key"]: n for n in graph["nodes"]}
    assert nodes["items"]["partitions"] == {"total": 4, "stale": 0}
    assert nodes["comment_stories"]["reasons"] == ["deps_changed"] and nodes["story_titles"]["state"] == "stale"


def test_automation_example_one_daemon_pass_meets_its_goal_and_records_its_ticks(example):
    root = example("automation")
    listed = datamake(root, "schedules", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)["schedules"]] == ["nightly"]
    once = datamake_process(root, "daemon", "--once", "--wait", "--json")
    assert once.returncode == 0, once.stderr
    decisions = [json.loads(line) for line in once.stdout.splitlines()]
    assert {"kind": "sensor", "name": "incoming_changed", "status": "requested"}.items() <= decisions[1].items()
    assert [d["status"] for d in decisions if d["kind"] == "run"].count("ended") == 2  # the sensor's and freshness
    status = json.loads(datamake(root, "status", "dashboard", "--json").stdout)
    dashboard = next(a for a in status["assets"] if a["key"] == "dashboard")
    assert dashboard["state"] == "fresh" and dashboard["freshness"]["meets_goal"] is True
    ticks = datamake(root, "ticks", "incoming_changed")
    assert "requested" in ticks.stdout
