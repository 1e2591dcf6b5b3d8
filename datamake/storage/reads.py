"""Files an asset read without declaring them: their content versions.

A run notes the project files an asset opens for reading that are not among its declared
inputs (``execution.tasks``' read watch). Each is recorded in the asset's manifest
(``Manifest.reads``) with the version it had when the asset read it, and planning compares
that with the version it has now: editing such a file makes the asset stale
(``source_changed``), and a value in the action cache built from other bytes of it is
not restored. A version is the xxh3 hash of the file's bytes (``missing`` for a file that
is not there), the same as a declared source's; a file whose stat moved while the asset
ran gets a version that never matches, so the next plan rebuilds the asset.
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from datamake.core.hashing import hash_file

RACY_NS = 2_000_000_000  # a file changed this shortly before it was hashed may change again, same stat

MISSING = "missing"
MOVED = "moved:"  # prefix of the version of a file that changed while the asset was reading it
Opened = Optional[Tuple[int, int, int]]  # (size, mtime_ns, inode) when the asset opened it; None: missing


def opened_stat(path: str) -> Opened:
    """What a read file looked like when the asset opened it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def version_read(path: str, opened: Opened) -> str:
    """The version of the bytes an asset read from ``path`` (``opened``: its stat at the open). One whose
    stat moved since gets a version no later look matches."""
    version = _content_version(path)
    return version if opened_stat(path) == opened else MOVED + version


def _content_version(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hash_file(f)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING


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
        try:
            st = os.stat(path)
        except OSError:
            return MISSING
        stamp = local_stamp(st.st_mtime, st.st_ctime, st.st_ino)
        known = self._known.get(path)
        if known is not None and known[0] == (st.st_size, stamp):
            return known[1]
        url, cache = "file://" + path, self._observations()
        version = cache.get(url, st.st_size, stamp) if cache is not None else None
        if version is None:
            version = _content_version(path)
            if time.time_ns() - st.st_ctime_ns <= RACY_NS:  # a later write in the same tick could keep the stat
                return version
            if cache is not None:
                cache.put(url, st.st_size, stamp, version)
        self._known[path] = ((st.st_size, stamp), version)
        return version

    def changed(self, project_dir: str, reads: Iterable[Sequence[str]]) -> Tuple[str, ...]:
        """The recorded ``(path, version)`` reads (paths relative to ``project_dir``) whose file differs now."""
        moved = tuple(path for path, version in reads
                      if self.version(os.path.abspath(os.path.join(project_dir, path))) != version)
        if self._cache is not None:
            self._cache.save()  # (only when something was hashed)
        return moved

    def _observations(self) -> Any:
        if self._cache is None and self._store is not None:
            from datamake.storage.observe import ObservationCache  # lazy: it loads the source definitions

            self._cache = ObservationCache(self._store)
        return self._cache
