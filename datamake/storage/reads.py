"""Files an asset read and folders it listed without declaring them: their versions.

A run notes the files an asset opens for reading that are not among its declared inputs, and
the folders it lists (``execution.readwatch``). Each is recorded in
the asset's manifest (``Manifest.reads``) with the version it had when the asset read it, and
planning compares that with the version it has now: editing such a file, or adding a file to
(or removing one from) such a folder, makes the asset stale (``source_changed``), and a value in
the action cache built from other bytes of it is not restored. A file's version is the xxh3 hash
of its bytes (``missing`` for a file that is not there), the same as a declared source's; a file
whose stat moved while the asset ran gets a version that never matches, so the next plan rebuilds
the asset. A SQLite database's version also covers its write-ahead log (``-wal``), where a database
in WAL mode keeps the rows committed since its last checkpoint. A folder is recorded under its path with a trailing ``/`` (:data:`FOLDER`), and its
version is the hash of the names in it; a folder the asset's code names (and a reader written in C
may read) with a trailing ``/**`` (:data:`TREE`), and its version covers every file under it. An
environment variable project code read is recorded as ``env:NAME`` (:data:`ENV`), its version a hash of
its value (``missing`` when unset); a file of the project named so is recorded as ``./env:...``.
"""
from __future__ import annotations

import os
import time
from typing import Any, Container, Dict, Iterable, Optional, Sequence, Tuple

from datamake.core.hashing import canonical, hash_bytes, hash_file
from datamake.core.readnames import ENV_READ as ENV  # the start of a recorded variable's name: env:NAME
from datamake.define import envwatch
from datamake.define.openwatch import Opened, opened_stat

RACY_NS = 2_000_000_000  # a file changed this shortly before it was hashed may change again, same stat

MISSING = "missing"
A_FOLDER = "a folder"  # the version of a path read as a file that is a folder now
UNREADABLE = "unreadable"  # ... that this user may no longer read
FOLDER = "/"  # the end of a recorded folder's path: its version is its listing's
TREE = "/**"  # the end of a recorded folder's path whose every file counts: its version is theirs
MOVED = "moved:"  # prefix of the version of a file that changed while the asset was reading it


def version_read(path: str, opened: Opened) -> str:
    """The version of the bytes an asset read from ``path`` (``opened``: its stat at the open). One whose
    stat moved since gets a version no later look matches."""
    version = _content_version(path)
    return version if opened_stat(path) == opened else MOVED + version


def _content_version(path: str) -> str:
    try:
        with open(path, "rb") as f:
            version = hash_file(f)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except IsADirectoryError:
        return A_FOLDER
    except PermissionError:
        return UNREADABLE
    return with_wal(path, version)


SQLITE_HEADER = b"SQLite format 3\x00"
WAL = "-wal"  # a SQLite database's write-ahead log: rows committed but not yet copied into the file


def _wal_stat(path: str) -> list:
    """The stat of the write-ahead log beside ``path`` (``[]`` for none, or an empty one)."""
    try:
        st = os.stat(path + WAL)
    except OSError:
        return []
    return [st.st_size, st.st_mtime, st.st_ctime, st.st_ino] if st.st_size else []


def with_wal(path: str, version: str) -> str:
    """A SQLite database's version covers the rows its write-ahead log holds (a database in WAL mode
    commits there, and its file changes only at a checkpoint); any other file's is its bytes'."""
    if not _wal_stat(path):
        return version
    try:
        with open(path, "rb") as f:
            if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return version
        with open(path + WAL, "rb") as f:
            return hash_bytes(f"{version}\0{hash_file(f)}".encode())
    except OSError:
        return version


def listing(path: str) -> Optional[Tuple[str, ...]]:
    """The names in folder ``path``, sorted; ``None`` when it is not a folder."""
    try:
        return tuple(sorted(os.listdir(path)))
    except OSError:
        return None


def listing_version(names: Optional[Tuple[str, ...]]) -> str:
    """The version of a folder that holds ``names`` (``missing`` for no folder)."""
    if names is None:
        return MISSING
    return hash_bytes("\0".join(names).encode("utf-8", "surrogateescape"))


