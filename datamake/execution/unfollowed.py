"""Work an asset hands where no watch follows it, named in a warning: to a Dask or Ray client, to a pool
whose workers cannot import datamake (another interpreter; :mod:`datamake.execution.poolreads`), and items
put on a multiprocessing queue made before the asset ran while processes started then are alive to take them
(a queue made in the asset reaches only the processes it starts, which are watched).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from datamake.define import entrywatch, openwatch
from datamake.execution.poolreads import POOL

QUEUE = "queue"


def kind(args: tuple) -> Optional[str]:
    """The kind of an :data:`openwatch.AWAY` event worth a warning: ``pool`` (replayed from a worker that
    cannot import datamake), ``queue`` (put on a queue made before the asset ran, while a process
    started then is alive to take it: a queue made in the asset reaches only processes it starts),
    or the client's method; None for an item put on a queue only the asset's own processes take."""
    if len(args) < 2:
        return args[0] if args else None
    name, queue = args[0], args[1]
    if not name.startswith("multiprocessing."):
        return name
    if type(queue).__module__ != "multiprocessing.queues" or _put_by_the_standard_library():
        return None  # a pool's own queue (concurrent.futures, multiprocessing.pool)
    if not openwatch.made_elsewhere(queue):
        return None
    children = getattr(sys.modules.get("multiprocessing.process"), "_children", ())
    if any(openwatch.made_elsewhere(p) and p.is_alive() for p in list(children)):
        return QUEUE
    return None


def _put_by_the_standard_library() -> bool:
    """Whether the code that called ``put`` (the frame under the wrapper raising the event) is the
    standard library's (a pool feeding or stopping its own workers)."""
    frame: Any = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "away" and frame.f_code.co_filename == _WRAPPERS):
        frame = frame.f_back
    caller = frame.f_back if frame is not None else None
    return caller is not None and caller.f_code.co_filename.startswith(_STDLIB)


_WRAPPERS = entrywatch.__file__
_STDLIB = os.path.join(os.path.dirname(os.__file__), "")


def warnings(key: str, kinds: Dict[str, None]) -> List[Tuple[str, str]]:
    """One ``(kind, sentence)`` for each way the asset's work went where its reads are not seen."""
    said = []
    unseen = f"a file or an environment variable only they read does not make '{key}' stale; declare the files " \
             f"they read with source() and pass them in"
    for kind in kinds:
        if kind == POOL:
            said.append(("pool", f"asset '{key}' handed work to a process pool whose workers cannot import "
                                 f"datamake (another interpreter), so their reads are not seen: {unseen}, or run "
                                 f"the pool's workers with an interpreter that has datamake installed"))
        elif kind == QUEUE:
            said.append(("queue", f"asset '{key}' put items on a multiprocessing queue while processes it did not "
                                  f"start (started at import, or by an earlier asset) could take them, and their "
                                  f"reads are not seen: {unseen}, or hand the work to a Pool or "
                                  f"ProcessPoolExecutor (made at import or in the asset), whose items are watched"))
        else:
            client = (f"a Dask client ({kind.rpartition('.client.')[2]})" if kind.startswith("distributed.")
                      else "a Ray remote function" if kind.startswith("ray.") else kind)
            said.append(("client", f"asset '{key}' handed work to {client}, whose workers' reads datamake cannot "
                                   f"see: {unseen}, or read the files in the asset and hand the workers "
                                   f"their contents"))
    return said
