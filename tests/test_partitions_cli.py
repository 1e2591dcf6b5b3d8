"""Partitions through the real `datamake` command: --partition, status, parallel runs, resumed backfills."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

PIPELINE = '''
import os
import pathlib
import time
from datetime import timezone

from datamake import DailyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping, asset

HERE = pathlib.Path(__file__).parent
daily = DailyPartitions(start="2024-01-01", end="2024-02-01")
regions = StaticPartitions(["eu", "us"], name="region")
berlin = DailyPartitions(start="2024-03-30", end="2024-04-02", timezone="Europe/Berlin")


@asset
def prices():
    return {"apple": 2}


@asset(partitions=daily, io_manager="json")
def sales(context, prices):
    day = context.partition_key
    if day == knob("FAIL_DAY"):
        raise ValueError(f"no sales file for {day}")
    _progress(day)
    return int(day[-2:]) * prices["apple"]


@asset(partitions=daily, partition_mapping={"sales": TimeWindowMapping(start_offset=-6)}, io_manager="json")
def sales_7d(sales):
    return sum(sales.values())


@asset(io_manager="json")
def total(sales):
    return sum(sales.values())


@asset(partitions=regions, io_manager="json")
def targets(context):
    if knob("RENDEZVOUS"):
        _meet(context.partition_key)
    return {"eu": 100, "us": 200}[context.partition_key]


@asset(partitions=MultiPartitions(daily, regions), io_manager="text")
def regional(context, sales, targets):
    return f"{context.partition_key}: {sales} of {targets}"


@asset(partitions=berlin, io_manager="text")
def window(context):
    start, end = context.partition_time_window
    hours = (end.astimezone(timezone.utc) - start.astimezone(timezone.utc)).total_seconds() / 3600
    return f"{start.isoformat()} {end.isoformat()} {hours}h"


def knob(name):
    """A test's switch, not an input of the value: read from a copy of the environment (which records
    no variable)."""
    return os.environ.copy().get(name)


def _progress(day):
    """With STALL_AFTER=N, the partition after N finished ones says so and waits to be killed."""
    stall = knob("STALL_AFTER")
    if stall is None:
        return
    log = HERE / "progress.txt"
    done = log.read_text().split() if log.exists() else []
    if len(done) == int(stall):
        (HERE / "stalled").write_text(day)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError("nobody killed this run")
    with log.open("a") as f:
        f.write(day + "\\n")


def _meet(me):
    """Both region partitions must be running at the same time to get past this."""
    (HERE / f"here-{me}").write_text("")
    other = "us" if me == "eu" else "eu"
    deadline = time.monotonic() + 60
    while not (HERE / f"here-{other}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"partition {other} never ran while {me} was running")
        time.sleep(0.01)
'''

DAYS = [f"2024-01-{d:02d}" for d in range(1, 32)]


def rows(doc):
    return {(a["key"], a["partition"]): a for a in doc["assets"]}


def by_outcome(doc, outcome):
    return {(a["key"], a["partition"]) for a in doc["assets"] if a["outcome"] == outcome}


def versions(doc):
    return {(a["key"], a["partition"]): a["data_version"] for a in doc["assets"]}


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process; kills and parallel runs use real ones


@pytest.fixture
def shop(project):
    project.pipeline(PIPELINE)
    return project


def assert_user_error(proc, code, *fragments):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


# -- selecting partitions ----------------------------------------------------------------------

def test_one_partition_builds_only_the_partitions_it_needs(shop):
    doc = shop.json("make", "-p", "2024-01-10", "sales_7d")
    week = {("sales", d) for d in DAYS[3:10]}
    assert by_outcome(doc, "built") == {("prices", None), ("sales_7d", "2024-01-10")} | week
    assert set(rows(doc)) == by_outcome(doc, "built")
    assert shop.run("show", "sales_7d", "-p", "2024-01-10", check=True).stdout.strip() == str(2 * sum(range(4, 11)))
    progress = shop.run("make", "-p", "2024-01-11...2024-01-12", "sales", check=True).stdout
    assert re.search(r"^built\s+sales\[2024-01-11\]", progress, re.M) and "sales[2024-01-12]" in progress, progress


def test_a_range_is_inclusive_and_a_backfill_skips_what_is_fresh(shop):
    shop.json("make", "-p", "2024-01-04...2024-01-05", "sales")
    doc = shop.json("make", "-p", "2024-01-01...2024-01-07", "sales")
    assert {p for k, p in rows(doc) if k == "sales"} == set(DAYS[:7])
    assert by_outcome(doc, "built") == {("sales", d) for d in DAYS[:7]} - {("sales", "2024-01-04"), ("sales", "2024-01-05")}


def test_a_dimension_selects_its_partitions_and_their_upstream(shop):
    doc = shop.json("make", "-p", "region=eu", "regional")
    regional = {p for k, p in rows(doc) if k == "regional"}
    assert regional == {f"{d}|eu" for d in DAYS}
    assert {p for k, p in rows(doc) if k == "sales"} == set(DAYS)  # each eu partition reads its day
    assert {p for k, p in rows(doc) if k == "targets"} == {"eu"}
    assert shop.run("show", "regional", "-p", "2024-01-05|eu", check=True).stdout.strip() == "2024-01-05|eu: 10 of 100"
    # with no asset named, the spec narrows the assets that have the dimension and leaves the others out;
    # unpartitioned assets downstream (`total`, which reads every partition) are left out unless named
    status = shop.json("status", "-p", "region=us")
    assert {k for k, _p in rows(status)} == {"prices", "sales", "targets", "regional"}  # no `window`, no `total`
    assert {p for k, p in rows(status) if k == "regional"} == {f"{d}|us" for d in DAYS}
    assert {p for k, p in rows(status) if k == "targets"} == {"us"}


# -- status --------------------------------------------------------------------------------------

def test_status_rows_carry_their_partition_and_the_text_summarises_ranges(shop):
    shop.json("make", "-p", "2024-01-01...2024-01-10", "sales")
    doc = shop.json("status", "sales")
    assert [(a["key"], a["partition"]) for a in doc["assets"]] == [("prices", None)] + [("sales", d) for d in DAYS]
    assert {a["partition"] for a in doc["assets"] if a["state"] == "fresh"} == {None, *DAYS[:10]}
    assert all(a["reasons"] == [{"code": "never_materialized", "message": "never materialized"}]
               for a in doc["assets"] if a["state"] == "stale")

    text = shop.run("status", "sales", check=True).stdout
    assert re.search(r"^fresh  sales\s+2024-01-01…2024-01-10: 10 fresh$", text, re.M), text
    assert re.search(r"^stale  sales\s+2024-01-11…2024-01-31: 21 stale \(never_materialized\)$", text, re.M), text
    assert len(text.splitlines()) == 4  # prices, two ranges, the total

    (shop.root / "pipeline.py").write_text((shop.root / "pipeline.py").read_text().replace(
        'return int(day[-2:]) * prices["apple"]', 'return int(day[-2:]) * prices["apple"] + 1'))
    text = shop.run("status", "sales", check=True).stdout
    assert re.search(r"^stale  sales\s+2024-01-01…2024-01-10: 10 stale \(code_changed\)$", text, re.M), text
    reasons = {a["partition"]: [r["code"] for r in a["reasons"]] for a in shop.json("status", "sales")["assets"]}
    assert reasons["2024-01-05"] == ["code_changed"] and reasons["2024-01-25"] == ["never_materialized"]


def test_unpartitioned_downstream_reads_every_partition_and_sees_any_change(shop):
    shop.json("make", "total")
    assert shop.run("show", "total", check=True).stdout.strip() == str(2 * sum(range(1, 32)))
    shop.json("make", "-B", "--only", "-p", "2024-01-20", "sales")  # rebuilt, same value: nothing to do
    assert shop.states("total") == {"prices": "fresh", "sales": "fresh", "total": "fresh"}
    status = shop.json("status", "total")
    assert len(status["assets"]) == 33 and all(a["state"] == "fresh" for a in status["assets"])


# -- parallel ------------------------------------------------------------------------------------

@pytest.mark.parametrize("executor", ["thread", "process"])
def test_parallel_partitions_run_concurrently_and_give_what_a_serial_run_gives(process_project, tmp_path, executor):
    """Both `targets` partitions wait until the other one is running too: -j 2 must run them at once."""
    project = process_project
    project.pipeline(PIPELINE)
    proc = project.run("make", "--json", "-j", "2", "--executor", executor, env={"RENDEZVOUS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parallel = json.loads(proc.stdout)
    assert (project.root / "here-eu").exists() and (project.root / "here-us").exists()

    serial_dir = tmp_path / "serial"
    serial_dir.mkdir()
    (serial_dir / "pipeline.py").write_text((project.root / "pipeline.py").read_text())
    (serial_dir / "datamake.toml").write_text((project.root / "datamake.toml").read_text())
    proc = project.run("make", "--json", "-j", "1", cwd=serial_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    serial = json.loads(proc.stdout)
    assert len(parallel["assets"]) == 1 + 31 + 31 + 1 + 2 + 62 + 3
    assert versions(parallel) == versions(serial)
    assert by_outcome(parallel, "built") == set(versions(parallel))


# -- backfills that fail, or are killed, and resume -------------------------------------------------

def test_a_failed_partition_is_all_a_resumed_backfill_rebuilds(shop):
    proc = shop.run("make", "-k", "--json", "sales_7d", "total", env={"FAIL_DAY": "2024-01-15"})
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert by_outcome(doc, "failed") == {("sales", "2024-01-15")}
    assert "no sales file for 2024-01-15" in rows(doc)[("sales", "2024-01-15")]["error"]
    blocked = {("sales_7d", d) for d in DAYS[14:21]} | {("total", None)}
    assert by_outcome(doc, "blocked") == blocked
    assert len(by_outcome(doc, "built")) == 1 + 30 + 31 - 7

    resumed = shop.json("make", "sales_7d", "total")
    assert by_outcome(resumed, "built") == {("sales", "2024-01-15")} | blocked
    assert set(rows(resumed)) - by_outcome(resumed, "built") == by_outcome(resumed, "skipped")
    assert shop.run("show", "sales_7d", "-p", "2024-01-21", check=True).stdout.strip() == str(2 * sum(range(15, 22)))


def test_a_killed_backfill_resumes_with_only_what_is_missing(shop, tmp_path):
    marker = shop.root / "stalled"
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make", "-j", "1", "sales_7d", "total"],
                            cwd=shop.root, env={**os.environ, "STALL_AFTER": "12"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the 13th partition is running: 12 are committed
            assert proc.poll() is None, f"make ended before the marker: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "the backfill never got to its 13th partition"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert marker.read_text() == "2024-01-13"

    after_kill = shop.json("status", "sales_7d", "total")
    fresh = {(a["key"], a["partition"]) for a in after_kill["assets"] if a["state"] == "fresh"}
    assert fresh == {("prices", None)} | {("sales", d) for d in DAYS[:12]}
    missing = set(rows(after_kill)) - fresh

    resumed = shop.json("make", "sales_7d", "total")
    assert by_outcome(resumed, "built") == missing
    assert by_outcome(resumed, "skipped") == fresh
    assert all(a["state"] == "fresh" for a in shop.json("status", "sales_7d", "total")["assets"])

    whole = tmp_path / "uninterrupted"
    whole.mkdir()
    for name in ("pipeline.py", "datamake.toml"):
        (whole / name).write_text((shop.root / name).read_text())
    proc = shop.run("make", "--json", "sales_7d", "total", cwd=whole)
    assert proc.returncode == 0, proc.stderr
    assert versions(resumed) == versions(json.loads(proc.stdout))


# -- show, the context, errors ------------------------------------------------------------------------

def test_the_context_gives_the_partition_time_window(shop):
    shop.json("make", "window")
    assert shop.run("show", "window", "-p", "2024-03-31", check=True).stdout.strip() == \
        "2024-03-31T00:00:00+01:00 2024-04-01T00:00:00+02:00 23.0h"
    assert shop.run("show", "window", "-p", "2024-04-01", check=True).stdout.strip() == \
        "2024-04-01T00:00:00+02:00 2024-04-02T00:00:00+02:00 24.0h"


def test_partition_errors_say_what_to_type(shop):
    assert_user_error(shop.run("make", "-p", "2023-12-31", "sales"), 2,
                      "--partition '2023-12-31' matches no partition", "hint: partitions are 2024-01-01")
    assert_user_error(shop.run("status", "-p", "regoin=eu", "regional"), 2,
                      "no dimension 'regoin'", "hint: dimensions: date, region")
    assert_user_error(shop.run("make", "-p", "2024-01-05", "prices"), 2, "none of the selected assets is partitioned")
    assert_user_error(shop.run("make", "sales", "-p"), 2, "requires an argument")
    assert_user_error(shop.run("show", "sales"), 2, "'sales' is partitioned", "hint: datamake show sales -p KEY")
    assert_user_error(shop.run("show", "prices", "-p", "2024-01-01"), 2, "'prices' is not partitioned")
    assert_user_error(shop.run("show", "sales", "-p", "2099-01-01"), 2,
                      "'sales' has no partition '2099-01-01'", "2024-01-01")
    assert_user_error(shop.run("show", "sales", "-p", "2024-01-20"), 1,
                      "'sales' partition 2024-01-20 has never been materialized",
                      "datamake make sales -p 2024-01-20")


def test_partitions_that_cannot_be_mapped_are_a_definition_error(project):
    project.pipeline('''
        from datamake import DailyPartitions, StaticPartitions, asset

        @asset(partitions=StaticPartitions(["eu", "us"], name="region"))
        def targets():
            return 1

        @asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-10"))
        def sales(targets):
            return targets
    ''')
    for command in ("status", "make", "ls"):
        proc = project.run(command)
        if command == "ls":
            assert proc.returncode == 0  # listing does not need the partitions mapped
            continue
        assert_user_error(proc, 2, "asset 'sales' and its upstream 'targets' are partitioned differently",
                          "hint: give @asset(partition_mapping={'targets': lambda key: [...]})")


def test_why_explains_one_partition_and_asks_for_one(project):
    project.pipeline('''
        from datamake import asset, DailyPartitions

        days = DailyPartitions(start="2024-01-01", end="2024-01-04")

        @asset(partitions=days)
        def daily(context):
            return context.partition_key

        @asset
        def everything(daily):
            return sorted(daily)
    ''')
    project.run("make", check=True)
    text = project.run("why", "daily", "-p", "2024-01-02", check=True).stdout
    assert text.startswith("daily [2024-01-02]: fresh")
    info = project.json("why", "daily", "-p", "2024-01-02")
    assert info["partition"] == "2024-01-02" and info["state"] == "fresh"
    whole = project.json("why", "everything")
    assert {i["key"] for i in whole["inputs"]} == {f"daily[2024-01-0{d}]" for d in (1, 2, 3)}
    missing = project.run("why", "daily")
    assert missing.returncode == 2 and "is partitioned" in missing.stderr and "-p KEY" in missing.stderr
