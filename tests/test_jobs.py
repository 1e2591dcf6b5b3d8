"""Jobs over assets: `datamake jobs`, `datamake run JOB` (the make it stands for, minimal, with the job's
config, partitions and tags), and every error naming the job and the culprit (exit 2)."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process: they check output and outcomes only


PIPELINE = """
    from dataclasses import dataclass
    from datamake import Definitions, asset, job

    @dataclass
    class CleanConfig:
        min_qty: int = 1

    @asset(group="sales", key_prefix="sales")
    def orders():
        return [{{"id": i, "qty": i % 4}} for i in range(10)]

    @asset(group="sales", key_prefix="sales", config=CleanConfig, io_manager="json")
    def clean(orders, config):
        return [o for o in orders if o["qty"] >= config.min_qty]

    @asset(group="sales", tags={{"slow": "true"}})
    def forecast(clean):
        return len(clean) * 1.5

    @asset(group="reports", io_manager="text", tags={{"tier": "gold"}})
    def report(clean):
        return f"{{len(clean)}} orders"

    defs = Definitions(assets=[orders, clean, forecast, report], jobs=[{jobs}])
"""

DAILY = ('job("daily_sales", selection="group:sales and not tag:slow=true", config={"sales/clean": {"min_qty": 2}}, '
         'tags={"team": "sales"}, description="the sales tables")')
GOLD = 'job("gold", selection=["tag:tier=gold", report])'


def write(project, *jobs):
    project.pipeline(PIPELINE.format(jobs=", ".join(jobs or (DAILY, GOLD))))


def shown_ids(project):
    return [row["id"] for row in json.loads(project.run("show", "sales/clean", check=True).stdout)]


def error(proc, *parts):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for part in parts:
        assert part in proc.stderr, proc.stderr
    return proc.stderr


def test_jobs_lists_each_job_with_the_assets_it_names(project):
    write(project)
    rows = {r["name"]: r for r in project.json("jobs")["jobs"]}
    assert rows["daily_sales"]["assets"] == ["sales/orders", "sales/clean"]
    assert rows["daily_sales"]["tags"] == {"team": "sales"} and rows["daily_sales"]["error"] is None
    assert rows["gold"]["assets"] == ["report"] and rows["gold"]["selection"] == "tag:tier=gold key:report"
    text = project.run("jobs", check=True).stdout
    assert "daily_sales  selection group:sales and not tag:slow=true  - the sales tables" in text
    assert "2 assets: sales/orders, sales/clean" in text


def test_run_is_the_make_it_stands_for_and_as_minimal(project):
    write(project)
    first = project.json("run", "daily_sales")
    assert first["job"] == "daily_sales" and first["ok"] is True
    assert {a["key"]: a["outcome"] for a in first["assets"]} == {"sales/orders": "built", "sales/clean": "built"}
    assert shown_ids(project) == [2, 3, 6, 7]  # the job's config=: min_qty 2

    again = project.json("run", "daily_sales")
    assert {a["outcome"] for a in again["assets"]} == {"skipped"}  # nothing fresh is recomputed
    # the make it stands for finds the same assets fresh: same selection, same config
    same = project.outcomes("group:sales and not tag:slow=true", "--config", "sales/clean.min_qty=2")
    assert same == {"sales/orders": "skipped", "sales/clean": "skipped"}

    runs = project.json("log")["runs"]
    assert [r["tags"] for r in runs] == [{}, {"job": "daily_sales", "team": "sales"},
                                         {"job": "daily_sales", "team": "sales"}]
    assert "[job=daily_sales team=sales]" in project.run("log", check=True).stdout


def test_run_options_config_and_dry_run(project):
    write(project)
    plan = project.json("run", "gold", "-n")
    assert plan["job"] == "gold" and {a["key"]: a["state"] for a in plan["assets"]} == {
        "sales/orders": "stale", "sales/clean": "stale", "report": "stale"}
    assert not (project.root / ".datamake" / "manifests").exists()  # -n runs nothing

    built = project.json("run", "daily_sales", "--config", "sales/clean.min_qty=3")
    assert [a["outcome"] for a in built["assets"]] == ["built", "built"]
    assert shown_ids(project) == [3, 7]  # --config wins over the job's config=
    proc = project.run("run", "daily_sales")
    assert proc.returncode == 0 and "1 built" in proc.stdout  # back to the job's value: clean rebuilds


def test_a_failing_asset_exits_1_as_make_does(project):
    project.pipeline("""
        from datamake import Definitions, asset, job

        @asset
        def broken():
            raise ValueError("no data")

        defs = Definitions(assets=[broken], jobs=[job("nightly", selection="broken")])
    """)
    result = project.json("run", "nightly", expect=1)
    assert result["job"] == "nightly" and result["assets"][0]["outcome"] == "failed"
    assert project.json("log")["runs"][0]["tags"] == {"job": "nightly"}


def test_environment_tags_are_recorded_with_the_job(project):
    write(project)
    project.run("run", "gold", check=True, env={"DATAMAKE_RUN_TAGS": '{"origin": "schedule", "schedule": "hourly"}'})
    assert project.json("log")["runs"][0]["tags"] == {"job": "gold", "origin": "schedule", "schedule": "hourly"}


def test_an_unknown_job(project):
    write(project)
    error(project.run("run", "daily_sale"), "unknown job 'daily_sale'", "did you mean 'daily_sales'?")


def test_a_job_whose_selection_names_no_asset(project):
    write(project, 'job("empty", selection="group:sales and group:reports")',
          'job("typo", selection="tag:tier=silver")')
    error(project.run("run", "empty"),
          "job 'empty': its selection 'group:sales and group:reports' names no asset")
    error(project.run("run", "typo"), "job 'typo': no asset has the tag tier=silver (column 1 of the selection)",
          "hint: its values are: gold")
    proc = project.run("jobs", "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)["jobs"]}
    error(proc, "job 'empty'", "job 'typo'")
    assert rows["empty"]["assets"] is None and "names no asset" in rows["empty"]["error"]


def test_config_for_an_asset_outside_the_job(project):
    write(project, DAILY, 'job("bad", selection="sales/orders", config={"report": {"x": 1}})')
    error(project.run("run", "bad"), "job 'bad': config for an asset 'report', which is outside the job",
          "hint: remove 'report' from the job's config= or --config")
    error(project.run("run", "daily_sales", "--config", "forecast.x=1"),
          "job 'daily_sales': config for an asset 'forecast', which is outside the job")
    assert not (project.root / ".datamake" / "manifests").exists()  # nothing ran


@pytest.mark.parametrize("declaration, message", [
    ('job("both", selection="report", graph=object())', "job 'both' has both selection= and graph="),
    ('job("neither")', "job 'neither' has neither selection= nor graph="),
    ('job("syntax", selection="report and")', "job 'syntax': bad selection: 'and' needs a selection after it"),
    ('job("two", selection="report"), job("two", selection="forecast")', "two jobs are named 'two'"),
    ('job("fast", selection="report", executor="threads")', "job 'fast': unknown executor 'threads'"),
])
def test_bad_job_definitions(project, declaration, message):
    write(project, declaration)
    error(project.run("jobs"), message)


GRAPH = """
    from dataclasses import dataclass
    from datamake import Definitions, asset, graph, job, op

    @dataclass
    class Scale:
        factor: int = 1

    @op
    def numbers():
        return [1, 2, 3, 4]

    @op(config=Scale)
    def scaled(values, config):
        return [v * config.factor for v in values]

    @op
    def total(values):
        return sum(values)

    @graph
    def report():
        return total(scaled(numbers()))

    defs = Definitions(jobs=[job("nightly", graph=report, config={"scaled": {"factor": 2}}, tags={"team": "bi"})])
