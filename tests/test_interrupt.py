"""Ctrl-C during `datamake make`, as a terminal sends it: SIGINT to the whole process group.

The running asset writes a marker file and then waits at the test's gate (a socket), so
the test knows exactly when to interrupt and when to let the asset finish;
nothing depends on sleeping long enough.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

HELPERS = '''
import os
from datamake import asset

HERE = os.path.dirname(os.path.abspath(__file__))


def hold(marker, release):
    open(os.path.join(HERE, marker), "w").close()
    wait_at_gate(GATE_PORT, release)
'''

PIPELINE = HELPERS + '''

@asset
def slow():
    hold("started", "release")
    return 42


@asset
def after_slow(slow):
    hold("started2", "release2")
    return slow + 1
'''

EXECUTORS = {
    "inprocess": '[execution]\nexecutor = "inprocess"\n',
    "thread": '[execution]\nexecutor = "thread"\njobs = 2\n',
    "process": '[execution]\nexecutor = "process"\njobs = 2\n',
    "dask": '[execution]\nexecutor = "dask"\njobs = 2\n',  # a LocalCluster that datamake starts itself
}


class Make:
    """A `datamake make` in its own process group, interrupted the way a terminal does it."""

    launched = []  # every process group started, ended at teardown if a test left one behind

    def __init__(self, project, *args: str):
        self.project = project
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "datamake", "make", *args], cwd=project.root,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.err_lines = []
        Make.launched.append(self.proc)

    def wait_for_file(self, name: str, limit: float = 120) -> None:
        path = self.project.root / name
        deadline = time.monotonic() + limit
        while not path.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"make exited {self.proc.returncode} before writing {name}\n{out}\n{err}")
            assert time.monotonic() < deadline, f"{name} never appeared"
            time.sleep(0.01)

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait_for_stderr(self, text: str) -> None:
        for line in self.proc.stderr:
            self.err_lines.append(line)
            if text in line:
                return
        pytest.fail(f"stderr ended without {text!r}:\n{''.join(self.err_lines)}")

    def finish(self):
        try:
            out, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
            pytest.fail(f"make did not exit\n{out}\n{''.join(self.err_lines)}{err}")
        return self.proc.returncode, out, "".join(self.err_lines) + err


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    yield
    while Make.launched:
        proc = Make.launched.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(params=list(EXECUTORS))
def slow_project(request, project, gate):
    project.pipeline(gate.code(PIPELINE), EXECUTORS[request.param])
    return project


def test_first_ctrl_c_finishes_running_assets_and_a_second_aborts_at_once(slow_project, gate):
    project = slow_project

    # 1. Ctrl-C once: nothing new starts, the running asset finishes and is recorded.
    code, out, err = interrupt_once(project, gate)
    assert code == 130, out + err
    lines = out.strip().splitlines()
    assert lines[0].split()[:2] == ["built", "slow"]
    assert lines[1].split()[:2] == ["blocked", "after_slow"] and "the run was interrupted" in lines[1]
    assert lines[-1].startswith("interrupted: 1 built, 0 cached, 0 up to date, 1 blocked in ")
    assert "Traceback" not in err

    # 2. Ctrl-C twice while an asset runs (and would run for ever): abort now, record nothing of it.
    make = Make(project)
    make.wait_for_file("started2")
    make.ctrl_c()
    make.wait_for_stderr("interrupted: finishing running assets")
    make.ctrl_c()
    code, out, err = make.finish()
    assert code == 130, out + err
    assert "blocked  after_slow  interrupted while running; nothing was recorded" in out
    assert out.strip().splitlines()[-1].startswith("interrupted: 0 built, 0 cached, 1 up to date, 1 blocked")
    assert "Traceback" not in err
    assert not (project.root / ".datamake" / "manifests" / "after_slow.json").exists()

    # 3. What finished is kept; what was abandoned is simply stale, and the next make builds it.
    assert project.states() == {"slow": "fresh", "after_slow": "stale"}
    gate.release("release2")
    assert project.outcomes("--executor", "thread") == {"slow": "skipped", "after_slow": "built"}
    assert list((project.root / ".datamake" / "tmp").glob("*")) == []


def interrupt_once(project, gate):
    """Ctrl-C once while the asset that writes ``started`` runs, then release it; (exit code, stdout, stderr)."""
    make = Make(project)
    make.wait_for_file("started")
    make.ctrl_c()
    make.wait_for_stderr("interrupted: finishing running assets (Ctrl-C again to abort)")
    gate.release("release")
    return make.finish()


QUEUED = HELPERS + '''

@asset
def first():
    hold("started", "release")
    return 1


@asset
def second():
    hold("second-ran", "release")  # its marker tells the test it started
    return 2
'''


def test_ctrl_c_keeps_an_asset_queued_in_the_process_pool_from_starting(project, gate):
    # One worker: `second` waits in the pool behind `first` (handed to the worker as soon as it frees up,
    # without waiting for the coordinator); Ctrl-C must keep it from starting all the same. It comes back
    # unrun at once, so it may be reported before `first` finishes.
    project.pipeline(gate.code(QUEUED), '[execution]\nexecutor = "process"\njobs = 1\n')
    code, out, err = interrupt_once(project, gate)
    assert code == 130, out + err
    lines = out.strip().splitlines()
    assert sorted(line.split()[:2] for line in lines[:2]) == [["blocked", "second"], ["built", "first"]]
    assert "the run was interrupted" in next(line for line in lines if "second" in line)
    assert not (project.root / "second-ran").exists()
    assert project.states() == {"first": "fresh", "second": "stale"}


FORKS = '''
import multiprocessing
import os
import signal
from datamake import asset


def stop_myself():
    os.kill(os.getpid(), signal.SIGTERM)  # what Pool.terminate (a `with Pool()` block's end) sends a worker


def square(x):
    return x * x


@asset
def child_exit():
    child = multiprocessing.get_context("fork").Process(target=stop_myself)
    child.start()
    child.join()
    return child.exitcode


@asset
def pooled():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sum(pool.map(square, range(10)))
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread"])
def test_a_process_an_asset_forks_ends_on_sigterm_as_any_process_does(project, executor):
    """The coordinator's SIGTERM handler is for `make` alone: a forked child that inherited it kept running
    after SIGTERM (a `with Pool(...)` block could wait for its workers for ever) or printed the coordinator's
    "terminated" message and a traceback."""
    from tests.test_execution_soundness import stored_value

    project.pipeline(FORKS, EXECUTORS[executor])
    result = project.run("make")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stored_value(project, "child_exit") == -signal.SIGTERM
    assert stored_value(project, "pooled") == 285
    assert "terminated" not in result.stderr and "Traceback" not in result.stderr, result.stderr
