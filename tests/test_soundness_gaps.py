"""Reads that Python's ``open`` hook does not see, made sound or loud: paths computed at run time and
handed to readers written in C, network reads, memo tables in module dicts, SQLite databases in WAL
mode, folders handed to commands. Each test makes a small project, edits what the asset read, and
checks that ``status`` says stale (or that ``make`` named what it cannot version)."""
from __future__ import annotations

import http.server
import sqlite3
import threading

import pytest

from tests.test_execution_soundness import stored_value

RUNTIME_PATHS = '''
import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.csv import read_csv
from datamake import asset

HERE = Path(__file__).parent


def config():
    with open(HERE / "config.json") as f:  # the names of the files: known only at run time
        return json.load(f)


@asset
def by_module():
    return pacsv.read_csv(HERE / config()["csv"]).num_rows


@asset
def bound_by_from_import():
    return read_csv(str(HERE / config()["other"])).num_rows


@asset
def relative_parquet():
    return pq.read_table(config()["parquet"]).num_rows


@asset
def numpy_fromfile():
    return int(np.fromfile(HERE / config()["bin"], dtype="int64").sum())


@asset
def dataset_folder():
    return ds.dataset(config()["parts"], format="parquet").count_rows()
'''


def test_paths_computed_at_run_time_and_handed_to_readers_written_in_c_are_inputs(project):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(relpath, n):
        path = project.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"a": list(range(n))}), str(path))

    project.pipeline(RUNTIME_PATHS)
    project.write("config.json", '{"csv": "in1", "other": "in2", "parquet": "in3", "bin": "in4", "parts": "in5"}')
    project.write("in1", "a\n1\n")
    project.write("in2", "a\n1\n")
    table("in3", 1)
    np.array([1, 2], dtype="int64").tofile(str(project.root / "in4"))
    table("in5/p1.parquet", 1)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    for key, path in [("by_module", "in1"), ("bound_by_from_import", "in2"), ("relative_parquet", "in3"),
                      ("numpy_fromfile", "in4")]:
        assert f"asset '{key}' read {path}, which is not a declared source" in proc.stderr
    assert "asset 'dataset_folder' names folder in5/, which is not a declared source" in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    project.write("in1", "a\n1\n2\n")
    project.write("in2", "a\n1\n2\n")
    table("in3", 2)
    np.array([1, 2, 3], dtype="int64").tofile(str(project.root / "in4"))
    table("in5/p2.parquet", 1)
    assert set(project.states().values()) == {"stale"}
    assert set(project.outcomes().values()) == {"built"}
    assert [stored_value(project, k) for k in ("by_module", "bound_by_from_import", "relative_parquet",
                                                "numpy_fromfile", "dataset_folder")] == [2, 2, 2, 6, 2]


class _Server:
    """A loopback HTTP server answering every GET with ``body``."""

    def __init__(self) -> None:
        self.body = b"1"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = _Server()
    try:
        yield server
    finally:
        server.close()


def test_an_asset_that_reads_over_the_network_is_named_in_a_warning_unless_what_it_fetches_is_declared(
        project, http_server):
    url = f"http://127.0.0.1:{http_server.port}/rates"
    project.pipeline(f'''
        import urllib.request

        import fsspec
        from datamake import asset, source

        URL = {url!r}
        version = source(observe=lambda: "v1", name="rates_version")

        @asset
        def fetched():
            with urllib.request.urlopen(URL) as r:
                return r.read().decode()

        @asset
        def through_fsspec():
            with fsspec.open(URL, "rb") as f:
                return f.read().decode()

        @asset
        def declared(rates_version):
            with urllib.request.urlopen(URL) as r:
                return r.read().decode()

        @asset
        def in_memory():
            with fsspec.open("memory://x.txt", "w") as f:
                f.write("local to the process")
            return 1
    ''')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("asset 'fetched' reached 127.0.0.1:") == 1, proc.stderr
    assert "which datamake cannot version" in proc.stderr and "source(observe=fn" in proc.stderr
    assert f"asset 'through_fsspec' reached {url}" in proc.stderr
    assert "'declared'" not in proc.stderr and "'in_memory'" not in proc.stderr
    http_server.body = b"2"
    again = project.run("make", "-B", "fetched")
    assert again.returncode == 0 and "asset 'fetched' reached 127.0.0.1:" in again.stderr, again.stderr
    assert stored_value(project, "fetched") == "2"


