"""Failure handling as a skeptical user meets it: an asset that exits, a run stopped by SIGTERM,
a damaged store. Each test sets up, breaks something, and checks what a user sees: the message,
the exit code and the values kept.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import teammates

EXITS = '''
import sys
from datamake import asset

@asset
def exits():
    sys.exit(3)

@asset
def good():
    return 1

@asset
def after(good):
    return good + 1
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread", "process"])
def test_an_asset_calling_sys_exit_fails_alone_and_the_rest_is_built(project, executor):
    project.pipeline(EXITS, f'[execution]\nexecutor = "{executor}"\n')
    proc = project.run("make", "-k")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed   exits  SystemExit: 3 (the function called sys.exit(); raise an exception" in proc.stdout
    assert "built    after" in proc.stdout
    assert project.states() == {"exits": "stale", "good": "fresh", "after": "fresh"}


WAITS = '''
import os
import time
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))

@asset
def first():
    return 1

@asset
def second(first):
    return first + 1

@asset
def endless(second):
    open(os.path.join(HERE, "started"), "w").close()
    while True:
        time.sleep(0.05)
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread", "process"])
def test_sigterm_stops_make_at_once_and_keeps_what_was_built(project, executor):
    project.pipeline(WAITS, f'[execution]\nexecutor = "{executor}"\n')
    make = subprocess.Popen([sys.executable, "-m", "datamake", "make"], cwd=project.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (project.root / "started").exists():
            assert make.poll() is None and time.monotonic() < deadline, make.communicate()
            time.sleep(0.01)
        make.send_signal(signal.SIGTERM)  # what timeout, a CI cancel or docker stop sends
        out, err = make.communicate(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert make.returncode == 130, out + err
    assert "terminated: stopping running assets; what was built is kept" in err
    assert "blocked  endless  interrupted while running; nothing was recorded" in out
    assert "Traceback" not in err
    assert project.states() == {"first": "fresh", "second": "fresh", "endless": "stale"}


PLAIN = '''
from datamake import asset

@asset
def one():
    return 1

@asset
def two(one):
    return one + 1
'''


def test_a_corrupt_local_pack_names_the_way_out_and_gc_runs_once_it_is_deleted(project):
    project.pipeline(PLAIN)
    project.run("make", check=True)
    (pack,) = (project.root / ".datamake" / "packs").iterdir()
    pack.write_bytes(pack.read_bytes()[:-40])  # a torn write, or a disk that lost a block

    made = project.run("make")
    assert made.returncode == 0 and "built    two" in made.stdout, made.stdout + made.stderr
    fix = f"`datamake make` rebuilds its assets; then delete it (rm {pack})"
    assert fix in made.stderr  # no remote is configured: pull and push are no way out
    gc = project.run("gc")
    assert gc.returncode == 1 and "gc deferred, nothing deleted" in gc.stderr and fix in gc.stderr, gc.stderr

    pack.unlink()  # as told
    assert project.states() == {"one": "fresh", "two": "fresh"}
    gc = project.run("gc")
    assert gc.returncode == 0 and "corrupt" not in gc.stderr, gc.stdout + gc.stderr


def _as_a_newer_datamake_writes_it(path, rename: bool):
    """Rewrite a remote object as a newer datamake would: a newer format number and a field unknown here."""
    import json

    from datamake.core.hashing import hash_bytes

    body = json.loads(path.read_bytes())
    entries = [body] if "format" in body else body["manifests"] + body["actions"]
    if "datamake_pack" in body:
        body["datamake_pack"] += 1
    for entry in entries:
        entry["format"] += 1
        entry["lineage"] = {}
    raw = json.dumps(body).encode()
    path.unlink()
    target = path.with_name(f"{hash_bytes(raw)}.json") if rename else path
    target.write_bytes(raw)
    return target


@pytest.mark.parametrize("push", ["manual", "auto"])  # a pack of a push; per-asset entries of an automatic push
def test_what_a_newer_datamake_pushed_is_left_to_it(tmp_path, push):
    remote, (newer, older) = teammates(tmp_path, PLAIN, push)
    newer.run("make", check=True)
    if push == "manual":
        newer.run("push", check=True)
    objects = [p for folder in ("packs", "actions", "manifests") for p in (remote / folder).rglob("*.json")]
    assert objects
    kept = [_as_a_newer_datamake_writes_it(p, rename=p.parent.name == "packs") for p in objects]

    for command in ("pull", "make"):
        proc = older.run(command)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "corrupt" not in proc.stderr, proc.stderr
        if push == "manual":
            assert "written by a newer datamake (pack format 2, this one reads 1): ignored; upgrade datamake" \
                in proc.stderr
        assert all(p.exists() for p in kept)  # the newer teammate's cache is not deleted from under them
    assert older.states() == {"one": "fresh", "two": "fresh"}  # built here meanwhile


WANDERS = '''
import os
from datamake import asset

@asset
def wanders():
    os.chdir(os.path.dirname(os.getcwd()))  # and does not come back
    return 1

@asset
def reads(wanders):
    with open("data/x.txt") as f:  # the project's file, by a path relative to the project
        return f.read()
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread", "process"])
def test_an_asset_leaving_the_project_folder_does_not_move_the_next_one(project, executor):
    project.pipeline(WANDERS, f'[execution]\nexecutor = "{executor}"\njobs = 1\n')
    project.write("data/x.txt", "mine")
    assert project.outcomes() == {"wanders": "built", "reads": "built"}
    show = project.run("show", "reads")
    assert show.returncode == 0 and "mine" in show.stdout, show.stdout + show.stderr


def test_show_of_a_value_whose_artifact_was_deleted_says_how_to_get_it_back(project):
    project.pipeline('from datamake import asset\n\n@asset\ndef big():\n    return b"x" * 100_000\n')
    project.run("make", check=True)
    (artifact,) = [p for p in (project.root / ".datamake" / "artifacts").rglob("*") if p.is_file()]
    artifact.unlink()
    show = project.run("show", "big")
    assert show.returncode == 1 and "Traceback" not in show.stderr, show.stderr
    assert f"artifact {artifact.name} is missing" in show.stderr
    assert "hint: run `datamake make` to rebuild it" in show.stderr
    assert project.outcomes() == {"big": "built"}
    assert "100000 bytes" in project.run("show", "big", check=True).stdout
