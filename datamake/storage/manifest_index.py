"""A machine-local index of a local store's manifest files, so a no-op reads one file, not one per asset.

The manifest files stay the record (crash-safe, one atomic rename each);
the index is a cache of them in the store's ``state.sqlite``: for each
manifest path, the stat it had when it was read (size, mtime_ns, inode) and
its JSON text, compacted. A manifest whose stat still equals its entry is
taken from the index; one whose stat moved is read again, like git's index.
A file changed less than :data:`RACY_NS` before it was seen is not recorded,
since it could still change within the same mtime tick. An index that cannot
be read or written only costs reading the files, never trust.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from typing import Dict, Iterable, List, Optional, Tuple

from datamake.storage.state import RACY_NS, Stat, connect_state, stat_of

_FULL_SCAN = 500  # past this many paths, one scan of the table beats looking each one up


class ManifestIndex:
    """Read many local manifest files through the index in ``db_path``; paths are keyed relative to ``root``."""

    def __init__(self, db_path: str, root: str):
        self.db_path = db_path
        self.prefix = root.rstrip("/") + "/"
        self._lock = threading.Lock()
        self._memory: Optional[Dict[str, Tuple[Stat, str]]] = None  # the entries, kept by a long-lived process

    def keep_in_memory(self) -> None:
        """Keep the entries in memory between reads (a long-lived process): each read then stats the
        files as always, but does not read the table again."""
        with self._lock:
            if self._memory is None:
                self._memory = {}
                self._memory_loaded = False

    def read(self, paths: List[str], folder: Optional[str] = None) -> Dict[str, str]:
        """The text of each manifest file that exists (keyed by path); entries are refreshed as a side effect.

        ``folder``: a folder (relative to the manifests) holding every path, whose entries are read in one
        range of the index (many paths of one asset's partitions, without scanning the whole index)."""
        names = {p: p[len(self.prefix):] if p.startswith(self.prefix) else p for p in paths}
        with self._lock:
            known = self._known(list(names.values()), folder)
            found: Dict[str, str] = {}
            fresh: List[Tuple[str, int, int, int, str]] = []
            gone: List[str] = []
            now = time.time_ns()
            for path, name in names.items():
                try:
                    st = os.stat(path)
                except OSError:
                    if name in known:
                        gone.append(name)
                    continue
                stat = stat_of(st)
                entry = known.get(name)
                if entry is not None and entry[0] == stat:
                    found[path] = entry[1]
                    continue
                text, valid = _read_compact(path)
                if text is None:
                    continue
                found[path] = text
                if valid and now - st.st_mtime_ns > RACY_NS and _unchanged(path, stat):
                    fresh.append((name, *stat, text))
                elif entry is not None:
                    gone.append(name)  # outdated, and the new text cannot be trusted yet
            if fresh or gone:
                self._save(fresh, gone)
            if self._memory is not None:
                for name in gone:
                    self._memory.pop(name, None)
                self._memory.update((name, ((size, mtime, ino), text)) for name, size, mtime, ino, text in fresh)
        return found

    def _known(self, names: List[str], folder: Optional[str] = None) -> Dict[str, Tuple[Stat, str]]:
        memory = self._memory
        if memory is None:
            return self._entries(names, folder)
        if not self._memory_loaded:  # the table once, then what this process has seen since
            memory.update(self._entries([]))
            self._memory_loaded = True
        return memory

    def _entries(self, names: List[str], folder: Optional[str] = None) -> Dict[str, Tuple[Stat, str]]:
        if not os.path.exists(self.db_path):
            return {}
        try:
            db = connect_state(self.db_path, _SCHEMA)
            try:
                if folder is not None:  # '0' follows '/': the range holds exactly the names under folder/
                    rows: Iterable = db.execute("SELECT path, size, mtime_ns, ino, body FROM manifests "
                                                "WHERE path > ? AND path < ?", (folder + "/", folder + "0"))
                elif not names or len(names) > _FULL_SCAN:  # none: the whole table
                    rows = db.execute("SELECT path, size, mtime_ns, ino, body FROM manifests")
                else:
                    rows = [r for chunk in _chunks(names, 400) for r in db.execute(
                        f"SELECT path, size, mtime_ns, ino, body FROM manifests WHERE path IN "
                        f"({','.join('?' * len(chunk))})", chunk)]
                return {path: ((size, mtime, ino), body) for path, size, mtime, ino, body in rows}
            finally:
                db.close()
        except sqlite3.Error:  # unreadable: every manifest is read from its file
            return {}

    def _save(self, fresh: List[Tuple[str, int, int, int, str]], gone: List[str]) -> None:
        try:
            db = connect_state(self.db_path, _SCHEMA)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO manifests VALUES (?, ?, ?, ?, ?)", fresh)
                db.executemany("DELETE FROM manifests WHERE path = ?", [(n,) for n in gone])
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error:  # not kept (a read-only store, say): the files are read again next time
            pass


_SCHEMA = ("CREATE TABLE IF NOT EXISTS manifests (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
           " ino INTEGER, body TEXT) WITHOUT ROWID")


def _read_compact(path: str) -> Tuple[Optional[str], bool]:
    """(text, is JSON) of a manifest file: JSON without its indentation (faster to parse), else the raw text."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None, False
    try:
        return json.dumps(json.loads(raw), separators=(",", ":"), sort_keys=True), True
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace"), False


def _unchanged(path: str, stat: Stat) -> bool:
    """True when the file still has ``stat`` after it was read (nothing replaced it meanwhile)."""
    try:
        return stat_of(os.stat(path)) == stat
    except OSError:
        return False


def _chunks(items: List[str], size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
