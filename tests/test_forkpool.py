"""The process executor's pool of forked workers, driven directly."""
from __future__ import annotations

import os
import threading

import pytest

if not hasattr(os, "fork"):  # pragma: no cover - POSIX only
    pytest.skip("no fork()", allow_module_level=True)

from datamake.execution.forkpool import ForkPool, WorkerLost


def _nothing() -> None:
    pass


def _wait_for(path: str) -> str:
    while not os.path.exists(path):
        threading.Event().wait(0.01)
    return path


def _pid() -> int:
    return os.getpid()


def _die(code: int) -> None:
    os._exit(code)


def _raise(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def pool():
    made = []

    def make(workers=1, **kw):
        made.append(ForkPool(workers, _nothing, **kw))
        return made[-1]

    yield make
    for p in made:
        p.shutdown(wait=True, cancel=True)


def test_tasks_run_in_other_processes_and_errors_come_back(pool):
    p = pool(2)
    pids = {p.submit(_pid).result(timeout=30) for _ in range(6)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    with pytest.raises(ValueError, match="boom"):
        p.submit(_raise, "boom").result(timeout=30)


def test_an_argument_that_cannot_travel_fails_its_task_and_no_other(pool):
    p = pool(1)
    bad = p.submit(_pid, threading.Lock())
    assert isinstance(bad.exception(timeout=30), TypeError) and p.began(bad)
    assert p.submit(_pid).result(timeout=30) != os.getpid()


def test_a_dead_worker_fails_its_task_and_a_new_one_runs_the_waiting(pool):
    p = pool(1)
    dying = p.submit(_die, 7)
    waiting = p.submit(_pid)  # waits in the pool behind the dying task
    error = dying.exception(timeout=30)
    assert isinstance(error, WorkerLost) and "exit code 7" in str(error)
    assert waiting.result(timeout=30) != os.getpid() and p.began(waiting)


def test_held_tasks_come_back_unrun(pool, tmp_path):
    p = pool(1)
    release = str(tmp_path / "release")
    running = p.submit(_wait_for, release)
    waiting = p.submit(_pid)
    p.hold()
    assert waiting.result(timeout=30) is None and not p.began(waiting)
    later = p.submit(_pid)
    assert later.result(timeout=30) is None and not p.began(later)
    open(release, "w").close()
    assert running.result(timeout=30) == release and p.began(running)


def test_a_value_that_stops_the_run_holds_the_waiting(pool):
    p = pool(1, stops=lambda value: value == "stop")
    first = p.submit(str, "stop")
    waiting = p.submit(_pid)
    assert first.result(timeout=30) == "stop"
    assert waiting.result(timeout=30) is None and not p.began(waiting)


def test_shutdown_ends_idle_workers_without_waiting_and_reaps_them(pool):
    p = pool(2)
    pids = {p.submit(_pid).result(timeout=30) for _ in range(4)}
    p.shutdown(wait=False)
    p._reader.join(30)
    assert not p._reader.is_alive()
    for pid in pids:
        with pytest.raises(ProcessLookupError):  # exited and reaped: no zombie left
            os.kill(pid, 0)


def _ignore_sigterm_and_wait(path: str) -> None:
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(path, "w").close()
    threading.Event().wait(120)


def test_cancelling_ends_a_busy_worker_whatever_its_task_does_with_signals(pool, tmp_path):
    p = pool(1)
    started = str(tmp_path / "started")
    busy = p.submit(_ignore_sigterm_and_wait, started)
    _wait_for(started)
    p.shutdown(wait=True, cancel=True)  # returns once the worker is gone
    assert isinstance(busy.exception(timeout=5), WorkerLost)
