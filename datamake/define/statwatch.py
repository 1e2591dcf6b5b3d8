"""A file's size or times that project code asks for, reported to the listeners of
:mod:`datamake.define.openwatch` as a file it checked for.

No audit event tells of a stat, so :func:`install` wraps ``os.stat``, which ``os.path.getsize``,
``getmtime``, ``getctime``, ``getatime`` and ``Path.stat`` call: code that picks the newest file of a folder
by its modification time, or leaves out the empty ones by their size, read something of each file it asked
about, which its listing alone does not cover. Reported as
:data:`~datamake.define.entrywatch.CHECKED` ``(path, False)``, so the file counts as read (by its bytes),
only when project code asks itself or through one of those getters: not when the standard library stats
on its own account (``os.path.isdir``, ``shutil.copy``, ``Path.exists``, which report what they are asked
themselves), nor installed code. A thread nobody watches pays one check per stat.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable

from datamake.define import entrywatch, envwatch

# the standard library's functions that stat a file for the code that called them (their caller asked)
GETTERS = frozenset(("getsize", "getmtime", "getctime", "getatime", "stat"))
_installed = False


def install(watching: Callable[[], bool]) -> None:
    """Report the files project code stats on threads where ``watching()`` holds (once per process)."""
    global _installed
    if _installed:
        return
    stat = os.stat

    @entrywatch.standing_for(stat)
    def watched_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if watching() and isinstance(path, (str, bytes, os.PathLike)) and _asked_by_project(sys._getframe(1)):
            sys.audit(entrywatch.CHECKED, os.fsdecode(os.fspath(path)), False)
        return stat(path, *args, **kwargs)

    for supports in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks, os.supports_effective_ids):
        if stat in supports:  # (shutil and others ask whether os.stat takes dir_fd=, a descriptor...)
            supports.add(watched_stat)
    entrywatch.named_where_installed(watched_stat, os.__name__, "stat")
    os.stat = watched_stat
    _installed = True


def _asked_by_project(caller: Any) -> bool:
    """Whether project code called ``os.stat`` itself, or one of :data:`GETTERS` of the standard library
    that stats for its caller."""
    if caller.f_code.co_filename.startswith(envwatch.STDLIB):
        if caller.f_code.co_name not in GETTERS or caller.f_back is None:
            return False
        caller = caller.f_back
        if caller.f_code.co_filename.startswith(envwatch.STDLIB):
            return False
    return envwatch.by_project_code(caller)
