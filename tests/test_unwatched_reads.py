"""Files read at run time by code other than the asset function itself: the ops of a graph asset,
asset checks run on a kept value, threads started at import. Editing such a file must not leave
the asset fresh with a value built from its old bytes."""
from __future__ import annotations

import textwrap

from datamake.define.loader import forget_project_code
from datamake.ops import run_graph
from tests.test_execution_soundness import stored_value

OP_READS_A_FILE = '''
    from datamake import graph, graph_asset, op

    @op
    def rate():
        with open("rates.csv") as f:
            return int(f.read())

    @op
    def doubled(r):
        return r * 2

    @graph_asset
    def priced():
        return doubled(rate())

    @graph
    def pricing():
        return doubled(rate())
'''


def test_a_graph_asset_whose_op_read_a_file_is_stale_when_the_file_changes(project):
    project.pipeline(OP_READS_A_FILE)
    project.write("rates.csv", "1")
    assert project.outcomes() == {"priced": "built"}
    project.write("rates.csv", "2")
    status = project.json("status")["assets"][0]
    assert status["state"] == "stale" and "rates.csv" in status["reasons"][0]["message"], status
    assert project.outcomes() == {"priced": "built"}
    assert stored_value(project, "priced") == 4  # the op ran again on the new rate: not its cached result
    assert project.states() == {"priced": "fresh"}
    project.write("rates.csv", "3")  # the op's read is recorded even when the op was restored...
    assert project.outcomes("-B") == {"priced": "built"}
    assert stored_value(project, "priced") == 6


def test_a_graph_asset_restored_from_op_results_still_records_the_op_reads(project):
    project.pipeline(OP_READS_A_FILE)
    project.write("rates.csv", "1")
    assert project.outcomes() == {"priced": "built"}
    assert project.outcomes("-B") == {"priced": "built"}  # every op restored from the op cache
    project.write("rates.csv", "2")
    assert project.states() == {"priced": "stale"}
    project.outcomes()
    assert stored_value(project, "priced") == 4


def test_run_graph_runs_an_op_again_when_a_file_it_read_changed(tmp_path, monkeypatch):
    project = tmp_path
    monkeypatch.chdir(project)
    (project / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (project / "pipeline.py").write_text(textwrap.dedent(OP_READS_A_FILE))
    (project / "rates.csv").write_text("1")

    def run():
        import datamake.api as dm

        forget_project_code([str(project)])
        result = run_graph(dm.load(str(project)), "pricing", executor="inprocess")
        return {o["invocation"]: o["status"] for o in result["ops"]}

    assert run() == {"rate": "ran", "doubled": "ran"}
    assert run() == {"rate": "cached", "doubled": "cached"}
    (project / "rates.csv").write_text("2")
    assert run() == {"rate": "ran", "doubled": "ran"}


CHECKED = '''
    from datamake import asset, asset_check

    @asset
    def v():
        return 5
'''
LIMIT_CHECK = '''
    @asset_check(asset=v, blocking=True)
    def small(v):
        return v < {limit}
'''
READ_LIMIT = 'int(open("limit.txt").read())'


def test_a_file_a_check_added_later_reads_makes_its_asset_stale_when_it_changes(project):
    project.pipeline(CHECKED)
    project.write("limit.txt", "10")
    assert project.outcomes() == {"v": "built"}
    project.pipeline(CHECKED + LIMIT_CHECK.format(limit=READ_LIMIT))
    assert project.outcomes() == {"v": "skipped"}  # the value is kept: only the new check runs, and passes
    project.write("limit.txt", "3")
    assert project.states() == {"v": "stale"}
    assert project.outcomes(expect=1) == {"v": "failed"}  # the check runs again, on the new limit


def test_a_file_an_edited_check_reads_on_the_kept_value_makes_its_asset_stale_when_it_changes(project):
    project.write("limit.txt", "10")
    project.pipeline(CHECKED + LIMIT_CHECK.format(limit="10"))
    assert project.outcomes() == {"v": "built"}
    project.pipeline(CHECKED + LIMIT_CHECK.format(limit=READ_LIMIT))
    assert project.outcomes() == {"v": "skipped"}  # the edited check runs again on the kept value
    project.write("limit.txt", "3")
    assert project.states() == {"v": "stale"}
    assert project.outcomes(expect=1) == {"v": "failed"}


QUEUE_WORKER = '''
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from datamake import asset

    JOBS = queue.Queue()
    POOL = ThreadPoolExecutor(1)
    POOL.submit(int).result()  # its thread started at import too: the items an asset hands it are its own


    def read(name):
        with open(name) as f:
            return f.read().strip()


    def serve():
        while True:
            name, reply = JOBS.get()
            reply.put(read(name))


    threading.Thread(target=serve, name="reader", daemon=True).start()


    @asset
    def v():
        reply = queue.Queue()
        JOBS.put(("".join(["in", "put", ".txt"]), reply))  # (no file name in its code: read only by the thread)
        return reply.get()


    @asset
    def w():
        out = []
        mine = threading.Thread(target=lambda: out.append(read("own.txt")))
        mine.start()
        mine.join()
        return out[0] + POOL.submit(read, "pooled.txt").result()
'''


def test_a_file_a_thread_started_at_import_reads_for_an_asset_counts_for_it_and_is_named(project):
    project.pipeline(QUEUE_WORKER)
    for name in ("input.txt", "own.txt", "pooled.txt"):
        project.write(name, "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'v' read input.txt" in proc.stderr, proc.stderr  # read for the item v put: v's own
    assert "a thread it did not start" not in proc.stderr  # its own thread's reads, and its pool items', are its own
    assert project.states() == {"v": "fresh", "w": "fresh"}
    project.write("input.txt", "2")
    assert project.states() == {"v": "stale", "w": "fresh"}
    assert project.outcomes() == {"v": "built", "w": "skipped"}
    assert stored_value(project, "v") == "2"


def test_the_warning_about_threads_left_running_names_the_asset_that_started_them(project):
    project.pipeline('''
        import threading

        from datamake import asset

        forever = threading.Event()


        @asset
        def leaks():
            threading.Thread(target=forever.wait, name="left-running").start()
            return 2
    ''')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "('left-running' started by asset 'leaks')" in proc.stderr, proc.stderr


def test_the_import_system_trying_a_path_entry_as_a_zip_is_not_a_read_of_the_asset(project):
    project.pipeline('''
        import importlib.metadata
        import sys

        from datamake import asset

        sys.path.append("__editable__.shop-1.0.finder.__path_hook__")  # as an editable install adds


        @asset
        def plugins():
            return len(importlib.metadata.entry_points(group="datamake.nothing"))
    ''')
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "__path_hook__" not in proc.stderr, proc.stderr