MEMO_TABLES = '''
import json
from datamake import asset

_CACHE = {}
_SEEN = []


def settings(name):
    if name not in _CACHE:  # a memo table of its own: a dict of its module
        with open(name + ".json") as f:  # (a name the code holds in no one string)
            _CACHE[name] = json.load(f)
    return _CACHE[name]


def lines():
    if not _SEEN:
        with open(".".join(["lines", "txt"])) as f:
            _SEEN.extend(f.read().split())
    return list(_SEEN)


@asset
def first():
    return settings("settings")["a"], len(lines())


@asset
def second():
    return settings("settings")["b"], lines()
'''


def test_assets_sharing_a_helper_memo_table_in_a_module_dict_are_all_stale_when_its_file_changes(project):
    """The second asset gets the value the helper keeps in ``_CACHE`` (a list for ``_SEEN``) and opens
    nothing; it was built from the file all the same."""
    project.pipeline(MEMO_TABLES)
    project.write("settings.json", '{"a": 1, "b": 2}')
    project.write("lines.txt", "x")
    assert project.outcomes() == {"first": "built", "second": "built"}
    assert project.states() == {"first": "fresh", "second": "fresh"}
    project.write("settings.json", '{"a": 1, "b": 5}')
    assert project.states() == {"first": "stale", "second": "stale"}
    assert project.outcomes() == {"first": "built", "second": "built"}
    assert stored_value(project, "second") == (5, ["x"])
    project.write("lines.txt", "x y")
    assert project.states() == {"first": "stale", "second": "stale"}


def test_rows_in_the_write_ahead_log_of_a_sqlite_database_count(project):
    """A database in WAL mode commits to ``db-wal``; its file changes only at a checkpoint, which does
    not come while a connection (the application writing it) stays open."""
    project.pipeline('''
        import sqlite3
        from datamake import asset, source

        db = source("src.db")

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
        def declared(db):
            return rows(db)
    ''')
    writer = sqlite3.connect(str(project.root / "src.db"))
    try:
        writer.execute("pragma journal_mode=wal")
        with writer:
            writer.execute("create table t(v)")
            writer.execute("insert into t values (1)")
        assert project.outcomes() == {"reader": "built", "declared": "built"}
        assert stored_value(project, "reader") == [1]
        assert project.states() == {"reader": "fresh", "declared": "fresh"}
        with writer:
            writer.execute("insert into t values (2)")
        assert (project.root / "src.db-wal").stat().st_size > 0
        assert project.states() == {"reader": "stale", "declared": "stale"}
        assert project.outcomes() == {"reader": "built", "declared": "built"}
        assert stored_value(project, "reader") == stored_value(project, "declared") == [1, 2]
        assert project.states() == {"reader": "fresh", "declared": "fresh"}
    finally:
        writer.close()


