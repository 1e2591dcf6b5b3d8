"""What the processes an asset forks read (``multiprocessing`` and ``ProcessPoolExecutor`` with the
``fork`` start method), told back to the asset's read watch.

A forked child inherits the audit hook and the read watch of the thread that forked it, but notes into
its own copy of the watch, which the asset never sees. So the watch, told of the fork (``os.fork``,
raised in the parent), makes a log file first; in the child it appends each event there as a JSON line
(absolute paths, and for a file opened its stat at the open; for a variable read, its name and
version), and when the asset returns the watch
replays the lines as its own events.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterator, List, Optional, Tuple

from datamake.define import openwatch

_FORWARDED = (openwatch.OPEN, openwatch.LIST, openwatch.SCAN, openwatch.SQLITE, openwatch.READ,
              openwatch.CONNECT, openwatch.MKDIR, openwatch.RMTREE, openwatch.REMOVE, openwatch.ENV,
              openwatch.ENV_SET)


def new_log() -> str:
    """A file for forked children to append their events to."""
    import tempfile  # lazy: only an asset that forks

    fd, path = tempfile.mkstemp(prefix="datamake-child-reads-")
    os.close(fd)
    return path


def forward(log: str, event: str, args: tuple, stat: Any) -> None:
    """In a forked child: append one event (``stat``: a file's as it is about to be opened)."""
    if event not in _FORWARDED:
        return
    if event == openwatch.CONNECT:
        address = args[1] if len(args) > 1 else None
        values: List[Any] = [None, list(address) if isinstance(address, tuple) else None]
    elif event in (openwatch.ENV, openwatch.ENV_SET):  # a variable's name and its value's hash (never the value)
        values = list(args)
    else:
        values = [_absolute(a) if i == 0 else (a if isinstance(a, (str, int, type(None))) else None)
                  for i, a in enumerate(args[:3])]
    line = json.dumps([event, values, list(stat) if stat else None]) + "\n"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)  # one write per line: lines of several children do not mix
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def replay(log: Optional[str]) -> Iterator[Tuple[str, tuple, Any]]:
    """The events the children logged, ``(event, args, stat)``; the log is removed."""
    if log is None:
        return
    try:
        with open(log, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
        os.unlink(log)
    except OSError:
        return
    for line in lines:
        try:
            event, values, stat = json.loads(line)
        except ValueError:
            continue
        if event == openwatch.CONNECT and values[1]:
            values[1] = tuple(values[1])
        yield event, tuple(values), tuple(stat) if stat else None


def _absolute(path: Any) -> Any:
    if isinstance(path, (str, bytes, os.PathLike)):
        text = os.fsdecode(os.fspath(path))
        return text if "://" in text else os.path.abspath(text)
    return None
