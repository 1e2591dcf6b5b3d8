"""Never stale, never a lie: execution and storage never pair a value with the wrong version, never lose data.

Each test drives the real ``datamake`` command on a throwaway project and
checks what a user would see: ``status``, ``make --json``, the stored values.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from datamake.storage.store import Store


def stored_value(project, key: str):
    store = Store(str(project.root / ".datamake"))
    manifest = store.read_manifests([key])[key]
    assert manifest is not None, f"{key} has no manifest"
    return store.load(manifest)


def artifact_path(project, key: str) -> Path:
    store = Store(str(project.root / ".datamake"))
    manifest = store.read_manifests([key])[key]
    return Path(store.artifact_path(manifest.artifact))


def stored_bytes(project, key: str) -> bytes:
    store = Store(str(project.root / ".datamake"))
    return store.read_artifact(store.read_manifests([key])[key])


def reasons(project, key: str) -> list:
    assets = project.json("status")["assets"]
    return [r["code"] for a in assets if a["key"] == key for r in a["reasons"]]


def states_and_reasons(project) -> tuple:
    """``({key: state}, {key: [reason codes]})`` of one ``status`` (what ``states()`` and ``reasons()``
    say, from one process instead of two)."""
    assets = project.json("status")["assets"]
    return {a["key"]: a["state"] for a in assets}, {a["key"]: [r["code"] for r in a["reasons"]] for a in assets}


# -- 1. a source that changes while its consumer runs -------------------------
SOURCE_REWRITTEN = '''
import os
from datamake import asset, source

HERE = os.path.dirname(os.path.abspath(__file__))
data = source("data/in.txt", name="data")


@asset
def consumer(data):
    flag = os.path.join(HERE, "rewrite-once")
    if os.path.exists(flag):  # this run: the source changes under the asset's feet
        os.remove(flag)
        with open(data, "w") as f:
            f.write("B: written while consumer ran")
    with open(data) as f:
        return f.read()
'''


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_a_source_changing_while_its_consumer_runs_is_not_recorded_as_its_old_version(project, executor):
    project.pipeline(SOURCE_REWRITTEN, f'[execution]\nexecutor = "{executor}"\njobs = 1\n')
    project.write("data/in.txt", "C")
    assert project.outcomes() == {"consumer": "built"}

    project.write("data/in.txt", "A")
    project.write("rewrite-once", "")
    run = project.json("make", expect=1)
    [outcome] = run["assets"]
    assert outcome["outcome"] == "failed"
    assert "source data changed while consumer was running; run make again" in outcome["error"]
    assert stored_value(project, "consumer") == "C"  # the previous value stays

    # Back to the version observed when the run started: the value computed from B must not pass for it.
    project.write("data/in.txt", "A")
    assert project.states() == {"consumer": "stale"}
    assert project.outcomes() == {"consumer": "built"}  # not restored from the action cache
    assert stored_value(project, "consumer") == "A"
    assert project.states() == {"consumer": "fresh"}


# -- 2. in-process consumers receive what the stored artifact gives -----------
SHARED_VALUES = '''
import pyarrow as pa
from datamake import asset


@asset(io_manager="json")
def pair():
    return (1, 2)


@asset
def pair_type(pair):
    return type(pair).__name__


@asset
def nested():
    return ([1],)


@asset
def mutator(nested):
    nested[0].append(99)
    return len(nested[0])


@asset(deps=["mutator"])
def reader(nested):
    return repr(nested)


@asset
def chunked():
    t = pa.table({"x": pa.array([1, 2], pa.int64())})
    return pa.concat_tables([t, t])


@asset
def chunks_seen(chunked):
    return chunked.column("x").num_chunks
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread"])
def test_consumers_receive_the_stored_value_not_the_producers_object(project, executor):
    project.pipeline(SHARED_VALUES, f'[execution]\nexecutor = "{executor}"\njobs = {1 if executor == "inprocess" else 2}\n')
    outcomes = project.outcomes()
    assert set(outcomes.values()) == {"built"}
    # A tuple stored as JSON reads back as a list: in-process consumers get what a later run would get.
    assert stored_value(project, "pair_type") == type(stored_value(project, "pair")).__name__ == "list"
    # One consumer mutating its input changes nothing for the next one.
    assert stored_value(project, "mutator") == 2
    assert stored_value(project, "reader") == "([1],)"
    assert stored_value(project, "nested") == ([1],)
    # An Arrow table arrives as reading it back gives it.
    assert stored_value(project, "chunks_seen") == stored_value(project, "chunked").column("x").num_chunks
    assert set(project.states().values()) == {"fresh"}


# -- 3. a same-size corruption of an artifact ---------------------------------
CORRUPTIBLE = '''
from datamake import asset


@asset(io_manager="text")
def greeting():
    return "hello world"


@asset
def shout(greeting):
    return greeting.upper()
'''


def test_a_same_size_corruption_is_artifact_missing_and_rebuilt(project, monkeypatch):
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # values in files, tampered with below
    project.pipeline(CORRUPTIBLE)
    project.outcomes()
    assert project.states() == {"greeting": "fresh", "shout": "fresh"}
    path = artifact_path(project, "greeting")
    assert path.read_bytes() == b"hello world"
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # same size, other bytes
        f.write(b"HELLO")
    assert path.stat().st_size == len(b"hello world")

    assert "artifact_missing" in reasons(project, "greeting")
    outcomes = project.outcomes()
    assert outcomes["greeting"] == "built"
    assert path.read_bytes() == b"hello world"
    assert stored_value(project, "shout") == "HELLO WORLD"
    assert project.states() == {"greeting": "fresh", "shout": "fresh"}


def test_a_corrupt_artifact_is_not_restored_from_the_action_cache(project, monkeypatch):
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # values in files, tampered with below
    project.pipeline(CORRUPTIBLE)
    project.outcomes()
    path = artifact_path(project, "greeting")
    project.pipeline(CORRUPTIBLE.replace('"hello world"', '"hello there"'))
    assert project.outcomes()["greeting"] == "built"
    with open(path, "r+b") as f:  # the old value's artifact, still referenced by the action cache
        f.write(b"J")
    project.pipeline(CORRUPTIBLE)  # back to the first version: its action cache entry matches
    assert project.outcomes()["greeting"] == "built"  # not `cached` with bytes that are not its value
    assert stored_value(project, "greeting") == "hello world"


# -- 4. file consumers never write into the store ------------------------------
FILE_ASSETS = '''
from datamake import asset


@asset
def blob(context):
    with open(context.output_path, "w") as f:
        f.write("original\\n")


@asset(io_manager="text")
def appender(blob):
    with open(blob, "a") as f:
        f.write("junk\\n")
    return blob


@asset(io_manager="text", deps=["appender"])
def reader(blob):
    with open(blob) as f:
        return f.read()
'''


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_a_file_consumer_writing_to_its_input_never_reaches_the_store(project, executor):
    project.pipeline(FILE_ASSETS, f'[execution]\nexecutor = "{executor}"\njobs = 1\n')
    run = project.run("make", "--json")
    assert run.returncode == 0, run.stderr
    assert {a["key"]: a["outcome"] for a in json.loads(run.stdout)["assets"]} == \
        {"blob": "built", "appender": "built", "reader": "built"}
    assert "artifact_missing" not in run.stderr  # blob was never damaged, so never rebuilt
    assert stored_bytes(project, "blob") == b"original\n"
    assert stored_value(project, "reader") == "original\n"
    handed_out = stored_value(project, "appender")
    assert not handed_out.startswith(str(project.root))  # not the store's own file
    assert not os.path.exists(handed_out)  # the copy is gone with the run
    assert project.states() == {"blob": "fresh", "appender": "fresh", "reader": "fresh"}


# -- 5. sets inside pickled values ----------------------------------------------
PICKLED_SET = '''
from datamake import asset


@asset
def tags():
    return {"tags": {f"tag-{i}" for i in range(40)}, "frozen": frozenset({"x", "y", "z", "w"}), "n": 1}
'''


def test_a_pickled_set_has_one_data_version_whatever_the_hash_seed(tmp_path):
    from tests.conftest import ProjectDir

    versions = []
    for seed in ("1", "2", "3"):
        p = ProjectDir(tmp_path / f"seed{seed}")
        p.root.mkdir()
        p.pipeline(PICKLED_SET)
        proc = p.run("make", "--json", env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        versions.append(json.loads(proc.stdout)["assets"][0]["data_version"])
    assert len(set(versions)) == 1, versions


# -- 6. glob sources without a star -------------------------------------------
GLOB_SOURCE = '''
from datamake import asset, source

parts = source("data/part?.csv", name="parts")


@asset
def count(parts):
    import glob
    return len(glob.glob(parts))
'''


@pytest.mark.parametrize("pattern", ["data/part?.csv", "data/part[0-9].csv"])
def test_renaming_a_file_of_a_glob_without_a_star_is_a_source_change(project, pattern):
    project.pipeline(GLOB_SOURCE.replace("data/part?.csv", pattern))
    project.write("data/part1.csv", "a\n1\n")
    project.outcomes()
    assert project.states() == {"count": "fresh"}
    os.rename(project.root / "data/part1.csv", project.root / "data/part2.csv")
    assert "source_changed" in reasons(project, "count")


# -- 7. reading a project file that is not a declared source ------------------
UNDECLARED = '''
from pathlib import Path
from datamake import asset, source

ORDERS = Path(__file__).parent / "data" / "orders.csv"
RATES = Path(__file__).parent / "data" / "rates.csv"
declared = source("data/prices.csv", name="declared")


@asset
def orders():
    return ORDERS.read_text().count("\\n")


@asset
def rates():
    import pyarrow.csv as pacsv  # opens the file in C++: no audit event, found through RATES

    return pacsv.read_csv(RATES).num_rows


EXPORT = Path(__file__).parent / "export.txt"


@asset
def export():
    EXPORT.write_text("a side effect of its own, not an input")
    return "ok"


@asset
def prices(declared):
    with open(declared) as f:
        return f.read().count("\\n")
'''


def test_reading_an_undeclared_project_file_is_named_in_a_warning(project):
    project.pipeline(UNDECLARED)
    project.write("data/orders.csv", "region,amount\neu,1\n")
    project.write("data/prices.csv", "p\n1\n")
    project.write("data/rates.csv", "r\n1\n")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'orders' read data/orders.csv" in proc.stderr
    assert 'editing it makes \'orders\' stale, but declare it with source("data/orders.csv")' in proc.stderr
    assert "asset 'rates' read data/rates.csv" in proc.stderr
    assert "asset 'prices'" not in proc.stderr  # its file is a declared source
    assert "pipeline.py" not in proc.stderr
    again = project.run("make", "-B", "export")  # export.txt exists now: written, so not reported as read
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr


READ_UNDECLARED = '''
from pathlib import Path
from datamake import asset

HERE = Path(__file__).parent
RATES = HERE / "data" / "rates.csv"


def query(name):
    with open(HERE / "queries" / f"{name}.sql") as f:
        return f.read()


@asset
def report():
    return query("report").strip().upper()


@asset
def rates():
    import pyarrow.csv as pacsv  # opens the file in C++: no audit event, found through RATES

    return pacsv.read_csv(RATES).num_rows


@asset
def unrelated():
    return 1
'''


def _read_undeclared_project(project):
    project.pipeline(READ_UNDECLARED)
    project.write("queries/report.sql", "select 1")
    project.write("data/rates.csv", "r\n1\n")
    assert project.outcomes() == {"report": "built", "rates": "built", "unrelated": "built"}
    assert project.states() == {"report": "fresh", "rates": "fresh", "unrelated": "fresh"}


def test_editing_a_file_an_asset_read_without_declaring_it_makes_that_asset_stale(project):
    _read_undeclared_project(project)
    project.write("queries/report.sql", "select 2")
    states, why = states_and_reasons(project)
    assert states == {"report": "stale", "rates": "fresh", "unrelated": "fresh"}
    assert why["report"] == ["source_changed"]
    assert project.outcomes() == {"report": "built", "rates": "skipped", "unrelated": "skipped"}
    assert stored_value(project, "report") == "SELECT 2"
    project.write("data/rates.csv", "r\n1\n2\n")  # read by pyarrow's C++ reader, named by a global
    assert project.states() == {"report": "fresh", "rates": "stale", "unrelated": "fresh"}
    assert project.outcomes() == {"report": "skipped", "rates": "built", "unrelated": "skipped"}
    assert stored_value(project, "rates") == 2
    (project.root / "queries" / "report.sql").unlink()
    assert project.states()["report"] == "stale"


def test_a_cached_value_built_from_other_bytes_of_an_undeclared_file_is_not_restored(project):
    """Same code, same inputs, so the same action-cache key: the value built from ``select 1`` must
    not come back for ``select 2``; once the file holds ``select 1`` again, that value is right."""
    _read_undeclared_project(project)
    project.write("queries/report.sql", "select 2")
    assert project.outcomes()["report"] == "built"
    assert stored_value(project, "report") == "SELECT 2"
    project.write("queries/report.sql", "select 1")
    assert project.outcomes()["report"] in ("built", "cached")
    assert stored_value(project, "report") == "SELECT 1"
    assert project.states()["report"] == "fresh"


def test_a_file_changed_while_its_reader_ran_leaves_the_reader_stale(project):
    project.pipeline('''
        import subprocess, sys
        from pathlib import Path
        from datamake import asset

        SETTINGS = Path(__file__).parent / "settings.txt"

        @asset
        def reader():
            text = SETTINGS.read_text()
            subprocess.run([sys.executable, "-c", f"open({str(SETTINGS)!r}, 'a').write(' and more')"], check=True)
            return text  # the file changed (another process) after it was read: not what the value holds
    ''')
    project.write("settings.txt", "v1")
    assert project.outcomes() == {"reader": "built"}
    assert project.states() == {"reader": "stale"}


def test_a_partitioned_asset_that_read_an_undeclared_file_is_stale_in_every_partition(project):
    project.pipeline('''
        from pathlib import Path
        from datamake import StaticPartitions, asset

        LOOKUP = Path(__file__).parent / "lookup.txt"

        @asset(partitions=StaticPartitions(["a", "b"]))
        def labelled(context):
            return context.partition_key + LOOKUP.read_text()
    ''')
    def states():
        return {a["partition"]: a["state"] for a in project.json("status")["assets"]}

    def outcomes():
        return {a["partition"]: a["outcome"] for a in project.json("make")["assets"]}

    project.write("lookup.txt", "-1")
    assert outcomes() == {"a": "built", "b": "built"}
    assert states() == {"a": "fresh", "b": "fresh"}
    project.write("lookup.txt", "-2")
    assert states() == {"a": "stale", "b": "stale"}
    assert outcomes() == {"a": "built", "b": "built"}
    assert stored_value(project, "labelled[a]") == "a-2"
    assert states() == {"a": "fresh", "b": "fresh"}


def test_a_source_rewritten_with_the_same_size_and_its_old_mtime_is_a_change(project):
    """``touch -d`` or ``rsync -t`` can give new bytes the old modification time; the change time moves."""
    project.pipeline('''
        from datamake import asset, source

        raw = source("data/in.txt", load="text")

        @asset
        def upper(raw):
            return raw.upper()
    ''')
    path = project.write("data/in.txt", "abc")
    old = 1_700_000_000 * 10**9
    os.utime(path, ns=(old, old))
    assert project.outcomes() == {"upper": "built"}
    assert project.states() == {"upper": "fresh"}
    path.write_text("xyz")
    os.utime(path, ns=(old, old))
    assert project.states() == {"upper": "stale"}
    assert project.outcomes() == {"upper": "built"}
    assert stored_value(project, "upper") == "XYZ"


def test_an_empty_source_folder_is_observed_and_a_new_file_in_it_is_a_change(project):
    project.pipeline('''
        from datamake import asset, source

        inbox = source("inbox")

        @asset(deps=[inbox])
        def count():
            import os
            return len(os.listdir("inbox"))
    ''')
    (project.root / "inbox").mkdir()
    assert project.outcomes() == {"count": "built"}
    assert project.states() == {"count": "fresh"}
    (project.root / "inbox" / "a.csv").write_text("x\n")
    assert project.states() == {"count": "stale"}


LISTS_FOLDERS = '''
import glob, os
from pathlib import Path
from datamake import asset

HERE = Path(__file__).parent


@asset
def by_glob():
    return sum(int(Path(p).read_text()) for p in sorted(glob.glob(str(HERE / "data" / "*.txt"))))


@asset
def by_listdir():
    return sorted(os.listdir("data"))


@asset
def by_pathlib():
    return sorted(p.name for p in (HERE / "data").iterdir())


@asset
def by_walk():
    return sorted(name for _, _, names in os.walk("nested") for name in names)


@asset
def unrelated():
    return 1
'''


def _listing_project(project):
    project.pipeline(LISTS_FOLDERS)
    project.write("data/a.txt", "1")
    project.write("data/b.txt", "2")
    project.write("nested/deep/x.txt", "x")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert ("warning: asset 'by_listdir' listed folder data/, which is not a declared source: the names in it are "
            "recorded, so adding or removing a file makes 'by_listdir' stale") in proc.stderr
    assert set(project.states().values()) == {"fresh"}


def test_a_file_added_to_a_folder_an_asset_listed_without_declaring_it_makes_that_asset_stale(project):
    """Reading every file of a folder (glob, os.listdir, pathlib, os.walk): a new file is a new input."""
    _listing_project(project)
    project.write("data/c.txt", "5")
    assert project.states() == {"by_glob": "stale", "by_listdir": "stale", "by_pathlib": "stale",
                                "by_walk": "fresh", "unrelated": "fresh"}
    status = {a["key"]: a for a in project.json("status")["assets"]}
    assert [r["message"] for r in status["by_listdir"]["reasons"]] == [
        "folder data/, which it listed without declaring it, gained or lost files since it was built"]
    assert project.outcomes()["by_glob"] == "built"
    assert stored_value(project, "by_glob") == 8
    assert stored_value(project, "by_listdir") == ["a.txt", "b.txt", "c.txt"]
    assert set(project.states().values()) == {"fresh"}
    project.write("nested/deep/y.txt", "y")  # a sub-folder os.walk went through
    assert project.states()["by_walk"] == "stale"
    assert project.outcomes()["by_walk"] == "built"
    (project.root / "data" / "a.txt").unlink()
    assert project.states() == {"by_glob": "stale", "by_listdir": "stale", "by_pathlib": "stale",
                                "by_walk": "fresh", "unrelated": "fresh"}


def test_listing_the_project_folder_or_a_folder_it_writes_to_settles(project):
    """An asset that lists the folder it writes its own files into: the listing it saw lacked the file it
    wrote, so one more build reads it; from then on it is fresh. Listing the project folder is stable."""
    project.pipeline('''
        import os
        from datamake import asset

        @asset
        def at_top():
            return sorted(n for n in os.listdir(".") if n.endswith(".txt"))

        @asset
        def keeps_a_log():
            os.makedirs("logs", exist_ok=True)
            seen = sorted(os.listdir("logs"))
            with open("logs/runs.txt", "a") as f:
                f.write("ran\\n")
            return seen
    ''')
    project.write("top.txt", "t")
    project.write("logs/.keep", "")
    assert project.outcomes() == {"at_top": "built", "keeps_a_log": "built"}
    assert project.outcomes() == {"at_top": "skipped", "keeps_a_log": "built"}  # it lists runs.txt now
    assert stored_value(project, "keeps_a_log") == [".keep", "runs.txt"]
    assert project.outcomes() == {"at_top": "skipped", "keeps_a_log": "skipped"}
    project.write("more.txt", "m")
    assert project.states()["at_top"] == "stale"


def test_the_folders_python_lists_to_import_a_module_are_not_listings_of_the_asset(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def doubled():
            from lib.helpers import double  # imported here first: Python lists lib/ to find it
            return double(2)
    ''')
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", "def double(x):\n    return 2 * x\n")
    proc = project.run("make")
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    project.write("lib/notes.txt", "not code")
    assert project.states() == {"doubled": "fresh"}


MEMOIZED_HELPER = '''
import functools, glob, json
from datamake import asset


@functools.lru_cache(maxsize=None)
def settings():
    with open("settings.json") as f:  # read once per process, by whichever asset calls it first
        return json.load(f)


_INPUTS = None


def inputs():
    global _INPUTS  # a cache of its own: kept in a module global
    if _INPUTS is None:
        _INPUTS = tuple(sorted(glob.glob("inbox/*.csv")))
    return _INPUTS


@asset
def first():
    return settings()["a"], len(inputs())


@asset
def second():
    return settings()["b"], inputs()


@asset
def unrelated():
    return 1
'''


def test_assets_sharing_a_memoized_helper_are_all_stale_when_the_file_it_read_changes(project):
    """The second asset gets the helper's cached value and opens nothing; it was built from the file
    all the same."""
    project.pipeline(MEMOIZED_HELPER)
    project.write("settings.json", '{"a": 1, "b": 2}')
    project.write("inbox/x.csv", "x")
    assert project.outcomes() == {"first": "built", "second": "built", "unrelated": "built"}
    assert project.states() == {"first": "fresh", "second": "fresh", "unrelated": "fresh"}
    project.write("settings.json", '{"a": 1, "b": 5}')
    assert project.states() == {"first": "stale", "second": "stale", "unrelated": "fresh"}
    assert project.outcomes() == {"first": "built", "second": "built", "unrelated": "skipped"}
    assert stored_value(project, "second") == (5, ("inbox/x.csv",))
    project.write("inbox/y.csv", "y")
    assert project.states() == {"first": "stale", "second": "stale", "unrelated": "fresh"}


def test_the_files_a_command_started_by_an_asset_names_are_inputs_and_the_ones_it_writes_are_not(project):
    """``subprocess.run([python, script, data])`` or a shell line: the script and the data file it is
    given are read by another process, which no audit hook sees; the command line names them."""
    project.pipeline('''
        import os, subprocess, sys
        from datamake import asset

        @asset
        def listed():
            out = subprocess.run([sys.executable, "count.py", "--in=data/a.txt"], capture_output=True,
                                 text=True, check=True)
            return out.stdout.strip()

        @asset
        def shell():
            subprocess.run(f"{sys.executable} count.py --in=data/b.txt > result.txt", shell=True, check=True)
            with open("result.txt") as f:
                return f.read().strip()
    ''')
    project.write("count.py", "import sys\nprint(open(sys.argv[1][5:]).read().strip())\n")
    project.write("data/a.txt", "1")
    project.write("data/b.txt", "2")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'listed' read count.py" in proc.stderr and "asset 'listed' read data/a.txt" in proc.stderr
    assert "result.txt" not in proc.stderr  # made by the command: its own, from the first build
    assert project.outcomes() == {"listed": "skipped", "shell": "skipped"}
    project.write("data/a.txt", "7")
    assert project.states() == {"listed": "stale", "shell": "fresh"}
    project.write("data/b.txt", "8")
    assert project.states() == {"listed": "stale", "shell": "stale"}
    assert project.outcomes() == {"listed": "built", "shell": "built"}
    assert (stored_value(project, "listed"), stored_value(project, "shell")) == ("7", "8")
    project.write("count.py", "import sys\nprint(open(sys.argv[1][5:]).read().strip() * 2)\n")  # the script
    assert project.states() == {"listed": "stale", "shell": "stale"}
    assert project.outcomes() == {"listed": "built", "shell": "built"}
    assert project.outcomes() == {"listed": "skipped", "shell": "skipped"}


def test_a_shell_line_that_cannot_be_split_still_has_its_files_found(project):
    """An unbalanced quote (the shell fails on it): the run goes on, and the words are still looked at."""
    project.pipeline('''
        import subprocess
        from datamake import asset

        @asset
        def broken_line():
            proc = subprocess.run("cat data/a.txt \'unbalanced", shell=True, capture_output=True, text=True)
            return proc.returncode != 0
    ''')
    project.write("data/a.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0 and "asset 'broken_line' read data/a.txt" in proc.stderr, proc.stderr
    project.write("data/a.txt", "2")
    assert project.states() == {"broken_line": "stale"}


def test_a_command_asset_is_not_warned_about_the_scripts_its_code_version_covers(project):
    project.pipeline('''
        from datamake import command_asset

        doubled = command_asset("python src/double.py data/in.txt out.txt", inputs=["data/in.txt"],
                                outputs=["out.txt"])
    ''')
    project.write("src/double.py", "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read() * 2)\n")
    project.write("data/in.txt", "ab")
    proc = project.run("make")
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    assert (project.root / "out.txt").read_text() == "abab"
    assert project.outcomes() == {"double": "skipped"}


def test_a_data_file_outside_the_project_counts_but_system_and_installed_files_do_not(project, tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared-data")
    (shared / "rates.csv").write_text("1")
    project.pipeline(f'''
        import importlib.metadata
        from datamake import asset

        @asset
        def rates():
            with open("/etc/passwd") as f:  # the system's
                f.read(1)
            importlib.metadata.version("click")  # reads an installed package's metadata
            with open({str(shared / "rates.csv")!r}) as f:
                return int(f.read())
    ''')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert f"asset 'rates' read {shared / 'rates.csv'}, which is not a declared source" in proc.stderr
    assert "/etc/passwd" not in proc.stderr and "METADATA" not in proc.stderr
    assert project.states() == {"rates": "fresh"}
    (shared / "rates.csv").write_text("2")
    assert project.states() == {"rates": "stale"}
    assert project.outcomes() == {"rates": "built"}
    assert stored_value(project, "rates") == 2


def test_datamake_s_own_cache_folder_is_never_an_input_wherever_it_is(project, tmp_path_factory):
    cache = tmp_path_factory.mktemp("machine-cache")  # outside the home folder, as DATAMAKE_CACHE_DIR may put it
    project.pipeline('''
        import os
        from datamake import asset

        @asset
        def peek():
            with open(os.path.join(os.environ["DATAMAKE_CACHE_DIR"], "code-seed.json")) as f:
                return len(f.read()) > 0
    ''')
    env = {"DATAMAKE_CACHE_DIR": str(cache)}
    project.run("make", check=True, env=env)  # writes the seed
    proc = project.run("make", check=True, env=env)
    assert "not a declared source" not in proc.stderr, proc.stderr
    (cache / "code-seed.json").write_text("{}")  # any later command may rewrite it
    assert project.run("status", "--json", check=True, env=env).stdout.count('"fresh"') == 1


C_READERS = '''
from pathlib import Path
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from datamake import asset

HERE = Path(__file__).parent  # the project folder: named by every path below, never recorded whole
TABLE = HERE / "data" / "t.parquet"
FOLDER = HERE / "parts"


def load():
    return pq.read_table(TABLE)  # a helper's global: opened in C++, no audit event


@asset
def by_helper():
    return load().column("a").to_pylist()


@asset
def by_literal():
    return pq.read_table("data/t.parquet").num_rows


@asset
def by_folder():
    return sorted(ds.dataset(FOLDER, format="parquet").to_table().column("a").to_pylist())


@asset
def unrelated():
    return str(HERE / "nothing-read")
'''


def test_files_and_folders_that_readers_written_in_c_open_are_found_through_the_code_that_names_them(project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(path, values):
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"a": values}), str(path))

    project.pipeline(C_READERS)
    table(project.root / "data" / "t.parquet", [1, 2])
    table(project.root / "parts" / "p1.parquet", [5])
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert ("asset 'by_folder' names folder parts/, which is not a declared source: every file in it is "
            "recorded") in proc.stderr
    assert "unrelated" not in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    table(project.root / "data" / "t.parquet", [1, 2, 3])
    assert project.states() == {"by_helper": "stale", "by_literal": "stale", "by_folder": "fresh",
                                "unrelated": "fresh"}
    table(project.root / "parts" / "p1.parquet", [6])  # same name, new content
    states, why = states_and_reasons(project)
    assert states["by_folder"] == "stale" and why["by_folder"] == ["source_changed"]
    assert project.outcomes() == {"by_helper": "built", "by_literal": "built", "by_folder": "built",
                                  "unrelated": "skipped"}
    assert stored_value(project, "by_folder") == [6]
    table(project.root / "parts" / "p2.parquet", [7])  # a new file
    assert project.states()["by_folder"] == "stale"


def test_reading_the_copy_of_a_stored_folder_input_is_no_undeclared_read(project):
    """A folder value reaches its consumer as an extracted copy in the temporary folder: that is the
    declared input, not data outside the project."""
    project.pipeline('''
        import os
        from datamake import asset

        @asset
        def parts(context):
            os.makedirs(context.output_path)
            for name in ("a", "b"):
                with open(os.path.join(context.output_path, name + ".txt"), "w") as f:
                    f.write(name)

        @asset
        def joined(parts):
            return "".join(open(os.path.join(parts, n)).read() for n in sorted(os.listdir(parts)))
    ''')
    proc = project.run("make")
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    assert stored_value(project, "joined") == "ab"
    assert project.states() == {"parts": "fresh", "joined": "fresh"}


def test_partitions_that_each_read_their_own_file_do_not_take_on_each_others(project):
    """One process builds every partition with the same function: a file one partition read is not
    another's (only a memoizing helper hands a value read for one caller to the next)."""
    project.pipeline('''
        from datamake import StaticPartitions, asset

        def load(key):
            with open(f"inbox/{key}.txt") as f:
                return f.read()

        @asset(partitions=StaticPartitions(["a", "b", "c"]))
        def lines(context):
            return load(context.partition_key)
    ''')
    for key in "abc":
        project.write(f"inbox/{key}.txt", key)
    assert project.run("make").returncode == 0
    store = Store(str(project.root / ".datamake"))
    manifests = store.read_manifests([f"lines[{k}]" for k in "abc"])
    assert {k: [path for path, _ in m.reads] for k, m in manifests.items()} == {
        f"lines[{k}]": [f"inbox/{k}.txt"] for k in "abc"}
    project.write("inbox/b.txt", "B")
    states = {a["partition"]: a["state"] for a in project.json("status")["assets"]}
    assert states == {"a": "fresh", "b": "stale", "c": "fresh"}


