"""Partitions as Dagster and Snakemake users know them: keys added at run time, sources
partitioned by file pattern, "the partitions that exist", and partitions arriving as one table."""
from __future__ import annotations

import datetime as dt

import pytest

from datamake import api
from datamake.core.errors import DefinitionError
from datamake.core.partitions import DynamicPartitions, ExistingPartitionsMapping, resolve_mapping, HourlyPartitions


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


DYNAMIC = """
    import pathlib
    from datamake import DynamicPartitions, asset, source

    files = DynamicPartitions("files")
    HERE = pathlib.Path(__file__).parent

    @asset(partitions=files, io_manager="json")
    def lines(context):
        return len((HERE / "inbox" / context.partition_key).read_text().splitlines())

    @asset(io_manager="json")
    def total(lines):
        return sum(lines.values())
"""


def test_dynamic_partitions_are_added_at_run_time_and_built_one_by_one(project):
    project.pipeline(DYNAMIC)
    project.write("inbox/a.csv", "1\n2\n")
    assert project.states() == {"total": "stale"}  # no partition yet: total reads none
    added = project.run("partitions", "add", "files", "a.csv")
    assert added.returncode == 0 and "added 1 of 1 keys to files" in added.stdout
    assert project.outcomes() == {"lines": "built", "total": "built"}
    assert project.run("show", "total").stdout.strip() == "2"

    project.write("inbox/b.csv", "1\n")  # a file arrives: one key per file
    project.run("partitions", "add", "files", "b.csv", "a.csv", check=True)
    status = project.json("status")["assets"]
    assert {(a["key"], a["partition"]): a["state"] for a in status} == {
        ("lines", "a.csv"): "fresh", ("lines", "b.csv"): "stale", ("total", None): "stale"}
    assert project.outcomes() == {"lines": "built", "total": "built"}
    assert project.run("show", "total").stdout.strip() == "3"
    listed = project.json("partitions", "list")
    assert listed == {"partitions": {"files": ["a.csv", "b.csv"]}}

    removed = project.run("partitions", "remove", "files", "a.csv")
    assert "removed 1 of 1 keys from files" in removed.stdout
    assert project.states()["total"] == "stale"  # it reads one partition fewer


def test_dynamic_partition_keys_from_the_files_a_pattern_matches(project):
    project.pipeline(DYNAMIC)
    for name in ("b.csv", "a.csv", "notes.txt"):
        project.write(f"inbox/{name}", "1\n")
    added = project.json("partitions", "add", "files", "--files", "inbox/*.csv")
    assert added == {"name": "files", "added": ["a.csv", "b.csv"]}
    assert project.json("partitions", "remove", "files", "--files", "inbox/a*")["removed"] == ["a.csv"]
    nothing = project.run("partitions", "add", "files")
    assert nothing.returncode == 2 and "name the KEYS, or give --files PATTERN" in nothing.stderr


SENSOR = """
    import os

    from datamake import Definitions, DynamicPartitions, RunRequest, SkipReason, api, asset, sensor

    files = DynamicPartitions("files")
    HERE = os.path.dirname(os.path.abspath(__file__))

    @asset(partitions=files, io_manager="json")
    def parsed(context):
        with open(os.path.join(HERE, "inbox", context.partition_key)) as f:
            return f.read().split()

    @sensor("parsed", minimum_interval=30)
    def new_files(context):
        new = api.add_partitions(context.project, "files", sorted(os.listdir(os.path.join(HERE, "inbox"))))
        if not new:
            return SkipReason("no new file")
        return [RunRequest(run_key=f"file:{name}", partition_keys=[name]) for name in new]

    defs = Definitions(assets=[parsed], sensors=[new_files])
"""


def test_a_sensor_adds_a_partition_per_arriving_file_and_the_daemon_builds_it(project):
    project.pipeline(SENSOR)
    project.write("inbox/one.txt", "a b\n")
    project.write("inbox/two.txt", "c\n")
    daemon = project.run_process("daemon", "--once", "--wait")
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    assert project.json("partitions", "list") == {"partitions": {"files": ["one.txt", "two.txt"]}}
    assert project.states() == {"parsed": "fresh"}
    assert api.show(api.load(str(project.root)), "parsed", "one.txt") == ["a", "b"]
    runs = project.json("log")["runs"]
    assert sorted(r["tags"]["run_key"] for r in runs) == ["file:one.txt", "file:two.txt"]


def test_dynamic_partitions_from_python_and_bad_names_and_keys(project):
    project.pipeline(DYNAMIC)
    loaded = api.load(str(project.root))
    assert api.add_partitions(loaded, "files", ["x.csv", "y.csv", "x.csv"]) == ["x.csv", "y.csv"]
    assert api.add_partitions(loaded, "files", ["x.csv"]) == []
    assert api.dynamic_partitions(loaded) == {"files": ["x.csv", "y.csv"]}
    assert [d.partition for d in api.status(loaded, ["lines"]).decisions] == ["x.csv", "y.csv"]
    unknown = project.run("partitions", "add", "file", "z.csv")
    assert unknown.returncode == 2 and "no dynamic partitions are called 'file'" in unknown.stderr
    assert "files" in unknown.stderr
    slash = project.run("partitions", "add", "files", "in/z.csv")
    assert slash.returncode == 2 and "in/z.csv" in slash.stderr


