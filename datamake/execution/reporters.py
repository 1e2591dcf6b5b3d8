"""Reporters: one method per run event. The console, JSON and history are reporters over one stream."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Dict, Iterator, Optional, Sequence

from datamake.core.describe import describe_reasons
from datamake.core.planner import Reason
from datamake.core.textout import summary_text
from datamake.execution.results import AssetOutcome, RunResult

if TYPE_CHECKING:  # the live status line's machinery: loaded when a terminal shows one
    from datamake.execution.progress import Ticker


class Reporter:
    """The no-op reporter; subclasses override the events they care about."""

    def run_started(self, run_id: str, scope) -> None: ...

    def asset_started(self, key: str, reasons: Sequence[Reason]) -> None:
        """``key`` (a node id: ``sales[2024-01-05]`` for a partition) is handed to a worker, stale for ``reasons``
        (a process pool may keep it queued behind one running asset; see :mod:`datamake.execution.queued`)."""

    def asset_finished(self, outcome: AssetOutcome) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...

    def message(self, text: str) -> None: ...

    def asset_log(self, key: str, level: str, text: str) -> None:
        """A line the asset logged through ``context.log`` (only while ``make -v`` shows them)."""

    def hears(self, event: str) -> bool:
        """Whether this reporter does anything with the per-asset ``event`` (not only the base class's no-op)."""
        return _overrides(self, event)


class MessagesOnly(Reporter):
    """Only the run's messages (waiting for a lock, interrupts), on stderr: for ``--json`` runs."""

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class MultiReporter(Reporter):
    """Forwards every event to several reporters."""

    def __init__(self, *reporters: Reporter):
        self.reporters = [r for r in reporters if r is not None]
        # the per-asset events go only to the reporters that do something with them; to the one directly
        # when only one does (the history, in most runs: no call of ours in between)
        self._started = [r.asset_started for r in self.reporters if _hears(r, "asset_started")]
        self._finished = [r.asset_finished for r in self.reporters if _hears(r, "asset_finished")]
        if len(self._started) == 1:
            self.asset_started = self._started[0]  # type: ignore[method-assign]
        if len(self._finished) == 1:
            self.asset_finished = self._finished[0]  # type: ignore[method-assign]

    def run_started(self, run_id, scope):
        for r in self.reporters:
            r.run_started(run_id, scope)

    def asset_started(self, key, reasons):
        for started in self._started:
            started(key, reasons)

    def asset_finished(self, outcome):
        for finished in self._finished:
            finished(outcome)

    def run_finished(self, result):
        for r in self.reporters:
            r.run_finished(result)

    def message(self, text):
        for r in self.reporters:
            r.message(text)

    def asset_log(self, key, level, text):
        for r in self.reporters:
            r.asset_log(key, level, text)


def _hears(reporter: Reporter, event: str) -> bool:
    """:meth:`Reporter.hears`; for an object that only looks like a reporter, whether it has its own ``event``."""
    return reporter.hears(event) if isinstance(reporter, Reporter) else _overrides(reporter, event)


def _overrides(reporter: Reporter, event: str) -> bool:
    """Whether ``reporter`` handles ``event`` (not only the base class's no-op)."""
    return getattr(getattr(reporter, event), "__func__", None) is not getattr(Reporter, event)


def summary_line(result: RunResult) -> str:
    head = "interrupted" if result.interrupted else ("done" if result.ok else "FAILED")
    return summary_text(head, result.counts(), result.seconds, result.run_id)


class LineReporter(Reporter):
    """One line per asset that did something, then a summary: for logs and pipes."""

    def __init__(self, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None, verbose: bool = False,
                 quiet: bool = False):
        # the streams of the moment, not those of import time (redirect_stdout, notebooks, click's runner)
        self.out, self.err, self.verbose, self.quiet = out or sys.stdout, err or sys.stderr, verbose, quiet

    def asset_started(self, key, reasons):
        if self.verbose:
            self._print(f"start    {key}  ({describe_reasons(reasons)})")

    def hears(self, event: str) -> bool:
        if event == "asset_started" and type(self).asset_started is LineReporter.asset_started:
            return self.verbose  # (its own asset_started prints only with -v)
        return super().hears(event)

    def asset_finished(self, outcome: AssetOutcome) -> None:
        if (self.quiet and outcome.outcome != "failed") or (outcome.outcome == "skipped" and not self.verbose):
            return  # -q: only failures (and the summary of a failed run)
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

    def asset_log(self, key: str, level: str, text: str) -> None:
        if self.verbose:
            mark = "" if level == "INFO" else f"{level} "
            print(f"  {key} | {mark}{text}", file=self.err, flush=True)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


class LiveReporter(LineReporter):
    """On a terminal: the per-asset lines plus a status line redrawn in place.

    The status line counts built / cached / up to date / failed / remaining
    assets and names the running ones with their seconds so far; a ticker
    redraws it twice a second. Events may come from worker threads, so every
    write holds one lock.
    """

    def __init__(self, out: Optional[IO[str]] = None, err: Optional[IO[str]] = None, verbose: bool = False,
                 quiet: bool = False):
        super().__init__(out, err, verbose, quiet)
        self.total = 0
        self.outcomes: Dict[str, str] = {}
        self.running: Dict[str, float] = {}
        self.last_draw = 0.0
        self.drawn = False
        self._partial = False  # the terminal's last line is someone else's unfinished one
        self._finished = False
        self._terminal: Optional[int] = None  # the terminal's file descriptor while output_above() runs
        self._lock = threading.RLock()
        self._ticker: Optional[Ticker] = None

    @contextlib.contextmanager
    def output_above(self) -> Iterator[None]:
        """While the block runs, whatever else writes to this terminal (an asset's ``print`` or warnings,
        a subprocess, a worker process) appears above the status line instead of after it."""
        fds = [fd for fd in (1, 2) if _on_terminal(fd)] if os.name == "posix" and not self.quiet else []
        if 1 not in fds or _fileno(self.out) != 1:
            yield
            return
        from datamake.execution.progress import OutputAbove  # lazy: only a terminal's live status line

        streams = self.out, self.err
        with OutputAbove(self._write_above, fds) as above:
            self.out, self.err = (_reopened(s, above.saved) for s in streams)
            self._terminal = above.saved.get(1)  # fd 1 is a pipe now: ask the terminal's width here
            try:
                yield
            finally:
                with self._lock:
                    self._finished = True
                    self._clear()
                    self.err.flush()
        with self._lock:
            self.out, self.err = streams
            self._terminal = None

    def _write_above(self, data: bytes, original: int) -> None:
        from datamake.execution.progress import write_all  # lazy: only a terminal's live status line

        with self._lock:
            self._erase()
            self.err.flush()
            write_all(original, data)
            self._partial = not data.endswith(b"\n")
            if not self._partial:
                self._draw(force=True)

    def run_started(self, run_id, scope):
        self.total = len(scope.keys)
        if not self.quiet:
            from datamake.execution.progress import Ticker  # lazy: only a terminal's live status line

            self._ticker = Ticker(lambda: self._draw(force=True)).start()

    def asset_started(self, key, reasons):
        with self._lock:
            self.running[key] = time.monotonic()
            self.outcomes.pop(key, None)  # an input rebuilt after failing its hash check starts again
            if self.verbose:
                self._clear()
            super().asset_started(key, reasons)
            self._draw()

    def asset_finished(self, outcome):
        with self._lock:
            self.running.pop(outcome.key, None)
            self.outcomes[outcome.key] = outcome.outcome
            if outcome.outcome != "skipped" or self.verbose:
                self._clear()
            super().asset_finished(outcome)
            self._draw()

    def run_finished(self, result):
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        with self._lock:
            self._finished = True  # no status line from now on
            self._clear()
            super().run_finished(result)

    def message(self, text):
        with self._lock:
            self._clear()
            super().message(text)
            self._draw(force=True)

    def asset_log(self, key, level, text):
        with self._lock:
            self._clear()
            super().asset_log(key, level, text)
            self._draw(force=True)

    def _status(self) -> str:
        c = dict.fromkeys(("built", "cached", "skipped", "failed", "blocked"), 0)
        for outcome in self.outcomes.values():
            c[outcome] += 1
        remaining = self.total - sum(c.values())
        now = time.monotonic()
        running = sorted(self.running.items(), key=lambda kv: kv[1])[:3]
        names = ", ".join(f"{k} {now - t:.0f}s" for k, t in running)
        more = f" +{len(self.running) - 3}" if len(self.running) > 3 else ""
        blocked = f", {c['blocked']} blocked" if c["blocked"] else ""
        head = (f"[{c['built']} built, {c['cached']} cached, {c['skipped']} up to date, {c['failed']} failed{blocked}, "
                f"{remaining} remaining]")
        return f"{head} running: {names}{more}" if names else head

    def _draw(self, force: bool = False) -> None:
        if self.quiet or self._finished:
            return
        with self._lock:
            now = time.monotonic()
            if not force and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            width = _columns(self._terminal) - 1
            if self._partial:  # leave another writer's unfinished line as it is
                self.out.write("\n")
                self._partial = False
            self.out.write("\r\x1b[K" + self._status()[:max(20, width)])
            self.out.flush()
            self.drawn = True

    def _erase(self) -> None:
        """Remove the status line from the terminal (the cursor stays at the start of its line)."""
        if self.drawn:
            self.out.write("\r\x1b[K")
            self.drawn = False
        self.out.flush()

    def _clear(self) -> None:
        """Make room for a line of our own: no status line, and not after another writer's unfinished line."""
        self._erase()
        if self._partial:
            self.out.write("\n")
            self.out.flush()
            self._partial = False


def _fileno(stream) -> Optional[int]:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _columns(fd: Optional[int]) -> int:
    """The terminal's width (100 where it says 0, as shutil does)."""
    if fd is not None:
        with contextlib.suppress(OSError):
            return os.get_terminal_size(fd).columns or 100
    import shutil  # lazy: only where the stream has no terminal of its own

    return shutil.get_terminal_size((100, 20)).columns


def _on_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _reopened(stream, saved: Dict[int, int]):
    """``stream`` again, writing to the saved original of its file descriptor when that was redirected."""
    fd = _fileno(stream)
    if fd not in saved:
        return stream
    return open(saved[fd], "w", encoding=getattr(stream, "encoding", None) or "utf-8",
                errors=getattr(stream, "errors", None) or "replace", buffering=1, closefd=False)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
