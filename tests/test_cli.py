"""The `datamake` command driven as a user would, on temporary projects: in this process
(``inprocess_project``), except where a test needs a fresh interpreter (``run_process``).

The pipeline below logs every function call to ``runs.log`` beside it, so a
test can tell "built" from "cached"/"skipped" by what actually ran, and fails
an asset on demand through the ``DM_FAIL`` environment variable.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import datamake

PIPELINE = '''
import os
from pathlib import Path

from datamake import asset

LOG = Path(__file__).parent / "runs.log"


def ran(key):
    with open(LOG, "a") as f:
        f.write(key + "\\n")
    if key in os.environ.get("DM_FAIL", "").split(","):
        raise RuntimeError(key + " exploded")


@asset(group="ingest")
def raw():
    ran("raw")
    return [3, 1, 2]


@asset(group="clean")
def clean(raw):
    ran("clean")
    return sorted(raw)


@asset(group="report", io_manager="text")
def report(clean):
    ran("report")
    return "total " + str(sum(clean))


@asset(group="other")
def side(raw):
    ran("side")
    return len(raw)
'''

KEYS = ["raw", "clean", "report", "side"]
MAKE_FIELDS = {"key", "partition", "outcome", "data_version", "seconds", "error"}
STATUS_FIELDS = {"key", "partition", "state", "reasons"}
DATAMAKE_DIR = str(Path(datamake.__file__).parent)


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("DM_FAIL", raising=False)


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


@pytest.fixture
def proj(project):
    project.pipeline(PIPELINE)
    return project


def edit(project, old: str, new: str) -> None:
    path = project.root / "pipeline.py"
    text = path.read_text()
    assert old in text, f"{old!r} not in pipeline.py"
    path.write_text(text.replace(old, new, 1))


def runs(project) -> list:
    """Functions that ran since the last call (and forget them)."""
    log = project.root / "runs.log"
    if not log.exists():
        return []
    lines = log.read_text().split()
    log.unlink()
    return lines


def assert_user_error(proc, *fragments: str) -> None:
    """Exit 2, every fragment on stderr, and no traceback of datamake itself."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    for fragment in fragments:
        assert fragment in proc.stderr, f"{fragment!r} not in stderr:\n{proc.stderr}"
    assert "Traceback (most recent call last)" not in proc.stderr
    assert DATAMAKE_DIR not in proc.stderr


# -- make / status and their JSON --------------------------------------------------------------

def test_first_make_builds_everything_then_nothing_is_stale(proj):
    assert proj.states() == dict.fromkeys(KEYS, "stale")
    doc = proj.json("make")
    assert set(doc) == {"run_id", "ok", "assets"} and doc["ok"] is True and doc["run_id"]
    assert sorted(a["key"] for a in doc["assets"]) == sorted(KEYS)  # every asset exactly once
    for a in doc["assets"]:
        assert set(a) == MAKE_FIELDS
        assert a["outcome"] == "built" and a["error"] is None and a["partition"] is None
        assert re.fullmatch(r"[0-9a-f]{32}", a["data_version"])
    assert sorted(runs(proj)) == sorted(KEYS)

    doc = proj.json("make")
    assert {a["outcome"] for a in doc["assets"]} == {"skipped"}
    assert runs(proj) == []
    status = proj.json("status")
    # the pipeline reads os.environ (DM_FAIL): each asset's read is versioned, nothing to warn about
    assert set(status) == {"assets"}
    assert sorted(a["key"] for a in status["assets"]) == sorted(KEYS)
    for a in status["assets"]:
        assert set(a) == STATUS_FIELDS and a["state"] == "fresh" and a["reasons"] == []


def test_status_explains_a_code_change_and_make_dry_run_agrees(proj):
    proj.run("make", check=True)
    runs(proj)
    edit(proj, "return sorted(raw)", "return sorted(raw, reverse=True)")
    doc = proj.json("status")
    by_key = {a["key"]: a for a in doc["assets"]}
    assert [r["code"] for r in by_key["clean"]["reasons"]] == ["code_changed"]
    assert by_key["report"]["reasons"] == [{"code": "upstream_stale", "message": "clean will be rebuilt first"}]
    assert by_key["raw"]["state"] == by_key["side"]["state"] == "fresh"
    assert proj.json("make", "-n") == doc
    assert runs(proj) == []  # a dry run runs nothing

    text = proj.run("status", check=True).stdout
    assert re.search(r"stale\s+clean\s+code_changed", text)
    assert "2 stale, 2 fresh" in text


