"""Declarative freshness: how fresh an asset must be, and whether it is, at a given moment.

An asset declares a goal with ``@asset(fresh_within="1h")`` (its value may lag the world by at
most an hour), ``@asset(fresh_by="0 9 * * *")`` (up to date at each tick, in UTC, or
``("0 9 * * *", "Europe/Paris")``) or ``@asset(automation="eager")`` (rebuilt as soon as an input's
data version changes). A value is known to be current as of its last build, so its deadline is
counted from then: the daemon never rebuilds late, though it may rebuild earlier than strictly
needed. A fresh asset (nothing to rebuild) meets every goal.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

from datamake.automation.rules.cron import UTC, Cron
from datamake.core.durations import DURATION_FORMS, parse_duration
from datamake.core.errors import DatamakeError, DefinitionError

EAGER = "eager"


@dataclass(frozen=True)
class Goal:
    """An asset's freshness goal: a maximum lag in seconds, a cron deadline, eagerness."""

    within: Optional[float] = None
    by: Optional[Cron] = None
    eager: bool = False

    def describe(self) -> str:
        parts = []
        if self.within is not None:
            parts.append(f"fresh within {_age(self.within)}")
        if self.by is not None:
            parts.append(f"fresh by '{self.by.expr}' ({self.by.timezone})")
        if self.eager:
            parts.append("eager")
        return ", ".join(parts)

    def deadline(self, built: Optional[float]) -> Optional[float]:
        """When a value built at ``built`` (Unix time; None: never built) must be replaced if it is stale."""
        if built is None:
            return float("-inf")
        if self.by is None and not self.eager:
            return None if self.within is None else built + self.within
        ends = []
        if self.within is not None:
            ends.append(built + self.within)
        if self.by is not None:
            ends.append(self.by.next_after(dt.datetime.fromtimestamp(built, UTC)).timestamp())
        if self.eager:
            ends.append(built)
        return min(ends) if ends else None


class Freshness(NamedTuple):
    """Where one asset (or partition) stands against its goal at ``now``."""

    meets: bool
    rebuild_by: Optional[float]  # Unix time; None when nothing needs rebuilding
    overdue: bool

    def to_dict(self, goal: Goal) -> Dict[str, Any]:
        by = None if self.rebuild_by is None else _iso(self.rebuild_by)
        return {"goal": goal.describe(), "meets_goal": self.meets, "rebuild_by": by, "overdue": self.overdue}


MEETS = Freshness(meets=True, rebuild_by=None, overdue=False)  # nothing to rebuild: every goal is met


def assess(goal: Goal, stale: bool, built: Optional[float], now: float) -> Freshness:
    """A stale value meets its goal until its deadline; a fresh one always does."""
    if not stale:
        return MEETS
    deadline = goal.deadline(built)
    if deadline is None:
        return MEETS
    overdue = deadline <= now
    return Freshness(not overdue, deadline if built is not None else now, overdue)


def parse_goal(key: str, fresh_within: Any = None, fresh_by: Any = None, automation: Any = None) -> Optional[Goal]:
    """The :class:`Goal` of ``@asset(fresh_within=, fresh_by=, automation=)``; None without one.

    Raises :class:`DefinitionError` naming the asset and the bad value.
    """
    if fresh_within is None and fresh_by is None and automation is None:
        return None
    if automation not in (None, EAGER):
        raise DefinitionError(f"asset '{key}': automation={automation!r} is not a policy",
                              hint="automation='eager' rebuilds it whenever an input's data version changes")
    return Goal(within=_within(key, fresh_within), by=_by(key, fresh_by), eager=automation == EAGER)


def _within(key: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    try:
        seconds = parse_duration(value) if isinstance(value, str) else None
    except DatamakeError:
        seconds = None
    if not seconds:
        raise DefinitionError(f"asset '{key}': fresh_within={value!r} is not a duration",
                              hint=f"write {DURATION_FORMS.replace(', or 0', '')}, e.g. fresh_within='1h'")
    return seconds


def _by(key: str, value: Union[None, str, Tuple[str, str]]) -> Optional[Cron]:
    if value is None:
        return None
    expr, zone = (value, "UTC") if isinstance(value, str) else tuple(value) if isinstance(value, (tuple, list)) \
        else (value, "UTC")
    try:
        return Cron(expr, zone)
    except DefinitionError as exc:
        raise DefinitionError(f"asset '{key}': fresh_by: {exc.message}", hint=exc.hint) from None


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


__all__ = ["EAGER", "MEETS", "Freshness", "Goal", "assess", "parse_goal"]
