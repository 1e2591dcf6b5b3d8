"""The daemon loop: one project, evaluated whenever something is due, until SIGTERM.

The project stays loaded between passes (its code versions and parsed manifests too, so a pass over
thousands of assets only re-reads what changed) and is loaded again when its files change: edits to
the definitions, ``datamake.toml``, pins or params are obeyed without a restart. While the files do
not load (a syntax error, a bad target), evaluation pauses with one logged error and the queue goes
on; once they are fixed, missed schedule ticks follow the catch-up policy.

It sleeps until the next schedule tick, sensor evaluation or freshness check (waking every few
seconds to obey ``datamake schedules start|stop`` and twice a second while runs are in flight), so
an idle daemon costs next to nothing. SIGTERM or Ctrl-C stop the evaluation; runs in flight go on
in their own process groups (``wait=True`` waits for them), and the daemon exits 0.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from datamake.automation.rules.cron import UTC
from datamake.automation.rules.queue import parse_limits
from datamake.automation.runtime.evaluate import Evaluator
from datamake.automation.runtime.launcher import Launcher
from datamake.automation.runtime.state import State
from datamake.core.errors import DatamakeError
from datamake.project.holder import ProjectHolder

IDLE_WAKE = 5.0  # seconds between passes with nothing due: how soon start/stop and new queue rows are seen
BUSY_WAKE = 0.5  # while runs are in flight: how soon their end is noticed and the next queued one starts


class Daemon:
    """``Daemon(project, db).run()``; ``clock`` returns Unix time (injected in tests)."""

    def __init__(self, project: Any, db: str, emit: Callable[[Dict[str, Any]], None],
                 clock: Callable[[], float] = time.time):
        self.project, self.db, self.emit, self.clock = project, db, emit, clock
        self.holder = ProjectHolder(project.directory, project=project)
        self.limits, self.freshness_interval = _settings(project)
        self.stopping = False
        self._load_error: Optional[str] = None  # the load error last reported, while the files do not load

    def run(self, once: bool = False, wait: bool = False) -> int:
        state = State(self.db)
        try:
            state.claim_daemon()
            launcher = Launcher(self.project.directory, self.db,
                                os.path.join(os.path.dirname(os.path.abspath(self.db)), "automation-logs"))
            evaluator = Evaluator(self.project, state, launcher, self.limits, self.freshness_interval)
            self._handle_signals()
            evaluator = self._loop(evaluator, once)
            if wait:
                self._drain(evaluator)
            return 0
        finally:
            state.release_daemon()
            state.close()

    def _loop(self, evaluator: Evaluator, once: bool) -> Evaluator:
        next_eval = 0.0
        while not self.stopping:
            now = self.clock()
            evaluate = now >= next_eval
            loaded = True
            if evaluate:
                evaluator, loaded = self._current(evaluator)
            for decision in evaluator.run_pass(_utc(now), evaluate=evaluate and loaded):
                self.emit(decision)
            if once:
                return evaluator
            if evaluate:
                next_eval = min(self._next_due(evaluator, now), now + IDLE_WAKE)
            busy = bool(evaluator.launcher.children) or any(r["status"] != "done" for r in evaluator.state.open_runs())
            self._sleep_until(min(next_eval, now + BUSY_WAKE) if busy else next_eval)
        return evaluator

    def _current(self, evaluator: Evaluator) -> Tuple[Evaluator, bool]:
        """The evaluator of the project as its files are now, and whether they load (if not, the
        error is logged once and the previous evaluator keeps the queue going)."""
        try:
            project = self.holder.current()
            if project is not evaluator.project:
                limits, interval = _settings(project)
                fresh = Evaluator(project, evaluator.state, evaluator.launcher, limits, interval)
                fresh.last_freshness = evaluator.last_freshness
                self.project, self.limits, self.freshness_interval, evaluator = project, limits, interval, fresh
                self.emit(_daemon_decision("reloaded", "the project's files changed: definitions loaded again"))
        except DatamakeError as exc:
            text = str(exc).replace("\n", " ")
            if text != self._load_error:
                self.emit(_daemon_decision("failed", f"{text} (evaluation paused until the files are fixed)"))
            self._load_error = text
            return evaluator, False
        self._load_error = None
        return evaluator, True

    def _next_due(self, evaluator: Evaluator, now: float) -> float:
        """The earliest moment a schedule ticks, a sensor may be evaluated or freshness is checked."""
        due: List[float] = []
        at = _utc(now)
        for schedule in self.project.defs.schedules.values():
            due.append(schedule.cron.next_after(at).timestamp())
        for sensor in self.project.defs.sensors.values():
            last = evaluator.state.cursor(sensor.name)["last_eval"] or now
            due.append(last + sensor.minimum_interval)
        if evaluator.last_freshness is not None:
            due.append(evaluator.last_freshness + self.freshness_interval)
        return max(min(due, default=now + IDLE_WAKE), now + 0.01)

    def _sleep_until(self, deadline: float) -> None:
        while not self.stopping:
            left = deadline - self.clock()
            if left <= 0:
                return
            time.sleep(min(left, BUSY_WAKE))

    def _drain(self, evaluator: Evaluator) -> None:
        """``--wait``: let the runs this daemon started finish, recording their end."""
        while evaluator.launcher.children:
            for decision in evaluator.run_pass(_utc(self.clock()), evaluate=False):
                self.emit(decision)
            time.sleep(0.1)
        for decision in evaluator.run_pass(_utc(self.clock()), evaluate=False):
            self.emit(decision)

    def _handle_signals(self) -> None:
        def stop(signum, frame) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def _settings(project: Any) -> Tuple[Any, float]:
    """The ``[daemon]`` limits and freshness interval of ``project``'s ``datamake.toml``."""
    settings = dict(project.config.daemon or {})
    limits = parse_limits(settings.get("max_concurrent_runs"), settings.get("tag_limits") or {}, project.config.path)
    return limits, float(settings.get("freshness_interval", 30))


def _daemon_decision(status: str, message: str) -> Dict[str, Any]:
    return {"kind": "daemon", "name": "definitions", "status": status, "message": message, "run_keys": []}


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC)


__all__ = ["Daemon"]
