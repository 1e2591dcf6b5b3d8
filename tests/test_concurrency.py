"""Two `datamake make` processes on one local store: the second waits, names the first, builds nothing twice."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from datamake.storage.lock import LockHolder, store_lock
from datamake.storage.store import Store

PIPELINE = '''
import os
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


@asset
def slow():
    with open(os.path.join(HERE, "runs.log"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    open(os.path.join(HERE, "started"), "w").close()
    wait_at_gate(GATE_PORT, "release")
    return 42


@asset
def report(slow):
    return f"value {slow}"
'''


_launched = []


def start_make(project, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make", "--json", *args], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _launched.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    yield
    while _launched:
        proc = _launched.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_file(path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def read_stderr_until(proc: subprocess.Popen, text: str) -> str:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return line
    pytest.fail(f"stderr ended without {text!r}: {''.join(seen)}")


def outcomes(stdout: str) -> dict:
    return {a["key"]: a["outcome"] for a in json.loads(stdout)["assets"]}


def test_second_make_waits_names_the_first_and_builds_nothing_twice(project, gate):
    project.pipeline(gate.code(PIPELINE))
    first = start_make(project)
    wait_for_file(project.root / "started", first)

    second = start_make(project)
    line = read_stderr_until(second, "datamake: waiting for")
    assert f"datamake make (pid {first.pid} on {socket.gethostname()}" in line
    assert str(project.root / ".datamake") in line

    gate.release("release")
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert outcomes(out1) == {"slow": "built", "report": "built"}
    assert outcomes(out2) == {"slow": "skipped", "report": "skipped"}  # planned after the first finished
    assert len((project.root / "runs.log").read_text().splitlines()) == 1


def test_a_killed_holder_frees_the_lock_at_once(project, gate):
    project.pipeline(gate.code(PIPELINE))
    first = start_make(project)
    wait_for_file(project.root / "started", first)
    second = start_make(project)
    read_stderr_until(second, f"(pid {first.pid} ")

    first.send_signal(signal.SIGKILL)
    first.wait()
    gate.release("release")
    out2, err2 = second.communicate(timeout=120)
    assert second.returncode == 0, err2
    assert outcomes(out2) == {"slow": "built", "report": "built"}


def test_without_fcntl_make_refuses_to_run_unlocked_and_builds_nothing(project):
    # Only POSIX is supported: a system without fcntl (Windows) has no lock that keeps two runs apart,
    # so `make` on a local store says so instead of racing another run.
    project.pipeline("""
        import os
        from datamake import asset

        @asset
        def built():
            open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran"), "w").close()
            return 1
        """)
    no_fcntl = ("import runpy, sys; sys.modules['fcntl'] = None; sys.argv = ['datamake', 'make']; "
                "runpy.run_module('datamake', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", no_fcntl], cwd=project.root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no fcntl" in proc.stderr and "POSIX" in proc.stderr and "WSL" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project.root / "ran").exists()


def test_holder_description_and_unlocked_object_stores(tmp_path):
    holder = LockHolder(pid=12, host="box", command="datamake make", started=0.0)
    assert holder.describe().startswith("datamake make (pid 12 on box, since ")
    assert LockHolder.parse(b"not json").describe() == "another datamake process"
    with store_lock(Store("memory://dm-lock-test")) as held:  # no portable lock on object stores
        assert held is None
    with store_lock(Store(str(tmp_path / "store"))):
        assert (tmp_path / "store" / "lock").exists()
