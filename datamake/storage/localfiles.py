"""Machine-local files: where caches live, files replaced atomically (temporary names that say who
writes them, renames into place), and the cleaning of what killed writers left behind.

A file written with :func:`atomic_write` or :meth:`LocalFiles.write` is either its old or its new
content, never a mix, for any reader and after a killed process: the bytes go to a temporary name,
then one ``os.replace``.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from typing import Any, Dict, Mapping, Optional, Union

from datamake._paths import cache_dir, keep_newest  # noqa: F401 (cache_dir re-exported: where caches live)
from datamake.storage.liveness import HOST, process_gone

# Renames are atomic against a killed process without fsync (the page cache
# survives it); fsync only adds safety against power loss, at a large cost per
# file on most disks. DATAMAKE_FSYNC=1 turns it on.
FSYNC = os.environ.get("DATAMAKE_FSYNC", "") not in ("", "0")


def durable(f) -> None:
    """Flush an open file to disk when ``DATAMAKE_FSYNC`` asks for it."""
    if FSYNC:
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: str, data: Union[bytes, str]) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8, line ends unchanged), making its folder if needed."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = data.encode("utf-8") if isinstance(data, str) else data
    _write_and_replace(f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp", path, data, _open_new, os.replace)


def _open_new(path: str):
    return open(path, "wb")


def _write_and_replace(tmp: str, path: str, data: bytes, create, replace) -> None:
    """Write ``data`` to ``tmp`` (opened by ``create``), then ``replace(tmp, path)``; no ``tmp`` left on failure."""
    try:
        with create(tmp) as f:
            f.write(data)
            durable(f)
        replace(tmp, path)
    except BaseException:  # a full disk, say: leave no half-written file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json_cache(path: str) -> Dict[str, Any]:
    """A cache file's JSON object, or ``{}`` when it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json_cache(path: str, data: Mapping[str, Any]) -> bool:
    """Replace a cache file atomically; a cache that cannot be written is simply not kept (returns False)."""
    try:
        atomic_write(path, json.dumps(data))
        return True
    except OSError:
        return False


# Machine-local caches kept per project folder or per command line: (subfolder, name prefix). A new
# folder (a fresh clone, a CI checkout, a temporary copy) adds one of each; only the newest are kept.
PER_FOLDER_CACHES = (("", "code-"), ("", "workspace-"), ("uptodate", ""))
PER_FOLDER_CACHES_KEPT = 256


def prune_folder_caches(folder: str, keep: int = PER_FOLDER_CACHES_KEPT) -> int:
    """Remove all but the ``keep`` newest per-folder cache files under ``folder``; returns how many
    went. They are speed-ups only: a folder whose file went is analysed again when next used."""
    removed = 0
    for sub, prefix in PER_FOLDER_CACHES:
        where = os.path.join(folder, sub)
        try:
            with os.scandir(where) as it:
                found = [e for e in it if e.name.startswith(prefix) and e.name.endswith(".json")
                         and e.name != "code-seed.json" and e.is_file(follow_symlinks=False)]
        except OSError:
            continue
        removed += keep_newest(found, keep)
    return removed



def read_whole(path: str) -> bytes:
    """The bytes of a local file, by plain system calls: a small file (a manifest, an action-cache entry, of
    which ``gc`` reads thousands) costs an open and two reads, about half of what a buffered ``open()`` costs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


_counter = itertools.count()  # next() on it is atomic under the GIL
_tokens: Dict[int, str] = {}


def _token() -> str:
    """A random token for this process (drawn again in a forked child, whose pid differs)."""
    pid = os.getpid()
    token = _tokens.get(pid)
    if token is None:
        token = _tokens[pid] = os.urandom(8).hex()  # not uuid: slow to import
    return token


class LocalFiles:
    """Atomic writes under one local root: written to a temporary name in ``tmp/``, then renamed into place."""

    def __init__(self, root: str):
        self.root = root
        self._made: set = set()

    def tmp_path(self) -> str:
        # HOST@PID names the writer, so that clean_tmp knows a dead writer's leftovers at once; a token
        # drawn once per process and a counter make the name unique (cheaper than a uuid4 per file)
        return f"{self.root}/tmp/{HOST}@{os.getpid()}.{_token()}{next(_counter)}.part"

    def write(self, path: str, data: bytes, mtime_ns: Optional[int] = None) -> None:
        """Replace ``path`` with ``data`` atomically; ``mtime_ns``: dated so (before it is in place)."""
        tmp = self.tmp_path()
        self.makedirs(os.path.dirname(tmp))
        if mtime_ns is None:
            _write_and_replace(tmp, path, data, self.create, self.replace)
            return

        def dated_replace(src: str, dst: str) -> None:
            os.utime(src, ns=(mtime_ns, mtime_ns))
            self.replace(src, dst)

        _write_and_replace(tmp, path, data, self.create, dated_replace)

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

    def write_linked(self, first: str, last: str, data: bytes) -> int:
        """Replace ``first``, then ``last``, with ``data``, each atomically: one file with two names where
        the file system has hard links (creating a file costs far more than linking one), else two copies.
        The file is written whole under a temporary name, linked as ``first`` (a new name at once, an
        existing one through :meth:`link`), then renamed to ``last``. Returns the inode of ``last``."""
        tmp = self.tmp_path()
        self.makedirs(os.path.dirname(tmp))
        self.makedirs(os.path.dirname(first))
        try:
            with self.create(tmp) as f:
                f.write(data)
                durable(f)
                ino = os.fstat(f.fileno()).st_ino
            try:
                os.link(tmp, first)
            except FileExistsError:
                if not self.link(tmp, first):
                    self.write(first, data)
            except OSError:  # no hard links here, or a folder removed since: a copy
                self.write(first, data)
            self.replace(tmp, last)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return ino

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


__all__ = ["FSYNC", "LocalFiles", "atomic_write", "cache_dir", "clean_tmp", "durable", "read_json_cache",
           "write_json_cache", "writer_gone"]
