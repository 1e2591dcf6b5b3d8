"""Executors: where ``run_task`` runs. One small class per strategy.

Each has ``capacity`` (how many tasks may run at once), ``submit(task) ->
Future`` and ``shutdown(cancel)``. The coordinator never knows which it has.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from typing import Optional

from ..errors import DatamakeError
from .tasks import AssetTask, run_task


class InProcessExecutor:
    """Runs each task immediately in the calling thread: the fastest path for cheap assets."""

    name = "inprocess"
    shares_memory = True

    def __init__(self, jobs: int = 1):
        self.capacity = 1

    def submit(self, task: AssetTask) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(run_task(task))
        return future

    def shutdown(self, cancel: bool = False) -> None:
        pass


class ThreadExecutor:
    """A thread pool: good for IO-bound assets and for libraries that release the GIL."""

    name = "thread"
    shares_memory = True

    def __init__(self, jobs: int = 1):
        self.capacity = max(1, jobs)
        self._pool = cf.ThreadPoolExecutor(self.capacity, thread_name_prefix="datamake")

    def submit(self, task: AssetTask) -> cf.Future:
        return self._pool.submit(run_task, task)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class ProcessExecutor:
    """A process pool for CPU-bound Python assets; values travel through the store."""

    name = "process"
    shares_memory = False

    def __init__(self, jobs: int = 1):
        self.capacity = max(1, jobs)
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._pool = cf.ProcessPoolExecutor(self.capacity, mp_context=context)

    def submit(self, task: AssetTask) -> cf.Future:
        return self._pool.submit(run_task, task)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def make_executor(name: str, jobs: int, address: Optional[str] = None):
    """The executor called ``name`` with ``jobs`` workers."""
    if name == "dask":
        from .dask_executor import DaskExecutor

        return DaskExecutor(jobs, address)
    if name == "thread" and jobs == 1:
        return InProcessExecutor()
    classes = {"inprocess": InProcessExecutor, "thread": ThreadExecutor, "process": ProcessExecutor}
    if name not in classes:
        raise DatamakeError(f"unknown executor '{name}'", hint="use one of inprocess, thread, process, dask")
    return classes[name](jobs)