def version_listed(path: str, seen: Optional[Tuple[str, ...]], written: Container[str]) -> str:
    """The version of the listing of ``path`` an asset saw (``seen``, taken at its listing). One that
    changed since by more than the files the asset wrote itself gets a version no later look matches."""
    version = listing_version(seen)
    now = listing(path)
    if now == seen:
        return version
    changed = set(now or ()).symmetric_difference(seen or ())
    ours = all(os.path.join(path, name) in written for name in changed)
    return version if ours else MOVED + version


def local_stamp(mtime: float, ctime: float, ino: int) -> list:
    """What must stay the same for a local file's cached hash to hold in the observation cache (for
    sources and for files read undeclared alike): its modification time, and its change time and inode,
    which no program can set back (``touch -d`` or ``rsync -t`` can give new bytes the old mtime)."""
    return [mtime, ctime, ino]


class ReadVersions:
    """Current versions of read files, each hashed once per stat: a file whose size, modification and
    change times and inode are as they were when it was hashed (more than a clock tick after its last
    change) keeps its version. Kept in memory by a long-lived process, and between commands in the
    store's observation cache (``observations.json``, shared with sources: the same keys and hashes)."""

    def __init__(self, store: Any = None) -> None:
        self._store = store
        self._cache: Any = None  # the store's ObservationCache, read at the first file hashed or looked up
        self._known: Dict[str, Tuple[Any, str]] = {}

    def version(self, path: str) -> str:
        if path.startswith(ENV):
            return envwatch.version(path[len(ENV):])
        if path.endswith(TREE):
            return self._tree_version(path[:-len(TREE)])
        if path.endswith(FOLDER):
            return listing_version(listing(path))
        try:
            st = os.stat(path)
        except OSError:
            return MISSING
        stamp = local_stamp(st.st_mtime, st.st_ctime, st.st_ino) + _wal_stat(path)
        known = self._known.get(path)
        if known is not None and known[0] == (st.st_size, stamp):
            return known[1]
        url, cache = "file://" + path, self._observations()
        version = cache.get(url, st.st_size, stamp) if cache is not None else None
        if version is None:
            version = _content_version(path)
            changed = max(st.st_ctime_ns, int(stamp[-2] * 1e9) if len(stamp) > 3 else 0)  # (or its log's)
            if time.time_ns() - changed <= RACY_NS:  # a later write in the same tick could keep the stat
                return version
            if cache is not None:
                cache.put(url, st.st_size, stamp, version)
        self._known[path] = ((st.st_size, stamp), version)
        return version

    def _tree_version(self, folder: str) -> str:
        """The version of every file under ``folder`` (names and contents; ``missing`` for no folder)."""
        if not os.path.isdir(folder):
            return MISSING
        files = []
        for top, dirs, names in os.walk(folder):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(top, name)
                files.append([os.path.relpath(full, folder), self.version(full)])
        return hash_bytes(canonical(files))

    def changed(self, project_dir: str, reads: Iterable[Sequence[str]]) -> Tuple[str, ...]:
        """The recorded ``(path, version)`` reads (paths relative to ``project_dir``) whose file differs now."""
        moved = tuple(path for path, version in reads if self.version(full_path(project_dir, path)) != version)
        if self._cache is not None:
            self._cache.save()  # (only when something was hashed)
        return moved

    def _observations(self) -> Any:
        if self._cache is None and self._store is not None:
            from datamake.storage.observe import ObservationCache  # lazy: it loads the source definitions

            self._cache = ObservationCache(self._store)
        return self._cache


def full_path(project_dir: str, path: str) -> str:
    """The absolute path of a recorded read (a folder's keeps its trailing ``/`` or ``/**``; a variable's
    ``env:NAME`` stays as it is)."""
    if path.startswith(ENV):
        return path
    for end in (TREE, FOLDER):
        if path.endswith(end):
            return os.path.abspath(os.path.join(project_dir, path[:-len(end)] or ".")) + end
    return os.path.abspath(os.path.join(project_dir, path))
