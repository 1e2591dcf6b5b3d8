"""What the processes an asset starts read (``multiprocessing`` and ``ProcessPoolExecutor``, with any
start method), told back to the asset's read watch.

A forked child inherits the audit hook and the read watch of the thread that forked it, but notes into
its own copy of the watch, which the asset never sees. So the watch, told of the fork (``os.fork``,
raised in the parent), makes a log file first; in the child it appends each event there as a JSON line
(absolute paths, and for a file opened its stat at the open; for a variable read, its name and
version, as for each variable the line of a command it starts names; for each file or folder that line
names, its path and the stat as the command started), and when the asset returns the watch replays the
lines as its own events. A child started with the ``spawn`` or ``forkserver`` method
is a fresh interpreter: the watch adds a :class:`Spawned` to the data it is sent to prepare itself,
whose unpickling there, before the child's target runs, pushes a listener (:func:`watch`) that appends
to the same log; a child that cannot import datamake logs that it is unwatched (:data:`openwatch.STARTED`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterator, List, Optional, Tuple

from datamake.define import openwatch

_FORWARDED = (openwatch.OPEN, openwatch.LIST, openwatch.SCAN, openwatch.SQLITE, openwatch.READ,
              openwatch.CONNECT, openwatch.MKDIR, openwatch.RMTREE, openwatch.REMOVE, openwatch.RENAME,
              openwatch.CHECKED, openwatch.ENV, openwatch.ENV_SET, openwatch.STARTED)
_STATTED = (openwatch.OPEN, openwatch.CHECKED, openwatch.READ)  # a file read (also by a reader in C): logged with its
# stat as the child saw it


COMMAND_FILE = "datamake.command_file"  # (path, what it is): named by the line of a command a child started


def new_log() -> str:
    """A file for forked children to append their events to."""
    import tempfile  # lazy: only an asset that forks

    fd, path = tempfile.mkstemp(prefix="datamake-child-reads-")
    os.close(fd)
    return path


class Spawned:
    """In the data a spawned or forkserver child prepares itself from: unpickled there, it makes the child
    log what it reads to ``log``. Its unpickling names only ``exec``, so that a child that cannot import
    datamake (another interpreter) still runs, and logs that it is unwatched instead."""

    def __init__(self, log: str, method: str) -> None:
        self.log, self.method = log, method

    def __reduce__(self) -> Tuple[Any, ...]:
        unwatched = json.dumps([openwatch.STARTED, [self.method], None]) + "\n"
        return exec, (_IN_CHILD, {"log": self.log, "unwatched": unwatched.encode()})


_IN_CHILD = """
try:
    from datamake.execution.childreads import watch
except Exception:
    import os
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.write(fd, unwatched)
    os.close(fd)
else:
    watch(log)
"""


def watch(log: str) -> None:
    """In a spawned or forkserver child: log what its main thread (and the threads it starts) read."""
    openwatch.push(lambda event, args: forward(log, event, args))


def forward(log: str, event: str, args: tuple) -> None:
    """In a child: append one event (a file opened with its stat as it is about to be opened; not code);
    work it hands to a pool logs there too (:mod:`datamake.execution.poolreads`)."""
    if event in openwatch.COMMANDS:  # a command it starts: the variables and files its line names
        from datamake.define import commandfiles, commandvars  # lazy: only a child that starts a command

        for name, version in commandvars.read(event, args):
            forward(log, openwatch.ENV, (name, version))
        for path, what in commandfiles.named(event, args):  # (absolute: its own folder may differ)
            _append(log, COMMAND_FILE, [path, what], openwatch.opened_stat(path) if what == commandfiles.FILE else None)
        return
    if event == openwatch.POOLED:
        from datamake.execution import poolreads  # lazy: only a child that hands work to a pool

        poolreads.hand(args[0], lambda: log)
        return
    if event == openwatch.AWAY:
        from datamake.execution import unfollowed  # lazy: only a child that hands work on

        args = (unfollowed.kind(args),)
        if args[0] is None:
            return
    elif event not in _FORWARDED:
        return
    stat = None
    if event in _STATTED:
        path = _absolute(args[0]) if args else None
        if path is None or path.endswith(openwatch.CODE_SUFFIXES):
            return  # a file descriptor; a module imported (code: versioned as such)
        stat = openwatch.opened_stat(path)
    if event == openwatch.CONNECT:
        address = args[1] if len(args) > 1 else None
        values: List[Any] = [None, list(address) if isinstance(address, tuple) else None]
    elif event in (openwatch.ENV, openwatch.ENV_SET, openwatch.AWAY):  # a variable's name and hash; a kind
        values = list(args)
    else:
        paths = 2 if event == openwatch.RENAME else 1  # (what a file was moved from, and to)
        values = [_absolute(a) if i < paths else (a if isinstance(a, (str, int, type(None))) else None)
                  for i, a in enumerate(args[:4])]
    _append(log, event, values, stat)


def _append(log: str, event: str, values: List[Any], stat: Any) -> None:
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
