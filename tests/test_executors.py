"""Contract tests run against every executor: in-process, threads, processes and Dask.

Each test drives the real ``datamake`` command on a throwaway project. The Dask
case uses one LocalCluster with two worker processes, started once per session;
the projects point ``[execution] address`` at it, so its long-lived workers also
prove that an edited pipeline is re-imported between runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datamake.core.hashing import hash_file
from datamake.storage.store import Store

EXECUTORS = ["inprocess", "thread", "process", "dask"]
OUTCOMES = ("built", "cached", "skipped", "failed", "blocked")


@pytest.fixture(params=EXECUTORS)
def executor_toml(request) -> str:
    """The [execution] table for one executor, two jobs where that means anything."""
    name = request.param
    jobs = 1 if name == "inprocess" else 2
    lines = ["[execution]", f'executor = "{name}"', f"jobs = {jobs}"]
    if name == "dask":
        lines.append(f'address = "{request.getfixturevalue("dask_address")}"')
    return "\n".join(lines) + "\n"


SCENARIO = '''
import os
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def a():
    return 1  # VALUE


@asset
def b(a, context):
    context.log.info("hello from b, a=%s", a)
    return a * 2  # B


@asset
def c(a):
    return a + 1


@asset
def d(b, c):
    return {"b": b, "c": c, "sum": b + c}


@asset
def parity(a):
    return a % 2


@asset
def after_parity(parity):
    return f"parity {parity}"


@asset(retries=2, retry_delay=0.01)
def flaky():
    path = os.path.join(HERE, "attempts")
    n = int(open(path).read()) + 1 if os.path.exists(path) else 1
    with open(path, "w") as f:
        f.write(str(n))
    if n < 3:
        raise OSError(f"flaky attempt {n}")
    return n
'''


def line_outcomes(stdout: str) -> dict:
    """Outcomes from the one-line-per-asset log of `make -v`."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in OUTCOMES:
            found[words[1]] = words[0]
    return found


def values(root: Path, *keys: str) -> dict:
    store = Store(str(root / ".datamake"))
    manifests = store.read_manifests(keys)
    return {k: store.load(m) for k, m in manifests.items()}


def edit(project, old: str, new: str) -> None:
    path = project.root / "pipeline.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_build_logs_retries_early_cutoff_and_edits(project, executor_toml):
    project.pipeline(SCENARIO, executor_toml)

    first = project.run("make", "-v")
    assert first.returncode == 0, first.stdout + first.stderr
    assert line_outcomes(first.stdout) == dict.fromkeys(["a", "b", "c", "d", "parity", "after_parity", "flaky"], "built")
    assert "b | hello from b, a=1" in first.stderr  # -v shows the asset's own log lines
    assert (project.root / "attempts").read_text() == "3"  # two failures retried with back-off
    assert values(project.root, "d", "flaky") == {"d": {"b": 2, "c": 2, "sum": 4}, "flaky": 3}

    assert set(project.outcomes().values()) == {"skipped"}  # nothing stale: nothing runs

    edit(project, "return 1  # VALUE", "return 3  # VALUE")  # long-lived workers must see this
    after = project.outcomes()
    assert after == {"a": "built", "b": "built", "c": "built", "d": "built",
                     "parity": "built", "after_parity": "skipped", "flaky": "skipped"}  # early cutoff
    assert values(project.root, "d")["d"] == {"b": 6, "c": 4, "sum": 10}


