"""A file a long-lived worker thread reads for an item another asset put on its queue.Queue: the read
counts for the asset that put the item, not only for the asset that started the thread."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value

SHARED_WORKER = '''
    import queue
    import threading

    from datamake import asset

    JOBS = queue.Queue()
    WORKER = []
    ASKED = threading.Event()  # set by a once its own file was read: b asks while a still runs


    def serve():
        while True:
            name, reply = JOBS.get()
            with open(name) as f:
                reply.put(f.read().strip())


    def ask(name):
        if not WORKER:
            WORKER.append(threading.Thread(target=serve, name="reader", daemon=True))
            WORKER[0].start()
        reply = queue.Queue()
        JOBS.put((name, reply))
        return reply.get()


    @asset
    def a():
        A_RUNS.set()
        got = ask("".join(["a", ".txt"]))  # (no file name in its code: read only by the thread)
        ASKED.set()
        B_DONE.wait(10)
        return got


    A_RUNS = threading.Event()  # (a make that rebuilds b alone does not run a: b waits for it 2 s, not 10)
    B_DONE = threading.Event()


    @asset
    def b():
        if A_RUNS.wait(2):
            ASKED.wait(10)
        try:
            return ask("".join(["b", ".txt"]))
        finally:
            B_DONE.set()
'''


def test_a_file_a_worker_started_by_another_asset_reads_for_an_asset_makes_it_stale(project):
    project.pipeline(SHARED_WORKER)
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "-j2", "--executor", "thread")
    assert proc.returncode == 0, proc.stderr
    project.write("b.txt", "2")
    assets = {s["key"]: s for s in project.json("status")["assets"]}
    assert assets["b"]["state"] == "stale", assets["b"]
    assert "b.txt" in assets["b"]["reasons"][0]["message"], assets["b"]
    # the worker a started read b.txt for the item b put: b's read alone, a is not rebuilt for it
    assert assets["a"]["state"] == "fresh", assets["a"]
    assert project.outcomes("-j2", "--executor", "thread") == {"a": "skipped", "b": "built"}
    assert stored_value(project, "b") == "2"


def test_a_worker_started_at_import_reads_for_the_asset_that_put_the_item_alone(project):
    project.pipeline(SHARED_WORKER + '''

    ask("".join(["a", ".txt"]))  # the worker starts at import
''')
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "-j2", "--executor", "thread")
    assert proc.returncode == 0, proc.stderr
    assert "a thread it did not start" not in proc.stderr, proc.stderr  # each read is for the asset that asked
    project.write("b.txt", "2")
    assert project.states() == {"a": "fresh", "b": "stale"}


@pytest.mark.parametrize("kind", ["LifoQueue", "PriorityQueue"])
def test_a_worker_fed_through_another_kind_of_queue_reads_for_the_asset_that_asked(project, kind):
    project.pipeline(SHARED_WORKER.replace("JOBS = queue.Queue()", f"JOBS = queue.{kind}()"))
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "-j2", "--executor", "thread")
    assert proc.returncode == 0, proc.stderr
    project.write("b.txt", "2")
    assert project.states()["b"] == "stale", proc.stderr  # the same, whatever order the queue keeps
