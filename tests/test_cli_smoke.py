"""A quick end-to-end check through the real command line (``python -m datamake``).

One temporary project with three assets of three kinds (an Arrow table, a text
report, a JSON value), driven the way a user would. It needs no servers and runs
in a few seconds, so CI runs it on every supported Python, not only the main one.
"""
from __future__ import annotations

from pathlib import Path

import pytest

PIPELINE = '''
import pyarrow as pa
import pyarrow.compute as pc

from datamake import asset


@asset
def orders() -> pa.Table:
    return pa.table({"region": ["eu", "us", "eu"], "amount": [10.0, 20.0, 5.0]})


@asset(io_manager="text")
def report(orders: pa.Table) -> str:
    return "revenue: " + str(pc.sum(orders["amount"]).as_py()) + "\\n"


@asset(io_manager="json")
def summary(orders: pa.Table) -> dict:
    return {"rows": orders.num_rows, "regions": sorted(set(orders["region"].to_pylist()))}
'''

KEYS = {"orders", "report", "summary"}


@pytest.fixture
def smoke(project, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    project.pipeline(PIPELINE)
    return project


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "pipeline.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_make_status_edit_and_exit_codes_through_the_real_cli(smoke):
    # a first make builds all three assets (exit code 0: outcomes() checks it), and a value reads back
    assert smoke.outcomes() == {key: "built" for key in KEYS}
    assert "revenue: 35.0" in smoke.run("show", "report", check=True).stdout

    # a second make has nothing to do, and status agrees
    assert smoke.outcomes() == {key: "skipped" for key in KEYS}
    assert smoke.states() == {key: "fresh" for key in KEYS}

    # a real edit to a leaf: exactly it is stale
    _edit(smoke.root, '"rows": orders.num_rows', '"row_count": orders.num_rows')
    assert smoke.states() == {"orders": "fresh", "report": "fresh", "summary": "stale"}

    # a real edit upstream: it and its dependents are stale, with reasons
    _edit(smoke.root, "[10.0, 20.0, 5.0]", "[10.0, 20.0, 7.0]")
    status = smoke.json("status")
    assert {a["key"]: a["state"] for a in status["assets"]} == {key: "stale" for key in KEYS}
    reasons = {a["key"]: {r["code"] for r in a["reasons"]} for a in status["assets"]}
    assert "code_changed" in reasons["orders"], reasons
    assert "upstream_stale" in reasons["report"], reasons

    assert smoke.outcomes() == {key: "built" for key in KEYS}
    assert smoke.states() == {key: "fresh" for key in KEYS}
    assert "revenue: 37.0" in smoke.run("show", "report", check=True).stdout

    # an unknown asset is a usage error: exit code 2, and the message names it
    bad = smoke.run("make", "no_such_asset")
    assert bad.returncode == 2, (bad.stdout, bad.stderr)
    assert "no_such_asset" in bad.stdout + bad.stderr