def test_adding_a_dynamic_key_does_not_change_code_versions(project):
    project.pipeline(DYNAMIC)
    project.write("inbox/a.csv", "1\n")
    project.run("partitions", "add", "files", "a.csv", check=True)
    project.run("make", check=True)
    project.run("partitions", "add", "files", "b.csv", check=True)
    reasons = {(a["key"], a["partition"]): [r["code"] for r in a["reasons"]] for a in project.json("status")["assets"]}
    assert reasons[("lines", "a.csv")] == []
    assert "code_changed" not in reasons[("total", None)] and "deps_changed" in reasons[("total", None)]


PATTERN = """
    from datamake import DailyPartitions, asset, source

    daily = DailyPartitions(start="2024-01-01", end="2024-01-04")
    landing = source("landing/{date}.csv", partitions=daily, load="text")

    @asset(partitions=daily, io_manager="json")
    def rows(landing):
        return len(landing.splitlines())

    @asset(io_manager="json")
    def every_day(landing):
        return sorted(landing)
"""


def test_a_source_partitioned_by_file_pattern_has_a_version_per_file(project):
    project.pipeline(PATTERN)
    for day, n in (("01", 1), ("02", 2), ("03", 3)):
        project.write(f"landing/2024-01-{day}.csv", "x\n" * n)
    # worker processes get the partition of the source the planner chose for them
    assert project.outcomes("--executor", "process", "-j", "2") == {"rows": "built", "every_day": "built"}
    assert project.run("show", "rows", "-p", "2024-01-02").stdout.strip() == "2"
    assert api.show(api.load(str(project.root)), "every_day") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    project.write("landing/2024-01-02.csv", "x\n" * 5)  # only that day's file changed
    status = {(a["key"], a["partition"]): [r["code"] for r in a["reasons"]] for a in project.json("status")["assets"]}
    assert status[("rows", "2024-01-02")] == ["source_changed"]
    assert status[("rows", "2024-01-01")] == [] and status[("rows", "2024-01-03")] == []
    assert status[("every_day", None)] == ["source_changed"]
    lineage = project.run("lineage", "every_day").stdout
    assert "landing[2024-01-02] @" in lineage and "(source)" in lineage
    ls = {r["key"]: r for r in project.json("ls")["assets"]}
    assert ls["landing"]["partitions"]["count"] == 3 and ls["landing"]["url"].endswith("landing/{date}.csv")


def test_a_missing_partition_file_blocks_its_partition_only_naming_the_file(project):
    """A day whose file has not arrived (yet) holds back that day and what reads every day; the other
    days build, status says which file is missing, and once it is there the next make builds the rest."""
    project.pipeline(PATTERN)
    project.write("landing/2024-01-01.csv", "x\n")
    project.write("landing/2024-01-03.csv", "x\nx\nx\n")
    made = project.run("make", "-k")
    assert made.returncode == 1
    assert "source landing[2024-01-02] has no file" in made.stdout and "2024-01-02.csv" in made.stdout
    outcomes = {(a["key"], a["partition"]): a["outcome"] for a in project.json("make", "-k", expect=1)["assets"]}
    assert outcomes[("rows", "2024-01-01")] == "skipped" and outcomes[("rows", "2024-01-03")] == "skipped"
    assert outcomes[("rows", "2024-01-02")] == "blocked" and outcomes[("every_day", None)] == "blocked"
    status = {(a["key"], a["partition"]): a for a in project.json("status")["assets"]}
    assert [r["message"] for r in status[("rows", "2024-01-02")]["reasons"]] == [
        "never materialized", "source landing[2024-01-02] has no file"]
    assert "source landing[2024-01-02] has no file" in [r["message"] for r in status[("every_day", None)]["reasons"]]

    project.write("landing/2024-01-02.csv", "x\nx\n")
    assert project.outcomes("-p", "2024-01-02") == {"rows": "built"}
    assert project.run("show", "rows", "-p", "2024-01-02").stdout.strip() == "2"
    (project.root / "landing" / "2024-01-01.csv").unlink()  # a file that goes away: its value stays
    assert project.run("make", "rows", "-p", "2024-01-01").returncode == 1
    assert project.run("show", "rows", "-p", "2024-01-01").stdout.strip() == "1"


