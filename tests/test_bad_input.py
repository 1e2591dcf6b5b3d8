"""Bad input gets exit code 2 and a message that names the culprit and says how to fix it.

Every test here feeds the real ``datamake`` command (in-process, through click's runner) a
wrong ``datamake.toml``, pins file, asset config, definition or command-line argument, and
checks the exit code, that stderr names the file/key or asset/argument, that a hint is
given, and that no Python traceback leaks out.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from datamake.cli.main import main

PIPELINE = """\
from datamake import asset, resource

db = resource("db", lambda **settings: settings)

@asset
def raw():
    return [3, 1, 2]
"""


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def project(root: Path, toml_extra: str = "", pipeline: str = PIPELINE) -> Path:
    write(root, "pipeline.py", pipeline)
    return write(root, "datamake.toml", '[project]\ndefinitions = "pipeline.py"\n' + textwrap.dedent(toml_extra))


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(root), *args])


def assert_user_error(result, *fragments: str) -> str:
    """Exit 2, every fragment in the message, a hint, and no traceback."""
    text = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}, expected 2:\n{text}\n{result.exception!r}"
    assert "datamake: error:" in text, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert "hint:" in text, f"no hint in:\n{text}"
    return text


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)


# -- 1. datamake.toml ---------------------------------------------------------------------------

CONFIG_PIPELINE = """\
from dataclasses import dataclass
from datamake import asset

@dataclass
class Cfg:
    n: int = 1

@asset(config=Cfg)
def a(config):
    return config.n
"""


def test_config_entry_that_is_not_a_table(tmp_path):
    toml = project(tmp_path, "[config]\na = 3\n", pipeline=CONFIG_PIPELINE)
    assert_user_error(run(tmp_path, "status"), str(toml), "[config] a", "must be a table", "[config.a]")


def test_storage_root_that_is_a_regular_file(tmp_path):
    toml = project(tmp_path, '[storage]\nroot = "notes.txt"\n')
    write(tmp_path, "notes.txt", "not a folder")
    assert_user_error(run(tmp_path, "make"), str(toml), "[storage] root", "is a file", "expected a folder")


def test_config_file_that_is_not_utf8(tmp_path):
    project(tmp_path)
    toml = tmp_path / "datamake.toml"
    toml.write_bytes(b'[project]\ndefinitions = "pipeline.py"\n# caf\xe9 latin-1\n')
    assert_user_error(run(tmp_path, "status"), str(toml), "not UTF-8", "line 3", "UTF-8")


def test_resource_settings_that_are_not_a_table(tmp_path):
    toml = project(tmp_path, '[resources]\ndb = "x"\n')
    assert_user_error(run(tmp_path, "status"), str(toml), "[resources] db", "must be a table", "[resources.db]")


def test_settings_for_an_unknown_resource(tmp_path):
    toml = project(tmp_path, '[resources.dbb]\npath = "x.db"\n')
    assert_user_error(run(tmp_path, "status"), str(toml), "[resources.dbb]", "did you mean 'db'?")


def test_empty_definitions(tmp_path):
    write(tmp_path, "pipeline.py", PIPELINE)
    toml = write(tmp_path, "datamake.toml", '[project]\ndefinitions = ""\n')
    assert_user_error(run(tmp_path, "status"), str(toml), "[project] definitions", "empty", "pipeline.py")


def test_storage_root_with_an_unknown_protocol(tmp_path):
    toml = project(tmp_path, '[storage]\nroot = "foo://x"\n')
    assert_user_error(run(tmp_path, "make"), str(toml), "[storage] root", "unknown protocol 'foo://'")


def test_remote_with_a_misspelled_protocol_is_rejected_when_the_file_loads(tmp_path):
    toml = project(tmp_path, '[cache]\nremote = "s4://bucket/datamake"\n')
    text = assert_user_error(run(tmp_path, "make"), str(toml), "[cache] remote", "unknown protocol 's4://'",
                             "did you mean 's3://'?")
    assert "built" not in text
    assert not (tmp_path / ".datamake").exists() or not any((tmp_path / ".datamake").rglob("*.json"))


def test_remote_whose_filesystem_package_is_missing_says_what_to_install(tmp_path):
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    toml = project(tmp_path, '[cache]\nremote = "gcs://bucket/datamake"\n')
    assert_user_error(run(tmp_path, "status"), str(toml), "[cache] remote", "gcsfs", "pip install")


@pytest.mark.parametrize("form", ["{dir}/team-cache", "file://{dir}/team-cache"])
def test_push_to_a_local_folder_remote(tmp_path, form):
    shared = tmp_path / "mnt"
    shared.mkdir()
    remote = form.format(dir=shared.as_posix())
    project(tmp_path / "p", f'[cache]\nremote = "{remote}"\n')
    assert run(tmp_path / "p", "make").exit_code == 0
    pushed = run(tmp_path / "p", "push")
    assert pushed.exit_code == 0, pushed.output
    assert "pushed   raw" in pushed.output
    # a teammate with an empty store restores it from the shared folder instead of computing it
    project(tmp_path / "q", f'[cache]\nremote = "{remote}"\n')
    pulled = run(tmp_path / "q", "pull")
    assert pulled.exit_code == 0, pulled.output
    assert "pulled   raw" in pulled.output


# -- 2. the pins file ---------------------------------------------------------------------------

@pytest.mark.parametrize("content, fragment", [
    ("pins = 3\n", "'pins' must be a table"),
    ('[pins]\nraw = "1"\n', "[pins] 'raw' must be a table with code_version"),
])
def test_malformed_pins_file(tmp_path, content, fragment):
    project(tmp_path)
    pins = write(tmp_path, "datamake.pins.toml", content)
    assert_user_error(run(tmp_path, "status"), str(pins), fragment)


def test_pins_file_that_is_not_utf8(tmp_path):
    project(tmp_path)
    pins = tmp_path / "datamake.pins.toml"
    pins.write_bytes(b'[pins]\nraw = { code_version = "caf\xe9" }\n')
    assert_user_error(run(tmp_path, "status"), str(pins), "not UTF-8")


def test_pin_rewrites_non_bmp_text_so_that_it_reads_back(tmp_path):
    project(tmp_path, pipeline=PIPELINE + '\n@asset\ndef other(raw):\n    return len(raw)\n')
    pins = write(tmp_path, "datamake.pins.toml", '[pins]\nraw = { code_version = "v2 \U0001d518 \u2713", source = "s" }\n')
    done = run(tmp_path, "pin", "other")
    assert done.exit_code == 0, done.output
    assert "\U0001d518" in pins.read_text(encoding="utf-8")
    listed = run(tmp_path, "ls", "--json")
    assert listed.exit_code == 0, listed.output
    import json

    versions = {row["key"]: row["code_version"] for row in json.loads(listed.output)["assets"]}
    assert versions["raw"].startswith("v2 \U0001d518 \u2713")
    assert run(tmp_path, "unpin", "other").exit_code == 0
    assert "\U0001d518" in pins.read_text(encoding="utf-8")


# -- 3. asset config ----------------------------------------------------------------------------

TYPED_CONFIG = """\
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple
from datamake import asset

