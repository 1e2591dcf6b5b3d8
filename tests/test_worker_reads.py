"""Reads a worker thread does for assets other than the one that started it: the folders and environment
variables a thread started at import reads while an asset runs. Editing what such a read saw must make
the asset it was for stale."""
from __future__ import annotations

import json

from tests.test_execution_soundness import stored_value


def states(project, **env) -> dict:
    proc = project.run("status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {a["key"]: a for a in json.loads(proc.stdout)["assets"]}


IMPORT_TIME_LISTER = '''
    import glob
    import os
    import threading

    from datamake import asset

    ASKED, DONE, OUT = threading.Event(), threading.Event(), []  # (no variable name in its code: read only by the thread)


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
