"""Op invocations in the event log: one row per op invocation of a run, in table ``op_invocations``.

Ops have no current manifest (they are not assets); this table is where
``datamake log --run ID`` and ``datamake why`` find what each op invocation of
a run did: ``ran``, ``cached``, ``failed`` or ``skipped``, with its provenance,
code version and output data versions. The table is created on first write,
beside ``runs`` and ``events``, so logs without it read as having no op rows.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Dict, List, Mapping, Optional, Sequence

from datamake.history.events import History

_TABLE = """
CREATE TABLE IF NOT EXISTS op_invocations (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts REAL NOT NULL, graph TEXT NOT NULL, asset TEXT,
    op TEXT NOT NULL, invocation TEXT NOT NULL, status TEXT NOT NULL, code_version TEXT, provenance TEXT,
    outputs TEXT, seconds REAL, error TEXT)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS op_invocations_run ON op_invocations (run_id, id)"
COLUMNS = ("run_id", "ts", "graph", "asset", "op", "invocation", "status", "code_version", "provenance",
           "outputs", "seconds", "error")


def record(history: History, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append op invocation rows (dicts with :data:`COLUMNS`; ``outputs`` a dict) in one transaction."""
    if not rows:
        return
    with history.transaction():
        history.conn.execute(_TABLE)
        history.conn.execute(_INDEX)
        history.conn.executemany(
            f"INSERT INTO op_invocations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [tuple(json.dumps(r.get(c) or {}, sort_keys=True) if c == "outputs" else r.get(c) for c in COLUMNS)
             for r in rows])


def invocations(history: History, run_id: Optional[str] = None, asset: Optional[str] = None,
                limit: int = 100_000) -> List[Dict[str, Any]]:
    """Op invocation rows, oldest first, of one run or of the newest run that materialized ``asset``."""
    try:
        if run_id is None and asset is not None:
            row = history.conn.execute("SELECT run_id FROM op_invocations WHERE asset = ? ORDER BY id DESC LIMIT 1",
                                       (asset,)).fetchone()
            if row is None:
                return []
            run_id = row[0]
        where = "WHERE run_id = ?" + (" AND asset = ?" if asset is not None else "")
        args = (run_id, asset) if asset is not None else (run_id,)
        cursor = history.conn.execute(f"SELECT * FROM op_invocations {where} ORDER BY id LIMIT ?", (*args, limit))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # nothing recorded yet
        raise
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(names, values))
        row.pop("id", None)
        row["outputs"] = json.loads(row["outputs"]) if row["outputs"] else {}
        out.append(row)
    return out


def prune(history: History) -> int:
    """Delete the op invocations of runs no longer in the log (after ``History.prune``); how many."""
    try:
        with history.transaction():
            return history.conn.execute(
                "DELETE FROM op_invocations WHERE run_id NOT IN (SELECT run_id FROM runs)").rowcount
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
