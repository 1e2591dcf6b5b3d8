"""Local files written atomically: temporary names that say who writes them, renames into place,
and the cleaning of what killed writers left behind."""
from __future__ import annotations

import contextlib
import os
import time
import uuid

from datamake.storage.liveness import HOST, process_gone

# Renames are atomic against a killed process without fsync (the page cache
# survives it); fsync only adds safety against power loss, at a large cost per
# file on most disks. DATAMAKE_FSYNC=1 turns it on.
FSYNC = os.environ.get("DATAMAKE_FSYNC", "") not in ("", "0")


def durable(f) -> None:
    """fsync ``f`` when ``DATAMAKE_FSYNC`` asks for it."""
    if FSYNC:
        os.fsync(f.fileno())


class LocalFiles:
    """Atomic writes under one local root: written to a temporary name in ``tmp/``, then renamed into place."""

    def __init__(self, root: str):
        self.root = root
        self._made: set = set()

    def tmp_path(self) -> str:
        # HOST@PID names the writer, so that clean_tmp knows a dead writer's leftovers at once
        return f"{self.root}/tmp/{HOST}@{os.getpid()}.{uuid.uuid4().hex}.part"

    def write(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` atomically."""
        tmp = self.tmp_path()
        self.makedirs(os.path.dirname(tmp))
        try:
            with self.create(tmp) as f:
                f.write(data)
                f.flush()
                durable(f)
            self.replace(tmp, path)
        except BaseException:  # a full disk, say: leave no half-written file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create(self, path: str):
        """Open a new file for writing, recreating its folder if something removed it."""
        try:
            return open(path, "wb")
        except FileNotFoundError:
            self._made.discard(os.path.dirname(path))
            self.makedirs(os.path.dirname(path))
            return open(path, "wb")

    def replace(self, src: str, dst: str) -> None:
        """``os.replace`` into a folder made once per process, made again if it was removed since
        (a long-lived worker, such as a Dask worker, outlives a wiped store)."""
        self.makedirs(os.path.dirname(dst))
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            if not os.path.exists(src):
                raise
            self._made.discard(os.path.dirname(dst))
            self.makedirs(os.path.dirname(dst))
            os.replace(src, dst)

    def makedirs(self, folder: str) -> None:
        """``os.makedirs`` once per folder per process (it costs a few syscalls each time)."""
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)

    def link(self, source: str, target: str) -> bool:
        """Make ``target`` a hard link to ``source``, atomically (link to a temporary name, then
        rename). Creating a file costs far more than linking one on most local file systems, and
        the two records hold the same bytes; neither is ever modified in place, only replaced.
        False where links are not supported (the caller then writes a copy)."""
        tmp = self.tmp_path()
        try:
            os.link(source, tmp)
        except OSError:
            return False
        self.replace(tmp, target)
        return True


def clean_tmp(fs, folder: str, older_than: float = 3600.0) -> int:
    """Remove leftovers of killed writers from ``folder``; returns how many were removed.

    A file goes when its writer (``HOST@PID`` in its name) is a process of
    this host that no longer exists, or when it is older than ``older_than``
    seconds. Files of live writers, such as a concurrent run, stay.
    """
    removed = 0
    try:
        entries = fs.ls(folder, detail=True)
    except FileNotFoundError:
        return 0
    now = time.time()
    for entry in entries:
        mtime = entry.get("mtime") or entry.get("LastModified")
        stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
        if stamp is None or now - float(stamp) > older_than or writer_gone(entry["name"]):
            try:
                fs.rm_file(entry["name"])
                removed += 1
            except OSError:  # gone already, or a store this process cannot write: left as it is
                pass
    return removed


def writer_gone(path: str) -> bool:
    """True when a tmp file's writer (``HOST@PID.uuid.part``) is certainly dead."""
    host, _, pid = os.path.basename(path).rsplit(".", 2)[0].rpartition("@")
    return process_gone(host, int(pid) if pid.isdigit() else None)
