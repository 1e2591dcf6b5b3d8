"""One audit hook for the files Python code opens, shared by everything in datamake that watches them.

Two parts of datamake note the files opened on a thread while it does something: the snapshot of a
project module notes what the module reads while it is imported (:mod:`datamake.define.snapshot`),
and a running asset's read watch notes the project files it reads without declaring them
(``datamake.execution.tasks``). Each pushes a listener for its thread and pops it when done. The
hook (``sys.addaudithook``, which cannot be removed) is installed once, at the first listener, and
calls every listener of the thread on each ``open`` event with the event's arguments ``(file, mode,
flags)``; what a listener itself opens is not reported, and a listener that raises is ignored.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable, List

Listener = Callable[[tuple], None]

_local = threading.local()  # .listeners: this thread's, innermost last; .busy: a listener is running
_install_lock = threading.Lock()
_installed = False


def push(listener: Listener) -> None:
    """Call ``listener(args)`` for each file this thread opens until :func:`pop`."""
    if not _installed:
        _install()
    listeners: List[Listener] = _local.__dict__.setdefault("listeners", [])
    listeners.append(listener)


def pop() -> None:
    """Stop the listener this thread pushed last."""
    _local.listeners.pop()


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_on_audit)  # for the life of the process; idle on threads without listeners
            _installed = True


def _on_audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    listeners = getattr(_local, "listeners", None)
    if not listeners or getattr(_local, "busy", False):
        return
    _local.busy = True  # what a listener opens is not what the watched code read
    try:
        for listener in tuple(listeners):
            try:
                listener(args)
            except Exception:  # noqa: BLE001 - noting a read must never break the code that opened the file
                pass
    finally:
        _local.busy = False
