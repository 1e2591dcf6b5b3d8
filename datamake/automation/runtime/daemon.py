"""The daemon loop: one project, evaluated whenever something is due, until SIGTERM.

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
from typing import Any, Callable, Dict, List, Optional

from datamake.automation.rules.cron import UTC
from datamake.automation.rules.queue import parse_limits
from datamake.automation.runtime.evaluate import Evaluator
from datamake.automation.runtime.launcher import Launcher
from datamake.automation.runtime.state import State

IDLE_WAKE = 5.0  # seconds between passes with nothing due: how soon start/stop and new queue rows are seen
BUSY_WAKE = 0.5  # while runs are in flight: how soon their end is noticed and the next queued one starts


class Daemon:
    """``Daemon(project, db).run()``; ``clock`` returns Unix time (injected in tests)."""

    def __init__(self, project: Any, db: str, emit: Callable[[Dict[str, Any]], None],
                 clock: Callable[[], float] = time.time):
        self.project, self.db, self.emit, self.clock = project, db, emit, clock
        settings = dict(project.config.daemon or {})
        self.limits = parse_limits(settings.get("max_concurrent_runs"), settings.get("tag_limits") or {},
                                   project.config.path)
        self.freshness_interval = float(settings.get("freshness_interval", 30))
        self.stopping = False

    def run(self, once: bool = False, wait: bool = False) -> int:
        state = State(self.db)
        try:
            state.claim_daemon()
            launcher = Launcher(self.project.directory, self.db,
                                os.path.join(os.path.dirname(os.path.abspath(self.db)), "automation-logs"))
            evaluator = Evaluator(self.project, state, launcher, self.limits, self.freshness_interval)
            self._handle_signals()
            self._loop(evaluator, once)
            if wait:
                self._drain(evaluator)
            return 0
        finally:
            state.release_daemon()
            state.close()

    def _loop(self, evaluator: Evaluator, once: bool) -> None:
        next_eval = 0.0
        while not self.stopping:
            now = self.clock()
            evaluate = now >= next_eval
            for decision in evaluator.run_pass(_utc(now), evaluate=evaluate):
                self.emit(decision)
            if once:
                return
            if evaluate:
                next_eval = min(self._next_due(evaluator, now), now + IDLE_WAKE)
            busy = bool(evaluator.launcher.children) or any(r["status"] != "done" for r in evaluator.state.open_runs())
            self._sleep_until(min(next_eval, now + BUSY_WAKE) if busy else next_eval)

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


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC)


__all__ = ["Daemon"]
