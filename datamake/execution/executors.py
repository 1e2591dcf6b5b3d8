"""Executors: where ``run_task`` runs. One small class per strategy.

Each has ``capacity`` (how many tasks may run at once), ``submit(task) ->
Future`` and ``shutdown(cancel)``. The coordinator never knows which it has.
``submit(task, run)`` runs another picklable task function (op invocations).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, List, Optional

from datamake.core.errors import DatamakeError
from datamake.core.executor_names import check_executor
from datamake.execution.results import TaskResult
from datamake.execution.tasks import AssetTask, run_task

if TYPE_CHECKING:  # imported where a pool is made: an in-process build needs none of it
    import concurrent.futures as cf

    from datamake.execution.forkpool import Outcome


class InProcessExecutor:
    """Runs each task immediately in the calling thread: the fastest path for cheap assets."""

    name = "inprocess"
    shares_memory = True

    def __init__(self, jobs: int = 1):
        self.capacity = 1

    def submit(self, task: AssetTask, run=run_task) -> "Done":
        return Done(run(task))

    def shutdown(self, cancel: bool = False) -> None:
        pass


class Done:
    """A finished task's future, as the in-process executor returns it: ``done()`` is always True and
    ``result()`` gives the value (a ``concurrent.futures.Future`` would cost a lock and a condition
    per asset, for nothing to wait on)."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def result(self, timeout: Optional[float] = None):
        return self._value

    def exception(self, timeout: Optional[float] = None) -> None:
        return None


class ThreadExecutor:
    """A thread pool: good for IO-bound assets and for libraries that release the GIL."""

    name = "thread"
    shares_memory = True

    def __init__(self, jobs: int = 1):
        import concurrent.futures as cf

        self.capacity = max(1, jobs)
        self._pool = cf.ThreadPoolExecutor(self.capacity, thread_name_prefix="datamake")
        self.task_cpu_seconds = 0.0  # CPU time of the worker threads in tasks, summed (for the GIL hint)
        self._cpu_lock = threading.Lock()

    def submit(self, task: AssetTask, run=run_task) -> cf.Future:
        return self._pool.submit(self._timed, run, task)

    def _timed(self, run, task):
        started = time.thread_time()
        try:
            return run(task)
        finally:
            with self._cpu_lock:
                self.task_cpu_seconds += time.thread_time() - started

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class ProcessExecutor:
    """A pool of forked worker processes for CPU-bound Python assets; values travel through the store.

    Workers are forked once, up front (before any reporter thread starts), so they inherit the
    loaded definitions; nothing waits for them to come up (they do while the coordinator gets
    ready). They ignore SIGINT (Ctrl-C is the coordinator's to handle) and die with their parent on
    Linux. A worker that dies fails the task it ran; a fresh worker serves the rest of the run. One
    asset per worker may wait in the pool (``queue_ahead``), handed to the first worker that frees
    up, so that no worker waits for the coordinator between two assets (see
    :mod:`datamake.execution.forkpool`).
    """

    name = "process"
    shares_memory = False

    def __init__(self, jobs: int = 1):
        if not hasattr(os, "fork"):
            raise DatamakeError("the process executor forks its workers, and this system has no fork()",
                                hint='use executor = "thread" or "dask"')
        from datamake.execution.forkpool import ForkPool  # lazy: only this executor needs it

        self.capacity = max(1, jobs)
        self.queue_ahead = self.capacity  # tasks the coordinator may submit beyond ``capacity``
        self.stop_on_failure = False  # set by a run without -k: a failed asset holds the waiting ones back
        self.warnings = _threads_workers_lack()  # for the caller to show: said before anything waits on them
        self._pool = ForkPool(self.capacity, _worker_init, (os.getpid(),), stops=self._stops)

    def _stops(self, value) -> bool:
        """Whether a task's value stops the run from starting more (a failed asset, without -k)."""
        return (self.stop_on_failure and isinstance(value, TaskResult) and not value.ok
                and not value.corrupt_inputs)

    def submit(self, task: AssetTask, run=run_task) -> Outcome:
        return self._pool.submit(run, task)

    def wait(self, futures, timeout: Optional[float] = None) -> set:
        """The finished ones of ``futures`` (this pool's own), waiting at most ``timeout`` s for one."""
        return self._pool.wait(futures, timeout)

    def began(self, future: Outcome) -> bool:
        """Whether the task of a finished ``future`` began in a worker (one held back did not: its
        result is None, and it may be submitted again)."""
        return self._pool.began(future)

    def hold(self) -> None:
        """Begin no waiting task from now on (the run stops starting assets)."""
        self._pool.hold()

    def shutdown(self, cancel: bool = False) -> None:
        """End the workers. At the end of a run they are idle: nothing waits for them to exit (they
        read the end of their task pipe and leave; the pool's thread reaps them). ``cancel``: running
        tasks are abandoned, their workers terminated (they only ever wrote to tmp/)."""
        self._pool.shutdown(wait=cancel, cancel=cancel)


