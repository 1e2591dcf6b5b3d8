"""The reporter that writes a run's events to the SQLite event log (:mod:`datamake.history.events`).

It receives the ordinary reporter events, plus one optional hook from the
coordinator, :meth:`HistoryReporter.note`, called just before
``asset_finished`` with what the outcome alone does not carry: the manifest
(versions, inputs, metadata), the checks that ran and the asset's log lines.

All calls come from the coordinator's thread, so one connection writes (the
log is opened, and the run's row committed, on a thread of its own while the
first assets start; every use of the connection, and the coordinator before its
first manifest commit, waits for it: :meth:`HistoryReporter.ready`). Rows
are buffered and committed every :attr:`FLUSH_SECONDS` or
:attr:`FLUSH_EVENTS` rows, and at the end of the run, which keeps the cost per
trivial asset to a few microseconds. Assets found up to date are listed in
one ``skipped`` row per run (``metadata.assets`` as it reads; the list itself is
kept once for all the runs that found the same assets), not one row each, so a
no-op run over thousands of assets stays cheap. The run's own row is committed at once,
so a crash leaves a ``running`` run that the next start marks ``interrupted``.
A broken log never fails a build: the first error is reported as a warning
and recording stops.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from datamake.history.events import History, HistoryError, command_line
from datamake.core.describe import describe_reasons
from datamake.core.hashing import record_json
from datamake.core.keys import split_node
from datamake.execution.reporters import Reporter
from datamake.execution.results import AssetOutcome, RunResult


# What the rows bind where a column is NULL. SQLite stores a NaN as NULL, and binds it directly,
# while Python's sqlite3 binds a None only after looking for an adapter for it, which raises and
# clears an AttributeError inside (3,300 instructions; a started and a built row hold 11 of them).
_NULL = float("nan")


def _json(value: Any) -> Any:
    return record_json(value) if value else _NULL


def _json_of_pairs(pairs: Any) -> Any:
    """``_json(dict(pairs))`` of a mapping or of (key, value) pairs, without the copy when there are none."""
    return record_json(dict(pairs)) if pairs else _NULL


_NOTHING_NOTED: Tuple[Any, Sequence[Any], Sequence[str]] = (None, (), ())


def _null(value: Any) -> Any:
    return _NULL if value is None else value


class HistoryReporter(Reporter):
    """Records runs, outcomes, check results and log lines in the event log at ``path``."""

    FLUSH_SECONDS = 0.1
    FLUSH_EVENTS = 500

    def __init__(self, path: str, selection: Sequence[str] = (), command: Optional[str] = None,
                 warn: Optional[Callable[[str], None]] = None, tags: Optional[Dict[str, Any]] = None):
        self.path = path
        self.selection = list(selection)
        self.tags = dict(tags or {})
        self.command = command if command is not None else command_line()
        self.warn = warn or (lambda text: None)
        self.history: Optional[History] = None
        self._opening: Optional[threading.Thread] = None  # opens the log while the first assets start
        self._open_error: Optional[BaseException] = None
        self.run_id = ""
        self.rows: List[tuple] = []
        self.notes: Dict[str, Tuple[Any, Sequence[Any], Sequence[str]]] = {}
        self.skipped: List[str] = []  # plain up-to-date assets: one summary row per run, not one row each
        self.last_flush = 0.0

    # -- reporter events -----------------------------------------------------
    def run_started(self, run_id: str, scope: Any) -> None:
        self.run_id = run_id
        self.last_flush = time.monotonic()
        # Creating the log, recovering dead runs and committing this run's row each wait on the disk:
        # done beside the first assets, not before them.
        self._opening = threading.Thread(target=self._open, args=(time.time(),), name="datamake-history",
                                         daemon=True)
        self._opening.start()

    def _open(self, started: float) -> None:
        try:
            history = History(self.path)
            try:
                history.recover()
                history.begin_run(self.run_id, self.selection, self.command, started, self.tags)
            except BaseException:
                history.close()
                raise
            self.history = history
        except (HistoryError, sqlite3.Error) as exc:
            self._open_error = exc

    def ready(self) -> bool:
        """Wait until the log is open and the run recorded in it; False when it cannot be written."""
        if self._opening is not None:
            self._opening.join()
            self._opening = None
            if self._open_error is not None:
                self._broken(self._open_error)
                self._open_error = None
        return self.history is not None

    @property
    def _off(self) -> bool:
        """True when nothing more is recorded: not opened (yet or any more), or broken."""
        return self._opening is None and self.history is None

    def asset_started(self, key: str, reasons: Sequence[Any]) -> None:
        asset, partition = split_node(key)  # a partition's node id: sales[2024-01-05]
        self._add((self.run_id, time.time(), "started", asset, _NULL if partition is None else partition,
                   _NULL, _NULL, _NULL, _NULL, _NULL, _NULL, _NULL, describe_reasons(reasons)))

    def note(self, key: str, manifest: Any, checks: Sequence[Any] = (), logs: Sequence[str] = ()) -> None:
        """The coordinator's hook: what ``asset_finished(outcome)`` for ``key`` should also record."""
        self.notes[key] = (manifest, checks, logs)

    def asset_finished(self, outcome: AssetOutcome) -> None:
        if self._opening is None and self.history is None:  # (self._off, inline: one call per asset)
            return
        manifest, checks, logs = self.notes.pop(outcome.key, _NOTHING_NOTED)
        if outcome.outcome == "skipped" and not checks and not logs and not outcome.error:
            self.skipped.append(outcome.key)  # no-op runs are frequent and large: keep them cheap
            return
        now = time.time()
        asset, partition = split_node(outcome.key)
        partition = partition or outcome.partition
        row = self._outcome_row(outcome, asset, partition, manifest, now, bool(checks))
        if not checks and not logs:
            return self._add(row)
        rows = [row]
        dv = manifest.data_version if manifest is not None else None
        if checks:
            rows.extend((self.run_id, now, "check", asset, partition, None, None, dv, None, c.seconds, None,
                         _json(c.to_dict()), f"{c.name}: {'passed' if c.passed else 'failed'}") for c in checks)
        if logs:
            rows.extend((self.run_id, now, "log", asset, partition, None, None, None, None, None, None, None,
                         line) for line in logs)
        self._add(*rows)

    def run_finished(self, result: RunResult) -> None:
        status = "interrupted" if result.interrupted else ("ok" if result.ok else "failed")
        self._close(status, result.counts(), result.seconds)

    def message(self, text: str) -> None:
        self._add((self.run_id, time.time(), "message", None, None, None, None, None, None, None, None, None, text))

    def abort(self, exc: BaseException) -> None:
        """The run raised (a datamake or store error): record it as ``error``."""
        self.message(f"run failed: {type(exc).__name__}: {exc}")
        self._close("error", {}, 0.0)

    # -- writing -------------------------------------------------------------
    def _outcome_row(self, outcome: AssetOutcome, asset: str, partition: Optional[str], manifest: Any, now: float,
                     checked: bool) -> tuple:
        if manifest is None:  # a failure keeps the user's traceback (shown by `datamake ui`'s run page)
            failure = _json({"traceback": outcome.traceback}) if outcome.traceback else _NULL
            return (self.run_id, now, outcome.outcome, asset, _null(partition), _NULL, _NULL,
                    _null(outcome.data_version), _NULL, outcome.seconds or _NULL, _NULL, failure, _null(outcome.error))
        if outcome.outcome == "skipped" and not checked:  # keep the rows of no-op runs small
            return (self.run_id, now, "skipped", asset, _null(partition), manifest.code_version, manifest.provenance,
                    manifest.data_version, _NULL, _NULL, _NULL, _NULL, _null(outcome.error))
        seconds, error = outcome.seconds, outcome.error  # (_null of each, inline: one row per built asset)
        return (self.run_id, now, outcome.outcome, asset, _NULL if partition is None else partition,
                manifest.code_version, manifest.provenance, manifest.data_version, _json_of_pairs(manifest.inputs),
                _NULL if seconds is None else seconds, manifest.size, _json_of_pairs(manifest.metadata),
                _NULL if error is None else error)

    def _add(self, *rows: tuple) -> None:
        if self._opening is None and self.history is None:  # (self._off, inline: two calls per asset)
            return
        self.rows.extend(rows)
        if len(self.rows) >= self.FLUSH_EVENTS or time.monotonic() - self.last_flush >= self.FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered events now."""
        if not self.ready():
            return
        rows, self.rows = self.rows, []
        self.last_flush = time.monotonic()
        try:
            self.history.add_events(rows)
        except sqlite3.Error as exc:
            self._broken(exc)

    def _close(self, status: str, counts: Dict[str, int], seconds: float) -> None:
        if not self.ready():
            return
        rows, self.rows = self.rows, []
        skipped, self.skipped = self.skipped, []
        try:
            self.history.finish_run(self.run_id, status, counts, seconds, rows, skipped)
        except sqlite3.Error as exc:
            self._broken(exc)
        finally:
            if self.history is not None:
                self.history.close()
                self.history = None

    def _broken(self, exc: BaseException) -> None:
        if isinstance(exc, HistoryError):
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            self.warn(f"{exc.message}; this run is not recorded in it{hint}")
        else:
            self.warn(f"the event log {self.path} cannot be written ({exc}); this run is not recorded in it")
        if self.history is not None:
            try:
                self.history.close()
            except sqlite3.Error:
                pass
        self.history = None
        self.rows = []
