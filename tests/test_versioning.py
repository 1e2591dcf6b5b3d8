"""What an asset's version depends on (issue 5): each kind of change and non-change, through the CLI."""
from __future__ import annotations

import os
import sys

import pytest

PIPELINE = '''
from datamake import asset, source
import helpers

raw = source("data/raw.txt", load="text")
FACTOR = 2

@asset
def parsed(raw):
    return [int(x) for x in raw.split()]

@asset
def scaled(parsed):
    return [helpers.scale(x) * FACTOR for x in parsed]

@asset
def total(scaled):
    return sum(scaled)
'''

HELPERS = '''
OFFSET = 1

def scale(x):
    return x + OFFSET
'''


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process


@pytest.fixture
def versioned(project):
    project.pipeline(PIPELINE)
    project.write("helpers.py", HELPERS)
    project.write("data/raw.txt", "1 2 3\n")
    assert project.outcomes() == {"parsed": "built", "scaled": "built", "total": "built"}
    return project


def reasons(project, key):
    for a in project.json("status")["assets"]:
        if a["key"] == key:
            return [r["code"] for r in a["reasons"]]
    raise KeyError(key)


def test_editing_a_helper_makes_its_users_stale_and_why_names_it(versioned):
    versioned.write("helpers.py", HELPERS.replace("return x + OFFSET", "return x + OFFSET + 1"))
    assert versioned.states() == {"parsed": "fresh", "scaled": "stale", "total": "stale"}
    assert reasons(versioned, "scaled") == ["code_changed"]
    why = versioned.run("why", "scaled", check=True).stdout
    assert "helpers.scale" in why
    assert versioned.outcomes() == {"parsed": "skipped", "scaled": "built", "total": "built"}


def test_changing_a_constant_in_a_helper_module_or_the_definitions(versioned):
    versioned.write("helpers.py", HELPERS.replace("OFFSET = 1", "OFFSET = 5"))
    assert reasons(versioned, "scaled") == ["code_changed"]
    assert "helpers.OFFSET" in versioned.run("why", "scaled", check=True).stdout
    versioned.write("helpers.py", HELPERS)
    versioned.pipeline(PIPELINE.replace("FACTOR = 2", "FACTOR = 3"))
    assert reasons(versioned, "scaled") == ["code_changed"]
    assert "FACTOR" in versioned.run("why", "scaled", check=True).stdout


def test_comment_and_docstring_edits_in_a_helper_change_nothing(versioned):
    versioned.write("helpers.py", '''
"""Helpers, now documented."""
OFFSET = 1   # the offset

def scale(x):
    """Shift x by OFFSET."""
    # add the offset
    return x   +   OFFSET
''')
    assert set(versioned.states().values()) == {"fresh"}


def test_touching_a_source_without_changing_bytes_rebuilds_nothing(versioned):
    path = versioned.root / "data" / "raw.txt"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert set(versioned.states().values()) == {"fresh"}
    assert versioned.outcomes() == {"parsed": "skipped", "scaled": "skipped", "total": "skipped"}


def test_changing_a_source_makes_dependents_stale_with_source_changed(versioned):
    versioned.write("data/raw.txt", "1 2 3 4\n")
    assert reasons(versioned, "parsed") == ["source_changed"]
    assert reasons(versioned, "scaled") == ["upstream_stale"]
    assert "raw" in versioned.run("why", "parsed", check=True).stdout
    assert versioned.outcomes() == {"parsed": "built", "scaled": "built", "total": "built"}
    assert versioned.run("show", "total", check=True).stdout.strip() == str(sum((x + 1) * 2 for x in [1, 2, 3, 4]))


def test_missing_source_is_a_clear_error(versioned):
    (versioned.root / "data" / "raw.txt").unlink()
    proc = versioned.run("status")
    assert proc.returncode == 1
    assert "source 'raw' not found" in proc.stderr and "Traceback" not in proc.stderr


CONFIG_PIPELINE = '''
from dataclasses import dataclass
from datamake import asset

@dataclass
class Threshold:
    minimum: int = 2
    label: str = "big"

@asset
def numbers():
    return [1, 2, 3, 4, 5]

@asset(config=Threshold)
def big(numbers, config):
    return {"label": config.label, "values": [n for n in numbers if n >= config.minimum]}
'''


def test_config_in_toml_and_on_the_command_line(project):
    project.pipeline(CONFIG_PIPELINE, "[config.big]\nminimum = 3\n")
    assert project.outcomes() == {"numbers": "built", "big": "built"}
    assert "[3, 4, 5]" in project.run("show", "big", check=True).stdout
    # Same values: fresh. A different value on the command line: config_changed.
    assert set(project.states().values()) == {"fresh"}
    status = project.json("status", "--config", "big.minimum=4")
    assert [r["code"] for a in status["assets"] if a["key"] == "big" for r in a["reasons"]] == ["config_changed"]
    assert project.outcomes("--config", "big.minimum=4") == {"numbers": "skipped", "big": "built"}
    assert "[4, 5]" in project.run("show", "big", check=True).stdout
    # Back to the toml value: restored from the action cache, not recomputed.
    assert project.outcomes() == {"numbers": "skipped", "big": "cached"}
    # Editing the toml counts too.
    project.pipeline(CONFIG_PIPELINE, "[config.big]\nminimum = 1\n")
    assert project.states()["big"] == "stale"


