"""Pools in a process executor's worker: those inherited from the coordinator refuse work, those started
in the worker are ended with it.

A pool's threads (those that hand work to its processes and take their results back) stay in the parent
when a worker is forked, so work handed to the worker's copy of a ``ProcessPoolExecutor``, a
``multiprocessing`` ``Pool`` or ``ThreadPool``, or a loky executor waited for ever: ``make --executor
process`` hung. :func:`forked` makes each such pool raise at once, with what to do instead. (joblib's
``Parallel`` and loky's ``get_reusable_executor()`` then start a new executor in the asset:
:mod:`datamake.execution.lokyworkers`.)

A worker leaves with ``os._exit``, which runs none of the exit hooks that would end the pools started in it
(an unwarmed pool made at import and first used by an asset, or one an asset keeps in a global): their
processes outlived the ``make``, holding its output open (``datamake make | tee log`` never ended).
:func:`end_started_here` ends them as the worker leaves.
"""
from __future__ import annotations

import sys
from typing import Any, List, NoReturn

REFUSED = ("this {what} was made before datamake forked its worker process (at import), so its threads are "
           "not in this process and work handed to it would wait for ever: make it in the asset, or make with "
           "--executor thread")


def forked() -> None:
    """In a worker just forked: each pool it inherited raises when handed work, naming the fix."""
    try:
        _executors()
        _pools()
    except Exception:  # noqa: BLE001 - the pools' internals are private: another version's are left as they are
        pass
    if "joblib" in sys.modules or "loky" in sys.modules:
        from datamake.execution import lokyworkers

        lokyworkers.forked()


def end_started_here() -> None:
    """As a worker leaves: end the pools whose threads run in this process (started here)."""
    try:
        for executor in started_executors("concurrent.futures.process"):
            if running_here(executor):
                executor.shutdown(wait=True)
        for pool in _running_pools():
            if pool._worker_handler.is_alive():
                pool.terminate()
    except Exception:  # noqa: BLE001 - the pools' internals are private: another version's are left as they are
        pass


def _executors() -> None:
    """``concurrent.futures`` process pools: those whose manager thread was started (in the parent)."""
    for executor in started_executors("concurrent.futures.process"):
        if not executor._broken:
            executor._broken = REFUSED.format(what="ProcessPoolExecutor")


def started_executors(module: str) -> List[Any]:
    """The executors of the process-pool module named ``module`` (``concurrent.futures.process`` or
    loky's ``process_executor``) that started their manager thread, here or in the parent."""
    threads = getattr(sys.modules.get(module), "_threads_wakeups", None) or ()
    return [e for e in (t.executor_reference() for t in list(threads)) if e is not None]


def running_here(executor: Any) -> bool:
    """Whether an executor's manager thread runs in this process (not one inherited from the parent)."""
    thread = getattr(executor, "_executor_manager_thread", None)
    return thread is not None and thread.is_alive()


def _pools() -> None:
    """``multiprocessing`` pools still running."""
    for pool in _running_pools():
        pool._check_running = _Refuse(REFUSED.format(what=type(pool).__name__))


def _running_pools() -> List[Any]:
    """The ``multiprocessing`` pools not closed (each registered its own finalizer)."""
    pools, util = sys.modules.get("multiprocessing.pool"), sys.modules.get("multiprocessing.util")
    if pools is None or util is None:
        return []
    found = []
    for finalizer in list(util._finalizer_registry.values()):
        ref = getattr(finalizer, "_weakref", None)
        pool = ref() if ref is not None else None
        if isinstance(pool, pools.Pool) and pool._state == pools.RUN:
            found.append(pool)
    return found


class _Refuse:
    """A pool's ``_check_running``, which each of its ways of taking work calls first."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self) -> NoReturn:
        raise ValueError(self.message)
