"""Work an asset hands to a pool, watched in the worker that runs it, whenever that worker was started.

A pool made at import (``POOL = ProcessPoolExecutor()``), or by an earlier asset, has workers that no
watch of this asset was there to prepare. So each work item an asset hands to a pool
(``ProcessPoolExecutor.submit`` and ``map``; ``Pool.apply``, ``apply_async``, ``map``, ``imap``,
``starmap``..., told by :data:`openwatch.POOLED`) is wrapped in an :class:`Item` naming the asset's
child-read log (:mod:`datamake.execution.childreads`). Unpickled in the worker, it becomes a
:class:`Watched` that runs the function with only a listener logging there, so the reads count for the
asset that handed the item, even when two assets running at once share the pool. A worker that cannot
import datamake (another interpreter) runs the function as it is, and logs that it was not watched
(:data:`openwatch.AWAY`, named in a warning by :mod:`datamake.execution.unfollowed`). An item handed to
a pool of threads (``ThreadPoolExecutor.submit`` and ``map``, a ``ThreadPool``'s) runs with the listeners
of the thread that handed it (:func:`openwatch.carried`).
"""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, Dict, List, Tuple

from datamake.define import openwatch

POOL = "pool"  # what a worker that cannot import datamake logs (an AWAY event)


def hand(box: List[Any], log: Callable[[], str]) -> None:
    """The ``[pool, function]`` of a :data:`openwatch.POOLED` event: the function, wrapped to log what it
    reads in the worker to ``log()``; for a pool of threads, to run with the listeners of the thread that
    hands it (its threads may have been started at import or by an earlier asset); not for a pool of
    processes whose workers the asset started itself (watched from their start: no cost per item)."""
    pool, fn = box
    if fn is None or isinstance(fn, Item) or getattr(fn, "__dict__", {}).get(openwatch.CARRIED):
        return
    if _of_threads(pool):
        box[1] = openwatch.carried(fn)
    elif not _started_here(pool):
        box[1] = Item(log(), fn)


def _of_threads(pool: Any) -> bool:
    """A ``ThreadPoolExecutor`` or a ``multiprocessing`` ``ThreadPool``."""
    for module, name in (("concurrent.futures.thread", "ThreadPoolExecutor"), ("multiprocessing.pool", "ThreadPool")):
        threads = getattr(sys.modules.get(module), name, None)
        if threads is not None and isinstance(pool, threads):
            return True
    return False


def _started_here(pool: Any) -> bool:
    """Whether every worker of the pool (a ``ProcessPoolExecutor``'s ``_processes``, a ``Pool``'s
    ``_pool``) was started by this thread's watch; False for a pool with none yet."""
    workers = getattr(pool, "_processes", None)  # (a Pool's is a number)
    workers = list(workers.values()) if isinstance(workers, dict) else getattr(pool, "_pool", None)
    return isinstance(workers, list) and bool(workers) and not any(openwatch.made_elsewhere(p) for p in workers)


class Item:
    """A function handed to a pool, with the log its worker writes to. Pickled, it names only builtins
    and ``functools.partial``: a worker that cannot import datamake still runs the function."""

    def __init__(self, log: str, fn: Any) -> None:
        self.log, self.fn = log, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # (not pickled: run in this process)
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> Tuple[Any, ...]:
        return _in_worker(), ({"log": self.log, "fn": self.fn, "unwatched": _UNWATCHED},)


class _Call:
    """Pickled as ``fn(*args)``: unpickling calls it (``__call__`` only satisfies the pickler)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __call__(self, *args: Any) -> Any:
        raise TypeError("not called in this process")

    def __reduce__(self) -> Tuple[Any, ...]:
        return self.fn, self.args


def watched(given: Dict[str, Any]) -> "Watched":
    """In a worker that imported this module: the item (no code compiled for it)."""
    return Watched(given["log"], given["fn"])


_FIRST = """
try:
    from datamake.execution.poolreads import watched
except Exception:
    import os
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.write(fd, unwatched)
        os.close(fd)
    except OSError:
        pass
    _item = fn
else:
    _item = watched(globals())
"""
_UNWATCHED = (json.dumps([openwatch.AWAY, [POOL], None]) + "\n").encode()
_pickled: List[Any] = []


def _in_worker() -> _Call:
    """What makes the item in a worker: ``getattr(sys.modules.get(this module), "watched", <_FIRST, run>)``,
    the module's :func:`watched` once it was imported there, else _FIRST, which imports it (or, failing,
    logs so). Pickled once, as bytes ``pickle.loads`` reads in the worker (an item pickles in a few µs)."""
    if not _pickled:
        import pickle

        made = _Call(getattr, _Call(_Call(getattr, _Call(getattr, _Call(__import__, "sys"), "modules"), "get"),
                                    __name__), "watched", functools.partial(eval, f"exec({_FIRST!r}) or _item"))
        _pickled.append(_Call(pickle.loads, pickle.dumps(made)))
    return _pickled[0]


class Watched:
    """In a pool worker: the function, run with only a listener that logs what it reads to the asset's log."""

    def __init__(self, log: str, fn: Any) -> None:
        self.log, self.fn = log, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from datamake.execution import childreads  # (a worker imports it at its first item)

        previous = openwatch.alone(functools.partial(childreads.forward, self.log))
        try:
            return self.fn(*args, **kwargs)
        finally:
            openwatch.back(previous)
