"""Waiting for the first of a run's futures to finish, whichever executor made them."""
from __future__ import annotations

from typing import Any, List, Optional, Set


def wait_first(executor: Any, futures: List[Any], timeout: Optional[float] = None) -> Set[Any]:
    """The finished ones of ``futures``, waiting (at most ``timeout`` seconds) until there is one: through
    the executor's own ``wait`` where it has one (the process pool's futures are its own), else
    ``concurrent.futures.wait``."""
    wait = getattr(executor, "wait", None)
    if wait is not None:
        return wait(futures, timeout)
    import concurrent.futures as cf  # lazy: an in-process build waits for nothing

    done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
    return done