"""


def test_a_job_over_a_graph_runs_it_as_minimally(project):
    project.pipeline(GRAPH)
    assert project.json("jobs")["jobs"][0]["graph"] == "report"
    first = project.json("run", "nightly")
    assert first["job"] == "nightly" and first["status"] == "ok"
    assert [(o["op"], o["status"]) for o in first["ops"]] == [("numbers", "ran"), ("scaled", "ran"), ("total", "ran")]
    assert [o["status"] for o in project.json("run", "nightly")["ops"]] == ["cached"] * 3
    other = project.json("run", "nightly", "--config", "scaled.factor=3")  # --config wins over the job's config=
    assert [o["status"] for o in other["ops"]] == ["cached", "ran", "ran"]
    assert [r["tags"] for r in project.json("log", "--job", "nightly")["runs"]] == [{"job": "nightly", "team": "bi"}] * 3
    error(project.run("run", "nightly", "-p", "eu"), "job 'nightly' runs the graph report, which has no partitions")


def test_jobs_at_module_level_without_defs(project):
    project.pipeline("""
        from datamake import asset, job

        @asset
        def a():
            return 1

        nightly = job("nightly", selection=[a])
    """)
    assert project.json("run", "nightly")["assets"][0]["outcome"] == "built"


def test_a_job_makes_its_partitions_and_p_wins(project):
    project.pipeline("""
        from datamake import Definitions, StaticPartitions, asset, job

        @asset(partitions=StaticPartitions(["eu", "us", "asia"], name="region"), io_manager="json")
        def sales(context):
            return context.partition_key.upper()

        defs = Definitions(assets=[sales], jobs=[job("europe", selection="sales", partitions="eu", jobs=2)])
    """)
    run = project.json("run", "europe")
    assert [(a["key"], a["partition"], a["outcome"]) for a in run["assets"]] == [("sales", "eu", "built")]
    run = project.json("run", "europe", "-p", "us")
    assert [(a["partition"], a["outcome"]) for a in run["assets"]] == [("us", "built")]
    assert project.json("jobs")["jobs"][0]["partitions"] == "eu" and project.json("jobs")["jobs"][0]["jobs"] == 2


def test_config_for_an_asset_without_config(project):
    write(project, 'job("bad", selection="report", config={"report": {"x": 1}})')
    error(project.run("run", "bad"), "job 'bad': config for 'report', which declares no config=")
    error(project.run("jobs"), "job 'bad': config for 'report', which declares no config=")


def test_log_lists_the_runs_of_one_job(project):
    write(project)
    project.run("run", "gold", check=True)
    project.run("run", "daily_sales", check=True)
    project.run("make", check=True)
    # a tag whose value looks like the job's tag does not make a run of that job
    project.run("run", "daily_sales", check=True, env={"DATAMAKE_RUN_TAGS": json.dumps({"note": '"job":"gold"'})})
    project.run("run", "gold", check=True)
    gold = project.json("log", "--job", "gold")["runs"]
    assert [r["tags"] for r in gold] == [{"job": "gold"}, {"job": "gold"}]
    assert len(project.json("log", "--job", "gold", "-n", "1")["runs"]) == 1
    assert project.json("log", "--job", "gold_")["runs"] == []
    text = project.run("log", "--job", "daily_sales", check=True).stdout
    assert len(text.splitlines()) == 2 and text.count("datamake run daily_sales") == 2
    error(project.run("log", "report", "--job", "gold"), "--job lists the runs of a job")