def test_corrupt_input_is_reported_and_rebuilt(project, executor_toml, monkeypatch):
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # a's value in a file, rotted below
    project.pipeline(SCENARIO, executor_toml)
    project.run("make", "b", check=True)
    store = Store(str(project.root / ".datamake"))
    manifest = store.read_manifests(["a"])["a"]
    path = Path(store.artifact_path(manifest.artifact))
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01  # same size: only the hash check can tell
    before = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # bit rot: the bytes change, not the stat
    assert project.states("b") == {"a": "fresh", "b": "fresh"}

    edit(project, "return a * 2  # B", "return 2 * a  # B")  # b must run, and load a
    proc = project.run("make", "-v", "b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "artifact_missing: the artifact of 'a' failed its hash check" in proc.stderr
    assert line_outcomes(proc.stdout) == {"a": "built", "b": "built"}
    with open(path, "rb") as f:
        assert hash_file(f) == manifest.artifact  # rebuilt, whole again
    assert values(project.root, "b") == {"b": 2}


FAILING = '''
from datamake import asset


@asset
def good():
    return "ok"


@asset
def bad():
    raise ValueError("boom")


@asset
def after_bad(bad):
    return bad


@asset
def after_good(good):
    return good + "!"
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread", "process"])  # failures are plain values on Dask too
def test_failure_is_isolated_with_keep_going(project, executor):
    project.pipeline(FAILING, f'[execution]\nexecutor = "{executor}"\njobs = 2\n')
    report = project.json("make", "-k", expect=1)
    by_key = {a["key"]: a for a in report["assets"]}
    assert {k: a["outcome"] for k, a in by_key.items()} == {
        "good": "built", "bad": "failed", "after_bad": "blocked", "after_good": "built"}
    assert "ValueError: boom" in by_key["bad"]["error"]
    assert report["ok"] is False
    assert project.states() == {"good": "fresh", "after_good": "fresh", "bad": "stale", "after_bad": "stale"}


DYING = '''
import os
from datamake import asset


@asset
def dies():
    os._exit(3)


@asset
def survivor():
    return 1


@asset
def later(survivor):
    return survivor + 1
'''


QUEUED_AFTER_FAILURE = '''
import os
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def a_bad():
    raise ValueError("boom")


@asset
def b_good():
    open(os.path.join(HERE, "b_good-ran"), "w").close()
    return 1
'''


def test_an_asset_queued_behind_a_failure_does_not_start_without_keep_going(project):
    # One worker: b_good waits in the pool's queue behind a_bad; without -k nothing starts after a failure.
    project.pipeline(QUEUED_AFTER_FAILURE, '[execution]\nexecutor = "process"\njobs = 1\n')
    report = project.json("make", expect=1)
    assert {a["key"]: a["outcome"] for a in report["assets"]} == {"a_bad": "failed", "b_good": "blocked"}
    assert not (project.root / "b_good-ran").exists()
    assert project.outcomes("-k", expect=1) == {"a_bad": "failed", "b_good": "built"}  # -k: it goes on


def test_process_worker_death_fails_only_its_asset(project):
    project.pipeline(DYING, '[execution]\nexecutor = "process"\njobs = 1\n')
    report = project.json("make", "-k", expect=1)
    by_key = {a["key"]: a for a in report["assets"]}
    assert {k: a["outcome"] for k, a in by_key.items()} == {"dies": "failed", "survivor": "built", "later": "built"}
    assert "worker failed" in by_key["dies"]["error"]


DIES_BESIDE_A_RUNNING_ASSET = '''
import os
import time
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def dies():
    while not os.path.exists(os.path.join(HERE, "running")):  # the other worker is busy with `runs`
        time.sleep(0.01)
    with open(os.path.join(HERE, "dying"), "w") as f:
        f.write(str(os.getpid()))
    os._exit(3)


@asset
def runs():
    open(os.path.join(HERE, "running"), "w").close()
    path = os.path.join(HERE, "dying")
    while not os.path.exists(path) or not os.path.getsize(path):
        time.sleep(0.01)
    pid = int(open(path).read())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the dead worker has been reaped by the pool
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    return 1
'''


def test_a_dying_worker_fails_only_the_asset_it_ran(project):
    # Two workers: `dies` ends its process while `runs` is running in the other one, which goes on.
    project.pipeline(DIES_BESIDE_A_RUNNING_ASSET, '[execution]\nexecutor = "process"\njobs = 2\n')
    report = project.json("make", "-k", expect=1)
    by_key = {a["key"]: a for a in report["assets"]}
    assert {k: a["outcome"] for k, a in by_key.items()} == {"dies": "failed", "runs": "built"}
    assert "worker failed" in by_key["dies"]["error"] and "exit code 3" in by_key["dies"]["error"]


WAITS_FOR_EVER = '''
import os
import time
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def waits():
    with open(os.path.join(HERE, "worker.pid"), "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.01)
'''


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_process_workers_die_with_a_killed_make(project):
    project.pipeline(WAITS_FOR_EVER, '[execution]\nexecutor = "process"\n')
    make = subprocess.Popen([sys.executable, "-m", "datamake", "make"], cwd=project.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = project.root / "worker.pid"
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert make.poll() is None and time.monotonic() < deadline, "the asset never started"
            time.sleep(0.01)
        worker = int(pid_file.read_text())
        assert worker != make.pid and _running(worker)
    finally:
        make.send_signal(signal.SIGKILL)
        make.wait()
    deadline = time.monotonic() + 30
    while _running(worker):
        assert time.monotonic() < deadline, "the worker outlived its killed parent"
        time.sleep(0.01)


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_other_processes_cannot_use_a_memory_store(project, executor):
    project.pipeline(FAILING, f'[storage]\nroot = "memory://dm-{executor}"\n[execution]\nexecutor = "{executor}"\n')
    proc = project.run("make", "good")
    assert proc.returncode == 2
    assert f"executor '{executor}' cannot reach the in-memory store" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_dask_scheduler_is_a_clear_error(project):
    pytest.importorskip("distributed")
    project.pipeline(FAILING, '[execution]\nexecutor = "dask"\naddress = "tcp://127.0.0.1:9"\n')
    proc = project.run("make", "good")
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr


SLOW = '''
import os
import time
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def quick():
    return 1


@asset
def slow(quick):
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(HERE, "release")):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released this asset")
        time.sleep(0.01)
    return quick + 1
'''


def test_live_progress_on_a_terminal_and_plain_lines_otherwise(project):
    import pty
    import subprocess

    project.pipeline(SLOW)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make"], cwd=project.root,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    screen = b""
    try:
        while b"running: slow" not in screen:  # the status line names the running asset
            screen += os.read(master, 4096)
        assert b"[1 built, 0 cached, 0 up to date, 0 failed, 1 remaining]" in screen
        (project.root / "release").touch()
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
        if proc.poll() is None and b"running: slow" not in screen:
            proc.kill()  # it never got as far: do not leave it behind
        proc.wait(timeout=120)
    assert proc.returncode == 0
    final = screen.decode().replace("\r\n", "\n").split("\n")
    assert any("done: 2 built, 0 cached, 0 up to date in " in line for line in final)

    plain = project.run("make", "-B")  # not a terminal: one plain line per asset, no redraws
    assert "\x1b" not in plain.stdout and "\r" not in plain.stdout
    assert [line.split()[:2] for line in plain.stdout.strip().splitlines()] == [
        ["built", "quick"], ["built", "slow"], ["done:", "2"]]


def test_long_lived_dask_workers_run_the_edited_helper_module(project, dask_address):
    """Workers keep imported modules between runs: an edited helper must still be the code that runs."""
    project.pipeline('''
        from datamake import asset
        import dask_helper

        @asset(io_manager="json")
        def value():
            return dask_helper.compute()
    ''', f'[execution]\nexecutor = "dask"\njobs = 2\naddress = "{dask_address}"\n')
    project.write("dask_helper.py", "def compute():\n    return 1\n")
    assert project.outcomes() == {"value": "built"}
    import distributed

    def import_helper(root):
        import importlib
        import sys

        sys.path.insert(0, root)
        return importlib.import_module("dask_helper").compute()

    with distributed.Client(dask_address, set_as_default=False) as client:  # every worker holds the module now
        assert set(client.run(import_helper, str(project.root)).values()) == {1}
    project.write("dask_helper.py", "def compute():\n    return 2\n")
    assert project.outcomes() == {"value": "built"}
    assert project.run("show", "value", check=True).stdout.strip().splitlines()[-1] == "2"
    assert project.states() == {"value": "fresh"}
