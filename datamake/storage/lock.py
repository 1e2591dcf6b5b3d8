"""The store lock: one ``datamake make`` at a time per local store.

Two ``make`` processes writing the same local store would build the same
assets twice and race on manifests. :func:`store_lock` serializes them: the
second one says who holds the lock (pid, host, command, start time) and waits,
then plans again from what the first one left, so nothing is built twice.

How it works: ``<root>/lock`` is locked with ``fcntl.flock``. The kernel drops
the lock when its holder dies, even by SIGKILL, so a stale lock cannot exist;
the pid, host and start time written into the file are only for the message.
Only POSIX systems have ``fcntl``; elsewhere (Windows) locking a local store
is an error that says so (see docs/compatibility.md).

Object stores (``s3://`` and friends) are not locked: there is no portable lock
for them. Two runs then may build the same asset twice, but never tear a write:
artifacts are content-addressed and a manifest is replaced by one atomic PUT,
so the last run's manifest wins and points at a whole artifact.

Example::

    with store_lock(project.store, on_wait=print):
        api.make(project)
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from typing import Callable, Iterator, List, Optional

from datamake.core.errors import DatamakeError, StoreError
from datamake.core.records import record
from datamake.storage.liveness import HOST

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "lock"
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
_held_fds: List[int] = []


@record(frozen=True)
class LockHolder:
    """Who holds a store lock, as written in the lock file (all fields may be unknown)."""

    pid: Optional[int] = None
    host: Optional[str] = None
    command: Optional[str] = None
    started: Optional[float] = None

    def describe(self) -> str:
        """``"datamake make (pid 123 on host, since 12:00:01)"``, as far as known."""
        what = self.command or "another datamake process"
        where = []
        if self.pid is not None:
            where.append(f"pid {self.pid}" + (f" on {self.host}" if self.host else ""))
        if self.started is not None:
            where.append("since " + time.strftime("%H:%M:%S", time.localtime(self.started)))
        return f"{what} ({', '.join(where)})" if where else what

    @classmethod
    def parse(cls, raw: bytes) -> "LockHolder":
        try:
            data = json.loads(raw or b"{}")
            return cls(data.get("pid"), data.get("host"), data.get("command"), data.get("started"))
        except (ValueError, AttributeError):
            return cls()


def _me(command: str) -> bytes:
    return json.dumps({"pid": os.getpid(), "host": HOST, "command": command,
                       "started": time.time()}).encode()


def _close_in_child() -> None:
    """Forked workers must not keep the lock alive after their parent dies."""
    for fd in _held_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    _held_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


@contextlib.contextmanager
def store_lock(store, command: str = "datamake make",
               on_wait: Optional[Callable[[LockHolder], None]] = None,
               name: str = LOCK_NAME) -> Iterator[Optional[LockHolder]]:
    """Hold the lock of ``store`` for the duration of the block.

    When another process holds it, ``on_wait(holder)`` is called once and the
    call blocks until the lock is free. Yields None (for symmetry with a future
    remote lock). Stores that are not local are not locked. ``name`` picks
    another lock file of the store, for bookkeeping that must not wait for a make.
    """
    if not getattr(store, "is_local", False):
        yield None
        return
    path = f"{store.root}/{name}"
    try:
        os.makedirs(store.root, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store folder {store.root}: {exc.strerror}") from None
    if fcntl is None:
        raise DatamakeError(
            f"cannot lock the local store {store.root}: this system has no fcntl (datamake supports POSIX systems only)",
            hint="run datamake on Linux or macOS (on Windows, in WSL), or keep the store in object storage")
    release = _flock(path, command, on_wait)
    try:
        yield None
    finally:
        release()


def _flock(path: str, command: str, on_wait) -> Callable[[], None]:
    fd = _open_lock_file(path)
    if fd is None:  # a store this process cannot write: nothing here can tear it
        return lambda: None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(LockHolder.parse(_read_fd(fd)))
            fcntl.flock(fd, fcntl.LOCK_EX)  # interruptible by Ctrl-C
        _write_holder(fd, _me(command))
    except BaseException:
        os.close(fd)
        raise
    _held_fds.append(fd)

    def release() -> None:
        if fd in _held_fds:
            _held_fds.remove(fd)
            _write_holder(fd, b"")
            os.close(fd)  # closing drops the flock

    return release


def _open_lock_file(path: str) -> Optional[int]:
    """The lock file, for writing where possible; read-only in a store this process cannot write
    (``flock`` works on it all the same), None where it cannot even be created."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _write_holder(fd: int, data: bytes) -> None:
    """Say who holds the lock, for the message of a waiting process; only informative, so a file that
    cannot be written (read-only, disk full) is left as it is."""
    try:
        os.ftruncate(fd, 0)
        if data:
            os.pwrite(fd, data, 0)
    except OSError:
        pass


def _read_fd(fd: int) -> bytes:
    try:
        return os.pread(fd, 4096, 0)
    except OSError:
        return b""


__all__ = ["LockHolder", "store_lock"]