def _threads_workers_lack() -> List[str]:
    """A warning naming the threads the definitions started at import that still run, if any: the forked
    workers do not have them (fork copies only the calling thread), so work handed to them there waits
    for ever."""
    from datamake.define.openwatch import IMPORTED_FROM, import_threads

    threads = import_threads()
    if not threads:
        return []
    where = sorted({t.__dict__.get(IMPORTED_FROM) or "the definitions" for t in threads})
    names = ", ".join(f"{t.name!r} (running {_runs(t)})" for t in threads)
    one = len(threads) == 1
    return [f"{'thread' if one else 'threads'} {names}, started when {' and '.join(where)} "
            f"{'was' if len(where) == 1 else 'were'} imported, {'is' if one else 'are'} not in the process "
            "executor's workers: they are forked from this process, and a fork copies only the thread that "
            f"forks. Work an asset hands {'that thread' if one else 'those threads'} there is never done, and an "
            f"asset that waits for it waits for ever. Use --executor thread, or make {'the' if one else 'each'} "
            "thread (and the queue it reads) where it is used, in the asset, once per process"]


def _runs(thread: threading.Thread) -> str:
    """What a thread runs: its target's (or its class's ``run``) module and name."""
    target = getattr(thread, "_target", None) or type(thread).run
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _worker_init(parent: int) -> None:
    """In each pool worker: leave Ctrl-C to the parent, die with it (Linux)."""
    import signal  # lazy: only pool workers (an in-process build needs none of its enums)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            _prctl()(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass
    if os.getppid() != parent:  # the parent died before we could ask to die with it
        os._exit(1)


def _prctl():
    """libc's ``prctl``, called through ``_ctypes`` itself: the ``ctypes`` package would cost each
    worker about 7 M instructions (a few ms) before its first asset, for one call."""
    try:
        import _ctypes  # lazy: only process-pool workers on Linux use it

        class _Int(_ctypes._SimpleCData):
            _type_ = "i"

        class _Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = _Int

        class _Process:  # what a function pointer is looked up in: the running program (dlopen(NULL))
            _handle = _ctypes.dlopen(None)

        return _Function(("prctl", _Process()))
    except Exception:  # noqa: BLE001 - another ctypes inside: the package's own way
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl


def make_executor(name: str, jobs: int, address: Optional[str] = None):
    """The executor called ``name`` (one of :data:`~datamake.core.executor_names.EXECUTORS`) with ``jobs`` workers."""
    check_executor(name)
    if name == "dask":
        from datamake.execution.dask_executor import DaskExecutor  # lazy: only the Dask executor needs it

        return DaskExecutor(jobs, address)
    if name == "thread" and jobs == 1:
        return InProcessExecutor()
    classes = {"inprocess": InProcessExecutor, "thread": ThreadExecutor, "process": ProcessExecutor}
    return classes[name](jobs)
