"""Asset checks: blocking and non-blocking, re-checking a kept value, definition errors."""
from __future__ import annotations

import pytest

from datamake import AssetCheckResult, Definitions, asset, asset_check
from datamake.define.checks import run_check
from datamake.core.errors import DefinitionError, MissingDependencyError
from datamake.storage.store import Store

PIPELINE = """
import pyarrow as pa
from datamake import asset, asset_check, AssetCheckResult

@asset
def orders():
    return pa.table({{"id": [1, 2, 3], "amount": [3.0, None, 4.0]}})

@asset
def report(orders):
    return f"{{orders.num_rows}} orders"

@asset
def other():
    return "independent branch"

@asset_check(asset=orders, blocking={blocking})
def has_many_rows(orders):
    return orders.num_rows > {minimum}

@asset_check(asset="orders")
def amount_has_no_nulls(orders):
    nulls = orders["amount"].null_count
    return AssetCheckResult(passed=nulls == 0, message=f"{{nulls}} nulls in amount", metadata={{"nulls": nulls}})

@asset_check(asset=orders)
def schema_matches(orders):
    assert orders.schema.names == ["id", "amount"], orders.schema.names
"""


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process


def write(project, blocking=True, minimum=0):
    project.pipeline(PIPELINE.format(blocking=blocking, minimum=minimum))


def test_passing_and_warning_checks_are_printed_logged_and_do_not_block(project):
    write(project, blocking=True, minimum=0)
    proc = project.run("make", check=True)
    assert "check    orders:has_many_rows passed" in proc.stderr
    assert "check    orders:amount_has_no_nulls FAILED (warning): 1 nulls in amount" in proc.stderr
    assert "check    orders:schema_matches passed" in proc.stderr
    assert project.outcomes() == {"orders": "skipped", "report": "skipped", "other": "skipped"}
    history = project.json("log", "orders")["materializations"]
    assert len(history) == 1 and history[0]["kind"] == "built"
    checks = {c["name"]: c for c in history[0]["checks"]}
    assert checks["amount_has_no_nulls"]["passed"] is False
    assert checks["amount_has_no_nulls"]["metadata"] == {"nulls": 1}
    assert checks["has_many_rows"]["passed"] is True and checks["has_many_rows"]["blocking"] is True


def test_failing_blocking_check_keeps_the_value_blocks_dependents_and_exits_1(project):
    write(project, blocking=True, minimum=5)
    result = project.json("make", "-k", expect=1)
    outcomes = {a["key"]: a for a in result["assets"]}
    assert outcomes["orders"]["outcome"] == "failed"
    assert "has_many_rows" in outcomes["orders"]["error"] and "kept" in outcomes["orders"]["error"]
    assert outcomes["orders"]["data_version"]  # the new value was stored
    assert outcomes["report"]["outcome"] == "blocked"
    assert outcomes["other"]["outcome"] == "built"  # -k: other branches go on
    shown = project.run("show", "orders", check=True)
    assert "3 rows" in shown.stdout

    # The flagged value stays flagged: a second make does not build on it (and, without -k, stops there).
    again = project.outcomes(expect=1)
    assert again == {"orders": "failed", "report": "blocked", "other": "blocked"}


