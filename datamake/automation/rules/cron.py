"""Cron expressions in a time zone: the next and previous ticks, on an injected clock.

Parsing and iteration come from `cronsim <https://github.com/cuu508/cronsim>`_: a small,
dependency-free library that follows Debian cron's daylight-saving rules (a job at a local time
that does not exist runs once, right after the jump; one at a repeated local time runs once) and
iterates backwards, which the catch-up policy needs. Five fields (``0 6 * * *``), or six with a
leading seconds field (``*/5 * * * * *``, cronsim 2.7 and later).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator, List, Optional

from cronsim import CronSim, CronSimError

from datamake.core.errors import DefinitionError
from datamake.core.partitions import _zone

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Cron:
    """``Cron("0 6 * * *", "Europe/Paris")``: a validated cron expression and its IANA time zone."""

    expr: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str) or not self.expr.strip():
            raise DefinitionError(f"cron must be a string such as '0 6 * * *', got {self.expr!r}")
        _zone(self.timezone)  # an unknown zone: DefinitionError naming it
        try:
            CronSim(self.expr, dt.datetime(2000, 1, 1, tzinfo=UTC))
        except (CronSimError, ValueError, KeyError, IndexError) as exc:
            raise DefinitionError(
                f"'{self.expr}' is not a valid cron expression ({exc})",
                hint="five fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * *' (06:00 daily)",
            ) from None

    def _local(self, when: dt.datetime) -> dt.datetime:
        return _aware(when).astimezone(_zone(self.timezone))

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The first tick strictly after ``when``, in UTC."""
        return next(iter(CronSim(self.expr, self._local(when)))).astimezone(UTC)

    def latest_at_or_before(self, when: dt.datetime) -> Optional[dt.datetime]:
        """The last tick at or before ``when``, in UTC (None when there is none in the past)."""
        local = self._local(when).replace(microsecond=0) + dt.timedelta(seconds=1)
        tick = next(iter(CronSim(self.expr, local, reverse=True)), None)  # strictly before: at or before `when`
        return tick.astimezone(UTC) if tick is not None else None

    def between(self, after: dt.datetime, upto: dt.datetime, limit: int = 100_000) -> List[dt.datetime]:
        """Ticks in ``(after, upto]``, oldest first, in UTC (at most ``limit`` of them)."""
        out: List[dt.datetime] = []
        upto = _aware(upto)
        for tick in self._iterate(after):
            if tick > upto or len(out) >= limit:
                break
            out.append(tick)
        return out

    def _iterate(self, after: dt.datetime) -> Iterator[dt.datetime]:
        for tick in CronSim(self.expr, self._local(after)):
            yield tick.astimezone(UTC)


def _aware(when: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC (the clock the daemon injects is always aware)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


__all__ = ["Cron", "UTC"]