def test_what_reads_a_partition_held_back_by_a_missing_file_says_it_waits_for_it(project):
    project.pipeline(PATTERN + """
    @asset(io_manager="json")
    def total(rows):
        return sum(rows.values())
    """)
    project.write("landing/2024-01-01.csv", "x\n")
    reasons = {(a["key"], a["partition"]): [r["message"] for r in a["reasons"]] for a in project.json("status")["assets"]}
    assert "rows[2024-01-02] waits for a source file that is not there" in reasons[("total", None)]
    assert "rows[2024-01-01] will be rebuilt first" in reasons[("total", None)]


def test_a_file_pattern_must_name_the_partition_dimension(project):
    project.pipeline("""
        from datamake import DailyPartitions, source

        landing = source("landing/{day}.csv", partitions=DailyPartitions(start="2024-01-01"))
    """)
    bad = project.run("status")
    assert bad.returncode == 2 and "must name the partition dimension(s) date, not day" in bad.stderr


EXISTING = """
    import pyarrow as pa
    from datamake import AllPartitionsMapping, ExistingPartitionsMapping, HourlyPartitions, asset

    hourly = HourlyPartitions(start="2020-01-01-00:00")   # unbounded: 50,000+ hours and counting

    @asset(partitions=hourly, io_manager="arrow")
    def items(context):
        return pa.table({"hour": [context.partition_key], "n": [1]})

    @asset(partition_mapping={"items": ExistingPartitionsMapping(concat=True)}, io_manager="arrow")
    def all_items(items):
        return items

    @asset(partition_mapping={"items": ExistingPartitionsMapping()}, io_manager="json")
    def hours(items):
        return sorted(items)
"""


def test_existing_partitions_mapping_reads_what_exists_not_every_hour_since_the_start(project):
    project.pipeline(EXISTING)
    plan = project.json("status", "all_items", "hours")["assets"]
    assert [(a["key"], a["partition"]) for a in plan] == [("all_items", None), ("hours", None)]  # no hour yet
    made = project.json("make", "-p", "2024-03-01-10:00...2024-03-01-12:00", "items")
    assert len(made["assets"]) == 3
    assert project.outcomes("all_items", "hours") == {"items": "skipped", "all_items": "built", "hours": "built"}
    assert project.run("show", "hours").stdout.count("2024-03-01") == 3
    table = api.show(api.load(str(project.root)), "all_items")  # one table, the hours in order
    assert table.column("hour").to_pylist() == ["2024-03-01-10:00", "2024-03-01-11:00", "2024-03-01-12:00"]
    states = {(a["key"], a["partition"]): a["state"] for a in project.json("status", "all_items", "hours")["assets"]}
    assert set(states.values()) == {"fresh"} and len(states) == 5  # 3 hours + 2 downstream, not 50,000 hours
    project.json("make", "-p", "2024-03-02-00:00", "items")  # one more hour exists: both read it now
    after = project.json("status", "all_items", "hours")["assets"]
    assert {a["key"]: [r["code"] for r in a["reasons"]] for a in after if a["partition"] is None} == {
        "all_items": ["deps_changed"], "hours": ["deps_changed"]}


def test_existing_partitions_of_a_selection_are_built_with_it_and_the_next_plan_is_empty(project):
    project.pipeline(EXISTING.replace('"2020-01-01-00:00"', '"2020-01-01-00:00", end="2020-01-01-03:00"'))
    assert project.outcomes() == {"items": "built", "all_items": "built", "hours": "built"}
    assert set(project.states().values()) == {"fresh"}
    table = api.show(api.load(str(project.root)), "all_items")
    assert table.num_rows == 3 and table.column("hour").to_pylist()[0] == "2020-01-01-00:00"


def test_concat_needs_partitions_stored_as_tables(project):
    project.pipeline("""
        from datamake import AllPartitionsMapping, StaticPartitions, asset

        @asset(partitions=StaticPartitions(["a", "b"]), io_manager="json")
        def parts(context):
            return {"k": context.partition_key}

        @asset(partition_mapping={"parts": AllPartitionsMapping(concat=True)})
        def joined(parts):
            return parts
    """)
    failed = project.run("make")
    assert failed.returncode == 1
    assert "asks for its partitions as one table (concat=True), but they are stored as json" in failed.stdout + failed.stderr


def test_resolving_existing_partitions_is_pure_and_keeps_partition_order():
    hourly = HourlyPartitions(start="2024-01-01-00:00", end="2024-01-02-00:00")
    have = {"2024-01-01-05:00", "2024-01-01-01:00", "not-a-key"}
    m = resolve_mapping("total", None, "items", hourly, ExistingPartitionsMapping(), dt.datetime(2030, 1, 1), have)
    assert m.collection and m.upstream(None) == ["2024-01-01-01:00", "2024-01-01-05:00"]
    with pytest.raises(DefinitionError, match="is not partitioned"):
        resolve_mapping("total", None, "items", None, ExistingPartitionsMapping(), dt.datetime(2030, 1, 1))
    with pytest.raises(DefinitionError, match="name of letters"):
        DynamicPartitions("a b")
