"""A pool of forked worker processes: what the process executor runs its tasks on.

Each worker is forked from the coordinator's process (it inherits the loaded definitions) and has
two pipes of its own: tasks come in on one, outcomes go back on the other, each a length-prefixed
pickle of a function reference and its arguments. A thread in the parent reads the outcomes and, as
a worker hands one back, gives it the next waiting task at once, so no worker waits for the
coordinator between two tasks; a task waits in the parent, not in a worker, until a worker is free.
A task is therefore begun exactly when a worker receives it: tasks still waiting can be held back
(:meth:`ForkPool.hold`) and come back unrun. A worker that dies fails only the task it was running;
a fresh worker takes its place.

Only ``os``, ``pickle`` and ``select`` are needed: ``concurrent.futures.ProcessPoolExecutor`` and the
``multiprocessing`` machinery under it were about a quarter of the instructions a ``make -j 2`` of
a small project spent before its first asset could start. The futures are the pool's own too
(:class:`Outcome`; wait for them with :meth:`ForkPool.wait`): ``concurrent.futures`` alone, with the
``logging`` it imports, was another 6 %.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, Optional, Set, Tuple

_HEADER = 4  # bytes of the big-endian length before each message
_POOL_MODULES = ("concurrent.futures.process", "multiprocessing.pool", "joblib", "loky")  # pools a worker may inherit


class WorkerLost(Exception):
    """The worker process running a task ended before handing back its outcome."""


class Outcome:
    """A task's future: ``done()``, ``cancelled()``, ``result()`` and ``exception()`` as
    ``concurrent.futures.Future`` has them; it is settled by its pool, which wakes its waiters."""

    __slots__ = ("_pool", "_state", "_value", "_error")

    def __init__(self, pool: "ForkPool"):
        self._pool = pool
        self._state = _PENDING
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def done(self) -> bool:
        return self._state >= _DONE

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self, timeout: Optional[float] = None) -> Any:
        error = self.exception(timeout)
        if error is not None:
            raise error
        return self._value

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if not self._pool.wait([self], timeout):
            raise TimeoutError("the task is still running")
        if self._state == _CANCELLED:
            return WorkerLost("the task was cancelled: its pool was shut down")
        return self._error


_PENDING, _RUNNING, _DONE, _CANCELLED = range(4)


class _Worker:
    __slots__ = ("pid", "tasks", "outcomes", "future")

    def __init__(self, pid: int, tasks: int, outcomes: int):
        self.pid = pid
        self.tasks = tasks  # the parent's end of the task pipe (write)
        self.outcomes = outcomes  # the parent's end of the outcome pipe (read)
        self.future: Optional[Outcome] = None  # the task it runs


class ForkPool:
    """``workers`` forked processes, each first running ``initializer(*initargs)``.

    ``stops(value)``: called on each returned value in the reading thread; True holds the pool
    before the next task is handed out (a failed asset when the run stops at the first failure).
    """

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: Tuple = (),
                 stops: Optional[Callable[[Any], bool]] = None):
        self.capacity = max(1, workers)
        self._initializer, self._initargs, self._stops = initializer, initargs, stops
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified as each future settles
        self._workers: Dict[int, _Worker] = {}  # by the fd of its outcome pipe
        self._waiting: Deque[Tuple[Outcome, bytes]] = deque()
        self._unbegun: Set[Outcome] = set()
        self._held = self._closing = False
        self._wake_r, self._wake_w = os.pipe()
        for _ in range(self.capacity):  # before the reading thread exists: fork with one thread
            self._fork()
        self._reader = threading.Thread(target=self._read, name="datamake-pool", daemon=True)
        self._reader.start()

    # -- the coordinator's side ----------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Outcome:
        future = Outcome(self)
        try:
            payload = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an argument that cannot travel: that task fails
            future._state, future._error = _DONE, exc
            return future
        with self._lock:
            if self._closing:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if self._held:
                self._return_unbegun(future)
                return future
            self._waiting.append((future, payload))
            self._refill()
            self._hand_out()
        return future

    def wait(self, futures: Iterable[Outcome], timeout: Optional[float] = None) -> Set[Outcome]:
        """The settled ones of ``futures``, waiting (at most ``timeout`` seconds) until there is one."""
        futures = list(futures)
        with self._settled:
            self._settled.wait_for(lambda: any(f._state >= _DONE for f in futures), timeout)
            return {f for f in futures if f._state >= _DONE}

    def began(self, future: Outcome) -> bool:
        """Whether the task of a finished ``future`` was handed to a worker (one held back was not)."""
        with self._lock:
            if future in self._unbegun:
                self._unbegun.discard(future)
                return False
        return True

    def hold(self) -> None:
        """Hand out no more tasks: those waiting come back unrun (their result is None, not begun).
        Safe in a signal handler: it only sets a flag and wakes the reading thread, which returns them."""
        self._held = True
        _wake(self._wake_w)

    def _return_waiting(self) -> None:
        with self._lock:
            while self._waiting:
                self._return_unbegun(self._waiting.popleft()[0])

    def shutdown(self, wait: bool = True, cancel: bool = False) -> None:
        """End the workers: idle ones at once (their task pipe closes); with ``cancel``, busy ones too
        (SIGKILL: a task's own signal handlers cannot keep it), else they end after their task.
        ``wait``: until every worker has been reaped."""
        with self._lock:
            if not self._closing:
                self._closing = True
                while self._waiting:
                    self._settle(self._waiting.popleft()[0], state=_CANCELLED)
                for worker in self._workers.values():
                    _close(worker.tasks)
                    worker.tasks = -1
            if cancel:
                for worker in self._workers.values():
                    if worker.future is not None:
                        _kill(worker.pid, signal.SIGKILL)
        _wake(self._wake_w)
        if wait and self._reader is not threading.current_thread():
            self._reader.join()

    # -- workers -----------------------------------------------------------------
    def _fork(self) -> None:
        """Start one worker (lock held, or before the reading thread exists)."""
        tasks_r, tasks_w = os.pipe()
        outcomes_r, outcomes_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: keep only its own two ends, so a dead peer's pipes reach EOF
            code = 1
            try:
                for fd in [tasks_w, outcomes_r, self._wake_r, self._wake_w,
                           *(fd for w in self._workers.values() for fd in (w.tasks, w.outcomes))]:
                    _close(fd)
                if any(name in sys.modules for name in _POOL_MODULES):  # pools made at import: not usable here
                    from datamake.execution import inheritedpools

                    inheritedpools.forked()
                self._initializer(*self._initargs)
                _serve(tasks_r, outcomes_w)
                code = 0
            finally:
                if any(name in sys.modules for name in _POOL_MODULES):  # pools started here: not left behind
                    from datamake.execution import inheritedpools

                    inheritedpools.end_started_here()
                _flush_std_streams()
                os._exit(code)
        os.close(tasks_r)
        os.close(outcomes_w)
        self._workers[outcomes_r] = _Worker(pid, tasks_w, outcomes_r)

    def _refill(self) -> None:
        """Fork workers for those lost while tasks wait (lock held)."""
        while self._waiting and not self._closing and len(self._workers) < self.capacity:
            self._fork()
            _wake(self._wake_w)  # the reading thread listens to the new worker too

    def _hand_out(self) -> None:
        """Give waiting tasks to idle workers (lock held)."""
        if self._held or self._closing:
            return
        for worker in self._workers.values():
            if not self._waiting:
                return
            if worker.future is None:
                future, payload = self._waiting.popleft()
                future._state = _RUNNING
                worker.future = future
                try:
                    _write_all(worker.tasks, len(payload).to_bytes(_HEADER, "big") + payload)
                except OSError:  # it died: the reading thread sees the end of its pipe and fails the task
                    pass

    def _return_unbegun(self, future: Outcome) -> None:
        """(lock held) ``future`` comes back unrun: None, not begun."""
        self._unbegun.add(future)
        self._settle(future)

    def _settle(self, future: Outcome, value: Any = None, error: Optional[BaseException] = None,
                state: int = _DONE) -> None:
        """(lock held) ``future`` is settled; whoever waits for it wakes up."""
        future._value, future._error, future._state = value, error, state
        self._settled.notify_all()

    # -- the reading thread ----------------------------------------------------
    def _read(self) -> None:
        poller = select.poll()
        watched: Set[int] = set()
        poller.register(self._wake_r, select.POLLIN)
        while True:
            with self._lock:
                if self._closing and not self._workers:
                    break
                fds = set(self._workers)
            for fd in watched - fds:
                poller.unregister(fd)
            for fd in fds - watched:
                poller.register(fd, select.POLLIN)
            watched = fds
            for fd, _event in poller.poll():
                if fd == self._wake_r:
                    os.read(self._wake_r, 512)
                elif fd in self._workers:
                    self._outcome(self._workers[fd])
            if self._held and self._waiting:
                self._return_waiting()
        _close(self._wake_r)
        _close(self._wake_w)

    def _outcome(self, worker: _Worker) -> None:
        try:
            message = _receive(worker.outcomes)
            outcome = pickle.loads(message) if message is not None else None
        except Exception as exc:  # noqa: BLE001 - a value that cannot be unpickled here
            outcome = (False, exc)
        if outcome is None:
            return self._lost(worker)
        ok, value = outcome
        stop = ok and self._stops is not None and self._stops(value)
        with self._lock:  # the worker is idle from here: held, or given its next task, at once
            future, worker.future = worker.future, None
            if stop:
                self._held = True  # nothing begins after this failure; the waiting come back next
            else:
                self._hand_out()  # the worker starts its next task before anyone looks at this one
            if future is not None:
                self._settle(future, value, None) if ok else self._settle(future, None, value)

    def _lost(self, worker: _Worker) -> None:
        """A worker ended (its outcome pipe reached EOF): reap it; fail its task; replace it."""
        status = _reap(worker.pid)
        with self._lock:
            del self._workers[worker.outcomes]
            _close(worker.outcomes)
            _close(worker.tasks)
            self._refill()
            self._hand_out()
            if worker.future is not None:
                self._settle(worker.future, error=WorkerLost(
                    f"worker process {worker.pid} ended ({status}) while running this task"))


def _serve(tasks: int, outcomes: int) -> None:
    """In a worker: run each task read from ``tasks`` and write its outcome to ``outcomes``, until EOF."""
    while True:
        message = _receive(tasks)
        if message is None:
            return
        fn, args = pickle.loads(message)
        try:
            outcome: Tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed back, as the task's failure
            outcome = (False, exc)
        if "joblib" in sys.modules or "loky" in sys.modules:  # loky workers it started: not left behind
            from datamake.execution import lokyworkers

            lokyworkers.end()
        try:
            payload = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an outcome that cannot travel
            payload = pickle.dumps((False, RuntimeError(f"cannot send the task's outcome back: {exc!r}")))
        _write_all(outcomes, len(payload).to_bytes(_HEADER, "big") + payload)


def _receive(fd: int) -> Optional[bytes]:
    """One message from ``fd``, or None at EOF."""
    header = _read_exactly(fd, _HEADER)
    if header is None:
        return None
    return _read_exactly(fd, int.from_bytes(header, "big"))


def _read_exactly(fd: int, n: int) -> Optional[bytes]:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _reap(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "exit status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _wake(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except OSError:
        pass


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - closed or replaced: nothing to keep
            pass
