"""Never stale, never a lie: the version covers what the function receives, and the planner alone
decides what `status`, `make -n` and `make` do. Each test drives a real project through the CLI."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process; hash-seed tests start their own


def decisions(project, *args):
    return {(a["key"], a["partition"]): a for a in project.json("status", *args)["assets"]}


def reasons(project, key, partition=None):
    return [r["code"] for r in decisions(project)[(key, partition)]["reasons"]]


def messages(project, key, partition=None):
    return " | ".join(r["message"] for r in decisions(project)[(key, partition)]["reasons"])


# -- 1. decorator and source arguments ---------------------------------------------------------

INS = """
from datamake import asset

@asset
def left():
    return "L"

@asset
def right():
    return "R"

@asset(ins={{"first": "{first}", "second": "{second}"}})
def joined(first, second):
    return first + second
"""


def test_swapping_ins_between_two_keys_makes_the_asset_stale(project):
    project.pipeline(INS.format(first="left", second="right"))
    project.run("make", check=True)
    project.pipeline(INS.format(first="right", second="left"))  # same dependencies, other values per parameter
    assert reasons(project, "joined") == ["code_changed"]
    assert "ins changed" in messages(project, "joined")
    assert project.outcomes()["joined"] == "built"
    assert project.run("show", "joined", check=True).stdout.strip() == "RL"


IO = """
from datamake import asset

@asset(io_manager="{manager}")
def numbers():
    return [1, 2, 3]

@asset
def described(numbers):
    return repr(numbers)
"""


def test_changing_io_manager_makes_the_asset_and_its_consumers_rebuild(project):
    project.pipeline(IO.format(manager="json"))
    project.run("make", check=True)
    project.pipeline(IO.format(manager="pickle"))
    assert reasons(project, "numbers") == ["code_changed"]
    assert "io_manager changed" in messages(project, "numbers")
    assert reasons(project, "described") == ["upstream_stale"]
    assert "io_manager" in project.run("why", "numbers", check=True).stdout
    outcomes = project.outcomes()
    assert outcomes["numbers"] == "built"
    assert project.states() == {"numbers": "fresh", "described": "fresh"}


def test_a_pinned_code_version_does_not_pin_the_decorator_arguments(project):
    project.pipeline(IO.format(manager="json").replace('@asset(io_manager=', '@asset(code_version="1", io_manager='))
    project.run("make", check=True)
    project.pipeline(IO.format(manager="pickle").replace('@asset(io_manager=', '@asset(code_version="1", io_manager='))
    assert reasons(project, "numbers") == ["code_changed"]
    text = messages(project, "numbers")
    assert "io_manager changed" in text and "pinned" in text
    assert project.outcomes()["numbers"] == "built"
    assert project.states()["numbers"] == "fresh"


PARTITIONED = """
from datamake import asset
from datamake.core.partitions import DailyPartitions

days = DailyPartitions(start="2024-01-01", end="2024-01-04", timezone="{tz}")

@asset(partitions=days)
def window(context):
    start, end = context.partition_time_window
    return start.isoformat()
"""


def test_changing_the_partitions_timezone_makes_every_partition_stale(project):
    project.pipeline(PARTITIONED.format(tz="UTC"))
    project.run("make", check=True)
    assert set(project.states().values()) == {"fresh"}
    project.pipeline(PARTITIONED.format(tz="Europe/Berlin"))  # same keys, other windows
    found = decisions(project)
    assert len(found) == 3
    for (key, pk), d in found.items():
        assert [r["code"] for r in d["reasons"]] == ["code_changed"], (pk, d)
        assert "partitions changed" in d["reasons"][0]["message"]
    assert set(project.outcomes().values()) == {"built"}
    assert project.run("show", "window", "-p", "2024-01-02", check=True).stdout.strip() == "2024-01-02T00:00:00+01:00"


def test_adding_a_static_partition_key_leaves_the_others_as_they_are(project):
    """The list says which partitions exist, not what one receives: only the new key is stale."""
    source = """
        from datamake import asset
        from datamake.core.partitions import StaticPartitions

        @asset(partitions=StaticPartitions({keys}))
        def region(context):
            return context.partition_key
    """
    project.pipeline(source.format(keys='["eu", "us"]'))
    project.run("make", check=True)
    project.pipeline(source.format(keys='["eu", "us", "asia"]'))
    found = decisions(project)
    assert found[("region", "eu")]["state"] == "fresh"
    assert [r["code"] for r in found[("region", "asia")]["reasons"]] == ["never_materialized"]


MAPPED = """
import datetime
from datamake import asset
from datamake.core.partitions import DailyPartitions

