"""The event log: every run and every materialization, with its versions, in SQLite.

Two tables. ``runs`` holds one row per ``make`` (command line, selection,
start and end, status, user and host, datamake version, outcome counts, and
its tags: a JSON object such as ``{"job": "nightly", "origin": "schedule"}``,
see :mod:`datamake.history.tags`).
``events`` holds what happened in it, one row each: ``started``, ``built``,
``cached``, ``skipped``, ``failed``, ``blocked``, ``check`` (an asset check's
result), ``log`` (a line the asset logged through ``context.log``) and
``message``; with the code version, provenance, data version, input data
versions, duration, size and metadata where they apply. The assets a run
found up to date are one ``skipped`` row per run that names its list in
``asset_sets`` (kept once however many runs found the same assets: a no-op
adds a row of a few dozen bytes, not one name per asset).

The database runs in WAL mode and each process writes through one connection
(the coordinator's thread), in batched transactions: readers (``datamake
log`` while a ``make -j 4`` runs) never block the writer nor see half a
batch. A run starts as ``running``; it ends ``ok``, ``failed``,
``interrupted`` (Ctrl-C) or ``error`` (datamake itself raised). A run whose
process died (killed, power loss) is marked ``interrupted`` by the next
``make`` or ``log`` on the same host.

Where: ``[history] url`` in datamake.toml (a local path, relative to the
project, or a SQLAlchemy-style ``sqlite:///relative`` or ``sqlite:////absolute``
URL); by default ``history.sqlite`` in a local store's root, or
``.datamake-history.sqlite`` beside datamake.toml when the store is remote.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import sys
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from datamake.core.errors import ConfigError, DatamakeError
from datamake.core.hashing import hash_bytes
from datamake.core.keys import split_node
from datamake.core.urlquote import quote
from datamake._version import __version__
from datamake.storage.liveness import HOST, process_gone
from datamake.storage.localfiles import FSYNC

SCHEMA_VERSION = 5  # in PRAGMA user_version (and, for SQL readers, in the meta table)
DEFAULT_NAME = "history.sqlite"
REMOTE_STORE_NAME = ".datamake-history.sqlite"
MATERIALIZATIONS = ("built", "cached", "failed", "blocked")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
    command TEXT, selection TEXT, user TEXT, host TEXT, pid INTEGER, version TEXT,
    counts TEXT, seconds REAL, tags TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
    asset TEXT, partition TEXT, code_version TEXT, provenance TEXT, data_version TEXT,
    inputs TEXT, seconds REAL, size INTEGER, metadata TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS events_asset ON events (asset, id);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_running ON runs (host) WHERE status = 'running';
"""
# The lists of up-to-date assets that runs' ``skipped`` summary rows name (metadata {"assets_set": DIGEST}).
_ASSET_SETS_SCHEMA = "CREATE TABLE IF NOT EXISTS asset_sets (digest TEXT PRIMARY KEY, assets TEXT NOT NULL)"
# The daemon's state (datamake.automation.runtime.state): ticks, cursors and on/off, the run queue, the daemon.
_AUTOMATION_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS automation_ticks (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
    " ts REAL NOT NULL, tick REAL, status TEXT NOT NULL, run_keys TEXT, message TEXT)",
    "CREATE INDEX IF NOT EXISTS automation_ticks_name ON automation_ticks (name, id)",
    "CREATE TABLE IF NOT EXISTS automation_cursors (name TEXT PRIMARY KEY, kind TEXT NOT NULL, cursor TEXT,"
    " last_eval REAL, enabled INTEGER)",
    "CREATE TABLE IF NOT EXISTS automation_queue (run_key TEXT PRIMARY KEY, origin TEXT NOT NULL, name TEXT,"
    " argv TEXT NOT NULL, tags TEXT, status TEXT NOT NULL, queued REAL NOT NULL, launched REAL, finished REAL,"
    " pid INTEGER, host TEXT, exit_code INTEGER)",
    "CREATE INDEX IF NOT EXISTS automation_queue_open ON automation_queue (status) WHERE status != 'done'",
    "CREATE TABLE IF NOT EXISTS automation_daemon (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT,"
    " started REAL, heartbeat REAL)",
)
_SCHEMA += "".join(f"{statement};\n" for statement in (*_AUTOMATION_SCHEMA, _ASSET_SETS_SCHEMA))
# What each schema version added to the one before, applied in order to an older log opened for writing.
_MIGRATIONS: Dict[int, Tuple[str, ...]] = {
    2: ("CREATE INDEX IF NOT EXISTS runs_running ON runs (host) WHERE status = 'running'",),  # recover() at each
    # make start reads the few running runs, not every run ever recorded
    3: ("ALTER TABLE runs ADD COLUMN tags TEXT",),  # run tags: the job, schedule or sensor a run came from
    4: _AUTOMATION_SCHEMA,  # schedules, sensors and the daemon's run queue
    5: (_ASSET_SETS_SCHEMA,),  # a no-op run names the list of its up-to-date assets, kept once
}
_EVENT_COLUMNS = ("run_id", "ts", "kind", "asset", "partition", "code_version", "provenance", "data_version",
                  "inputs", "seconds", "size", "metadata", "message")
