"""Files read by the workers of a process pool made before the asset ran (at import, and warmed there),
through which the asset maps a reader: they count for the asset that handed the work."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value

READER = '''
    def read(name):
        with open(name) as f:
            return f.read().strip()
'''

POOLS = {
    "executor_fork": ('ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))',
                      "sorted(POOL.map(read, names))"),
    "executor_spawn": ('ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))',
                       "sorted(POOL.map(read, names))"),
    "pool_fork": ('multiprocessing.get_context("fork").Pool(1)', "sorted(POOL.map(read, names))"),
    "pool_spawn_apply": ('multiprocessing.get_context("spawn").Pool(1)',
                         "sorted(POOL.apply(read, (n,)) for n in names)"),
    "pool_imap": ('multiprocessing.get_context("fork").Pool(1)', "sorted(POOL.imap_unordered(read, names))"),
}


def _pipeline(project, pool: str, mapped: str, assets=(("mapped", "ab"),)) -> None:
    project.write("helpers.py", READER)
    source = f'''
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor
        from datamake import asset
        from helpers import read

        POOL = {pool}
        # warmed at import: its worker runs before any asset does
        WORKER = POOL.apply(os.getpid) if hasattr(POOL, "apply") else POOL.submit(os.getpid).result()
    '''
    for key, stems in assets:
        source += f'''
        @asset
        def {key}():
            names = [stem + ".txt" for stem in {stems!r}]  # (no file name in its code: read only by the pool)
            return {mapped}
    '''
    project.pipeline(source)


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_reads_of_a_pool_made_at_import_count_for_the_asset_that_mapped_over_it(project, kind):
    _pipeline(project, *POOLS[kind])
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'mapped' read a.txt" in proc.stderr and "asset 'mapped' read b.txt" in proc.stderr, proc.stderr
    assert "cannot version" not in proc.stderr  # the pool: where work runs, not what it computes
    assert project.states() == {"mapped": "fresh"}
    project.write("b.txt", "2")
    status = project.json("status")["assets"][0]
    assert status["state"] == "stale", status
    assert status["reasons"][0]["code"] == "source_changed" and "b.txt" in status["reasons"][0]["message"]
    assert project.outcomes() == {"mapped": "built"}
    assert stored_value(project, "mapped") == ["1", "2"]
    assert project.states() == {"mapped": "fresh"}


def assert_each_stale_by_its_own_reads(project) -> None:
    """Assets 'left' (which read a.txt and b.txt) and 'right' (c.txt and d.txt), fresh after their build:
    an edit makes only the asset that read the file stale. (Each is fresh in the state after the edit of
    the other's file, which is the state of their build: no status before the first edit is needed.)"""
    project.write("c.txt", "2")
    assert project.states() == {"left": "fresh", "right": "stale"}
    project.write("c.txt", "1")
    project.write("a.txt", "2")
    assert project.states() == {"left": "stale", "right": "fresh"}


def test_two_assets_sharing_a_pool_at_once_each_record_their_own_reads(project):
    """On the thread executor with two workers, both assets hand items to one pool made at import; each
    item logs to the asset that handed it."""
    _pipeline(project, *POOLS["executor_fork"], assets=(("left", "ab"), ("right", "cd")))
    for name in "abcd":
        project.write(f"{name}.txt", "1")
    proc = project.run("make", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    for key, names in (("left", "ab"), ("right", "cd")):
        for name in names:
            assert f"asset '{key}' read {name}.txt" in proc.stderr, proc.stderr
    for key, names in (("left", "cd"), ("right", "ab")):
        for name in names:
            assert f"asset '{key}' read {name}.txt" not in proc.stderr, proc.stderr
    assert_each_stale_by_its_own_reads(project)


def test_a_pool_whose_workers_cannot_import_datamake_runs_the_work_and_names_the_asset(project):
    """A pool of another interpreter (``set_executable``), made at import: its items run unwatched and
    ``make`` says so."""
    import stat
    import sys

    # The worker is started with the parent's sys.path, where datamake is importable however it was
    # installed: this interpreter refuses the import itself, before the worker's own code runs.
    project.write("no_datamake.py", f"""#!{sys.executable}
import os, sys
args = sys.argv[1:]
at = args.index("-c") + 1
args[at] = "import sys; sys.modules['datamake'] = None; " + args[at]
os.execv(sys.executable, [sys.executable, *args])
""")
    (project.root / "no_datamake.py").chmod(stat.S_IRWXU)
    context = ('(lambda c: (c.set_executable(os.path.abspath("no_datamake.py")), c)[1])'
               '(multiprocessing.get_context("spawn"))')
    _pipeline(project, f"{context}.Pool(1)", "sorted(POOL.map(read, names))")
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "mapped") == ["1", "1"]
    assert "asset 'mapped' handed work to a process pool whose workers cannot import datamake" in proc.stderr


def test_items_put_on_a_queue_for_processes_started_at_import_name_the_asset(project):
    """A long-lived process started at import takes paths from a queue and reads them: no watch can
    follow the item, so ``make`` names the asset; a queue for a process the asset starts itself is not named."""
    project.write("helpers.py", READER + '''
    def serve(inbox, outbox):
        for name in iter(inbox.get, None):
            outbox.put(read(name))
    ''')
    project.pipeline('''
        import multiprocessing
        from datamake import asset
        from helpers import serve

        CONTEXT = multiprocessing.get_context("fork")
        INBOX, OUTBOX = CONTEXT.Queue(), CONTEXT.Queue()
        CONTEXT.Process(target=serve, args=(INBOX, OUTBOX), daemon=True).start()

        @asset
        def queued():
            INBOX.put("a.txt")
            return OUTBOX.get()

        @asset
        def own_process():
            inbox, outbox = CONTEXT.Queue(), CONTEXT.Queue()
            process = CONTEXT.Process(target=serve, args=(inbox, outbox))
            process.start()
            inbox.put("b.txt")
            value = outbox.get()
            inbox.put(None)
            process.join()
            return value
    ''')
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'queued' put items on a multiprocessing queue while processes it did not start" in proc.stderr
    assert "asset 'own_process' put items" not in proc.stderr
    assert "asset 'own_process' read b.txt" in proc.stderr


def test_work_handed_to_a_dask_client_names_the_asset(project, dask_address):
    project.pipeline(f'''
        from distributed import Client
        from datamake import asset

        @asset
        def on_dask():
            def read(name):  # (sent by value: the workers do not have the project on their path)
                with open(name) as f:
                    return f.read().strip()

            with Client("{dask_address}") as client:
                return client.submit(read, "{project.root / "a.txt"}").result()
    ''')
    project.write("a.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "on_dask") == "1"
    assert "asset 'on_dask' handed work to a Dask client (Client.submit), whose workers' reads" in proc.stderr


def test_a_pool_made_through_multiprocessing_in_the_asset_draws_no_warning_and_stays_fresh(project):
    """``multiprocessing.get_context`` and ``multiprocessing.Pool`` are methods of the default context: the
    code version counts them by type, as a pool, instead of warning on every make."""
    project.pipeline('''
        import multiprocessing
        from datamake import asset

        def square(x):
            return x * x

        @asset
        def squares():
            with multiprocessing.get_context("fork").Pool(1) as pool:
                return pool.map(square, [1, 2, 3])

        @asset
        def cubes():
            with multiprocessing.Pool(1) as pool:
                return [x * y for x, y in zip(pool.map(square, [1, 2]), [1, 2])]
    ''')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr, proc.stderr
    assert stored_value(project, "squares") == [1, 4, 9]
    again = project.run("make")
    assert "warning" not in again.stderr and "2 up to date" in again.stdout, again.stdout + again.stderr
    assert project.states() == {"squares": "fresh", "cubes": "fresh"}


def test_a_reader_written_in_c_mapped_over_a_process_pool_runs_and_counts_its_files(project):
    """``pool.map(pq.read_table, paths)``: the watch's wrapper of ``read_table`` must pickle as the reader it
    stands for (it failed: "not the same object as pyarrow.parquet.core.read_table"), and what the workers
    read with it is versioned by the bytes they read (it was recorded as moved: stale after every build)."""
    from tests.test_soundness_probes_data import stale_because

    project.pipeline('''
        import glob
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor
        import pyarrow.parquet as pq
        from datamake import asset

        HERE = os.path.dirname(os.path.abspath(__file__))

        @asset
        def rows():
            paths = sorted(glob.glob(os.path.join(HERE, "parts", "*.parquet")))
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
                counts = [t.num_rows for t in pool.map(pq.read_table, paths)]
            with multiprocessing.get_context("fork").Pool(2) as pool:  # os.stat, wrapped, pickles too
                assert all(s.st_size for s in pool.map(os.stat, paths))
            return sum(counts)
    ''')
    import pyarrow as pa
    import pyarrow.parquet as pq

    (project.root / "parts").mkdir()
    for i in range(2):
        pq.write_table(pa.table({"x": list(range(i + 1))}), str(project.root / "parts" / f"p{i}.parquet"))
    assert project.outcomes() == {"rows": "built"}
    assert stored_value(project, "rows") == 3
    assert project.states() == {"rows": "fresh"}
    pq.write_table(pa.table({"x": list(range(5))}), str(project.root / "parts" / "p1.parquet"))
    assert stale_because(project, "rows") == [
        "file parts/p1.parquet, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"rows": "built"}
    assert stored_value(project, "rows") == 6