def test_fixing_the_check_rechecks_the_kept_value_without_rebuilding_it(project):
    write(project, blocking=True, minimum=5)
    project.outcomes(expect=1)
    write(project, blocking=True, minimum=1)  # the check changed, the asset did not
    proc = project.run("make", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "check    orders:has_many_rows passed" in proc.stderr
    assert "skipped  orders" in proc.stdout and "built    report" in proc.stdout
    rows = project.json("log", "orders")["materializations"]
    assert [r["kind"] for r in rows] == ["skipped", "failed"]  # re-checked now; built and flagged before
    assert {c["name"]: c["passed"] for c in rows[0]["checks"]}["has_many_rows"] is True


def test_non_blocking_failure_lets_dependents_build(project):
    write(project, blocking=False, minimum=5)
    proc = project.run("make")
    assert proc.returncode == 0
    assert "check    orders:has_many_rows FAILED (warning)" in proc.stderr
    assert project.states() == {"orders": "fresh", "report": "fresh", "other": "fresh"}


def test_a_check_added_later_runs_on_the_stored_value(project):
    project.pipeline("""
        from datamake import asset

        @asset
        def numbers():
            return [1, 2, 3]
    """)
    project.run("make", check=True)
    project.pipeline("""
        from datamake import asset, asset_check

        @asset
        def numbers():
            return [1, 2, 3]

        @asset_check(asset=numbers, blocking=True)
        def not_empty(numbers):
            return len(numbers) > 0
    """)
    proc = project.run("make")
    assert proc.returncode == 0
    assert "check    numbers:not_empty passed" in proc.stderr
    assert "built" not in proc.stdout.split("done:")[0]
    # Nothing changed since: the recorded result is reused, the check does not run again.
    assert "not_empty" not in project.run("make", check=True).stderr


def test_a_blocking_check_that_fails_on_the_kept_value_says_it_ran_now_on_it(project):
    """A check changed since the value was built runs on the kept value: the failure says so, and
    neither that a new value was kept nor that it was recorded in the run that built the value."""
    write(project, blocking=True, minimum=0)
    built = project.json("make")["run_id"]
    write(project, blocking=True, minimum=5)  # the check changed, the asset did not
    outcomes = {a["key"]: a for a in project.json("make", "orders", expect=1)["assets"]}
    error = outcomes["orders"]["error"]
    assert "has_many_rows" in error and "checked now" in error
    assert "new value" not in error and built not in error


def test_a_check_reads_the_file_an_asset_wrote_at_its_output_path(project):
    project.pipeline("""
        from datamake import asset, asset_check

        @asset
        def report(context):
            with open(context.output_path, "w") as f:
                f.write("hello")

        @asset_check(asset=report, blocking=True)
        def not_empty(report):
            return len(open(report).read()) > 0
    """)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check    report:not_empty passed" in proc.stderr


def test_a_file_a_check_reads_makes_its_asset_stale_when_it_changes(project):
    """What a check reads (a limit, a schema) decides the asset's state as what the asset reads does."""
    project.pipeline("""
        from datamake import asset, asset_check

        @asset
        def v():
            return 5

        @asset_check(asset=v, blocking=True)
        def small(v):
            return v < int(open("limit.txt").read())
    """)
    project.write("limit.txt", "10")
    assert project.outcomes() == {"v": "built"}
    project.write("limit.txt", "3")
    assert project.states() == {"v": "stale"}
    assert project.outcomes(expect=1) == {"v": "failed"}


def test_check_on_unknown_asset_is_a_definition_error(project):
    project.pipeline("""
        from datamake import asset, asset_check

        @asset
        def orders():
            return 1

        @asset_check(asset="order")
        def positive(orders):
            return orders > 0
    """)
    proc = project.run("make")
    assert proc.returncode == 2
    assert "checks 'order', which is not an asset" in proc.stderr
    assert "did you mean 'orders'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_checks_in_definitions_and_as_plain_functions():
    @asset
    def numbers():
        return [1, 2]

    @asset_check(asset=numbers)
    def short(numbers):
        return len(numbers) < 5

    assert short([1]) is True  # callable like the function it wraps
    defs = Definitions(assets=[numbers], checks=[short])
    assert defs.checks == {"numbers": (short,)}
    assert run_check(short, [1, 2, 3, 4, 5, 6]).passed is False


def test_check_verdicts():
    @asset_check(asset="x")
    def returns_none(x):
        pass

    @asset_check(asset="x")
    def raises(x):
        raise ValueError("bad value")

    @asset_check(asset="x")
    def returns_text(x):
        return "yes"

    @asset_check(asset="x", name="custom", blocking=True)
    def result(x):
        return AssetCheckResult(False, "too small", {"n": 1})

    assert run_check(returns_none, 1).passed is True
    failed = run_check(raises, 1)
    assert not failed.passed and failed.message == "ValueError: bad value"
    assert not run_check(returns_text, 1).passed  # only bools and AssetCheckResult count
    custom = run_check(result, 1)
    assert (custom.name, custom.passed, custom.blocking, custom.message) == ("custom", False, True, "too small")


def test_check_definition_errors():
    with pytest.raises(DefinitionError, match="names no asset"):
        asset_check(lambda v: True)
    with pytest.raises(DefinitionError, match="receives only the asset's value"):
        @asset_check(asset="x")
        def two(a, b):
            return True

    @asset
    def x():
        return 1

    @asset_check(asset=x, name="same")
    def one(v):
        return True

    @asset_check(asset=x, name="same")
    def other(v):
        return True

    with pytest.raises(DefinitionError, match="called 'same'"):
        Definitions(assets=[x, one, other])
    with pytest.raises(MissingDependencyError):
        Definitions(assets=[one])


def test_check_results_a_store_of_datamake_0_1_0_recorded_are_read_back(tmp_path):
    """0.1.0 kept check results in the manifest's metadata ("format": 1): they still count, nothing re-runs."""
    import json

    from datamake import api

    (tmp_path / "pipeline.py").write_text(PIPELINE.format(blocking=True, minimum=5))
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    first = api.make(api.load(str(tmp_path)), ["orders"], history=False)
    assert first["orders"].outcome == "failed"  # has_many_rows (blocking) failed: the value is kept, flagged
    path = tmp_path / ".datamake" / "manifests" / "orders.json"  # newer than the pack make wrote: current
    data = Store(str(tmp_path / ".datamake")).read_manifests(["orders"])["orders"].to_data()
    path.parent.mkdir(exist_ok=True)
    data["metadata"]["datamake/checks"] = data.pop("checks")
    data["format"] = 1
    path.write_text(json.dumps(data))

    project = api.load(str(tmp_path))
    (decision,) = api.status(project, ["orders"]).decisions
    assert [r.code for r in decision.reasons] == ["check_failed"]  # the recorded result, not "checks changed"
    again = api.make(project, ["orders"], history=False)
    assert again["orders"].outcome == "failed" and "recorded in run" in again["orders"].error  # not re-run
    manifest = project.current_manifest("orders")
    assert "datamake/checks" not in manifest.metadata
    assert sorted(c["name"] for c in manifest.checks) == ["amount_has_no_nulls", "has_many_rows", "schema_matches"]
