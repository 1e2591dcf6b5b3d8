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
from typing import Dict, Iterable, Optional, Sequence, Tuple

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


class ReadVersions:
    """Current versions of read files, each hashed once per stat: a file whose size, modification time
    and inode are as they were when it was last hashed (and that changed more than a clock tick before
    that) keeps its version. Kept by a long-lived process across plans."""

    def __init__(self) -> None:
        self._known: Dict[str, Tuple[Tuple[int, int, int, int], str]] = {}

    def version(self, path: str) -> str:
        try:
            st = os.stat(path)
        except OSError:
            return MISSING
        stat = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        known = self._known.get(path)
        if known is not None and known[0] == stat:
            return known[1]
        version = _content_version(path)
        if time.time_ns() - st.st_ctime_ns > RACY_NS:  # a later write in the same tick could keep the stat
            self._known[path] = (stat, version)
        return version

    def changed(self, project_dir: str, reads: Iterable[Sequence[str]]) -> Tuple[str, ...]:
        """The recorded ``(path, version)`` reads (paths relative to ``project_dir``) whose file differs now."""
        return tuple(path for path, version in reads
                     if self.version(os.path.join(project_dir, path)) != version)
