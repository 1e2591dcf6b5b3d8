"""Environment variables that project code reads, reported to the listeners of :mod:`datamake.define.openwatch`.

No audit event tells of a read of ``os.environ``, so :func:`install` wraps ``os._Environ``'s
``__getitem__`` (which ``os.environ[...]``, ``.get``, ``os.getenv`` and ``"X" in os.environ`` all go
through) and its ``__setitem__``/``__delitem__``. On a watched thread, a read whose first caller outside
the standard library is project code is reported as :data:`READ` ``(name, version)`` (:func:`version`: a
hash of the value, never the value, or ``missing``), and a variable the code sets or removes as
:data:`WRITTEN` ``(name,)``. Not reported: what an installed library (or datamake) reads for its own
configuration, and a copy of the whole environment (``dict(os.environ)``, ``{**os.environ}``,
``os.environ.copy()``, iterating ``os.environ.items()``: for a command's environment, not one
variable). A thread nobody watches pays one check per read.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Optional, Tuple

from datamake.core.hashing import hash_bytes

READ = "datamake.environ"  # (name, version): project code read a variable
WRITTEN = "datamake.environ.set"  # (name,): project code set or removed one (its own value, not an input)
MISSING = "missing"
STDLIB = (os.path.join(os.path.dirname(os.__file__), ""), "<frozen ")  # the standard library's files
_installed = False


def version(name: str) -> str:
    """The version of variable ``name`` as it is now: a hash of its value, or ``missing``."""
    value = encoded(name)
    if value is None:
        return MISSING
    return hash_bytes(b"env\0" + (value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")))


def encoded(name: str) -> Any:
    """The value of variable ``name`` as the environment keeps it (bytes on POSIX), read without a
    report; None when it is unset."""
    return os.environ._data.get(os.environ.encodekey(name))  # type: ignore[attr-defined]


def install(watching: Callable[[], bool], tell: Callable[[str, tuple], None]) -> None:
    """Report reads and writes of project code on threads where ``watching()`` holds, through ``tell``."""
    global _installed
    if _installed:
        return
    environ = os._Environ  # type: ignore[attr-defined]
    get, put, remove = environ.__getitem__, environ.__setitem__, environ.__delitem__

    def __getitem__(self: Any, key: Any) -> Any:
        if not watching():
            return get(self, key)
        name = os.fsdecode(key) if isinstance(key, bytes) else key
        if isinstance(name, str) and _by_project(sys._getframe(1)):
            tell(READ, (name, version(name)))
        return get(self, key)

    def changed(key: Any) -> None:
        if watching() and _by_project(sys._getframe(2)):
            tell(WRITTEN, (os.fsdecode(key) if isinstance(key, bytes) else key,))

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        changed(key)
        put(self, key, value)

    def __delitem__(self: Any, key: Any) -> None:
        changed(key)
        remove(self, key)

    environ.__getitem__, environ.__setitem__, environ.__delitem__ = __getitem__, __setitem__, __delitem__
    _installed = True


def _by_project(frame: Any) -> bool:
    """Whether the read (or write) ``frame`` made is project code's: the first frame out of the standard
    library (``os``, ``_collections_abc``...) is neither installed code nor datamake's; and not a copy of
    the whole environment (C code such as ``dict()`` reading every variable, or ``items()`` iterated)."""
    return _subscript(frame) and by_project_code(frame)  # (not C code copying every variable)


def by_project_code(frame: Any) -> bool:
    """Whether the first frame out of the standard library, from ``frame`` outward, is project code:
    neither installed code nor datamake's (nor ``ItemsView.__iter__``'s caller: every variable in turn)."""
    libraries = _libraries()
    if libraries is None:  # (what finding them reads)
        return False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(libraries):
            return False
        if not filename.startswith(STDLIB):
            return True
        if frame.f_code.co_name == "__iter__":  # ItemsView / ValuesView: every variable, in turn
            return False
        frame = frame.f_back
    return False


def _subscript(frame: Any) -> bool:
    """Python code (``frame``) reached ``__getitem__`` itself (``os.environ[name]``), not C code it called
    that copies every variable (the instruction it ran is a call or a dict merge: ``dict(os.environ)``,
    ``{**os.environ}``, ``os.environ.copy()``)."""
    import opcode  # lazy: only a variable read by project code on a watched thread

    code, lasti = frame.f_code.co_code, frame.f_lasti
    return not (0 <= lasti < len(code) and opcode.opname[code[lasti]].startswith(_COPIES))


_COPIES = ("CALL", "PRECALL", "DICT_", "BUILD_MAP_UNPACK")  # instructions by which C code reads every variable


_LIBRARIES: Optional[Tuple[str, ...]] = None  # folders of installed code and datamake's, found at the first read
_finding = False  # the thread holding _lock is finding them (and reads the environment to)
_lock = threading.RLock()


def _libraries() -> Optional[Tuple[str, ...]]:
    """The folders of installed packages and of datamake itself (their reads are their configuration);
    None to the thread that is finding them."""
    global _LIBRARIES, _finding
    if _LIBRARIES is None:
        with _lock:  # (another thread waits for them)
            if _finding:
                return None
            if _LIBRARIES is None:
                import site

                _finding = True
                try:
                    found = [*site.getsitepackages(), site.getusersitepackages(),
                             *(p for p in sys.path if p.endswith("-packages")),
                             os.path.dirname(os.path.dirname(__file__))]
                    _LIBRARIES = tuple({os.path.join(os.path.abspath(p), "") for p in found if p})
                finally:
                    _finding = False
    return _LIBRARIES