def test_a_lazy_client_whose_getattr_raises_breaks_neither_loading_nor_the_search_for_what_an_asset_reads(project):
    """Finding the definitions of a module and what an asset's code names look at objects statically: a
    lazy client whose ``__getattr__`` connects (here: raises) is not asked for attributes it lacks."""
    project.pipeline('''
        import json
        from datamake import asset

        class LazyClient:
            def __getattr__(self, name):
                raise RuntimeError(f"connected to look up {name}")

        CLIENT = LazyClient()

        def settings():
            with open("settings.json") as f:
                return json.load(f)

        @asset
        def uses_client():
            return [type(CLIENT).__name__, settings()["a"]]
    ''')
    project.write("settings.json", '{"a": 1}')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert stored_value(project, "uses_client") == ["LazyClient", 1]
    project.write("settings.json", '{"a": 2}')
    assert project.states() == {"uses_client": "stale"}


def test_a_scratch_folder_an_asset_makes_and_removes_is_not_an_input(project):
    """Folders it makes (tempfile.mkdtemp, os.makedirs) and removes (shutil.rmtree), and what it lists
    and reads there, are its own: no warning, and fresh after the build (not stale for ever)."""
    project.pipeline('''
        import os, shutil, subprocess, sys, tempfile
        from datamake import asset

        @asset
        def scratch():
            d = tempfile.mkdtemp()
            os.makedirs(os.path.join(d, "sub"))
            with open(os.path.join(d, "sub", "a.txt"), "w") as f:
                f.write("x")
            subprocess.run([sys.executable, "-c", f"open({os.path.join(d, 'b.txt')!r}, 'w').write('y')"], check=True)
            out = sorted(os.listdir(d)) + [open(os.path.join(d, "b.txt")).read()]
            shutil.rmtree(d)
            return out

        @asset
        def in_project():
            os.makedirs("data", exist_ok=True)  # there already: its files stay inputs
            os.makedirs("work", exist_ok=True)
            with open("work/t.txt", "w") as f:
                f.write("t")
            names = os.listdir("work")
            shutil.rmtree("work")
            with open("data/in.txt") as f:
                return names + [f.read()]

        @asset
        def by_hand():  # os.mkdir, a command writing there, os.remove and os.rmdir (no rmtree)
            os.mkdir("parts")
            subprocess.run([sys.executable, "-c", "open('parts/p.txt', 'w').write('p')"], check=True)
            with open("parts/p.txt") as f:
                value = f.read()
            os.remove("parts/p.txt")
            os.rmdir("parts")
            return value
    ''')
    project.write("data/in.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("warning") == 1 and "read data/in.txt" in proc.stderr, proc.stderr
    assert project.states() == {"scratch": "fresh", "in_project": "fresh", "by_hand": "fresh"}
    assert stored_value(project, "scratch") == ["b.txt", "sub", "y"]
    project.write("data/in.txt", "2")
    assert project.states() == {"scratch": "fresh", "in_project": "stale", "by_hand": "fresh"}


def test_a_declared_source_folder_that_its_asset_lists_is_no_undeclared_read(project):
    project.pipeline('''
        import os
        from datamake import asset, source

        inbox = source("inbox")

        @asset
        def count(inbox):
            return len(os.listdir(inbox))
    ''')
    project.write("inbox/a.csv", "x")
    proc = project.run("make")
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    project.write("inbox/b.csv", "y")
    states, why = states_and_reasons(project)
    assert states == {"count": "stale"} and why["count"] == ["source_changed"]


def test_a_sqlite_database_an_asset_reads_is_an_input_and_one_it_writes_is_its_own(project):
    project.pipeline('''
        import sqlite3
        from datamake import asset

        def rows(path):
            con = sqlite3.connect(path)
            try:
                return [v for (v,) in con.execute("select v from t order by v")]
            finally:
                con.close()

        @asset
        def reader():
            return rows("src.db")

        @asset
        def loader():
            con = sqlite3.connect("warehouse.db")
            with con:
                con.execute("create table if not exists loads(n)")
                con.execute("insert into loads values (1)")
            con.close()
            return "loaded"
    ''')
    import sqlite3

    def add(value):
        con = sqlite3.connect(str(project.root / "src.db"))
        with con:
            con.execute("create table if not exists t(v)")
            con.execute("insert into t values (?)", (value,))
        con.close()

    add(1)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'reader' read src.db" in proc.stderr
    assert "warehouse.db" not in proc.stderr  # written during the run: the asset's own database
    assert project.states() == {"reader": "fresh", "loader": "fresh"}
    add(2)
    assert project.states() == {"reader": "stale", "loader": "fresh"}
    assert project.outcomes() == {"reader": "built", "loader": "skipped"}
    assert stored_value(project, "reader") == [1, 2]


def test_a_nested_config_dataclass_reaches_the_asset_as_a_dataclass(project):
    project.pipeline('''
        from dataclasses import dataclass, field
        from datamake import asset

        @dataclass
        class Window:
            days: int = 7

        @dataclass
        class Settings:
            window: Window = field(default_factory=Window)

        @asset(config=Settings, io_manager="json")
        def horizon(config):
            return config.window.days * 2
    ''')
    assert project.outcomes() == {"horizon": "built"}
    assert project.run("show", "horizon", check=True).stdout.strip().splitlines()[-1] == "14"


def test_a_relative_path_means_the_project_file_wherever_the_command_was_started(project):
    """``open("data.txt")`` reads the project's data.txt from a subfolder and with ``-C``, as the read
    recorded for it (relative to the project) says: the value never depends on where make was typed."""
    project.pipeline('''
        from datamake import asset

        NOTE = open("note.txt").read()  # read as the definitions load

        @asset
        def text():
            with open("data.txt") as f:
                return NOTE + f.read()
    ''')
    project.write("note.txt", "note:")
    project.write("data.txt", "root")
    project.write("sub/data.txt", "sub")
    project.write("sub/note.txt", "sub note:")
    assert project.run("make", cwd=project.root / "sub").returncode == 0
    assert stored_value(project, "text") == "note:root"
    assert project.states() == {"text": "fresh"}
    outside = project.root.parent
    (outside / "data.txt").write_text("outside")
    proc = project.run("-C", project.root.name, "make", "--force", cwd=outside)
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "text") == "note:root"
    project.write("data.txt", "edited")
    assert project.run("status", "--json", cwd=project.root / "sub").returncode == 0
    assert project.states() == {"text": "stale"}
