"""Standard modules loaded when first used: a ``make`` whose code versions are all known parses no source.

``ast`` and ``dis`` cost some 20 M instructions to import; the code-version analysis and the certificate's
purity check need them only for source they have not seen. :func:`lazy` finds the module now and runs it
when an attribute is first read, as the standard library's ``importlib.util.LazyLoader`` does, but
thread-safe: up to Python 3.12 that loader made the module look loaded before running it, so a second
thread (the thread executor runs assets side by side) could read ``ast.NodeVisitor`` from a half-run
``ast`` and fail with an AttributeError. Here a thread that reads a module another thread is running waits
for it to finish.
"""
from __future__ import annotations

import _thread  # (threading's own lock, without importing threading on the light no-op path)
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any, Optional, Set

_lock = _thread.RLock()  # held while a module runs: a second thread's first read waits for it
_running: Set[int] = set()  # the modules being run (by the thread holding the lock)


class _LazyModule(ModuleType):
    """A module found but not run yet: the first attribute read runs it; it is a plain module after."""

    def __getattribute__(self, attr: str) -> Any:
        with _lock:
            if type(self) is _LazyModule and id(self) not in _running:  # (the runner reads its own half-run module)
                _run(self)
        return ModuleType.__getattribute__(self, attr)


def _run(module: ModuleType) -> None:
    """Run ``module``'s code (the lock held), then make it a plain module; on failure, forget it."""
    spec = ModuleType.__getattribute__(module, "__spec__")
    _running.add(id(module))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(spec.name) is module:
            del sys.modules[spec.name]
        raise
    finally:
        _running.discard(id(module))
        module.__class__ = ModuleType


def lazy(name: str) -> ModuleType:
    """The module ``name``, imported (by whoever reads an attribute of it first) when first used."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LazyModule
    sys.modules[name] = module
    return module


def file_of(module: Any) -> Optional[str]:
    """``module.__file__`` (None if it has none), without running a lazily imported module that has not
    run yet (reading any attribute would): such a module has had no part in anything so far."""
    if type(module) is _LazyModule:
        return None
    return getattr(module, "__file__", None)


def _after_fork() -> None:
    """In a forked child, where the thread that held the lock does not exist: a lock of its own."""
    global _lock
    _lock = _thread.RLock()
    _running.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