days = DailyPartitions(start="2024-01-01", end="2024-01-05")

def two_days(key):
    day = datetime.date.fromisoformat(key)
    return {order}

@asset(partitions=days)
def daily(context):
    return context.partition_key

@asset(partitions=days, partition_mapping={{"daily": two_days}})
def rolling(daily):
    return list(daily)
"""


def test_editing_a_function_partition_mapping_is_versioned(project):
    project.pipeline(MAPPED.format(order="[str(day - datetime.timedelta(days=1)), key]"))
    project.run("make", check=True)
    # The same upstream partitions, in the other order: the dependency set is equal, the value is not.
    project.pipeline(MAPPED.format(order="[key, str(day - datetime.timedelta(days=1))]"))
    found = decisions(project)
    assert [r["code"] for r in found[("rolling", "2024-01-03")]["reasons"]] == ["code_changed"]
    assert "partition_mapping daily changed" in found[("rolling", "2024-01-03")]["reasons"][0]["message"]
    assert found[("daily", "2024-01-03")]["state"] == "fresh"
    project.outcomes()
    assert project.run("show", "rolling", "-p", "2024-01-03", check=True).stdout.strip() == \
        "['2024-01-03', '2024-01-02']"


LOADER = """
import functools
from datamake import asset, source

def shout(text):
    return text.{case}()

def read_words(path, sep):
    with open(path) as f:
        return [shout(w) for w in f.read().split(sep)]

words = source("data/words.txt", name="words", load=functools.partial(read_words, sep="{sep}"))

@asset
def counted(words):
    return len(words), words
"""


def test_a_source_loader_and_its_arguments_are_versioned_for_its_consumers(project):
    project.write("data/words.txt", "a,b c")
    project.pipeline(LOADER.format(case="upper", sep=","))
    project.run("make", check=True)
    assert project.states() == {"counted": "fresh"}
    project.pipeline(LOADER.format(case="lower", sep=","))  # a helper of the loader changed
    assert reasons(project, "counted") == ["code_changed"]
    assert "load words changed" in messages(project, "counted")
    project.run("make", check=True)
    project.pipeline(LOADER.format(case="lower", sep=" "))  # an argument bound to the loader changed
    assert reasons(project, "counted") == ["code_changed"]
    project.run("make", check=True)
    assert "['a,b', 'c']" in project.run("show", "counted", check=True).stdout


# -- 2. methods of the config class --------------------------------------------------------------

CONFIGURED = """
from dataclasses import dataclass
from datamake import asset

@dataclass
class Settings:
    base: int = 2

    def threshold(self):
        return self.base * {factor}

@asset(config=Settings)
def limit(config):
    return config.threshold()
"""


def test_editing_a_method_of_the_config_class_makes_the_asset_stale(project):
    project.pipeline(CONFIGURED.format(factor=10))
    project.run("make", check=True)
    project.pipeline(CONFIGURED.format(factor=100))
    assert reasons(project, "limit") == ["code_changed"]
    assert "Settings" in messages(project, "limit")
    project.run("make", check=True)
    assert project.run("show", "limit", check=True).stdout.strip() == "200"


# -- 3 and 4. checks: helpers followed; status, make -n and make agree ---------------------------

CHECKED = """
from datamake import asset, asset_check

def minimum():
    return {minimum}

