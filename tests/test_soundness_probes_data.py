"""Never fresh with a value built from older data: files read through less common readers, and the
environment, each changed once after a build.

Each test builds a small project with the real ``datamake`` command, changes one data file (or
variable), checks that ``status`` says the asset is stale and names what changed, then that ``make``
rebuilds it to the value the new data gives.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_execution_soundness import stored_value


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def stale_because(project, key: str) -> list:
    """The messages of the reasons ``status`` gives for ``key`` (none when it is fresh)."""
    [entry] = [a for a in project.json("status")["assets"] if a["key"] == key]
    assert entry["state"] == "stale", entry
    return [r["message"] for r in entry["reasons"]]


def write_parquet(path: Path, value: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": [value]}), str(path))


def write_arrow_file(path: Path, value: int) -> None:
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"x": [value]})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


# Each opens files found at run time (no path in the code): only the reader's entry point sees them.
PYARROW_OPENERS = {
    "parquet_file": ("data/a.parquet", write_parquet, '''
        import pyarrow.parquet as pq

        def first(path):
            return pq.ParquetFile(path).read().column("x")[0].as_py()
    '''),
    "parquet_dataset": ("data/a.parquet", write_parquet, '''
        import pyarrow.parquet as pq

        def first(path):
            return pq.ParquetDataset(path).read().column("x")[0].as_py()
    '''),
    "memory_map": ("data/a.arrow", write_arrow_file, '''
        import pyarrow as pa

        def first(path):
            with pa.memory_map(path) as source:
                return pa.ipc.open_file(source).read_all().column("x")[0].as_py()
    '''),
}


@pytest.mark.parametrize("opener", sorted(PYARROW_OPENERS))
def test_a_file_a_pyarrow_reader_opens_by_a_path_found_at_run_time_is_an_input(project, opener):
    data, write, first = PYARROW_OPENERS[opener]
    project.pipeline(first + '''
        import os
        from datamake import asset

        @asset
        def total():
            folder = os.path.join(os.path.dirname(__file__), "data")
            return sum(first(os.path.join(folder, name)) for name in sorted(os.listdir(folder)))
    ''')
    write(project.root / data, 1)
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 1
    write(project.root / data, 5)
    assert stale_because(project, "total") == [f"file {data}, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 5


# A pool of threads made at import: its threads start with the first asset that hands it work, and
# serve the next ones too.
SHARED_THREAD_POOLS = {
    "ThreadPoolExecutor": ("from concurrent.futures import ThreadPoolExecutor\nPOOL = ThreadPoolExecutor(1)\n",
                           "POOL.submit(read, name).result()"),
    "ThreadPool": ("from multiprocessing.pool import ThreadPool\nPOOL = ThreadPool(1)\n", "POOL.apply(read, (name,))"),
}


@pytest.mark.parametrize("pool", sorted(SHARED_THREAD_POOLS))
@pytest.mark.parametrize("executor", ["inprocess", "thread"])
def test_a_file_read_on_a_thread_pool_an_earlier_asset_started_is_an_input(project, pool, executor):
    made, call = SHARED_THREAD_POOLS[pool]
    project.pipeline(made + f'''
import json
import os
from datamake import asset


def read(name):
    with open(os.path.join(os.path.dirname(__file__), name)) as f:
        return f.read()


def settings():
    with open(os.path.join(os.path.dirname(__file__), "settings.json")) as f:
        return json.load(f)


@asset
def first():
    name = settings()["first"]
    return {call}


@asset
def second(first):
    name = settings()["second"]
    return {call}
''', f'[execution]\nexecutor = "{executor}"\n')
    project.write("settings.json", '{"first": "a.txt", "second": "b.txt"}')
    project.write("a.txt", "a")
    project.write("b.txt", "b")
    assert project.outcomes() == {"first": "built", "second": "built"}
    project.write("b.txt", "B")
    assert stale_because(project, "second") == ["file b.txt, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"first": "skipped", "second": "built"}
    assert stored_value(project, "second") == "B"


def test_a_file_rewritten_while_its_reader_ran_with_its_old_size_and_modification_time_leaves_it_stale(project):
    """Another program (``cp -p``, ``rsync -t``) puts new bytes of the same size in the file after the
    asset read it, and sets its modification time back: the value holds the old bytes."""
    project.pipeline('''
        import os, subprocess, sys
        from pathlib import Path
        from datamake import asset

        SETTINGS = Path(__file__).parent / "settings.txt"

        @asset
        def reader():
            text = SETTINGS.read_text()
            once = SETTINGS.with_name("rewrite-once")
            if once.exists():
                once.unlink()
                code = (f"import os; p = {str(SETTINGS)!r}; st = os.stat(p); open(p, 'w').write('v2'); "
                        "os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))")
                subprocess.run([sys.executable, "-c", code], check=True)
            return text
    ''')
    project.write("settings.txt", "v1")
    project.write("rewrite-once", "")
    assert project.outcomes() == {"reader": "built"}
    assert stored_value(project, "reader") == "v1"
    assert stale_because(project, "reader") == ["file settings.txt, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"reader": "built"}
    assert stored_value(project, "reader") == "v2"
    assert project.states() == {"reader": "fresh"}


CHECKS_FOR_FILES = {
    "os.path.exists": "os.path.exists(path)",
    "os.path.isfile": "os.path.isfile(path)",
    "Path.exists": "Path(path).exists()",
    "Path.is_file": "Path(path).is_file()",
    "glob without a wildcard": "bool(glob.glob(path))",
}


@pytest.mark.parametrize("check", sorted(CHECKS_FOR_FILES))
def test_a_file_its_asset_checked_for_and_did_not_find_is_an_input_once_it_appears(project, check):
    project.pipeline(f'''
        import glob, os
        from pathlib import Path
        from datamake import asset

        @asset
        def settings():
            path = os.path.join(os.path.dirname(__file__), "local" + os.extsep + "txt")
            if {CHECKS_FOR_FILES[check]}:
                return Path(path).read_text()
            return "defaults"
    ''')
    assert project.outcomes() == {"settings": "built"}
    assert stored_value(project, "settings") == "defaults"
    project.write("local.txt", "overridden")
    assert stale_because(project, "settings") == ["file local.txt, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"settings": "built"}
    assert stored_value(project, "settings") == "overridden"


def test_a_flag_file_its_asset_found_and_did_not_read_is_an_input_when_it_goes(project):
    """And a folder or file it checks for and makes itself (a scratch folder, a cache) is not."""
    project.pipeline('''
        import os
        from pathlib import Path
        from datamake import asset

        @asset
        def rows():
            here = os.path.dirname(__file__)
            scratch = os.path.join(here, "scratch" + os.extsep + "d")
            if not os.path.exists(scratch):
                os.makedirs(scratch)
            cache = Path(scratch, "cache" + os.extsep + "txt")
            if not cache.exists():
                cache.write_text("computed")
            return 1000 if os.path.exists(os.path.join(here, "FULL" + os.extsep + "flag")) else 10
    ''')
    project.write("FULL.flag", "")
    assert project.outcomes() == {"rows": "built"}
    assert stored_value(project, "rows") == 1000
    assert project.outcomes() == {"rows": "skipped"}
    (project.root / "FULL.flag").unlink()
    assert stale_because(project, "rows") == ["file FULL.flag, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"rows": "built"}
    assert stored_value(project, "rows") == 10



def test_a_folder_handed_to_a_pyarrow_dataset_counts_whole_when_the_asset_also_lists_it(project):
    project.pipeline('''
        import os
        import pyarrow.dataset as ds
        from datamake import asset

        @asset
        def total():
            folder = os.path.join(os.path.dirname(__file__), "da" + "ta".lower())
            print(f"{len(os.listdir(folder))} files")
            return sum(ds.dataset(folder, format="csv").to_table().column("x").to_pylist())
    ''')
    project.write("data/a.csv", "x\n1\n")
    project.write("data/b.csv", "x\n2\n")
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 3
    project.write("data/a.csv", "x\n7\n")  # the same names: only its content changed
    assert stale_because(project, "total") == ["folder data/, which its code names without declaring it, changed since it was built"]
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 9


@pytest.mark.parametrize("check", ["os.path.isdir(folder)", "Path(folder).is_dir()"])
def test_a_folder_its_asset_checked_for_and_did_not_find_is_an_input_once_it_appears(project, check):
    project.pipeline(f'''
        import os
        from pathlib import Path
        from datamake import asset

        @asset
        def incoming():
            folder = os.path.join(os.path.dirname(__file__), "in" + "coming".lower())
            return sorted(os.listdir(folder)) if {check} else []
    ''')
    assert project.outcomes() == {"incoming": "built"}
    assert stored_value(project, "incoming") == []
    project.write("incoming/a.csv", "x\n1\n")
    assert stale_because(project, "incoming") == ["folder incoming/, which it listed without declaring it, gained or lost files since it was built"]
    assert project.outcomes() == {"incoming": "built"}
    assert stored_value(project, "incoming") == ["a.csv"]


def test_a_file_of_a_folder_handed_to_a_pyarrow_dataset_changed_while_its_reader_ran_leaves_it_stale(project):
    project.pipeline('''
        import os, subprocess, sys
        import pyarrow.dataset as ds
        from datamake import asset

        @asset
        def total():
            here = os.path.dirname(__file__)
            value = sum(ds.dataset(os.path.join(here, "da" + "ta".lower()), format="csv").to_table().column("x").to_pylist())
            once = os.path.join(here, "rewrite-once")
            if os.path.exists(once):  # another program edits a file of the folder after the dataset was read
                os.remove(once)
                code = "import os; open(os.path.join('data', 'a.csv'), 'w').write('x\\\\n7\\\\n')"
                subprocess.run([sys.executable, "-c", code], check=True, cwd=here)
            return value
    ''')
    project.write("data/a.csv", "x\n1\n")
    project.write("data/b.csv", "x\n2\n")
    project.write("rewrite-once", "")
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 3
    assert stale_because(project, "total") == ["folder data/, which its code names without declaring it, changed since it was built"]
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 9
    assert project.states() == {"total": "fresh"}
