"""One evaluation pass of the daemon: schedules, sensors, freshness goals, then the run queue.

Every decision is returned as a dict (one line of the daemon's log) and recorded in the state tables.
The clock is injected (``now``), so a pass can be replayed at any moment in tests.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from datamake.automation.rules.cron import UTC
from datamake.automation.rules.definitions import RunRequest, ScheduleDef, SensorDef
from datamake.automation.rules.queue import Limits, QueuedRun, admit
from datamake.automation.rules.targets import Target
from datamake.automation.rules.ticks import due_ticks, missed_text, partition_for_tick
from datamake.automation.runtime import freshness as freshness_mod
from datamake.automation.runtime.launcher import Launcher
from datamake.automation.runtime.sensors import SensorContext, default_target, evaluate as evaluate_sensor
from datamake.automation.runtime.state import State
from datamake.core.errors import DefinitionError, SelectionError
from datamake.define.loader import format_user_traceback

FRESHNESS = "freshness"


class Evaluator:
    """Evaluates a loaded project's automation against its state; launches what the queue admits."""

    def __init__(self, project: Any, state: State, launcher: Launcher, limits: Limits,
                 freshness_interval: float = 30.0):
        self.project, self.state, self.launcher, self.limits = project, state, launcher, limits
        self.freshness_interval = freshness_interval
        self.defs = project.defs
        self.last_freshness: Optional[float] = None  # when freshness was last checked (Unix time)
        check_targets(project)

    def run_pass(self, now: dt.datetime, evaluate: bool = True) -> List[Dict[str, Any]]:
        """One pass at ``now``: (when ``evaluate``) every due schedule, sensor and freshness check,
        then the queue. Returns the decisions made."""
        return [*(self.evaluate(now) if evaluate else ()), *self.process_queue(now)]

    def evaluate(self, now: dt.datetime) -> List[Dict[str, Any]]:
        """Evaluate what is due at ``now``; queue the runs asked for (launching nothing)."""
        out: List[Dict[str, Any]] = []
        for schedule in self.defs.schedules.values():
            out.extend(self._schedule(schedule, now))
        for sensor in self.defs.sensors.values():
            out.extend(self._sensor(sensor, now))
        out.extend(self._freshness(now))
        return out

    # -- schedules ------------------------------------------------------------------------------
    def _schedule(self, schedule: ScheduleDef, now: dt.datetime) -> List[Dict[str, Any]]:
        state = self.state.cursor(schedule.name)
        if state["enabled"] is False:
            return []
        cursor = None if state["cursor"] is None else dt.datetime.fromtimestamp(state["cursor"], UTC)
        plan = due_ticks(schedule.cron, cursor, now, schedule.catch_up)
        if cursor is None:
            nxt = schedule.cron.next_after(now).isoformat()
            self.state.record_tick(schedule.name, "schedule", "started", message=f"first tick at {nxt}",
                                   cursor=_ts(plan.cursor) or now.timestamp(), set_cursor=True,
                                   now=now.timestamp())
            return [_decision("schedule", schedule.name, "started", f"first tick at {nxt}")]
        out = []
        if plan.skipped:
            out.append(_decision("schedule", schedule.name, "skipped", missed_text(list(plan.skipped))))
        for tick in plan.run:
            request = self._schedule_request(schedule, tick)
            message = f"tick {tick.isoformat()}: {' '.join(request['argv'])}"
            if tick == plan.run[-1] and plan.skipped:
                message += f" ({out[0]['message']})"
            self.state.record_tick(schedule.name, "schedule", "requested", tick=tick.timestamp(), requests=[request],
                                   message=message, cursor=tick.timestamp(), set_cursor=True, now=now.timestamp())
            out.append(_decision("schedule", schedule.name, "requested", message, [request["run_key"]]))
        return out

    def _schedule_request(self, schedule: ScheduleDef, tick: dt.datetime) -> Dict[str, Any]:
        partitions = self._tick_partitions(schedule, tick)
        key = f"schedule:{schedule.name}:{tick.isoformat()}"
        tags = {**schedule.tags, "origin": "schedule", "schedule": schedule.name, "tick": tick.isoformat(),
                "run_key": key}
        if schedule.target.job is not None:
            tags["job"] = schedule.target.job
        return {"run_key": key, "argv": list(schedule.target.command(partitions)), "tags": tags}

    def _tick_partitions(self, schedule: ScheduleDef, tick: dt.datetime) -> List[str]:
        if schedule.partitioned is False:
            return []
        selection = target_selection(self.defs, schedule.target)
        if not selection:
            return []  # a job of ops: run as it is
        for key in self.project.graph.ordered(self.project.select(selection)):
            a = self.defs.assets.get(key)
            part = partition_for_tick(a.partitions, tick) if a is not None and a.partitions is not None else None
            if part is not None:
                return [part]
        return []

    # -- sensors --------------------------------------------------------------------------------
    def _sensor(self, sensor: SensorDef, now: dt.datetime) -> List[Dict[str, Any]]:
        state = self.state.cursor(sensor.name)
        if state["enabled"] is False:
            return []
        last = state["last_eval"]
        if last is not None and now.timestamp() - last < sensor.minimum_interval:
            return []
        ctx = SensorContext(sensor.name, state["cursor"], now, self.project, self.state.history)
        try:
            requests, skip, cursor = evaluate_sensor(sensor, ctx)
        except Exception as exc:  # the user's code: recorded with its traceback, the daemon goes on
            text = "Traceback (most recent call last):\n" + format_user_traceback(exc)
            self.state.record_tick(sensor.name, "sensor", "failed", message=text, now=now.timestamp())
            return [_decision("sensor", sensor.name, "failed", text.strip().splitlines()[-1])]
        rows = [self._sensor_request(sensor, r, now) for r in requests]
        status = "requested" if rows else "skipped"
        message = skip or f"{len(rows)} run request(s)"
        queued = self.state.record_tick(sensor.name, "sensor", status, requests=rows, message=message,
                                        cursor=cursor, set_cursor=True, now=now.timestamp())
        if rows and not queued:
            message += " (run keys already seen: nothing new queued)"
        return [_decision("sensor", sensor.name, status, message, queued)] if rows or skip else []

    def _sensor_request(self, sensor: SensorDef, request: RunRequest, now: dt.datetime) -> Dict[str, Any]:
        target = Target(selection=request.selection) if request.selection else default_target(sensor)
        if target is None:
            raise DefinitionError(f"sensor '{sensor.name}' asked for a run but has no target",
                                  hint="give the sensor a target, or RunRequest(selection=[...])")
        key = request.run_key or f"sensor:{sensor.name}:{now.isoformat()}:{_digest(target.command())}"
        argv = list(target.command(request.partition_keys))
        for asset_key, values in (request.config or {}).items():
            argv += [f"--config={asset_key}.{field}={value}" for field, value in values.items()]
        tags = {**sensor.tags, **request.tags, "origin": "sensor", "sensor": sensor.name, "run_key": key}
        return {"run_key": key, "argv": argv, "tags": tags}

    # -- freshness ------------------------------------------------------------------------------
    def _freshness(self, now: dt.datetime) -> List[Dict[str, Any]]:
        goals = freshness_mod.assets_with_goals(self.defs)
        ts = now.timestamp()
        if not goals or (self.last_freshness is not None and ts - self.last_freshness < self.freshness_interval):
            return []
        self.last_freshness = ts
        if any(r["origin"] == FRESHNESS for r in self.state.open_runs()):
            return []  # one freshness run at a time: the next check plans what is still stale
        scope = self.project.scope(goals, now=now)
        report = freshness_mod.report(self.defs, scope.plan.decisions, scope.manifests, ts)
        requests = freshness_mod.requests(report, ts)
        if not requests:
            return []
        message = "; ".join(f"{' '.join(r['argv'])}" for r in requests)
        queued = self.state.record_tick(FRESHNESS, FRESHNESS, "requested", requests=requests, message=message, now=ts)
        return [_decision(FRESHNESS, FRESHNESS, "requested", message, queued)]

    # -- the queue ------------------------------------------------------------------------------
    def process_queue(self, now: dt.datetime) -> List[Dict[str, Any]]:
        """Settle ended runs, relaunch orphans, and start the queued runs the limits admit."""
        out = []
        runs = self.state.open_runs()
        for run in self.launcher.settle(self.state, [r for r in runs if r["status"] != "queued"], now.timestamp()):
            out.append(_decision("run", run["name"], "ended", f"{run['run_key']} exit {run['exit_code']}",
                                 [run["run_key"]]))
        runs = self.state.open_runs()
        for run in runs:  # left "launching" by a daemon killed before its child claimed it
            if run["status"] == "launching" and run["run_key"] not in self.launcher.children:
                self.launcher.launch(self.state, run)
                out.append(_decision("run", run["name"], "relaunched", run["run_key"], [run["run_key"]]))
        waiting = [QueuedRun(r["run_key"], r["tags"]) for r in runs if r["status"] == "queued"]
        running = [QueuedRun(r["run_key"], r["tags"]) for r in runs if r["status"] != "queued"]
        by_key = {r["run_key"]: r for r in runs}
        for key in admit(waiting, running, self.limits):
            if self.launcher.launch(self.state, by_key[key]):
                out.append(_decision("run", by_key[key]["name"], "launched",
                                     f"{key}: datamake {' '.join(by_key[key]['argv'])}", [key]))
        return out