@dataclass
class Window:
    days: int = 7

@dataclass
class Cfg:
    n: int = 1
    tags: List[str] = field(default_factory=list)
    limits: Dict[str, int] = field(default_factory=dict)
    window: Window = field(default_factory=Window)
    cap: Optional[float] = None
    pair: Tuple[int, int] = (0, 0)

@asset(config=Cfg)
def clean(config):
    return [config.n, config.tags, config.limits, config.cap, config.pair]
"""


@pytest.mark.parametrize("toml, field, expected, value", [
    ("n = true", "'n'", "expected int", "True"),
    ('tags = ["a", 2]', "'tags[1]'", "expected str", "2"),
    ('limits = { eu = "many" }', "'limits['eu']'", "expected int", "'many'"),
    ('window = { days = "7" }', "'window.days'", "expected int", "'7'"),
    ('window = 7', "'window'", "expected Window", "7"),
    ('cap = "lots"', "'cap'", "expected Optional[float]", "'lots'"),
])
def test_asset_config_of_the_wrong_type(tmp_path, toml, field, expected, value):
    project(tmp_path, f"[config.clean]\n{toml}\n", pipeline=TYPED_CONFIG)
    assert_user_error(run(tmp_path, "status"), "asset 'clean'", f"field {field}", expected, value,
                      "[config.clean]")


def test_asset_config_of_the_right_types_builds(tmp_path):
    project(tmp_path, '[config.clean]\nn = 2\ntags = ["a"]\nlimits = { eu = 3 }\ncap = 1.5\npair = [1, 2]\n',
            pipeline=TYPED_CONFIG)
    made = run(tmp_path, "make")
    assert made.exit_code == 0, made.output
    shown = run(tmp_path, "show", "clean")
    assert shown.exit_code == 0, shown.output
    assert "[2, ['a'], {'eu': 3}, 1.5, (1, 2)]" in shown.output, shown.output


def test_wrong_element_type_on_the_command_line(tmp_path):
    project(tmp_path, pipeline=TYPED_CONFIG)
    assert_user_error(run(tmp_path, "status", "--config", 'clean.tags=["a", 2]'), "asset 'clean'", "field 'tags[1]'",
                      "expected str", "2")


# -- 4. definitions -----------------------------------------------------------------------------

def _pipeline(body: str) -> str:
    return "from datamake import asset, source\n\n@asset\ndef orders():\n    return [1, 2, 3]\n\n" + textwrap.dedent(body)


def test_deps_given_as_one_string_is_that_key(tmp_path):
    project(tmp_path, pipeline=_pipeline("""
        @asset(deps="orders")
        def audit():
            return "checked"
    """))
    made = run(tmp_path, "ls", "--json")
    assert made.exit_code == 0, made.output
    import json

    rows = {r["key"]: r for r in json.loads(made.output)["assets"]}
    assert rows["audit"]["deps"] == ["orders"]
    assert "o" not in rows  # not the letters of "orders"


@pytest.mark.parametrize("body, fragments", [
    ("""
        @asset(ins={"order": "orders"})
        def total(orders_table):
            return sum(orders_table)
     """, ["asset 'total'", "ins=", "'order'", "does not have"]),
    ("""
        @asset
        async def fetch():
            return 1
     """, ["asset 'fetch'", "async", "asyncio.run"]),
    ("""
        from dataclasses import dataclass

        @dataclass
        class Cfg:
            n: int = 1

        @asset(config=Cfg)
        def scaled(orders):
            return orders
     """, ["asset 'scaled'", "config=", "no parameter named 'config'", "def scaled(orders, config)"]),
    ("""
        @asset
        class Report:
            pass
     """, ["@asset", "class Report", "function"]),
    ("""
        @asset(deps=[42])
        def odd():
            return 1
     """, ["asset 'odd'", "deps=", "42"]),
])
def test_definition_errors_name_the_asset_and_the_argument(tmp_path, body, fragments):
    project(tmp_path, pipeline=_pipeline(body))
    assert_user_error(run(tmp_path, "status"), *fragments)


def test_key_prefix_as_a_list_of_segments(tmp_path):
    project(tmp_path, pipeline=_pipeline("""
        @asset(key_prefix=["s3", "core"])
        def events(orders):
            return len(orders)
    """))
    made = run(tmp_path, "make", "s3/core/events")
    assert made.exit_code == 0, made.output
    shown = run(tmp_path, "show", "s3/core/events")
    assert shown.exit_code == 0 and "3" in shown.output, shown.output


def test_a_source_in_deps_is_its_key(tmp_path):
    write(tmp_path, "data/orders.csv", "id\n1\n")
    project(tmp_path, pipeline=_pipeline("""
        raw_csv = source("data/orders.csv", name="orders_csv")

        @asset(deps=[raw_csv])
        def audit():
            return "checked"
    """))
    made = run(tmp_path, "make", "audit")
    assert made.exit_code == 0, made.output
    write(tmp_path, "data/orders.csv", "id\n1\n2\n")
    status = run(tmp_path, "status", "audit", "--json")
    import json

    reasons = {a["key"]: [r["code"] for r in a["reasons"]] for a in json.loads(status.output)["assets"]}
    assert reasons["audit"] == ["source_changed"], status.output


def test_the_documented_source_example_works(tmp_path):
    """docs/versioning.md: ``orders_csv = source("data/orders.csv")`` then ``def raw_orders(orders_csv)``."""
    write(tmp_path, "data/orders.csv", "id\n1\n2\n")
    project(tmp_path, pipeline="""\
        from datamake import asset, source

        orders_csv = source("data/orders.csv")

        @asset
        def raw_orders(orders_csv):
            with open(orders_csv) as f:
                return f.read().splitlines()

        @asset
        def count(orders):          # the key (the file's stem) still works as a parameter name
            with open(orders) as f:
                return len(f.read().splitlines()) * 10
    """)
    made = run(tmp_path, "make")
    assert made.exit_code == 0, made.output
    shown = run(tmp_path, "show", "raw_orders")
    assert "['id', '1', '2']" in shown.output, shown.output
    assert "30" in run(tmp_path, "show", "count").output


# -- 5, 6. partitions on the command line -------------------------------------------------------

PARTITIONED = """\
from datamake import DailyPartitions, HourlyPartitions, asset

