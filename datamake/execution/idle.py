"""The executor of a run that has nothing to compute.

When the plan finds every asset fresh (or only its checks to re-run), ``make``
starts no worker. This executor runs in the calling thread like the in-process
one, but imports the task machinery (and ``concurrent.futures``) only if a task
does come, so a no-op ``make`` never loads them.
"""
from __future__ import annotations

from typing import Any, Optional


class IdleExecutor:
    """In-process, created for a run that expects no task; the first task (if any) loads the real one."""

    name = "inprocess"
    shares_memory = True
    capacity = 1

    def __init__(self) -> None:
        self._inner: Optional[Any] = None

    def submit(self, task: Any, run: Any = None) -> Any:
        if self._inner is None:
            from datamake.execution.executors import InProcessExecutor  # lazy: see the module docstring

            self._inner = InProcessExecutor()
        return self._inner.submit(task) if run is None else self._inner.submit(task, run)

    def shutdown(self, cancel: bool = False) -> None:
        pass
