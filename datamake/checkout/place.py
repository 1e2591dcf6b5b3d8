"""Put a value's bytes (a file) or files (a folder) at a workspace path, only when they differ.

What lies at the path is hashed the way the store hashes the artifact (a folder
as its :class:`~datamake.storage.folderio.FolderIO` archive), so an up-to-date copy
is left untouched and a stale or missing one is replaced atomically. The copy is
never read back into the store: the store's artifact stays as it was built.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from typing import IO, Callable, Dict, Optional

from datamake.core.hashing import HashingWriter, hash_file
from datamake.storage.folderio import FolderIO, extract, replace_tree

_FOLDER = FolderIO()


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def content_hash(path: str) -> Optional[str]:
    """The hash the store would give what is at ``path`` (None when nothing is there)."""
    if os.path.isdir(path):
        writer = HashingWriter(_Discard())
        _FOLDER.dump(path, writer)
        return writer.hexdigest()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return hash_file(f)
    return None


def signature(path: str) -> Optional[str]:
    """What a stat tells of ``path`` (sizes, times and inodes; of each file under a folder): a cheap
    stand-in for its content while it does not change. None when nothing is there."""
    if os.path.isdir(path):
        parts = []
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{os.path.relpath(os.path.join(folder, name), path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
        return "dir|" + "|".join(parts)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"file|{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def place_local(source: str, target: str) -> bool:
    """Make ``target`` a copy of the local file or folder ``source``; False when it already was.

    Two assets of one run that read the same upstream copy place it one after the
    other: the second finds it in place and leaves it alone while the first reads it.
    """
    with _lock_for(os.path.abspath(target)):
        if content_hash(source) == content_hash(target):
            return False
        if os.path.isdir(source):
            replace_tree(source, target)
        else:
            _replace_file(target, lambda out: _copy(source, out))
        return True


_locks: Dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def place_stored(open_bytes: Callable[[], IO[bytes]], artifact: str, folder: bool, target: str) -> bool:
    """Make ``target`` hold the stored artifact ``artifact`` (a folder archive when ``folder``)."""
    if content_hash(target) == artifact:
        return False
    if folder:
        staging = tempfile.mkdtemp(prefix="datamake-checkout-")
        try:
            with open_bytes() as f:
                extract(f, staging)
            replace_tree(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        def write(out: IO[bytes]) -> None:
            with open_bytes() as f:
                shutil.copyfileobj(f, out, 1 << 20)

        _replace_file(target, write)
    return True


def _copy(source: str, out: IO[bytes]) -> None:
    with open(source, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)


def _replace_file(target: str, write: Callable[[IO[bytes]], None]) -> None:
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(target):
        shutil.rmtree(target)
    fd, tmp = tempfile.mkstemp(prefix=".datamake-", dir=parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
