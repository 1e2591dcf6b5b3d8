"""loky's executors (joblib's ``Parallel``) in a process executor's worker: those inherited from the
parent marked broken, those an asset started ended with its task.

An executor started before the worker was forked (at import) has no thread in the worker, so work handed
to it waited for ever: :func:`forked` marks it broken, with what to do instead, and joblib and
``get_reusable_executor()`` start a new one in the asset, whose workers are watched from their start.

loky ends its executors' workers when the interpreter exits (an exit hook of ``threading``), and joblib
removes the folders of the arrays it handed them as memory maps (``atexit``); a worker of
:mod:`datamake.execution.forkpool` leaves with ``os._exit``, which runs neither, or is killed with the
``make``. The loky workers an asset started there outlived the ``make`` until loky's idle timeout
(300 s), holding its output open (``datamake make | tee log`` waited that long), and loky's resource
tracker warned of the semaphores and folders left. So :func:`end` ends them as the task ends, before
its outcome goes back: the next asset on that worker starts its own.
"""
from __future__ import annotations

import sys

from datamake.define.entrywatch import LOKY
from datamake.execution.inheritedpools import running_here, started_executors


def end() -> None:
    """End the loky executors whose threads run in this process: workers stopped and joined, joblib's
    temporary folders removed, the reusable executor forgotten (the next use makes a new one)."""
    try:
        for name in LOKY:
            reusable = sys.modules.get(name + ".reusable_executor")
            executor = getattr(reusable, "_executor", None)
            if running_here(executor):
                getattr(executor, "terminate", executor.shutdown)()  # (joblib's: its memory-mapped arrays too)
                reusable._executor = reusable._executor_kwargs = executor = None
                import gc  # lazy: only a task that started loky workers

                gc.collect()  # its queues and locks, in reference cycles: their semaphores unlinked now
            for executor in started_executors(name + ".process_executor"):
                if running_here(executor):  # another one started here
                    executor.shutdown()
    except Exception:  # noqa: BLE001 - loky's internals are private: another version's are left as they are
        pass


def forked() -> None:
    """In a worker just forked: the loky executors it inherited (their threads stayed in the parent)
    raise when handed work, instead of leaving it waiting."""
    try:
        for name in LOKY:
            for executor in started_executors(name + ".process_executor"):
                if not executor._flags.broken:
                    executor._flags.broken = sys.modules[name + ".process_executor"].BrokenProcessPool(
                        "this loky executor was started before datamake forked its worker process (at import), "
                        "so its workers and threads are not in this process: start it in the asset (joblib's "
                        "Parallel and get_reusable_executor() do), or make with --executor thread")
    except Exception:  # noqa: BLE001 - loky's internals are private: another version's are left as they are
        pass

