"""Materialization metadata: context.add_metadata, MaterializeResult, automatic table facts, log lines."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

from datamake import MaterializeResult
from datamake.define.outputs import capture_logs, open_result, table_metadata
from datamake.storage.store import Store


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process


def manifest(project, key):
    return Store(str(project.root / ".datamake")).read_manifests([key])[key].to_data()


def test_metadata_from_context_result_and_tables_reaches_manifest_and_log(project):
    project.pipeline("""
        import pyarrow as pa
        from datamake import asset, MaterializeResult

        @asset
        def orders(context):
            context.add_metadata(source="crm", pages=2)
            context.log.info("fetched %d pages", 2)
            context.log.debug("not recorded: below INFO")
            table = pa.table({"id": [1, 2, 3], "region": ["eu", "us", None]})
            return MaterializeResult(table, metadata={"pages": 3, "owner": "sales"})

        @asset
        def count(orders):
            return orders.num_rows
    """)
    built = project.json("make")
    meta = manifest(project, "orders")["metadata"]
    assert meta["source"] == "crm" and meta["owner"] == "sales"
    assert meta["pages"] == 3  # the returned metadata wins over the context's
    assert meta["rows"] == 3
    assert meta["schema"] == {"id": "int64", "region": "string"}
    assert meta["bytes"] > 0
    assert "datamake/logs" not in meta  # log lines go to the event log only

    (row,) = project.json("log", "orders")["materializations"]
    assert row["metadata"]["owner"] == "sales" and row["metadata"]["rows"] == 3
    assert row["logs"] == ["INFO fetched 2 pages"]
    assert row["data_version"] == {a["key"]: a["data_version"] for a in built["assets"]}["orders"]
    assert project.run("show", "count", check=True).stdout.strip() == "3"


def test_materialize_result_does_not_change_the_data_version(project):
    project.pipeline("""
        from datamake import asset

        @asset
        def value():
            return [1, 2, 3]
    """)
    plain = project.json("make")["assets"][0]["data_version"]
    project.pipeline("""
        from datamake import asset, MaterializeResult

        @asset
        def value():
            return MaterializeResult([1, 2, 3], metadata={"note": "same value"})
    """)
    wrapped = project.json("make")["assets"][0]
    assert wrapped["outcome"] == "built" and wrapped["data_version"] == plain
    assert manifest(project, "value")["metadata"] == {"note": "same value"}


class _Context:
    def __init__(self):
        import logging

        self.metadata = {}
        self.log = logging.getLogger("datamake.asset.test_metadata")


def test_open_result_and_table_metadata_units():
    context = _Context()
    context.metadata["a"] = 1
    assert open_result(MaterializeResult("x", {"b": 2}), context) == "x"
    assert context.metadata == {"a": 1, "b": 2}
    assert open_result("plain", context) == "plain"
    table = pa.table({"x": [1.0, None]})
    assert table_metadata(table) == {"rows": 2, "schema": {"x": "double"}, "bytes": table.nbytes}
    assert table_metadata([1, 2]) == {}


def test_pandas_frames_get_table_metadata_too():
    import pandas as pd

    facts = table_metadata(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert facts["rows"] == 2 and list(facts["schema"]) == ["a", "b"] and facts["schema"]["a"] == "int64"
    assert facts["bytes"] > 0


def test_capture_logs_collects_info_and_restores_the_logger():
    context = _Context()
    before = context.log.level
    with capture_logs(context) as lines:
        context.log.info("hello %s", "world")
        context.log.warning("careful")
        context.log.debug("hidden")
    context.log.info("after the block: not captured")
    assert lines == ["INFO hello world", "WARNING careful"]
    assert context.log.level == before and not context.log.handlers