_ROW_VALUES = f"({', '.join('?' * len(_EVENT_COLUMNS))})"
_INSERT = f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES {_ROW_VALUES}"
# Each statement costs fixed work besides its rows (stepped, reset, its cursors opened and closed):
# a batch of rows goes in as few multi-row statements of these sizes as fit, largest first, in its
# order (so the rows' ids keep it); the last few one by one.
_ROWS_PER_INSERT = (64, 8, 2)  # (64 rows bind 832 values: within every SQLite's limit of 999)
_INSERT_ROWS = {size: f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES {', '.join([_ROW_VALUES] * size)}"
                for size in _ROWS_PER_INSERT}

_SET_FIELD = "assets_set"  # a summary row's metadata: {"assets_set": DIGEST} names its list in asset_sets
_SET_REF = "'{\"%s\":\"' || digest || '\"}'" % _SET_FIELD  # that metadata's text, in SQL, for a row of asset_sets

_active_runs: set = set()  # run ids this process is writing now (never "interrupted" by ourselves)


class HistoryError(DatamakeError):
    """The event log cannot be opened or read."""

    exit_code = 1


def history_path(project_dir: str, history_url: Optional[str], store_root: str, store_is_local: bool) -> str:
    """Where the SQLite file lives (see the module docstring)."""
    if history_url:
        path = history_url[len("sqlite:///"):] if history_url.startswith("sqlite:///") else history_url
        if history_url.startswith("file://"):
            path = history_url[len("file://"):]
        if "://" in path or "::" in path:
            raise ConfigError(
                f"[history] url = '{history_url}': the event log is a local SQLite file",
                hint="give a local path (relative to datamake.toml), or sqlite:////absolute/path",
            )
        return path if os.path.isabs(path) else os.path.join(project_dir, path)
    if store_is_local:
        return os.path.join(store_root, DEFAULT_NAME)
    return os.path.join(project_dir, REMOTE_STORE_NAME)