def test_text_output_of_make(proj):
    out = proj.run("make", check=True).stdout
    assert "built" in out and "report" in out
    assert "4 built" in out


def test_selection_brings_in_upstream_only(proj):
    outcomes = proj.outcomes("report")
    assert outcomes == {"raw": "built", "clean": "built", "report": "built"}  # not side
    assert proj.states("report") == {"raw": "fresh", "clean": "fresh", "report": "fresh"}
    assert proj.states()["side"] == "stale"


def test_group_selection(proj):
    assert set(proj.outcomes("group:clean")) == {"raw", "clean"}
    assert set(proj.states("group:report", "group:other")) == set(KEYS)
    assert_user_error(proj.run("status", "group:reprot"), "group 'reprot'", "report")


def test_only_does_not_build_upstream(proj):
    outcomes = proj.outcomes("--only", "clean", expect=1)  # raw was never built
    assert outcomes == {"clean": "blocked"}
    assert runs(proj) == []
    proj.run("make", check=True)
    runs(proj)
    edit(proj, "return [3, 1, 2]", "return [3, 1, 2, 4]")
    assert proj.states("--only", "clean") == {"clean": "fresh"}  # raw is used as it is
    assert proj.outcomes("--only", "clean") == {"clean": "skipped"}
    assert runs(proj) == []
    proj.run("make", "raw", check=True)
    assert proj.outcomes("--only", "clean") == {"clean": "built"}
    assert runs(proj) == ["raw", "clean"]


def test_force_rebuilds_the_selection_without_the_cache(proj):
    proj.run("make", check=True)
    runs(proj)
    assert proj.outcomes("-B", "clean") == {"raw": "skipped", "clean": "built"}
    assert runs(proj) == ["clean"]


# -- failures -----------------------------------------------------------------------------------

def test_failure_blocks_downstream_and_keep_going_continues(project):
    project.pipeline(PIPELINE)
    env = {"DM_FAIL": "clean"}
    proc = project.run("make", "-k", "--json", env=env)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    outcomes = {a["key"]: a for a in doc["assets"]}
    assert sorted(outcomes) == sorted(KEYS)
    assert outcomes["raw"]["outcome"] == "built"
    assert outcomes["side"]["outcome"] == "built"  # an independent branch goes on
    assert outcomes["clean"]["outcome"] == "failed"
    assert "clean exploded" in outcomes["clean"]["error"]
    assert outcomes["report"]["outcome"] == "blocked"
    assert "clean" in outcomes["report"]["error"]

    proc = project.run("make", env=env)  # without -k, text: the failure and exit 1
    assert proc.returncode == 1
    assert "clean exploded" in proc.stdout + proc.stderr
    assert DATAMAKE_DIR not in proc.stderr


def test_failure_without_keep_going_stops_and_exits_1(proj):
    proc = proj.run("make", "--json", "-j", "1", env={"DM_FAIL": "raw"})
    assert proc.returncode == 1
    outcomes = {a["key"]: a["outcome"] for a in json.loads(proc.stdout)["assets"]}
    assert outcomes == {"raw": "failed", "clean": "blocked", "report": "blocked", "side": "blocked"}


def test_failed_asset_keeps_its_previous_value_and_manifest(proj):
    proj.run("make", check=True)
    before = proj.json("why", "clean")["materialization"]
    edit(proj, "return sorted(raw)", "return sorted(raw) + [100]")
    proc = proj.run("make", env={"DM_FAIL": "clean"})
    assert proc.returncode == 1
    assert proj.run("show", "clean", check=True).stdout.strip() == "[1, 2, 3]"
    assert proj.run("show", "report", check=True).stdout.strip() == "total 6"
    assert proj.json("why", "clean")["materialization"] == before
    assert proj.states()["clean"] == "stale"
    # raw read DM_FAIL too, rebuilt with it set: unset again, it is rebuilt (or its value restored)
    outcomes = proj.outcomes("clean")
    assert outcomes["clean"] == "built" and outcomes["raw"] in ("built", "cached")
    assert proj.run("show", "clean", check=True).stdout.strip() == "[1, 2, 3, 100]"


# -- what does and does not make an asset stale ----------------------------------------------------

