"""Tick decisions for a schedule: which ticks are due now, under the catch-up policy, and which
partition each one makes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from datamake.automation.rules.cron import Cron

MAX_CATCH_UP = 1000  # catch_up="all" after a long outage: at most this many ticks in one pass


@dataclass(frozen=True)
class TickPlan:
    """The ticks to run now, and those passed over (recorded as skipped) by the policy."""

    run: Tuple[dt.datetime, ...]
    skipped: Tuple[dt.datetime, ...]
    cursor: Optional[dt.datetime]  # the newest tick handled: where the next evaluation starts


def due_ticks(cron: Cron, cursor: Optional[dt.datetime], now: dt.datetime, catch_up: str = "latest") -> TickPlan:
    """Ticks in ``(cursor, now]``. A schedule seen for the first time (no cursor) starts at the
    next tick; ``catch_up="latest"`` runs the most recent missed tick once, ``"all"`` each of them."""
    if cursor is None:
        return TickPlan((), (), cron.latest_at_or_before(now))
    ticks = cron.between(cursor, now, limit=MAX_CATCH_UP + 1)
    if not ticks:
        return TickPlan((), (), cursor)
    if catch_up == "all":
        run = ticks[:MAX_CATCH_UP]
        return TickPlan(tuple(run), (), run[-1])
    return TickPlan((ticks[-1],), tuple(ticks[:-1]), ticks[-1])


def partition_for_tick(partitions: Any, tick: dt.datetime) -> Optional[str]:
    """The key of the last time window complete at ``tick`` (the 01:00 tick of 2 March makes
    ``2024-03-01`` for daily partitions); None for partitions that are not time windows."""
    windows = getattr(partitions, "windows", None)
    if windows is None:
        return None
    complete = windows(tick)
    return complete[-1][0] if complete else None


def missed_text(skipped: List[dt.datetime]) -> str:
    return f"{len(skipped)} missed tick(s) from {skipped[0].isoformat()} to {skipped[-1].isoformat()}, " \
           "passed over (catch_up='latest')"


__all__ = ["MAX_CATCH_UP", "TickPlan", "due_ticks", "missed_text", "partition_for_tick"]