def test_bad_config_names_the_field(project):
    project.pipeline(CONFIG_PIPELINE, "[config.big]\nminimun = 3\n")
    proc = project.run("status")
    assert proc.returncode == 2
    assert "unknown field 'minimun'" in proc.stderr and "minimum" in proc.stderr
    project.pipeline(CONFIG_PIPELINE)
    proc = project.run("make", "--config", "big.minimum=lots")
    assert proc.returncode == 2 and "field 'minimum'" in proc.stderr and "expected int" in proc.stderr
    proc = project.run("make", "--config", "nosuch.minimum=1")
    assert proc.returncode == 2 and "unknown asset 'nosuch'" in proc.stderr


RESOURCE_PIPELINE = '''
import sqlite3
from datamake import asset, resource

warehouse = resource("warehouse", lambda path: sqlite3.connect(path){version})

@asset
def row_count(warehouse):
    return warehouse.execute("select count(*) from t").fetchone()[0]
'''


def _warehouse(project, name, rows):
    import sqlite3

    con = sqlite3.connect(project.root / name)
    con.execute("create table t (x)")
    con.executemany("insert into t values (?)", [(i,) for i in range(rows)])
    con.commit()
    con.close()


def test_resources_come_from_toml_and_are_not_in_the_provenance_unless_versioned(process_project):
    project = process_project  # a new process per command builds the resource anew, as a user's would
    _warehouse(project, "a.db", 3)
    _warehouse(project, "b.db", 7)
    project.pipeline(RESOURCE_PIPELINE.format(version=""), f'[resources.warehouse]\npath = "{project.root / "a.db"}"\n')
    assert project.outcomes() == {"row_count": "built"}
    assert project.run("show", "row_count", check=True).stdout.strip() == "3"
    project.pipeline(RESOURCE_PIPELINE.format(version=""), f'[resources.warehouse]\npath = "{project.root / "b.db"}"\n')
    assert project.states() == {"row_count": "fresh"}  # swapping an unversioned resource is not a change
    project.pipeline(RESOURCE_PIPELINE.format(version=', version="2"'),
                     f'[resources.warehouse]\npath = "{project.root / "b.db"}"\n')
    assert project.states() == {"row_count": "stale"}
    assert project.outcomes() == {"row_count": "built"}
    assert project.run("show", "row_count", check=True).stdout.strip() == "7"


def test_resources_can_be_replaced_in_tests_through_the_api(project):
    project.pipeline(RESOURCE_PIPELINE.format(version=""), '[resources.warehouse]\npath = "/nonexistent/x.db"\n')
    from datamake import api

    class FakeWarehouse:
        def execute(self, sql):
            class Result:
                def fetchone(self):
                    return (42,)
            return Result()

    proj = api.load(str(project.root))
    result = api.make(proj, resources={"warehouse": FakeWarehouse()})
    assert result.ok and result["row_count"].outcome == "built"
    assert api.show(proj, "row_count") == 42


OUTPUT_PIPELINE = '''
from datamake import asset, Output
import json, pathlib

@asset
def snapshot():
    meta = json.loads((pathlib.Path(__file__).parent / "snap.json").read_text())
    return Output(meta["rows"], data_version=meta["version"])

@asset
def doubled(snapshot):
    pathlib.Path(__file__).parent.joinpath("runs.log").open("a").write("run\\n")
    return [r * 2 for r in snapshot]
'''


def test_user_data_version_drives_downstream_staleness(project):
    project.pipeline(OUTPUT_PIPELINE)
    project.write("snap.json", '{"rows": [1, 2], "version": "v1"}')
    assert project.outcomes() == {"snapshot": "built", "doubled": "built"}
    # New rows but the same declared version: downstream is not rebuilt (the user said nothing changed).
    project.write("snap.json", '{"rows": [1, 2, 3], "version": "v1"}')
    assert project.outcomes("-B", "snapshot") == {"snapshot": "built"}
    assert project.outcomes() == {"snapshot": "skipped", "doubled": "skipped"}
    project.write("snap.json", '{"rows": [5], "version": "v2"}')
    assert project.outcomes("-B", "snapshot") == {"snapshot": "built"}
    assert project.outcomes() == {"snapshot": "skipped", "doubled": "built"}
    assert project.run("show", "doubled", check=True).stdout.strip() == "[10]"
    assert (project.root / "runs.log").read_text().count("run") == 2