def test_early_cutoff_value_preserving_edit_skips_downstream(proj):
    proj.run("make", check=True)
    runs(proj)
    edit(proj, "return sorted(raw)", "return list(sorted(raw))")
    assert proj.states()["report"] == "stale"  # upstream_stale until clean has run
    assert proj.outcomes() == {"raw": "skipped", "clean": "built", "report": "skipped", "side": "skipped"}
    assert runs(proj) == ["clean"]
    assert set(proj.states().values()) == {"fresh"}


def test_comments_docstrings_and_formatting_do_not_make_stale(proj):
    proj.run("make", check=True)
    edit(proj, 'def clean(raw):\n    ran("clean")\n    return sorted(raw)',
         'def clean(raw):\n    """Sorted, as the report wants it."""\n    # a comment\n'
         '    ran( "clean" )\n\n    return sorted(\n        raw,\n    )  # trailing')
    assert set(proj.states().values()) == {"fresh"}
    assert proj.outcomes() == dict.fromkeys(KEYS, "skipped")


def test_action_cache_restores_a_reverted_edit_without_running(proj):
    proj.run("make", check=True)
    original = (proj.root / "pipeline.py").read_text()
    edit(proj, "return sorted(raw)", "return sorted(raw)[:2]")
    assert proj.outcomes()["clean"] == "built"
    runs(proj)
    (proj.root / "pipeline.py").write_text(original)
    assert proj.outcomes() == {"raw": "skipped", "clean": "cached", "report": "cached", "side": "skipped"}
    assert runs(proj) == []  # nothing ran: the values came from the action cache
    assert proj.run("show", "report", check=True).stdout.strip() == "total 6"


def test_same_second_same_size_edit_is_not_missed(project):
    """Python's timestamp .pyc would hide this edit; datamake must run the new code."""
    project.pipeline("from datamake import asset\n\n@asset\ndef n():\n    return 10\n")
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    path = project.root / "pipeline.py"
    os.utime(path, (1_600_000_000, 1_600_000_000))
    project.run_process("make", check=True, env=env)  # a fresh interpreter, free to write .pyc files
    path.write_text(path.read_text().replace("10", "11"))
    os.utime(path, (1_600_000_000, 1_600_000_000))
    project.run_process("make", check=True, env=env)
    assert project.run_process("show", "n", check=True, env=env).stdout.strip() == "11"


# -- pins -------------------------------------------------------------------------------------------

def test_pin_keeps_an_edited_asset_fresh_and_reports_drift(proj):
    proj.run("make", check=True)
    out = proj.run("pin", "clean", check=True).stdout
    assert "pinned" in out and "clean" in out
    assert (proj.root / "datamake.pins.toml").exists()
    edit(proj, "return sorted(raw)", "return sorted(raw, reverse=True)")
    assert set(proj.states().values()) == {"fresh"}
    rows = {r["key"]: r for r in proj.json("ls")["assets"]}
    assert rows["clean"]["pinned"] is True and rows["clean"]["drifted"] is True
    assert rows["report"]["pinned"] is False and rows["report"]["drifted"] is False
    assert "source changed since pin" in proj.run("ls", check=True).stdout
    why = proj.run("why", "clean", check=True).stdout
    assert "pinned" in why and "changed since it was pinned" in why
    assert proj.json("why", "clean")["code_version"]["drifted"] is True

    out = proj.run("unpin", "clean", check=True).stdout
    assert "unpinned clean" in out
    states = proj.states()
    assert states["clean"] == "stale" and states["report"] == "stale"
    assert proj.run("unpin", "clean", check=True).stdout.startswith("skipped")


def test_pin_needs_assets_or_all(proj):
    proc = proj.run("pin")
    assert proc.returncode == 2 and "--all" in proc.stderr
    out = proj.run("pin", "--all", check=True).stdout
    assert all(f"pinned   {k}" in out for k in KEYS)
    assert all(r["pinned"] for r in proj.json("ls")["assets"])
    proj.run("unpin", "--all", check=True)
    assert not any(r["pinned"] for r in proj.json("ls")["assets"])


# -- why / ls / show --------------------------------------------------------------------------------