@asset
def orders():
    return [1, 2, 3]

@asset
def report(orders):
    return f"{{len(orders)}} orders"

@asset
def other():
    return "independent"

@asset_check(asset=orders, blocking=True)
def enough_rows(orders):
    return len(orders) >= minimum()
"""


def test_a_failed_blocking_check_is_stale_to_status_and_make_n_as_make_fails_it(project):
    project.pipeline(CHECKED.format(minimum=5))
    first = {a["key"]: a["outcome"] for a in project.json("make", "-k", expect=1)["assets"]}
    assert first == {"orders": "failed", "report": "blocked", "other": "built"}
    status = project.json("status")
    dry = project.json("make", "-n")
    assert status == dry
    found = {a["key"]: a for a in status["assets"]}
    assert [r["code"] for r in found["orders"]["reasons"]] == ["check_failed"]
    assert "enough_rows" in found["orders"]["reasons"][0]["message"]
    assert [r["code"] for r in found["report"]["reasons"]] == ["never_materialized", "upstream_stale"]
    assert "orders failed a blocking check" in found["report"]["reasons"][1]["message"]
    assert found["other"]["state"] == "fresh"
    again = project.outcomes("-k", expect=1)
    assert again == {"orders": "failed", "report": "blocked", "other": "skipped"}
    text = project.run("status")
    assert "check_failed" in text.stdout


def test_editing_a_check_helper_reruns_the_check_without_rebuilding(project):
    project.pipeline(CHECKED.format(minimum=5))
    project.outcomes("-k", expect=1)
    project.pipeline(CHECKED.format(minimum=1))  # only the helper the check calls changed
    found = decisions(project)
    assert [r["code"] for r in found[("orders", None)]["reasons"]] == ["checks_changed"]
    assert "edited enough_rows" in found[("orders", None)]["reasons"][0]["message"]
    assert "upstream_stale" in [r["code"] for r in found[("report", None)]["reasons"]]
    proc = project.run("make", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "check    orders:enough_rows passed" in proc.stderr
    assert "skipped  orders" in proc.stdout  # re-checked, not rebuilt
    assert project.states() == {"orders": "fresh", "report": "fresh", "other": "fresh"}
    assert "enough_rows" not in project.run("make", check=True).stderr  # nothing changed: not re-run


def test_a_non_blocking_check_edit_does_not_hold_up_dependents(project):
    project.pipeline(CHECKED.format(minimum=1).replace("blocking=True", "blocking=False"))
    project.run("make", check=True)
    project.pipeline(CHECKED.format(minimum=2).replace("blocking=True", "blocking=False"))
    found = decisions(project)
    assert [r["code"] for r in found[("orders", None)]["reasons"]] == ["checks_changed"]
    assert found[("report", None)]["state"] == "fresh"
    assert project.outcomes() == {"orders": "skipped", "report": "skipped", "other": "skipped"}


# -- 5. track_packages as a string ---------------------------------------------------------------

def test_track_packages_accepts_one_name_as_a_string(project):
    source = """
        from datamake import asset

        @asset(track_packages={packages})
        def tracked():
            return 1
    """
    project.pipeline(source.format(packages='"pyarrow"'))
    as_string = project.json("ls")["assets"][0]["code_version"]
    project.pipeline(source.format(packages='["pyarrow"]'))
    assert project.json("ls")["assets"][0]["code_version"] == as_string


# -- 6. canonical config hashing -----------------------------------------------------------------

def test_a_set_valued_config_hashes_the_same_in_every_process(project):
    project.pipeline("""
        import datetime
        import enum
        from dataclasses import dataclass, field
        from datamake import asset

        class Mode(enum.Enum):
            FAST = "fast"

        @dataclass
        class Options:
            tags: frozenset = frozenset({"alpha", "beta", "gamma", "delta", "epsilon", "zeta"})
            names: set = field(default_factory=lambda: {"north", "south", "east", "west"})
            mode: Mode = Mode.FAST
            since: datetime.date = datetime.date(2024, 1, 1)

        @asset(config=Options)
        def tagged(config):
            return sorted(config.tags)
    """)
    project.run_process("make", check=True, env={"PYTHONHASHSEED": "1"})
    for seed in ("2", "3", "4", "5", "6", "7"):
        proc = project.run_process("status", "--json", env={"PYTHONHASHSEED": seed})
        assert json.loads(proc.stdout)["assets"][0]["state"] == "fresh", (seed, proc.stdout)


# -- 7. pin after a refactor, partitioned --------------------------------------------------------

PINNED = """
from datamake import asset
from datamake.core.partitions import StaticPartitions