def target_selection(defs: Any, target: Target) -> Tuple[str, ...]:
    """The selection a target runs: its own, or its job's (empty for a job of ops)."""
    if target.job is None:
        return target.selection
    return tuple(getattr(defs.jobs.get(target.job), "selection", None) or ())


def check_targets(project: Any) -> None:
    """Every schedule and sensor target names assets (or a job): a definition error (exit 2) at load time if not."""
    defs = project.defs
    for kind, items in (("schedule", defs.schedules), ("sensor", defs.sensors)):
        for item in items.values():
            target = default_target(item) if kind == "sensor" else item.target
            if target is not None and target.job is not None and target.job not in getattr(defs, "jobs", {}):
                raise DefinitionError(f"{kind} '{item.name}': target job '{target.job}' is not registered",
                                      hint="add it to Definitions(jobs=[...])")
            if target is not None and target.selection:
                try:
                    project.select(target.selection)
                except SelectionError as exc:
                    raise DefinitionError(f"{kind} '{item.name}': target {' '.join(target.selection)}: {exc.message}",
                                          hint=exc.hint) from None
            watched = item.watched if kind == "sensor" and item.kind in ("source", "asset") else None
            if watched is not None and watched not in (defs.sources if item.kind == "source" else defs.assets):
                raise DefinitionError(f"sensor '{item.name}' watches '{watched}', which is not "
                                      f"{'a source' if item.kind == 'source' else 'an asset'}",
                                      hint="name a source()/asset of these definitions")


def _decision(kind: str, name: str, status: str, message: str, run_keys: Sequence[str] = ()) -> Dict[str, Any]:
    return {"kind": kind, "name": name, "status": status, "message": message, "run_keys": list(run_keys)}


def _ts(when: Optional[dt.datetime]) -> Optional[float]:
    return None if when is None else when.timestamp()


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


__all__ = ["Evaluator", "FRESHNESS", "check_targets"]
