"""Reads a worker thread does for assets other than the one that started it: fed through a
queue.SimpleQueue or a queue.Queue subclass that keeps or hands out its items its own way, and the
folders and environment variables a thread started at import reads while an asset runs. Editing what such a read
saw must make the asset it was for stale."""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.test_execution_soundness import stored_value
from tests.test_queue_reads import SHARED_WORKER

OWN_STORAGE = '''
    class Jobs(queue.Queue):  # keeps its items in a list of its own
        def _init(self, maxsize):
            self.items = []

        def _qsize(self):
            return len(self.items)

        def _put(self, item):
            self.items.append(item)

        def _get(self):
            return self.items.pop(0)


    JOBS = Jobs()
'''

# the items it hands out are copies of those put: no record of who put an item can follow it
COPIES = '''
    class Jobs(queue.Queue):
        def _put(self, item):
            self.queue.append(list(item))

        def _get(self):
            return tuple(self.queue.popleft())


    JOBS = Jobs()
'''

# its own put and get, past _put and _get: no record of who put an item can follow it either
OWN_PUT_GET = '''
    class Jobs(queue.Queue):
        def put(self, item):
            with self.not_empty:
                self.queue.append(item)
                self.not_empty.notify()

        def get(self):
            with self.not_empty:
                while not self.queue:
                    self.not_empty.wait()
                return self.queue.popleft()


    JOBS = Jobs()
'''

QUEUES = {"SimpleQueue": "JOBS = queue.SimpleQueue()",
          "_queue.SimpleQueue": "import _queue\nJOBS = _queue.SimpleQueue()",
          "own storage": OWN_STORAGE}
UNTOLD = {"copies": COPIES, "own put and get": OWN_PUT_GET}


def shared_worker(jobs: str) -> str:
    """The shared worker pipeline, its queue made by ``jobs``."""
    jobs = textwrap.indent(textwrap.dedent(jobs).strip("\n"), "    ")
    return SHARED_WORKER.replace("    JOBS = queue.Queue()\n", jobs + "\n")


def states(project, **env) -> dict:
    proc = project.run("status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {a["key"]: a for a in json.loads(proc.stdout)["assets"]}


def built_side_by_side(project):
    """``make -j2`` on threads of the shared-worker pipeline, with its files a.txt and b.txt written first."""
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "-j2", "--executor", "thread")
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("jobs", list(QUEUES.values()), ids=list(QUEUES))
def test_a_file_a_worker_started_by_another_asset_reads_for_an_asset_makes_only_it_stale(project, jobs):
    project.pipeline(shared_worker(jobs))
    built_side_by_side(project)
    project.write("b.txt", "2")
    assets = states(project)
    assert assets["b"]["state"] == "stale", assets["b"]
    assert "b.txt" in assets["b"]["reasons"][0]["message"], assets["b"]
    assert assets["a"]["state"] == "fresh", assets["a"]  # the worker a started read b.txt for b alone
    assert project.outcomes("-j2", "--executor", "thread") == {"a": "skipped", "b": "built"}
    assert stored_value(project, "b") == "2"
    project.write("a.txt", "2")
    assert {key: a["state"] for key, a in states(project).items()} == {"a": "stale", "b": "fresh"}


@pytest.mark.parametrize("jobs", list(QUEUES.values()), ids=list(QUEUES))
def test_a_worker_started_at_import_reads_for_the_asset_that_put_the_item_alone(project, jobs):
    project.pipeline(shared_worker(jobs) + '''

    ask("".join(["a", ".txt"]))  # the worker starts at import
''')
    proc = built_side_by_side(project)
    assert "a thread it did not start" not in proc.stderr, proc.stderr
    project.write("b.txt", "2")
    assert project.states() == {"a": "fresh", "b": "stale"}


@pytest.mark.parametrize("jobs", list(UNTOLD.values()), ids=list(UNTOLD))
def test_a_worker_whose_queue_cannot_tell_who_put_an_item_reads_for_every_asset_running_and_is_named(project, jobs):
    project.pipeline(shared_worker(jobs))
    proc = built_side_by_side(project)
    assert "while asset 'b' ran, a thread it did not start" in proc.stderr, proc.stderr
    assert "'reader' read " in proc.stderr, proc.stderr  # (its first read while b ran: a.txt or b.txt)
    project.write("b.txt", "2")
    assert states(project)["b"]["state"] == "stale"  # over-rebuilt maybe (a too), never wrongly fresh
    assert project.outcomes("-j2", "--executor", "thread")["b"] == "built"
    assert stored_value(project, "b") == "2"


IMPORT_TIME_LISTER = '''
    import glob
    import os
    import threading

    from datamake import asset

    # (no folder nor variable name in v's code: read only by the thread)
    ASKED, DONE, OUT = threading.Event(), threading.Event(), []


    def serve():
        while True:
            ASKED.wait()
            ASKED.clear()
            OUT.append((sorted(glob.glob("inbox/*.txt")), os.environ.get("".join(["SC", "ALE"]), "1")))
            DONE.set()


    threading.Thread(target=serve, name="lister", daemon=True).start()


    @asset
    def v():
        DONE.clear()
        ASKED.set()
        DONE.wait(10)
        return OUT[-1]
'''


def test_a_folder_a_thread_started_at_import_lists_while_an_asset_runs_counts_for_it(project):
    project.pipeline(IMPORT_TIME_LISTER)
    project.write("inbox/1.txt", "1")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "'lister' read inbox/" in proc.stderr, proc.stderr
    assert project.states() == {"v": "fresh"}
    project.write("inbox/2.txt", "2")
    assert project.states() == {"v": "stale"}
    assert project.outcomes() == {"v": "built"}
    assert stored_value(project, "v") == (["inbox/1.txt", "inbox/2.txt"], "1")


def test_a_variable_a_thread_started_at_import_reads_while_an_asset_runs_counts_for_it(project):
    project.pipeline(IMPORT_TIME_LISTER)
    project.write("inbox/1.txt", "1")
    proc = project.run("make", env={"SCALE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert states(project, SCALE="1")["v"]["state"] == "fresh"
    assert states(project, SCALE="2")["v"]["state"] == "stale"
