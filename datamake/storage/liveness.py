"""Whether another writer's process is certainly gone (lock, lease, tmp-file and run records).

Records name their writer by host and pid. A writer is gone only when it is
a process of *this* host that no longer exists, or a zombie (it exited and
nobody reaped it yet). Everything else counts as alive, so that nothing of a
live writer, or of one on another host, is ever taken over or deleted.
"""
from __future__ import annotations

import os
from typing import Any, Optional


def _hostname() -> str:
    """``socket.gethostname()``: on POSIX the node name ``uname`` gives, read without importing socket
    (and the selectors, enum members and address tables it loads) on every command's start-up."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # lazy: Windows has no os.uname

    return socket.gethostname()


HOST = _hostname()


def process_gone(host: Optional[str], pid: Any) -> bool:
    """True when ``pid`` of ``host`` is certainly not running; False when alive or unknown."""
    if host != HOST or isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0 only probes (POSIX)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, as another user's process
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False  # no /proc (macOS): a zombie counts as alive until it is reaped


__all__ = ["HOST", "process_gone"]
