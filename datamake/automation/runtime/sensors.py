"""Evaluating one sensor: the user's function, or a built-in kind (source, asset, run status).

Each returns ``(requests, skip message, new cursor)``; a sensor that raises is the caller's to record.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from datamake.automation.rules.definitions import RunRequest, SensorDef, SkipReason
from datamake.automation.rules.targets import Target
from datamake.core.errors import DefinitionError
from datamake.storage.observe import observe_all

Outcome = Tuple[List[RunRequest], Optional[str], Any]


@dataclass
class SensorContext:
    """What a sensor function receives: its ``cursor`` (set with :meth:`update_cursor`), the time,
    the project, and ``instance_runs(limit)``: recent runs from the event log."""

    sensor_name: str
    cursor: Any
    now: dt.datetime
    project: Any = None
    _history: Any = field(default=None, repr=False)  # the event log (a datamake.history.events.History)

    def update_cursor(self, value: Any) -> None:
        self.cursor = value

    def instance_runs(self, limit: int = 20) -> List[Dict[str, Any]]:
        return self._history.runs(limit)


def evaluate(sensor: SensorDef, ctx: SensorContext) -> Outcome:
    if sensor.kind == "source":
        return _source(sensor, ctx)
    if sensor.kind == "asset":
        return _asset(sensor, ctx)
    if sensor.kind == "run_status":
        return _run_status(sensor, ctx)
    return normalize(sensor, sensor.fn(ctx), ctx.cursor)


def normalize(sensor: SensorDef, result: Any, cursor: Any) -> Outcome:
    """A sensor function's answer (None, a SkipReason, a RunRequest or a list of them) as run requests."""
    if result is None:
        return [], "no run requested", cursor
    if isinstance(result, SkipReason):
        return [], result.message or "skipped", cursor
    items = [result] if isinstance(result, RunRequest) else list(result) if isinstance(result, (list, tuple)) else None
    if items is None or not all(isinstance(r, RunRequest) for r in items):
        raise DefinitionError(f"sensor '{sensor.name}' returned {result!r}",
                              hint="return RunRequest(...), a list of them, SkipReason('why'), or None")
    return items, None if items else "no run requested", cursor


def _source(sensor: SensorDef, ctx: SensorContext) -> Outcome:
    source = ctx.project.defs.sources[sensor.watched]
    version = observe_all({sensor.watched: source}, ctx.project.store)[sensor.watched]
    if version == ctx.cursor:
        return [], f"source {sensor.watched} unchanged", ctx.cursor
    return [RunRequest(run_key=f"{sensor.name}:{version}")], None, version


def _asset(sensor: SensorDef, ctx: SensorContext) -> Outcome:
    row = ctx._history.conn.execute("SELECT MAX(id) FROM events WHERE asset = ? AND kind IN ('built', 'cached')",
                            (sensor.watched,)).fetchone()
    latest = row[0] if row else None
    if latest is None or latest == ctx.cursor:
        return [], f"no new materialization of {sensor.watched}", ctx.cursor
    return [RunRequest(run_key=f"{sensor.name}:{latest}")], None, latest


def _run_status(sensor: SensorDef, ctx: SensorContext) -> Outcome:
    since = ctx.cursor
    if since is None:  # first evaluation: from now on, not the whole history
        row = ctx._history.conn.execute("SELECT MAX(finished) FROM runs").fetchone()
        return [], "watching runs from now on", row[0] or 0
    runs = ctx._history.runs_ended(sensor.watched, since)
    requests: List[RunRequest] = []
    for run in runs:
        since = max(since, run["finished"])
        if sensor.job is None or run["tags"].get("job") == sensor.job:
            requests.extend(normalize(sensor, sensor.fn(ctx, run), None)[0])
    message = None if requests else f"{len(runs)} run(s) {sensor.watched}" if runs else f"no run {sensor.watched}"
    return requests, message, since


def default_target(sensor: SensorDef) -> Optional[Target]:
    """A source sensor makes what depends on its source; others run what they name."""
    if sensor.target is None and sensor.kind == "source":
        return Target(selection=(f"{sensor.watched}+",))
    return sensor.target


__all__ = ["SensorContext", "default_target", "evaluate", "normalize"]
