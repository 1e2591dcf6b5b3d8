"""What users porting a pipeline reach for on day one: init, status --exit-code, sources in
Definitions, deps= naming a source, key_prefix lists, left-out checks, the graph and ls details."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def test_init_writes_a_starter_that_make_builds_at_once(project):
    made = project.run("init", "shop")
    assert made.returncode == 0, made.stderr
    assert "datamake.toml" in made.stdout and "next: cd shop && datamake make" in made.stdout
    shop = project.root / "shop"
    first = project.run("make", cwd=shop)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 built" in first.stdout
    report = project.run("show", "report", cwd=shop)
    assert report.stdout.startswith("Revenue by region") and "north: 162.75" in report.stdout
    assert project.run("status", "--exit-code", cwd=shop).returncode == 0


def test_init_overwrites_nothing(project):
    project.write("datamake.toml", "[project]\ndefinitions = 'mine.py'\n")
    again = project.run("init")
    assert again.returncode == 2
    assert "already has datamake.toml" in again.stderr and "overwrites nothing" in again.stderr
    assert "mine.py" in (project.root / "datamake.toml").read_text()


def test_status_exit_code_is_1_while_something_is_stale_for_ci(project):
    project.pipeline("""
        from datamake import asset

        @asset
        def a():
            return 1
    """)
    stale = project.run("status", "--exit-code")
    assert stale.returncode == 1 and "stale" in stale.stdout
    assert project.run("status").returncode == 0  # without the flag, status only reports
    project.run("make", check=True)
    assert project.run("status", "--exit-code").returncode == 0
    assert project.run("status", "--exit-code", "--json").returncode == 0


def test_definitions_take_sources_and_deps_name_a_source(project):
    project.write("data/raw.txt", "one\n")
    project.pipeline("""
        from datamake import Definitions, asset, source

        raw = source("data/raw.txt", name="raw")

        @asset(deps=raw, key_prefix=["shop", "eu"])
        def count():
            return 1

        defs = Definitions(assets=[count], sources=[raw])
    """)
    assert project.states() == {"shop/eu/count": "stale"}
    project.run("make", check=True)
    (project.root / "data" / "raw.txt").write_text("two\n")
    reasons = project.json("status")["assets"][0]["reasons"]
    assert [r["code"] for r in reasons] == ["source_changed"]


def test_definitions_reject_an_asset_given_as_a_source(project):
    project.pipeline("""
        from datamake import Definitions, asset

        @asset
        def a():
            return 1

        defs = Definitions(sources=[a])
    """)
    bad = project.run("status")
    assert bad.returncode == 2 and "Definitions(sources=...) got <asset a>" in bad.stderr


def test_checks_left_out_of_definitions_are_named_in_a_warning(project):
    project.pipeline("""
        from datamake import Definitions, asset, asset_check

        @asset
        def orders():
            return [1, 2]

        @asset_check(asset=orders)
        def not_empty(orders):
            return len(orders) > 0

        defs = Definitions(assets=[orders])
    """)
    out = project.run("status")
    assert "warning" in out.stderr and "orders:not_empty" in out.stderr and "checks=" in out.stderr
    project.write("pipeline.py", (project.root / "pipeline.py").read_text().replace(
        "Definitions(assets=[orders])", "Definitions(assets=[orders], checks=[])"))
    assert "not_empty" not in project.run("status").stderr  # checks=[] leaves them out on purpose


GRAPH = """
    import dataclasses
    from datamake import DailyPartitions, asset, resource, source

    raw = source("raw.txt", name="raw")
    db = resource("db", lambda: {})

    @dataclasses.dataclass
    class Limits:
        rows: int = 5

    @asset
    def clean(raw):
        return 1

    @asset(config=Limits)
    def report(clean, db, config):
        return config.rows

    @asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-04"), io_manager="json")
    def daily(context, clean):
        return context.partition_key
"""


def test_graph_draws_each_asset_coloured_by_its_state(project):
    project.write("raw.txt", "x")
    project.pipeline(GRAPH)
    project.run("make", "clean", "report", check=True)
    view = json.loads(project.run("graph", "--format", "json").stdout)
    nodes = {n["key"]: n for n in view["nodes"]}
    assert nodes["raw"]["state"] == "source"
    assert nodes["clean"]["state"] == "fresh" and nodes["report"]["state"] == "fresh"
    assert nodes["daily"]["state"] == "new" and nodes["daily"]["partitions"] == {"total": 3, "stale": 3}
    assert {"from": "clean", "to": "daily"} in view["edges"] and {"from": "raw", "to": "clean"} in view["edges"]

    project.write("pipeline.py", (project.root / "pipeline.py").read_text().replace("return config.rows",
                                                                                      "return config.rows + 1"))
    mermaid = project.run("graph", "report", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    assert '["report: stale"]:::stale' in mermaid and '["clean: fresh"]:::fresh' in mermaid
    assert "daily" not in mermaid  # the selection and its upstream only
    assert "classDef stale fill:" in mermaid
    dot = project.run("graph", "--format", "dot").stdout
    assert dot.startswith("digraph datamake {") and '"clean" -> "report";' in dot
    assert '"daily" [label="daily: 3/3 partitions stale"' in dot
    text = project.run("graph").stdout
    assert "report  stale (code_changed)  <- clean" in text


def test_graph_of_an_unknown_asset_is_a_usage_error(project):
    project.write("raw.txt", "x")
    project.pipeline(GRAPH)
    bad = project.run("graph", "reprot")
    assert bad.returncode == 2 and "did you mean" in bad.stderr.lower()


def test_ls_shows_partitions_config_and_resources(project):
    project.write("raw.txt", "x")
    project.pipeline(GRAPH)
    rows = {r["key"]: r for r in project.json("ls")["assets"]}
    assert rows["daily"]["partitions"] == {"definition": "daily from 2024-01-01 to 2024-01-04 (UTC)", "count": 3}
    assert rows["report"]["config"] == {"rows": 5} and rows["report"]["resources"] == ["db"]
    assert rows["clean"]["partitions"] is None and rows["clean"]["config"] is None
    text = project.run("ls").stdout
    assert "partitions: daily from 2024-01-01 to 2024-01-04 (UTC) (3)" in text
    assert "config: rows=5" in text and "resources: db" in text
