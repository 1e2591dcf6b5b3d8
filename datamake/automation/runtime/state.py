"""The daemon's state, in the event log's SQLite database (tables made by ``datamake.history.events``).

- ``automation_ticks``: every evaluation of a schedule or sensor, its result and the run keys it asked for;
- ``automation_cursors``: per schedule/sensor, the cursor (last tick, or the sensor's own value), the time
  of its last evaluation, and whether it is switched on (``datamake schedules start|stop``);
- ``automation_queue``: run requests by run key (a key is queued once, ever: launches are idempotent),
  ``queued`` → ``launching`` → ``running`` → ``done``;
- ``automation_daemon``: the one daemon of the project (pid, host), so a second one refuses to start.

A tick's decision, its run requests and its new cursor are written in one transaction: a daemon killed
at any point either did all of it or none of it, and the next one redoes the same tick with the same keys.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Dict, List, Optional, Sequence

from datamake.history.events import History
from datamake.storage.liveness import HOST, process_gone

class DaemonRunning(Exception):
    """Another live daemon holds the project: ``pid`` on ``host``."""

    def __init__(self, pid: int, host: str, started: float):
        super().__init__(f"pid {pid} on {host}")
        self.pid, self.host, self.started = pid, host, started


class State:
    """One connection to the automation tables. Not shared between threads."""

    def __init__(self, path: str):
        self.history = History(path)  # creates or migrates the log
        self.conn: sqlite3.Connection = self.history.conn

    def close(self) -> None:
        self.history.close()

    def transaction(self):
        return self.history.transaction()

    # -- the daemon lease -----------------------------------------------------------------
    def claim_daemon(self) -> None:
        """Become the project's daemon, or raise :class:`DaemonRunning` naming the live one."""
        with self.transaction():
            row = self.conn.execute("SELECT pid, host, started FROM automation_daemon WHERE id = 1").fetchone()
            if row and (row[0], row[1]) != (os.getpid(), HOST) and not process_gone(row[1], row[0]):
                raise DaemonRunning(*row)
            self.conn.execute("INSERT OR REPLACE INTO automation_daemon (id, pid, host, started, heartbeat) "
                              "VALUES (1, ?, ?, ?, ?)", (os.getpid(), HOST, time.time(), time.time()))

    def release_daemon(self) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM automation_daemon WHERE id = 1 AND pid = ? AND host = ?",
                              (os.getpid(), HOST))

    def daemon(self) -> Optional[Dict[str, Any]]:
        row = self.conn.execute("SELECT pid, host, started FROM automation_daemon WHERE id = 1").fetchone()
        if row is None or process_gone(row[1], row[0]):
            return None
        return {"pid": row[0], "host": row[1], "started": row[2]}

    # -- cursors, evaluation times, on/off ---------------------------------------------------
    def cursor(self, name: str) -> Dict[str, Any]:
        row = self.conn.execute("SELECT cursor, last_eval, enabled FROM automation_cursors WHERE name = ?",
                                (name,)).fetchone()
        if row is None:
            return {"cursor": None, "last_eval": None, "enabled": None}
        return {"cursor": _loads(row[0]), "last_eval": row[1], "enabled": None if row[2] is None else bool(row[2])}

    def set_enabled(self, name: str, kind: str, enabled: bool) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO automation_cursors (name, kind, enabled) VALUES (?, ?, ?) "
                              "ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled", (name, kind, int(enabled)))

    def record_tick(self, name: str, kind: str, status: str, *, tick: Optional[float] = None,
                    requests: Sequence[Dict[str, Any]] = (), message: Optional[str] = None,
                    cursor: Any = None, set_cursor: bool = False, now: Optional[float] = None) -> List[str]:
        """Record one evaluation, queue its requests (a known run key is not queued again) and move the
        cursor, atomically. Returns the run keys newly queued."""
        now = time.time() if now is None else now
        queued: List[str] = []
        with self.transaction():
            for req in requests:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO automation_queue (run_key, origin, name, argv, tags, status, queued) "
                    "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                    (req["run_key"], kind, name, json.dumps(req["argv"]), json.dumps(req["tags"]), now))
                if cur.rowcount:
                    queued.append(req["run_key"])
            keys = [r["run_key"] for r in requests]
            self.conn.execute(
                "INSERT INTO automation_ticks (name, kind, ts, tick, status, run_keys, message) VALUES (?,?,?,?,?,?,?)",
                (name, kind, now, tick, status, json.dumps(keys) if keys else None, message))
            update = ", cursor = excluded.cursor" if set_cursor else ""
            self.conn.execute(
                "INSERT INTO automation_cursors (name, kind, cursor, last_eval) VALUES (?, ?, ?, ?) "
                f"ON CONFLICT(name) DO UPDATE SET last_eval = excluded.last_eval{update}",
                (name, kind, json.dumps(cursor) if set_cursor else None, now))
        return queued

    def ticks(self, name: str, limit: int = 20) -> List[Dict[str, Any]]:
        cursor = self.conn.execute("SELECT * FROM automation_ticks WHERE name = ? ORDER BY id DESC LIMIT ?",
                                   (name, limit))
        return [_tick_dict(cursor, row) for row in cursor.fetchall()]

    def last_tick(self, name: str) -> Optional[Dict[str, Any]]:
        rows = self.ticks(name, 1)
        return rows[0] if rows else None

    # -- the run queue ------------------------------------------------------------------------
    def open_runs(self) -> List[Dict[str, Any]]:
        """Queued and in-flight runs, oldest first."""
        cursor = self.conn.execute(
            "SELECT rowid AS seq, * FROM automation_queue WHERE status != 'done' ORDER BY rowid")
        return [_queue_dict(cursor, row) for row in cursor.fetchall()]

    def mark(self, run_key: str, status: str, *, expect: Optional[str] = None, **values: Any) -> bool:
        """Move a queued run to ``status`` (only from ``expect``, when given); True when it moved."""
        sets = ", ".join(["status = ?", *(f"{k} = ?" for k in values)])
        where = "run_key = ?" + (" AND status = ?" if expect else "")
        args = [status, *values.values(), run_key, *([expect] if expect else [])]
        with self.transaction():
            return self.conn.execute(f"UPDATE automation_queue SET {sets} WHERE {where}", args).rowcount == 1

    def runs_of(self, name: str, limit: int = 1) -> List[Dict[str, Any]]:
        cursor = self.conn.execute("SELECT rowid AS seq, * FROM automation_queue WHERE name = ? "
                                   "ORDER BY rowid DESC LIMIT ?", (name, limit))
        return [_queue_dict(cursor, row) for row in cursor.fetchall()]


def _loads(text: Optional[str]) -> Any:
    return json.loads(text) if text else None


def _tick_dict(cursor: sqlite3.Cursor, row: tuple) -> Dict[str, Any]:
    d = {c[0]: v for c, v in zip(cursor.description, row)}
    d["run_keys"] = _loads(d["run_keys"]) or []
    return d


def _queue_dict(cursor: sqlite3.Cursor, row: tuple) -> Dict[str, Any]:
    d = {c[0]: v for c, v in zip(cursor.description, row)}
    d["argv"], d["tags"] = _loads(d["argv"]), _loads(d["tags"]) or {}
    return d


__all__ = ["DaemonRunning", "State"]