def test_pin_all_covers_helpers_and_status_warns_about_drift(versioned):
    proc = versioned.run("pin", "--all", check=True)
    assert "pinned" in proc.stdout
    versioned.write("helpers.py", HELPERS.replace("return x + OFFSET", "return (x + OFFSET)  * 1"))
    assert set(versioned.states().values()) == {"fresh"}
    status = versioned.run("status")
    assert "scaled" in status.stderr and "changed since the pin" in status.stderr
    assert "source changed since pin" in versioned.run("ls", check=True).stdout
    versioned.run("unpin", "scaled", check=True)
    assert versioned.states()["scaled"] == "stale"


S3_PIPELINE = '''
from datamake import asset, source

landing = source("s3://{bucket}/landing/orders.csv", name="landing", load="text",
                 storage_options={{"endpoint_url": "{endpoint}", "key": "testing", "secret": "testing"}})

@asset
def line_count(landing):
    return len(landing.splitlines())
'''


def test_source_in_object_storage_follows_its_etag(project, s3_bucket):
    fs = s3_bucket.server.filesystem()
    fs.pipe(f"{s3_bucket.name}/landing/orders.csv", b"a\nb\n")
    project.pipeline(S3_PIPELINE.format(bucket=s3_bucket.name, endpoint=s3_bucket.server.endpoint))
    assert project.outcomes() == {"line_count": "built"}
    assert project.states() == {"line_count": "fresh"}
    fs.pipe(f"{s3_bucket.name}/landing/orders.csv", b"a\nb\nc\n")
    assert reasons(project, "line_count") == ["source_changed"]
    assert project.outcomes() == {"line_count": "built"}
    assert project.run("show", "line_count", check=True).stdout.strip() == "3"


FILE_PIPELINE = '''
import pathlib
from datamake import asset

HERE = pathlib.Path(__file__).parent

@asset
def export(context):
    """Writes its own file; returns nothing."""
    text = (HERE / "rows.txt").read_text()
    pathlib.Path(context.output_path).write_text(text.upper())

@asset
def first_line(export):
    (HERE / "runs.log").open("a").write("run\\n")
    return pathlib.Path(export).read_text().splitlines()[0]
'''


def test_an_asset_that_writes_its_own_file_gets_it_hashed_as_its_artifact(project):
    project.pipeline(FILE_PIPELINE)
    project.write("rows.txt", "alpha\nbeta\n")
    assert project.outcomes() == {"export": "built", "first_line": "built"}
    assert project.run("show", "first_line", check=True).stdout.strip() == "ALPHA"
    stored = project.run("show", "export", check=True).stdout.strip()
    assert open(stored).read() == "ALPHA\nBETA\n"  # the downstream got a path to the stored bytes
    # Rebuilt with the same bytes: early cutoff. Different bytes: the dependent rebuilds.
    assert project.outcomes("-B", "export") == {"export": "built"}
    assert project.outcomes() == {"export": "skipped", "first_line": "skipped"}
    project.write("rows.txt", "gamma\n")
    assert project.outcomes("-B", "export") == {"export": "built"}
    assert project.outcomes() == {"export": "skipped", "first_line": "built"}
    assert project.run("show", "first_line", check=True).stdout.strip() == "GAMMA"
    assert (project.root / "runs.log").read_text().count("run") == 2


def test_pin_after_a_refactor_declares_it_cosmetic(versioned):
    versioned.pipeline(PIPELINE.replace("return [int(x) for x in raw.split()]",
                                        "return [int(token) for token in raw.split()]"))
    assert versioned.states()["parsed"] == "stale"
    versioned.run("pin", "parsed", check=True)
    assert set(versioned.states().values()) == {"fresh"}
    assert "pinned" in versioned.run("why", "parsed", check=True).stdout


def test_every_machine_local_cache_goes_under_datamake_cache_dir(process_project, tmp_path):
    project = process_project  # a fresh process, whose code-version cache starts empty and is written
    project.pipeline("""
        from datamake import asset

        @asset
        def a():
            return 1
        """)
    env = {"DATAMAKE_CACHE_DIR": str(tmp_path / "chosen"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    project.run("status", check=True, env=env)
    # the code-version cache (the project's and the seed of the next new folder), the parse of
    # datamake.toml (kept from Python 3.11), and the project modules' bytecode (unless turned off)
    kinds = {p.name.split("-")[0] for p in (tmp_path / "chosen").iterdir()}
    expected = {"code"} | ({"toml"} if sys.version_info >= (3, 11) else set()) \
        | (set() if os.environ.get("PYTHONDONTWRITEBYTECODE") else {"bytecode"})
    assert kinds == expected, kinds
    assert (tmp_path / "chosen" / "code-seed.json").exists()
    assert not (tmp_path / "xdg").exists()