def test_why_text_and_json(proj):
    text = proj.run("why", "clean", check=True).stdout
    assert text.startswith("clean: stale") and "never_materialized" in text
    proj.run("make", check=True)
    info = proj.json("why", "report")
    assert info["key"] == "report" and info["state"] == "fresh" and info["reasons"] == []
    assert info["code_version"]["current"] == info["code_version"]["recorded"]
    assert [i["key"] for i in info["inputs"]] == ["clean"]
    assert info["inputs"][0]["recorded"] == info["inputs"][0]["current"]
    assert info["materialization"]["io_manager"] == "text"
    text = proj.run("why", "report", check=True).stdout
    assert "report: fresh" in text and "clean" in text
    assert_user_error(proj.run("why", "reprot"), "reprot", "did you mean 'report'")


def test_ls(proj):
    rows = proj.json("ls")["assets"]
    order = [r["key"] for r in rows]
    assert sorted(order) == sorted(KEYS)
    assert order.index("raw") < order.index("clean") < order.index("report")  # dependency order
    by_key = {r["key"]: r for r in rows}
    assert by_key["report"]["deps"] == ["clean"] and by_key["report"]["group"] == "report"
    assert by_key["raw"]["deps"] == [] and by_key["raw"]["pinned"] is False
    assert all(r["code_version"] for r in rows)
    text = proj.run("ls", check=True).stdout
    assert re.search(r"report\s+group=report", text)


def test_show(proj):
    proc = proj.run("show", "report")
    assert proc.returncode == 1 and "never been materialized" in proc.stderr and "datamake make report" in proc.stderr
    proj.run("make", check=True)
    assert proj.run("show", "report", check=True).stdout.strip() == "total 6"
    assert proj.run("show", "side", check=True).stdout.strip() == "3"
    assert_user_error(proj.run("show", "nope"), "unknown asset 'nope'")


def test_show_prints_a_table_schema_and_rows(project):
    project.pipeline('''
        import pyarrow as pa
        from datamake import asset

        @asset
        def orders():
            return pa.table({"id": list(range(25)), "region": ["eu", "us"] * 12 + ["eu"]})
    ''')
    project.run("make", check=True)
    out = project.run("show", "orders", "-n", "3", check=True).stdout
    assert "25 rows x 2 columns" in out and "id: int64" in out and "region: string" in out
    assert "22 more rows" in out


# -- where the project is -----------------------------------------------------------------------

def test_runs_from_a_subdirectory_and_with_dash_c(proj, tmp_path_factory):
    sub = proj.root / "notebooks" / "deep"
    sub.mkdir(parents=True)
    assert proj.run("make", "raw", "--json", cwd=sub).returncode == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert proj.states("raw") == {"raw": "fresh"}
    proc = proj.run("-C", str(proj.root), "status", "--json", cwd=elsewhere)
    assert proc.returncode == 0 and '"raw"' in proc.stdout
    proc = proj.run("--project", str(sub), "ls", cwd=elsewhere)
    assert proc.returncode == 0 and "report" in proc.stdout
    assert_user_error(proj.run("status", cwd=elsewhere), "no datamake.toml", "-C")


# -- user errors: exit 2, a message naming the culprit, no traceback ----------------------------------

def test_unknown_asset_in_selection_suggests_the_right_one(proj):
    assert_user_error(proj.run("make", "clena"), "unknown asset 'clena'", "did you mean 'clean'")
    assert_user_error(proj.run("status", "rport"), "rport", "did you mean 'report'")
    assert runs(proj) == []


def test_cycle_names_the_assets(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def first(third):
            return 1

        @asset
        def second(first):
            return 2

        @asset
        def third(second):
            return 3

        @asset
        def bystander():
            return 0
    ''')
    proc = project.run("make")
    assert_user_error(proc, "cycle", "first", "second", "third")
    assert "bystander" not in proc.stderr


def test_parameter_naming_no_asset_names_both(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def orders():
            return 1

        @asset
        def totals(ordres):
            return ordres
    ''')
    assert_user_error(project.run("status"), "totals", "ordres", "did you mean 'orders'")


