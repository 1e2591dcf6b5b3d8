"""Assets queued ahead of a process pool's workers: which of them began, and holding back the rest.

A worker that finds its next asset already waiting in the pool's queue never sits idle between
two assets: the coordinator records the last result and decides the next asset while the workers
compute. A queued asset has not begun, though, so each one carries a ticket, a byte in memory
shared with the workers that a worker sets as it begins the asset. From it the coordinator learns
whether an asset lost with a dead worker ever began (one that did not is handed out again, not
failed), and a hold flag, set once the run stops starting assets (a failure without ``-k``,
Ctrl-C), makes the workers hand the queued ones back unrun.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

if TYPE_CHECKING:
    import concurrent.futures as cf

_HOLD = 0  # index of the hold flag; tickets are 1..size


class Tickets:
    """The parent's side: hands out tickets, reads them back, holds the queue."""

    def __init__(self, context: Any, size: int):
        self.flags = context.RawArray("b", size + 1)  # shared with the workers (passed as they start)
        self._free: List[int] = list(range(size, 0, -1))
        self._of: Dict[cf.Future, int] = {}

    def take(self) -> Optional[int]:
        """A ticket for the next task, or None when all are out (that task then counts as begun)."""
        if not self._free:
            return None
        ticket = self._free.pop()
        self.flags[ticket] = 0
        return ticket

    def bind(self, future: cf.Future, ticket: int) -> None:
        self._of[future] = ticket

    def began(self, future: cf.Future) -> bool:
        """Whether the task of a finished ``future`` began in a worker; its ticket is free again."""
        ticket = self._of.pop(future, None)
        if ticket is None:
            return True
        self._free.append(ticket)
        return bool(self.flags[ticket])

    def hold(self) -> None:
        """From now on, workers begin no queued task (they return None for it)."""
        self.flags[_HOLD] = 1


_flags: Any = None  # in a worker: the pool's shared flags


def adopt(flags: Any) -> None:
    """In a worker as it starts: the flags it shares with the parent."""
    global _flags
    _flags = flags


def run_queued(run: Callable[[Any], Any], task: Any, ticket: int, stop_on_failure: bool) -> Any:
    """In a worker: ``run(task)`` unless the run stopped starting assets while it was queued (None)."""
    if _flags[_HOLD]:
        return None
    _flags[ticket] = 1
    result = run(task)
    if stop_on_failure and not result.ok and not result.corrupt_inputs:
        _flags[_HOLD] = 1  # the coordinator stops the run at this failure: nothing queued begins after it
    return result