@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-21"), io_manager="json")
def p(context):
    return context.partition_key

@asset(partitions=HourlyPartitions(start="2024-01-01", end="2024-01-03"), io_manager="json")
def h(context):
    return context.partition_key
"""


def test_log_of_one_partition(tmp_path):
    project(tmp_path, pipeline=PARTITIONED)
    assert run(tmp_path, "make", "p", "-p", "2024-01-01...2024-01-02").exit_code == 0
    logged = run(tmp_path, "log", "p", "-p", "2024-01-01")
    assert logged.exit_code == 0, logged.output
    assert "built" in logged.output and "[2024-01-01]" in logged.output
    assert "2024-01-02" not in logged.output
    import json

    data = json.loads(run(tmp_path, "log", "p", "-p", "2024-01-02", "--json").output)
    assert [(m["kind"], m["partition"]) for m in data["materializations"]] == [("built", "2024-01-02")]
    assert run(tmp_path, "log", "p", "-p", "2024-01-09").output.strip().endswith("no materializations recorded")


@pytest.mark.parametrize("spec, bad", [
    ("2024-01-05...2024-1-9", "end '2024-1-9'"),
    ("2024-1-5...2024-01-09", "start '2024-1-5'"),
    ("2024-01-05...2024-01-32", "end '2024-01-32'"),
    ("2024-01-05...tomorrow", "end 'tomorrow'"),
])
def test_malformed_range_end_is_rejected(tmp_path, spec, bad):
    project(tmp_path, pipeline=PARTITIONED)
    text = assert_user_error(run(tmp_path, "make", "p", "-p", spec), spec, bad, "YYYY-MM-DD")
    assert "built" not in text
    assert not list((tmp_path / ".datamake").rglob("manifests/p/*/*.json"))


def test_only_malformed_ranges_are_rejected(tmp_path):
    project(tmp_path, pipeline=PARTITIONED)
    import json

    assert_user_error(run(tmp_path, "status", "h", "-p", "2024-01-02...2024-01-02-9"), "end '2024-01-02-9'",
                      "YYYY-MM-DD-HH:MM")

    def selected(*args):
        out = run(tmp_path, "status", "--json", *args)
        assert out.exit_code == 0, out.output
        return [a["partition"] for a in json.loads(out.output)["assets"] if a["partition"]]

    assert selected("p", "-p", "2024-01-05...2024-01-09") == [f"2024-01-0{d}" for d in range(5, 10)]
    assert selected("p", "-p", "2024-01-19...") == ["2024-01-19", "2024-01-20"]
    assert len(selected("h", "-p", "2024-01-02...2024-01-02")) == 24
    assert selected("h", "-p", "2024-01-02-22:00...2024-01-02-23") == ["2024-01-02-22:00", "2024-01-02-23:00"]


def test_gc_and_log_prune_read_ages_with_one_grammar(tmp_path):
    import json

    project(tmp_path)
    assert run(tmp_path, "make").exit_code == 0
    gc = run(tmp_path, "gc", "--older-than", "2w", "--json")
    assert gc.exit_code == 0, gc.output
    assert json.loads(gc.output)["retention_seconds"] == 14 * 86400
    pruned = run(tmp_path, "log", "--prune", "1.5h", "--json")
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.output)["pruned_runs"] == 0  # the run is younger than an hour and a half
    for args in (("gc", "--older-than", "30"), ("log", "--prune", "30")):  # seconds or days? refused, not guessed
        assert_user_error(run(tmp_path, *args), "'30'", "a number and a unit s, m, h, d or w (45s, 90m, 12h, 30d, 2w)")
    for command in ("gc", "log"):  # and both say so in their help
        assert "45s, 90m, 12h, 30d, 2w" in " ".join(run(tmp_path, command, "--help").output.split())


def test_an_unknown_executor_gets_the_same_answer_from_the_file_and_the_api(tmp_path):
    import datamake.api as dm
    from datamake.core.errors import ConfigError

    project(tmp_path, '[execution]\nexecutor = "proces"\n')
    assert_user_error(run(tmp_path, "status"), "[execution] executor = 'proces' is not one of", "did you mean 'process'?")
    project(tmp_path)
    with pytest.raises(ConfigError, match="executor = 'threads' is not one of inprocess, thread, process, dask") as err:
        dm.make(dm.load(str(tmp_path)), executor="threads")
    assert err.value.hint == "did you mean 'thread'?"