def history_error(path: str, exc: sqlite3.Error, doing: str = "read") -> HistoryError:
    """A SQLite error on the log at ``path``, as a message that says what to do."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return HistoryError(f"the event log {path} is corrupt ({text})",
                            hint=f"move it away (mv {path} {path}.corrupt): the next make starts a new log; "
                                 "the store's values and manifests are not affected")
    return HistoryError(f"cannot {doing} the event log {path}: {text}",
                        hint="check the file and its permissions, or set [history] url in datamake.toml")


def _check_not_newer(path: str, version: Optional[int]) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise HistoryError(
            f"the event log {path} was written by a newer datamake (log schema {version}; "
            f"this one knows up to {SCHEMA_VERSION})",
            hint="upgrade datamake (pip install -U datamake), or set [history] url in datamake.toml to use another log")


def _cannot_write(exc: sqlite3.Error) -> bool:
    """True for the errors of a log in a folder this process cannot write (SQLite needs its -shm file)."""
    text = str(exc)
    return "readonly" in text or "unable to open" in text


@contextlib.contextmanager
def reading(path: str) -> Iterator[Optional["History"]]:
    """``with reading(path) as history:`` the log for reading (None when nothing was recorded yet),
    closed after; its SQLite errors become a :class:`HistoryError` that names the file. Runs left
    ``running`` by dead processes are settled first, where the log can be written."""
    history = History.open_existing(path)
    try:
        if history is not None and not history.read_only:
            try:
                history.recover()
            except sqlite3.Error:
                pass  # a log this process cannot write: shown as it is
        yield history
    except sqlite3.Error as exc:
        raise history_error(path, exc) from None
    finally:
        if history is not None:
            history.close()


def _dumps(value: Any) -> Optional[str]:
    return json.dumps(value, default=str, sort_keys=True, separators=(",", ":")) if value else None


def _loads(text: Optional[str], default: Any = None) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


class History:
    """One connection to the event log. Not shared between threads.

    Opened for writing (``create=True``, by ``make``), a log of an older schema
    is migrated first; opened for reading (:meth:`open_existing`), every schema
    up to :data:`SCHEMA_VERSION` is read as it is. A log of a newer schema, a
    corrupt file or one that cannot be opened raise :class:`HistoryError`.
    """

    def __init__(self, path: str, create: bool = True, timeout: float = 30.0):
        self.path = path
        self.read_only = False
        self.conn: Optional[sqlite3.Connection] = None
        mode = "rwc" if create else "rw"
        try:
            if create:
                os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
            self.conn = self._connect(mode, timeout)
            try:
                self.version = self._stored_version()
            except sqlite3.OperationalError as exc:
                if create or not _cannot_write(exc):
                    raise
                self.conn.close()  # a log in a folder this process cannot write: read it as it is
                self.conn, self.read_only = self._connect("ro&immutable=1", timeout), True
                self.version = self._stored_version()
            _check_not_newer(path, self.version)
            if create:
                self._setup()
        except BaseException as exc:
            if self.conn is not None:
                self.conn.close()
            if isinstance(exc, OSError):
                raise HistoryError(f"cannot create the event log {path}: {exc.strerror or exc}",
                                   hint="point [history] url in datamake.toml at a folder you can write") from None
            if isinstance(exc, sqlite3.Error):
                raise history_error(path, exc, "open") from None
            raise

    def _connect(self, mode: str, timeout: float) -> sqlite3.Connection:
        uri = f"file:{quote(os.path.abspath(self.path))}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
        return conn

    @classmethod
    def open_existing(cls, path: str) -> Optional["History"]:
        """The log at ``path`` for reading, or None when nothing has been recorded yet."""
        if not os.path.exists(path):
            return None
        history = cls(path, create=False)
        if history.version is None:
            history.close()
            return None
        return history

    def _setup(self) -> None:
        # The log is as durable as the store's files: safe against a killed process (each commit is handed
        # to the operating system), fsynced only with DATAMAKE_FSYNC (power loss). Set before the switch to
        # WAL, which then syncs nothing either: creating a log and closing it waited on the disk for 5-40 ms.
        self.conn.execute("PRAGMA synchronous = %s" % ("NORMAL" if FSYNC else "OFF"))
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            self.conn.execute("PRAGMA journal_mode = WAL")
        if self.version == SCHEMA_VERSION:
            return
        with self.transaction():
            self.version = self._stored_version()  # again, holding the write lock: another make may have done it
            _check_not_newer(self.path, self.version)
            if self.version is None:
                statements = [s for s in _SCHEMA.split(";") if s.strip()]
            else:  # an older log: what each later schema added
                statements = [s for v in range(self.version + 1, SCHEMA_VERSION + 1) for s in _MIGRATIONS[v]]
            for statement in statements:
                self.conn.execute(statement)
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.version = SCHEMA_VERSION

    def _stored_version(self) -> Optional[int]:
        """The file's schema version (``PRAGMA user_version``; logs of datamake 0.1 keep it in ``meta``
        only); None when the file holds no log yet."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version:
            return int(version)
        if not self._has_schema():
            return None
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:  # no meta table
            row = None
        return int(row[0]) if row and str(row[0]).isdigit() else 1

    def _has_schema(self) -> bool:
        row = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
        return row is not None

    def transaction(self) -> "_Transaction":
        """``with history.transaction():`` one write transaction (BEGIN IMMEDIATE … COMMIT)."""
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- writing -------------------------------------------------------------
    def begin_run(self, run_id: str, selection: Sequence[str], command: str, started: float,
                  tags: Optional[Mapping[str, Any]] = None) -> None:
        """Record a run as ``running`` (with its ``tags``) and commit at once, so a crash leaves a trace."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO runs (run_id, started, status, command, selection, user, host, pid, version,"
                " tags) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (run_id, started, command, json.dumps(list(selection)), _user(), HOST, os.getpid(),
                 __version__, _dumps(dict(tags or {}))),
            )
        _active_runs.add(run_id)

    def add_events(self, rows: Sequence[tuple]) -> None:
        """Insert event rows (tuples in ``_EVENT_COLUMNS`` order) in one transaction."""
        if rows:
            with self.transaction():
                self._insert_events(rows)

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, int], seconds: float,
                   rows: Sequence[tuple] = (), skipped: Sequence[str] = ()) -> None:
        """Write the last events, the summary of the nodes found up to date (``skipped``) and the run's
        final status together."""
        with self.transaction():
            if skipped:
                rows = [*rows, self._skipped_summary(run_id, skipped)]
            if rows:
                self._insert_events(rows)
            self.conn.execute("UPDATE runs SET finished = ?, status = ?, counts = ?, seconds = ? WHERE run_id = ?",
                              (time.time(), status, json.dumps(dict(counts)), seconds, run_id))
        _active_runs.discard(run_id)

    def _insert_events(self, rows: Sequence[tuple]) -> None:
        """Insert event rows in their order, in multi-row statements (see :data:`_ROWS_PER_INSERT`)."""
        width = len(_EVENT_COLUMNS)
        if any(len(row) != width for row in rows):  # (a multi-row statement would shift the values of the next)
            raise ValueError(f"an event row must have {width} values: {_EVENT_COLUMNS}")
        start = 0
        for size in _ROWS_PER_INSERT:
            while len(rows) - start >= size:
                self.conn.execute(_INSERT_ROWS[size], list(itertools.chain.from_iterable(rows[start:start + size])))
                start += size
        if start < len(rows):
            self.conn.executemany(_INSERT, rows[start:])

    def _skipped_summary(self, run_id: str, nodes: Sequence[str]) -> tuple:
        """The ``skipped`` row of a run that found ``nodes`` up to date; their list is kept once in
        ``asset_sets`` (the next no-op over the same assets adds no copy of it)."""
        assets = json.dumps(list(nodes), separators=(",", ":"))
        digest = hash_bytes(assets.encode())
        self.conn.execute("INSERT OR IGNORE INTO asset_sets VALUES (?, ?)", (digest, assets))
        return (run_id, time.time(), "skipped", None, None, None, None, None, None, None, None,
                _dumps({_SET_FIELD: digest}), f"{len(nodes)} assets up to date")

    def recover(self) -> List[str]:
        """Mark runs left ``running`` by a dead process on this host as ``interrupted``; returns their ids."""
        host, me = HOST, os.getpid()
        rows = self.conn.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)).fetchall()
        dead = [run_id for run_id, pid in rows
                if run_id not in _active_runs and (pid == me or process_gone(host, pid))]
        if dead:
            with self.transaction():
                for run_id in dead:
                    last = self.conn.execute("SELECT MAX(ts) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]
                    self.conn.execute(
                        "UPDATE runs SET status = 'interrupted', finished = COALESCE(?, started) "
                        "WHERE run_id = ? AND status = 'running'", (last, run_id))
        return dead

    def prune(self, before: float) -> Tuple[int, int]:
        """Delete finished runs that started before ``before`` (a Unix time) and their events."""
        with self.transaction():
            old = "SELECT run_id FROM runs WHERE started < ? AND status != 'running'"
            events = self.conn.execute(f"DELETE FROM events WHERE run_id IN ({old})", (before,)).rowcount
            runs = self.conn.execute("DELETE FROM runs WHERE started < ? AND status != 'running'", (before,)).rowcount
            if self.version is not None and self.version >= 5:  # the lists no summary names any more
                self.conn.execute(f"DELETE FROM asset_sets WHERE {_SET_REF} NOT IN (SELECT metadata FROM events"
                                  " WHERE kind = 'skipped' AND asset IS NULL AND metadata IS NOT NULL)")
        return runs, events

    # -- reading -------------------------------------------------------------
    def runs(self, limit: int = 20, job: Optional[str] = None) -> List[Dict[str, Any]]:
        """The most recent runs, newest first; with ``job``, only the runs of that job (tagged ``job``)."""
        if job is None:
            cursor = self.conn.execute("SELECT * FROM runs ORDER BY started DESC, rowid DESC LIMIT ?", (limit,))
            return [_run_dict(cursor, row) for row in cursor.fetchall()]
        if self.version is not None and self.version < 3:
            return []  # no run of an older log has tags
        mark = _dumps({"job": job})[1:-1]  # the tags are stored as sorted, compact JSON: "job":"NAME"
        cursor = self.conn.execute("SELECT * FROM runs WHERE instr(tags, ?) ORDER BY started DESC, rowid DESC",
                                   (mark,))
        mine = (run for run in (_run_dict(cursor, row) for row in cursor) if run["tags"].get("job") == job)
        return list(itertools.islice(mine, limit))

    def runs_ended(self, status: str, after: float) -> List[Dict[str, Any]]:
        """Runs that ended with ``status`` after ``after`` (a Unix time), oldest first (a run-status sensor)."""
        cursor = self.conn.execute("SELECT * FROM runs WHERE status = ? AND finished > ? ORDER BY finished",
                                   (status, after))
        return [_run_dict(cursor, row) for row in cursor.fetchall()]

    def run(self, run_id: str) -> Optional[Dict[str, Any]]:
        cursor = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cursor.fetchone()
        return _run_dict(cursor, row) if row else None

    def events(self, run_id: Optional[str] = None, asset: Optional[str] = None,
               kinds: Optional[Sequence[str]] = None, limit: int = 1_000_000) -> List[Dict[str, Any]]:
        """Events, oldest first, filtered by run, asset and kinds."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if asset is not None:
            where.append("asset = ?")
            args.append(asset)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        cursor = self.conn.execute(f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id", (*args, limit))
        return self._with_asset_lists([_event_dict(cursor, row) for row in cursor.fetchall()])

    def materializations(self, asset: str, limit: int = 20, kinds: Sequence[str] = MATERIALIZATIONS
                         ) -> List[Dict[str, Any]]:
        """One asset's history, newest first: each outcome with its checks and log lines."""
        marks = ", ".join("?" * len(kinds))
        cursor = self.conn.execute(  # a "skipped" row with metadata: its checks were re-run on the kept value
            f"SELECT * FROM events WHERE asset = ? AND (kind IN ({marks}) OR (kind = 'skipped' AND metadata IS NOT NULL))"
            " ORDER BY id DESC LIMIT ?", (asset, *kinds, limit))
        rows = [_event_dict(cursor, row) for row in cursor.fetchall()]
        if "skipped" in kinds:
            rows = sorted(rows + self._skipped_in_summaries(asset, limit), key=lambda r: r["ts"], reverse=True)[:limit]
        if not rows:
            return rows
        runs = sorted({r["run_id"] for r in rows})
        extra = self.conn.execute(
            f"SELECT * FROM events WHERE asset = ? AND kind IN ('check', 'log') AND run_id IN ({', '.join('?' * len(runs))})"
            " ORDER BY id", (asset, *runs))
        by_run: Dict[Tuple[str, Optional[str]], Dict[str, list]] = {}
        for row in extra.fetchall():
            e = _event_dict(extra, row)
            slot = by_run.setdefault((e["run_id"], e["partition"]), {"checks": [], "logs": []})
            if e["kind"] == "check":
                slot["checks"].append(e["metadata"])
            else:
                slot["logs"].append(e["message"])
        for r in rows:
            slot = by_run.get((r["run_id"], r["partition"]), {})
            r["checks"] = slot.get("checks", [])
            r["logs"] = slot.get("logs", [])
        return rows

    def _skipped_in_summaries(self, asset: str, limit: int) -> List[Dict[str, Any]]:
        """The runs whose summary row lists ``asset`` (or a partition of it) as up to date."""
        named = (f'%"{asset}"%', f'%"{asset}[%')  # the key, or one of its partitions, in a JSON list
        listed = "metadata LIKE ? OR metadata LIKE ?"  # a summary that lists its assets (logs before schema 5)
        if self.version is not None and self.version >= 5:
            listed += f" OR metadata IN (SELECT {_SET_REF} FROM asset_sets WHERE assets LIKE ? OR assets LIKE ?)"
            named += named
        cursor = self.conn.execute(
            f"SELECT * FROM events WHERE kind = 'skipped' AND asset IS NULL AND ({listed}) ORDER BY id DESC LIMIT ?",
            (*named, limit))
        out = []
        for e in self._with_asset_lists([_event_dict(cursor, row) for row in cursor.fetchall()]):
            for node in e["metadata"].get("assets", ()):
                key, partition = split_node(node)
                if key == asset:
                    out.append({**e, "asset": key, "partition": partition, "metadata": {}, "message": None})
        return out

    def _with_asset_lists(self, events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """``events`` with each summary of up-to-date assets as it reads: ``metadata.assets`` lists them."""
        lists: Dict[str, List[str]] = {}
        for e in events:
            digest = e["metadata"].get(_SET_FIELD) if e["kind"] == "skipped" and e["asset"] is None else None
            if isinstance(digest, str):
                if digest not in lists:
                    row = self.conn.execute("SELECT assets FROM asset_sets WHERE digest = ?", (digest,)).fetchone()
                    lists[digest] = _loads(row[0] if row else None, [])
                e["metadata"] = {"assets": lists[digest]}
        return events

    def find_version(self, asset: str, data_version: str) -> Optional[Dict[str, Any]]:
        """The latest materialization of ``asset`` (a key, or a partition's ``key[pk]``) that produced ``data_version``."""
        key, partition = split_node(asset)
        cursor = self.conn.execute(
            "SELECT * FROM events WHERE asset = ? AND partition IS ? AND data_version = ?"
            " AND kind IN ('built', 'cached', 'failed') ORDER BY id DESC LIMIT 1", (key, partition, data_version))
        row = cursor.fetchone()
        return _event_dict(cursor, row) if row else None

    def last_event_id(self) -> int:
        """The id of the newest event (0 when none): it grows with every event written."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]

    def count_events(self, run_id: Optional[str] = None) -> int:
        if run_id is None:
            return self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


def _run_dict(cursor: sqlite3.Cursor, row: tuple) -> Dict[str, Any]:
    data = dict(zip((c[0] for c in cursor.description), row))
    data["selection"] = _loads(data.get("selection"), [])
    data["counts"] = _loads(data.get("counts"), {})
    data["tags"] = _loads(data.get("tags"), {})  # {} for runs recorded before tags (schema < 3)
    return data


def _event_dict(cursor: sqlite3.Cursor, row: tuple) -> Dict[str, Any]:
    data = dict(zip((c[0] for c in cursor.description), row))
    data.pop("id", None)
    data["inputs"] = _loads(data.get("inputs"), {})
    data["metadata"] = _loads(data.get("metadata"), {})
    return data


def _user() -> str:
    """``getpass.getuser()``, without importing getpass (and termios): a login variable, else the passwords."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass.getuser's, in its order
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd  # lazy: not on Windows, and only without a login variable

        return pwd.getpwuid(os.getuid())[0]
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """The command that started this process, as a user would type it."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (os.path.basename(argv[0]) == "datamake" or argv[0].endswith(os.path.join("datamake", "__main__.py"))):
        argv[0] = "datamake"
    if all(arg and _SHELL_SAFE.issuperset(arg) for arg in argv):
        return " ".join(argv)  # what shlex.join gives when nothing needs quoting, without importing shlex
    import shlex

    return shlex.join(argv)


_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")  # shlex.quote's


def parse_older_than(text: str, now: Optional[float] = None) -> float:
    """A cut-off Unix time from an age (``30d``, ``12h``, ``2w``: see :mod:`datamake.core.durations`) or a date."""
    from datamake.core.compat import fromisoformat  # lazy: only a command given an age or a date
    from datamake.core.durations import DURATION_FORMS, parse_duration

    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)
    except DatamakeError:
        pass
    try:
        return fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise DatamakeError(f"cannot read OLDER_THAN '{text}'",
                            hint=f"give an age, {DURATION_FORMS}; or a date such as 2024-01-31") from None