def test_a_folder_handed_to_a_command_counts_by_every_file_in_it(project):
    project.pipeline('''
        import subprocess, sys
        from datamake import asset

        @asset
        def total():
            out = subprocess.run([sys.executable, "add.py", "data/parts"], capture_output=True, text=True,
                                 check=True)
            return int(out.stdout)
    ''')
    project.write("add.py", "import os, sys\nd = sys.argv[1]\n"
                            "print(sum(int(open(os.path.join(d, n)).read()) for n in os.listdir(d)))\n")
    project.write("data/parts/a.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'total' names folder data/parts/, which is not a declared source" in proc.stderr
    assert project.states() == {"total": "fresh"}
    project.write("data/parts/a.txt", "5")
    assert project.states() == {"total": "stale"}
    assert project.outcomes() == {"total": "built"}
    project.write("data/parts/b.txt", "2")
    assert project.states() == {"total": "stale"}
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == 7


LONG_LIVED = '''
import json
import sys

from datamake import api
from datamake.execution.reporters import Reporter


class Say(Reporter):
    def message(self, text):
        print(text)


project = api.load(".")
api.make(project, reporter=Say())
with open("settings.json", "w") as f:
    f.write('{"a": 2}')
with open("rates.json", "w") as f:
    f.write('{"r": 2}')
api.make(project, reporter=Say())  # the same process: the helpers' memos are still there
print(json.dumps({d.key: [r.code for r in d.reasons] for d in api.status(project).decisions}))
'''


def test_a_second_run_in_the_same_process_clears_an_outdated_lru_cache_and_names_a_memo_it_cannot_clear(project):
    """A long-lived process (the Python API called twice, the daemon, the UI): after the file a memoizing
    helper read changed, its ``lru_cache`` is cleared before an asset that reaches it runs again, and a
    memo of its own (a module dict) that cannot be cleared is named in a warning; that asset stays stale."""
    import json
    import subprocess
    import sys

    project.pipeline('''
        import functools, json
        from datamake import asset

        _CACHE = {}

        def settings(name):
            if name not in _CACHE:
                with open(name + ".json") as f:
                    _CACHE[name] = json.load(f)
            return _CACHE[name]

        @functools.lru_cache(maxsize=None)
        def rates(name):
            with open(name + ".json") as f:
                return json.load(f)

        @asset
        def by_dict():
            return settings("settings")["a"]

        @asset
        def by_lru_cache():
            return rates("rates")["r"]
    ''')
    project.write("settings.json", '{"a": 1}')
    project.write("rates.json", '{"r": 1}')
    project.write("drive.py", LONG_LIVED)
    proc = subprocess.run([sys.executable, "drive.py"], cwd=project.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    *said, states = proc.stdout.strip().splitlines()
    said = "\n".join(said)
    assert said.count("asset 'by_dict' got a value that settings() keeps in a memo of its own") == 1, said
    assert "from settings.json as it was before it changed" in said
    assert "'by_lru_cache' got" not in said
    assert json.loads(states) == {"by_dict": ["source_changed"], "by_lru_cache": []}
    assert stored_value(project, "by_lru_cache") == 2


def test_files_read_by_threads_and_processes_an_asset_starts_are_its_reads(project):
    """A thread pool's workers, a thread, a process pool's forked workers, processes started with the
    ``spawn`` and ``forkserver`` methods (fresh interpreters) open the files; the asset's own thread opens
    nothing."""
    project.pipeline('''
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
        from datamake import asset

        def read(name):
            with open(name + ".txt") as f:
                return f.read().strip()

        @asset
        def pooled():
            with ThreadPoolExecutor(2) as pool:
                return sorted(pool.map(read, ["a", "b"]))

        @asset
        def one_thread():
            out = []
            t = threading.Thread(target=lambda: out.append(read("c")))
            t.start()
            t.join()
            return out

        def in_pool(method, names):
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as pool:
                return sorted(pool.map(read, names))

        @asset
        def forked():
            return in_pool("fork", ["d", "e"])

        @asset
        def spawned_pool():
            return in_pool("spawn", ["f", "g"])

        @asset
        def spawned():
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                return pool.apply(read, ("h",))

        @asset
        def forkserver():
            with multiprocessing.get_context("forkserver").Pool(1) as pool:
                return pool.apply(read, ("i",))
    ''')
    for name in "abcdefghi":
        project.write(f"{name}.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    for key, name in [("pooled", "a"), ("one_thread", "c"), ("forked", "d"), ("forked", "e"), ("spawned_pool", "f"),
                      ("spawned", "h"), ("forkserver", "i")]:
        assert f"asset '{key}' read {name}.txt" in proc.stderr
    assert "start method" not in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    for name in "bcegi":
        project.write(f"{name}.txt", "2")
    project.write("h.txt", "1")  # the same bytes: an edit that changes nothing
    status = {a["key"]: a for a in project.json("status")["assets"]}
    assert {k for k, a in status.items() if a["state"] == "stale"} == set(status) - {"spawned"}
    assert status["forkserver"]["reasons"][0]["code"] == "source_changed"
    assert "i.txt" in status["forkserver"]["reasons"][0]["message"]
    assert project.outcomes() == {**{k: "built" for k in status}, "spawned": "skipped"}
    assert [stored_value(project, k) for k in ("pooled", "one_thread", "forked", "spawned_pool", "forkserver")] == [
        ["1", "2"], ["2"], ["1", "2"], ["1", "2"], "2"]


def test_an_asset_that_starts_processes_no_hook_watches_is_named_in_a_warning(project):
    """A spawned child run by an interpreter that cannot import datamake (``multiprocessing.set_executable``)
    runs the asset's target all the same, unwatched: ``make`` names the asset."""
    import stat
    import sys

    project.write("no_datamake.sh", f'#!/bin/sh\nexec "{sys.executable}" -S -E "$@"\n')  # no site-packages
    (project.root / "no_datamake.sh").chmod(stat.S_IRWXU)
    project.write("helpers.py", '''
        def read(name):
            with open(name) as f:
                return f.read()
    ''')
    project.pipeline('''
        import multiprocessing
        import os
        from datamake import asset
        from helpers import read

        @asset
        def spawned():
            context = multiprocessing.get_context("spawn")
            context.set_executable(os.path.abspath("no_datamake.sh"))
            with context.Pool(1) as pool:
                return pool.apply(read, ("a.txt",))
    ''')
    project.write("a.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "spawned") == "1"
    assert "asset 'spawned' started processes with multiprocessing's 'spawn' start method" in proc.stderr
    assert "use the 'fork' start method" in proc.stderr


def test_a_spawned_process_started_with_a_process_object_logs_its_reads_and_none_outside_a_run(project):
    """``Process(...).start()`` with the ``spawn`` method; the same start after the run, in the same
    process, carries nothing for the child, and the child's program runs as it would without datamake."""
    import subprocess
    import sys

    project.write("helpers.py", '''
        def send(name, queue):
            with open(name + ".txt") as f:
                queue.put(f.read())
    ''')
    project.pipeline('''
        import multiprocessing
        from multiprocessing import spawn
        from datamake import asset
        from helpers import send

        def start(name):
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            process = context.Process(target=send, args=(name, queue))
            process.start()
            value = queue.get()
            process.join()
            return value

        @asset
        def spawned():
            return start("a")

        if __name__ == "__main__":  # after a run, in the same process
            from datamake import api

            api.make(api.load("."))
            print(start("a"), sorted(k for k in spawn.get_preparation_data("x") if "datamake" in k))
    ''')
    project.write("a.txt", "1")
    assert set(project.outcomes().values()) == {"built"}
    assert stored_value(project, "spawned") == "1"
    project.write("a.txt", "2")
    assert project.states() == {"spawned": "stale"}
    assert set(project.outcomes().values()) == {"built"}
    assert stored_value(project, "spawned") == "2"
    project.write("a.txt", "3")
    outside = subprocess.run([sys.executable, "pipeline.py"], cwd=project.root, capture_output=True, text=True,
                             timeout=120)
    assert outside.returncode == 0, outside.stderr
    assert outside.stdout.split() == ["3", "[]"]


def test_what_a_spawned_child_imports_to_watch_itself_stays_small():
    """The child imports the log's writer and the audit hooks, not the store, the read watch, the loader or
    the planner and its records (a spawned pool worker pays for each module it imports)."""
    import subprocess
    import sys

    code = ("import sys; from datamake.execution.childreads import watch; watch('unused'); "
            "print(sorted(m for m in sys.modules if m.startswith(('datamake.', 'fsspec', 'pyarrow'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    imported = eval(out.stdout)
    assert "datamake.execution.childreads" in imported
    assert not [m for m in imported if m.startswith(("datamake.storage", "datamake.execution.readwatch",
                                                     "datamake.define.loader", "datamake.define.snapshot",
                                                     "datamake.core.planner", "datamake.core.manifest",
                                                     "datamake.core.records", "fsspec", "pyarrow"))], imported
