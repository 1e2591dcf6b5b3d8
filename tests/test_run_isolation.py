"""What one run keeps to itself: its resources, its partitions' log lines, the user's metadata keys."""
from __future__ import annotations

import sqlite3
import threading
import textwrap

import pytest

from datamake import DatamakeError, api


def _project(root, definitions: str, source: str, toml_extra: str = ""):
    root.mkdir(parents=True, exist_ok=True)
    (root / definitions).write_text(textwrap.dedent(source))
    (root / "datamake.toml").write_text(f'[project]\ndefinitions = "{definitions}"\n' + toml_extra)
    return api.load(str(root))


def test_metadata_under_keys_datamake_could_use_stays_the_users_own(tmp_path):
    proj = _project(tmp_path, "pipeline.py", """
        from datamake import asset, asset_check, MaterializeResult

        MINE = {"datamake/logs": ["my own line"], "datamake/checks": "my own checks",
                "datamake/corrupt_inputs": ["total"], "datamake/undeclared_reads": ["x.csv"]}

        @asset
        def orders(context):
            context.log.info("loaded")
            return MaterializeResult([1, 2, 3], metadata=MINE)

        @asset_check(asset=orders, blocking=True)
        def has_rows(orders):
            return len(orders) > 0

        @asset
        def total(orders):
            return sum(orders)
    """)
    mine = {"datamake/logs": ["my own line"], "datamake/checks": "my own checks",
            "datamake/corrupt_inputs": ["total"], "datamake/undeclared_reads": ["x.csv"]}
    messages = []

    class Messages(api.Reporter):
        def message(self, text):
            messages.append(text)

    result = api.make(proj, reporter=Messages())
    assert result.ok and result["orders"].outcome == "built" and result["total"].outcome == "built"
    assert not [m for m in messages if "x.csv" in m]  # no undeclared-read warning made up from metadata
    manifest = proj.current_manifest("orders")
    assert {k: manifest.metadata.get(k) for k in mine} == mine
    (row,) = api.log(proj, "orders")["materializations"]
    assert row["logs"] == ["INFO loaded"]  # what the asset logged, not its metadata
    assert [(c["name"], c["passed"]) for c in row["checks"]] == [("has_rows", True)]
    assert row["metadata"]["datamake/checks"] == "my own checks"

    again = api.make(api.load(str(tmp_path)))  # the recorded check result is read back: nothing re-runs
    assert again.ok and {a.outcome for a in again.assets} == {"skipped"}
    rows = api.log(proj, "orders", every=True)["materializations"]
    assert [r["kind"] for r in rows] == ["skipped", "built", "started"] and rows[0]["checks"] == []


def test_log_lines_of_partitions_built_at_once_stay_with_their_partition(tmp_path):
    proj = _project(tmp_path, "pipeline.py", """
        import threading
        from datamake import asset, StaticPartitions

        both = threading.Barrier(2, timeout=60)  # each partition waits for the other: they run at once

        @asset(partitions=StaticPartitions(["a", "b"]))
        def part(context):
            both.wait()
            context.log.info("from %s", context.partition_key)
            both.wait()  # both have logged before either one finishes
            return context.partition_key
    """)
    result = api.make(proj, jobs=2, executor="thread")
    assert result.ok, [a.error for a in result.assets]
    for pk in ("a", "b"):
        (row,) = api.log(proj, "part", partition=pk)["materializations"]
        assert row["logs"] == [f"INFO from {pk}"]
    with sqlite3.connect(api.history_file(proj)) as db:
        rows = db.execute("SELECT partition, message FROM events WHERE kind = 'log' ORDER BY partition").fetchall()
    assert rows == [("a", "INFO from a"), ("b", "INFO from b")]


RESOURCE_USER = """
from datamake import asset, resource
{imports}
warehouse = resource("warehouse", lambda: {declared!r})

@asset
def first():
    {wait}
    return 1

@asset
def second(first, warehouse):
    return warehouse
"""


def test_two_makes_at_once_each_use_the_resources_they_were_given(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "meeting.py").write_text("import threading\nBOTH = threading.Barrier(2, timeout=60)\n")
    monkeypatch.syspath_prepend(str(shared))
    source = RESOURCE_USER.format(imports="import meeting", declared="declared",
                                  wait="meeting.BOTH.wait()  # the other make() has been given its resources")
    projects = {name: _project(tmp_path / name, f"{name}_pipeline.py", source) for name in ("a", "b")}
    results = {}

    def make(name):
        results[name] = api.make(projects[name], resources={"warehouse": f"given to {name}"}, history=False)

    threads = [threading.Thread(target=make, args=(name,)) for name in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(results[name].ok for name in projects), results
    assert {name: api.show(p, "second") for name, p in projects.items()} == {"a": "given to a", "b": "given to b"}


def test_resources_of_two_projects_with_one_name_are_built_by_their_own_factories(tmp_path):
    for name in ("a", "b"):
        proj = _project(tmp_path / name, f"{name}_resources.py",
                        RESOURCE_USER.format(imports="", declared=f"built by {name}", wait="pass"))
        assert api.make(proj, history=False).ok
        assert api.show(proj, "second") == f"built by {name}"


def test_resources_given_to_make_are_refused_by_executors_in_other_processes(tmp_path):
    proj = _project(tmp_path, "pipeline.py", RESOURCE_USER.format(imports="", declared="declared", wait="pass"))
    with pytest.raises(DatamakeError) as caught:
        api.make(proj, executor="process", jobs=2, resources={"warehouse": "fake"}, history=False)
    assert "executor 'process' cannot use the resources given to make() (warehouse)" in caught.value.message
    assert "thread" in caught.value.hint
    assert proj.current_manifest("second") is None  # nothing ran with the declared resource instead
