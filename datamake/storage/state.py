"""The local store's record of verified artifacts (``state.sqlite``): hash -> the stat it had when hashed."""
from __future__ import annotations

import os
import sqlite3
import stat as stat_mod
import threading
import time
from typing import Dict, Iterable, List, Optional, Tuple

from datamake.core.hashing import hash_file

# After writing an artifact, its mtime is set this far back (from the file system's own clock),
# so that any later write to it, however soon, gives it another mtime.
MTIME_BACKDATE_NS = 2_000_000_000
# A file seen less than this long after its last change may still change within the same mtime
# tick: its stat proves nothing, so it is hashed (or read) again next time rather than recorded.
RACY_NS = 2_000_000_000
Stat = Tuple[int, int, int]  # (size, mtime_ns, inode)
_FEW = 20_000  # artifacts looked up row by row, at most, before the whole record is read instead


def stat_of(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _pack(stat: Stat) -> int:
    """A stat as one exact integer (size and inode are below 2**64 on every platform datamake runs on)."""
    size, mtime_ns, ino = stat
    return (mtime_ns << 128) | (ino << 64) | size


def connect_state(path: str, schema: str) -> sqlite3.Connection:
    """Open the store's machine-local state database with the table ``schema`` creates.

    It is a cache: writes need no durability, and a lost or damaged record
    costs hashing or reading again, never trust. A database that cannot be set
    up (a full disk, a read-only store) raises, leaving no file open.
    """
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(schema)
    except BaseException:
        db.close()
        raise
    return db


class ArtifactState:
    """How each local artifact looked when its content was last verified: hash -> (size, mtime_ns, inode).

    Like git's index or DVC's state database, this is a machine-local record (a
    SQLite file in the store folder, never part of a manifest): when an
    artifact's stat still equals its record, its bytes are what they were when
    they were hashed; when the stat moved, the artifact is hashed again. So a
    no-op costs one stat per artifact, and a same-size corruption is still seen.
    A record that cannot be read or written only costs hashing, never trust.
    """

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._known: Optional[Dict[str, int]] = None  # hash -> packed stat (see _pack): a third of a tuple's memory
        self._pending: Dict[str, Optional[Stat]] = {}
        self._pid = os.getpid()
        self._asked = 0  # artifacts looked up row by row before the whole record was loaded

    def _connect(self):
        return connect_state(self.path, "CREATE TABLE IF NOT EXISTS artifacts (hash TEXT PRIMARY KEY, size INTEGER,"
                                        " mtime_ns INTEGER, ino INTEGER) WITHOUT ROWID")

    def _load(self) -> Dict[str, int]:
        if self._known is None or self._pid != os.getpid():
            known: Dict[str, int] = {}
            if os.path.exists(self.path):
                try:
                    db = self._connect()
                    try:
                        known = {h: _pack((size, mtime, ino)) for h, size, mtime, ino in
                                 db.execute("SELECT hash, size, mtime_ns, ino FROM artifacts")}
                    finally:
                        db.close()
                except Exception:  # noqa: BLE001 - an unreadable record means: hash again
                    known = {}
            self._known, self._pid = known, os.getpid()
        return self._known

    def _records_of(self, hashes: List[str]) -> Dict[str, int]:
        """The records of ``hashes``: the whole record once it is loaded, or once many were asked for; until
        then only their rows (a few thousand artifacts checked among a million need not load a million)."""
        if self._known is not None and self._pid == os.getpid() or self._asked + len(hashes) > _FEW:
            return self._load()
        self._asked += len(hashes)
        if not os.path.exists(self.path):
            return {}
        try:
            db = self._connect()
            try:
                return {h: _pack((size, mtime, ino)) for i in range(0, len(hashes), 500) for h, size, mtime, ino in
                        db.execute(f"SELECT hash, size, mtime_ns, ino FROM artifacts WHERE hash IN "
                                   f"({','.join('?' * len(hashes[i:i + 500]))})", hashes[i:i + 500])}
            finally:
                db.close()
        except Exception:  # noqa: BLE001 - as in _load: an unreadable record means: hash again
            return {}

    def matches(self, content_hash: str, stat: Stat) -> bool:
        with self._lock:
            if content_hash in self._pending:
                pending = self._pending[content_hash]
                return pending is not None and tuple(pending) == stat
            return self._load().get(content_hash) == _pack(stat)

    def verified_size(self, content_hash: str, path: str) -> Optional[int]:
        """The size of the local artifact at ``path`` if its bytes match ``content_hash``; None when it
        is missing or corrupt. One stat when it matches its record, else the file is hashed again."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        stat = stat_of(st)
        if self.matches(content_hash, stat):
            return st.st_size
        try:
            with open(path, "rb") as f:
                ok = hash_file(f) == content_hash
        except OSError:
            return None
        if not ok:
            self.record(content_hash, None)
            return None
        try:  # record it only if it has not changed meanwhile, and not within the last mtime tick
            after = os.stat(path)
        except OSError:
            return None
        if stat_of(after) == stat and time.time_ns() - st.st_mtime_ns > RACY_NS:
            self.record(content_hash, stat)
        return st.st_size

    def verified_sizes(self, items: Iterable[Tuple[str, str]], few: bool = False) -> Dict[str, Optional[int]]:
        """:meth:`verified_size` of each (content hash, path): the stats that match their record are
        checked under one lock; any other artifact goes through :meth:`verified_size`. ``few``: a few among
        many recorded, whose rows are looked up rather than the whole record read (see :meth:`_records_of`)."""
        sizes: Dict[str, Optional[int]] = {}
        again: List[Tuple[str, str]] = []
        items = list(items)
        with self._lock:
            known = self._records_of([h for h, _ in items]) if few else self._load()
            pending = self._pending
            for content_hash, path in items:
                try:
                    st = os.stat(path)
                except OSError:
                    sizes[content_hash] = None
                    continue
                if (content_hash not in pending and stat_mod.S_ISREG(st.st_mode)
                        and known.get(content_hash) == _pack(stat_of(st))):
                    sizes[content_hash] = st.st_size
                else:
                    again.append((content_hash, path))
        for content_hash, path in again:
            sizes[content_hash] = self.verified_size(content_hash, path)
        return sizes

    def record(self, content_hash: str, stat: Optional[Stat]) -> None:
        """Remember ``stat`` as verified for ``content_hash`` (None forgets it); kept by :meth:`save`."""
        with self._lock:
            self._pending[content_hash] = stat

    def take(self, content_hash: str) -> Optional[Stat]:
        """The stat just recorded for ``content_hash``, handed over (and forgotten here)."""
        with self._lock:
            return self._pending.pop(content_hash, None)

    def save(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            known = self._load()
            for h, stat in pending.items():
                if stat is None:
                    known.pop(h, None)
                else:
                    known[h] = _pack(stat)
            try:
                db = self._connect()
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                                   [(h, *stat) for h, stat in pending.items() if stat is not None])
                    db.executemany("DELETE FROM artifacts WHERE hash = ?",
                                   [(h,) for h, stat in pending.items() if stat is None])
                    db.execute("COMMIT")
                finally:
                    db.close()
            except Exception:  # noqa: BLE001 - not kept: those artifacts are hashed again next time
                pass
