"""Reporters: one method per run event. The console, JSON and history are reporters over one stream."""
from __future__ import annotations

import sys
import time
from typing import IO, List, Optional, Sequence

from .results import AssetOutcome, RunResult


class Reporter:
    """The no-op reporter; subclasses override the events they care about."""

    def run_started(self, run_id: str, scope) -> None: ...

    def asset_started(self, key: str, reasons: Sequence[str]) -> None: ...

    def asset_finished(self, outcome: AssetOutcome) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...

    def message(self, text: str) -> None: ...


class MultiReporter(Reporter):
    """Forwards every event to several reporters."""

    def __init__(self, *reporters: Reporter):
        self.reporters = [r for r in reporters if r is not None]

    def run_started(self, run_id, scope):
        for r in self.reporters:
            r.run_started(run_id, scope)

    def asset_started(self, key, reasons):
        for r in self.reporters:
            r.asset_started(key, reasons)

    def asset_finished(self, outcome):
        for r in self.reporters:
            r.asset_finished(outcome)

    def run_finished(self, result):
        for r in self.reporters:
            r.run_finished(result)

    def message(self, text):
        for r in self.reporters:
            r.message(text)


def summary_line(result: RunResult) -> str:
    counts = result.counts()
    parts = [f"{counts['built']} built", f"{counts['cached']} cached", f"{counts['skipped']} up to date"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["blocked"]:
        parts.append(f"{counts['blocked']} blocked")
    head = "interrupted" if result.interrupted else ("done" if result.ok else "FAILED")
    return f"{head}: {', '.join(parts)} in {result.seconds:.2f}s (run {result.run_id})"


class LineReporter(Reporter):
    """One line per asset that did something, then a summary: for logs and pipes."""

    def __init__(self, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr, verbose: bool = False, quiet: bool = False):
        self.out, self.err, self.verbose, self.quiet = out, err, verbose, quiet

    def asset_started(self, key, reasons):
        if self.verbose:
            self._print(f"start    {key}  ({', '.join(reasons)})")

    def asset_finished(self, outcome: AssetOutcome) -> None:
        if self.quiet or (outcome.outcome == "skipped" and not self.verbose):
            return
        line = f"{outcome.outcome:<8} {outcome.key}"
        if outcome.outcome == "built":
            line += f"  {outcome.seconds:.2f}s"
        if outcome.error:
            line += f"  {outcome.error}"
        self._print(line)
        if outcome.outcome == "failed" and outcome.traceback:
            print(_indent(outcome.traceback), file=self.err, flush=True)

    def run_finished(self, result: RunResult) -> None:
        if not self.quiet or not result.ok:
            self._print(summary_line(result))

    def message(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


class LiveReporter(LineReporter):
    """On a terminal: the per-asset lines plus a status line redrawn in place."""

    def __init__(self, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr, verbose: bool = False, quiet: bool = False):
        super().__init__(out, err, verbose, quiet)
        self.total = 0
        self.counts = {"built": 0, "cached": 0, "skipped": 0, "failed": 0, "blocked": 0}
        self.running: dict = {}
        self.last_draw = 0.0
        self.drawn = False

    def run_started(self, run_id, scope):
        self.total = len(scope.keys)

    def asset_started(self, key, reasons):
        self.running[key] = time.monotonic()
        super().asset_started(key, reasons)
        self._draw()

    def asset_finished(self, outcome):
        self.running.pop(outcome.key, None)
        self.counts[outcome.outcome] += 1
        if outcome.outcome != "skipped" or self.verbose:
            self._clear()
        super().asset_finished(outcome)
        self._draw()

    def run_finished(self, result):
        self._clear()
        super().run_finished(result)

    def message(self, text):
        self._clear()
        super().message(text)

    def _status(self) -> str:
        c = self.counts
        remaining = self.total - sum(c.values())
        now = time.monotonic()
        running = sorted(self.running.items(), key=lambda kv: kv[1])[:3]
        names = ", ".join(f"{k} {now - t:.0f}s" for k, t in running)
        more = f" +{len(self.running) - 3}" if len(self.running) > 3 else ""
        return (f"[{c['built']} built, {c['cached']} cached, {c['skipped']} up to date, {c['failed']} failed, "
                f"{remaining} remaining] {names}{more}")

    def _draw(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        self.out.write("\r\x1b[K" + self._status()[:200])
        self.out.flush()
        self.drawn = True

    def _clear(self) -> None:
        if self.drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.drawn = False


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
