"""Helpers for progress a person can follow: a redraw ticker and the assets' own log lines.

- :class:`Ticker` calls a function every half second on a daemon thread, so
  the live status line keeps counting the seconds of running assets.
- :class:`OutputAbove` keeps the live status line below whatever else is
  written to the terminal while it is drawn (an asset's ``print``, warnings,
  a subprocess, a forked worker).
- :data:`ASSET_LOGGER` names the logger of ``context.log``; its lines reach a
  reporter through :func:`datamake.execution.assetlogs.show_asset_logs`.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Callable, Dict, List, Optional, Sequence

ASSET_LOGGER = "datamake.asset"


class Ticker:
    """Calls ``fn()`` every ``interval`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, fn: Callable[[], None], interval: float = 0.5):
        self._fn = fn
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Ticker":
        self._thread = threading.Thread(target=self._loop, name="datamake-progress", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._fn()
            except Exception:  # noqa: BLE001 - a progress line is never worth a crash
                pass

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None


class OutputAbove:
    """Routes the file descriptors ``fds`` (stdout, stderr) through pipes while the block runs.

    Every chunk written to them, by any writer in this process or its children,
    is handed to ``write(data, original)`` on a reader thread, which can clear a
    status line, write the chunk to ``original`` (a duplicate of the real
    stream's descriptor, also in ``saved[fd]``) and draw the line again. Streams
    on one terminal share one pipe, so their writes keep their order. The
    reporter itself writes to ``saved``. On exit the original descriptors come
    back and what is still in the pipes is written out.
    """

    def __init__(self, write: Callable[[bytes, int], None], fds: Sequence[int] = (1, 2)):
        self._write = write
        self.fds = list(fds)
        self.saved: Dict[int, int] = {}
        self._readers: List[threading.Thread] = []

    def __enter__(self) -> "OutputAbove":
        _flush_python_streams()
        try:
            for group in _same_file(self.fds):
                read_end, write_end = os.pipe()
                for fd in group:
                    self.saved[fd] = os.dup(fd)
                    os.dup2(write_end, fd)
                os.close(write_end)
                reader = threading.Thread(target=self._pump, args=(read_end, self.saved[group[0]], group),
                                          name="datamake-output", daemon=True)
                reader.start()
                self._readers.append(reader)
        except OSError:  # out of file descriptors, say: put back what was moved, run without
            self.__exit__(None, None, None)
            self.saved.clear()
        return self

    def __exit__(self, *exc_info) -> None:
        _flush_python_streams()
        for fd, original in self.saved.items():
            os.dup2(original, fd)  # the pipe's last write end here closes: its reader sees the end
        for reader in self._readers:
            reader.join(timeout=2)  # if a child still holds the pipe, its reader goes on and keeps its fds

    def _pump(self, read_end: int, original: int, group: Sequence[int]) -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for data in iter(lambda: pipe.read(1 << 16), b""):
                try:
                    self._write(data, original)
                except Exception:  # noqa: BLE001 - never lose the rest of the output for a redraw
                    with contextlib.suppress(OSError):
                        write_all(original, data)
        for fd in group:
            os.close(self.saved[fd])


def _same_file(fds: Sequence[int]) -> List[List[int]]:
    """``fds`` grouped by the file (terminal) they write to."""
    groups: Dict[tuple, List[int]] = {}
    for fd in fds:
        st = os.fstat(fd)
        groups.setdefault((st.st_dev, st.st_ino, st.st_rdev), []).append(fd)
    return list(groups.values())


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