def test_duplicate_keys(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def orders():
            return 1

        @asset(name="orders")
        def orders_again():
            return 2
    ''')
    assert_user_error(project.run("make"), "orders", "orders_again", "pipeline.py")


BAD_CONFIGS = [
    ('[project]\ndefinitions = "pipeline.py"\n[execution]\njobs = "two"\n', ["jobs", "integer"]),
    ('[project]\ndefinitions = "pipeline.py"\n[execution]\njbos = 2\n', ["jbos", "did you mean 'jobs'"]),
    ('[project]\ndefinitions = "pipeline.py"\n[exectuion]\njobs = 2\n', ["exectuion", "execution"]),
    ('[project]\ndefinitions = "pipeline.py"\n[execution\n', ["not valid TOML"]),
    ('[project]\n', ["definitions"]),
    ('[project]\ndefinitions = "pipline.py"\n', ["pipline.py"]),
    ('[project]\ndefinitions = "pipeline.py"\n[execution]\nexecutor = "threads"\n', ["executor", "thread"]),
    ('[project]\ndefinitions = "pipeline.py"\n[execution]\njobs = 0\n', ["jobs", "1"]),
]


@pytest.mark.parametrize("toml, fragments", BAD_CONFIGS, ids=[f[0][0] for f in BAD_CONFIGS])
def test_broken_datamake_toml_names_file_key_and_expectation(project, toml, fragments):
    project.pipeline(PIPELINE)
    project.write("datamake.toml", toml)
    assert_user_error(project.run("status"), "datamake.toml", *fragments)


def test_definitions_raising_on_import_show_the_users_error_only(project):
    project.pipeline('''
        from datamake import asset

        RATES = {"eur": 1.0}

        @asset
        def prices():
            return 1

        FACTOR = RATES["usd"]
    ''')
    proc = project.run("make")
    assert_user_error(proc, "pipeline.py", "KeyError", "'usd'", 'FACTOR = RATES["usd"]')
    assert "line 10" in proc.stderr


def test_syntax_error_in_definitions(project):
    project.pipeline("from datamake import asset\n\n@asset\ndef broken(:\n    return 1\n")
    assert_user_error(project.run("status"), "pipeline.py", "SyntaxError")


def test_exit_codes(proj):
    assert proj.run("make").returncode == 0
    assert proj.run("make", "-B", "report", env={"DM_FAIL": "report"}).returncode == 1
    assert proj.run("make", "nope").returncode == 2
    assert proj.run("make", "--jobs", "0").returncode == 2
    assert proj.run("frobnicate").returncode == 2


def test_a_value_that_changes_type_but_not_bytes_still_rebuilds_downstream(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def n():
            return 1

        @asset(io_manager="text")
        def kind(n):
            return type(n).__name__
    ''')
    project.run("make", check=True)
    edit(project, "return 1", 'return "1"')
    project.run("make", check=True)
    assert project.run("show", "kind", check=True).stdout.strip() == "str"


def test_json_lists_one_asset_per_line(proj):
    """The JSON document is laid out for grep: every asset's entry is one line of its own."""
    proj.run("make", check=True)
    for args in (["make", "--json"], ["status", "--json"]):
        stdout = proj.run(*args, check=True).stdout
        doc = json.loads(stdout)
        lines = [line.strip().rstrip(",") for line in stdout.splitlines()]
        assert [json.loads(line) for line in lines if line.startswith('{"key": ')] == doc["assets"]
        clean = [line for line in stdout.splitlines() if '"key": "clean"' in line]
        assert len(clean) == 1 and '"partition": null' in clean[0]


def test_json_stays_the_only_thing_on_stdout_when_user_code_prints(project):
    project.pipeline('''
        from datamake import asset

        print("hello from the import")

        @asset
        def noisy():
            print("hello from the asset")
            return 1
    ''')
    for args in (["make", "--json"], ["status", "--json"], ["make", "-n", "--json"], ["ls", "--json"]):
        proc = project.run(*args)
        assert proc.returncode == 0, proc.stderr
        json.loads(proc.stdout)  # one JSON document, nothing else
        assert "hello from the import" in proc.stderr
    proc = project.run("make", "-B", "--json")
    assert json.loads(proc.stdout)["assets"][0]["outcome"] == "built"
    assert "hello from the asset" in proc.stderr


def test_a_command_run_in_this_process_gives_the_caller_its_folder_back(tmp_path):
    """Commands run in the project's folder; a program that calls ``main`` keeps its own afterwards."""
    from click.testing import CliRunner

    from datamake.cli.main import main

    (tmp_path / "pipeline.py").write_text("from datamake import asset\n\n@asset\ndef one():\n    return 1\n")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    before = os.getcwd()
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "make"])
    assert result.exit_code == 0, result.output
    assert os.getcwd() == before