@asset(partitions=StaticPartitions(["eu", "us", "asia"]))
def sales(context):
    {body}
"""


def test_pin_after_a_refactor_covers_every_partition(project):
    project.pipeline(PINNED.format(body="return context.partition_key.upper()"))
    project.run("make", check=True)
    project.pipeline(PINNED.format(body="key = context.partition_key\n    return key.upper()"))
    assert set(project.states().values()) == {"stale"}
    proc = project.run("pin", "sales", check=True)
    assert "pinned   sales" in proc.stdout
    assert set(project.states().values()) == {"fresh"}
    assert set(project.outcomes().values()) == {"skipped"}


def test_pin_when_partitions_disagree_takes_the_most_common_version_and_says_so(project):
    project.pipeline(PINNED.format(body="return context.partition_key.upper()"))
    project.run("make", check=True)
    project.pipeline(PINNED.format(body="return context.partition_key.lower()"))
    project.run("make", "-p", "eu", check=True)  # eu now holds the new version; us and asia the old one
    proc = project.run("pin", "sales", check=True)
    assert "different code versions" in proc.stderr and "2 with" in proc.stderr
    states = {pk: d["state"] for (key, pk), d in decisions(project).items()}
    assert states == {"eu": "stale", "us": "fresh", "asia": "fresh"}


# -- 8. code-version warnings --------------------------------------------------------------------

def _codeversion_warns() -> bool:
    from datamake.define.codeversion import CodeFingerprint

    return "warnings" in getattr(CodeFingerprint, "__dataclass_fields__", {})


@pytest.mark.skipif(not _codeversion_warns(), reason="this codeversion reports no warnings")
def test_code_version_warnings_are_shown_once_by_status_make_and_why(project):
    project.pipeline("""
        import sqlite3

        from datamake import asset

        REGISTRY = sqlite3.connect(":memory:")  # a connection has no content datamake can version

        @asset
        def uses_global():
            return REGISTRY.execute("select 1").fetchone()[0]
    """)
    data = project.json("status")
    assert [a["key"] for a in data["assets"]] == ["uses_global"]
    assert any("uses_global" in w and "REGISTRY" in w for w in data["warnings"])
    proc = project.run("status")
    lines = [line for line in proc.stderr.splitlines() if "REGISTRY" in line]
    assert len(lines) == 1 and "warning: asset uses_global" in lines[0]
    made = project.run("make", check=True)
    assert len([line for line in made.stderr.splitlines() if "REGISTRY" in line]) == 1
    assert "REGISTRY" in project.run("why", "uses_global", check=True).stdout


def test_a_pin_taken_after_a_refactor_still_lets_a_decorator_change_through(project):
    project.pipeline(IO.format(manager="json"))
    project.run("make", check=True)
    project.pipeline(IO.format(manager="json").replace("return [1, 2, 3]", "values = [1, 2, 3]\n    return values"))
    project.run("pin", "numbers", check=True)
    assert project.states() == {"numbers": "fresh", "described": "fresh"}  # the refactor is declared cosmetic
    project.pipeline(IO.format(manager="pickle").replace("return [1, 2, 3]", "values = [1, 2, 3]\n    return values"))
    assert reasons(project, "numbers") == ["code_changed"]
    assert "io_manager changed" in messages(project, "numbers")
    assert "its io_manager argument" in project.run("why", "numbers", check=True).stdout
