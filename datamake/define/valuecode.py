"""The project code a stored value refers to by name.

Pickle keeps a project class, function or enum by reference (its module and name), never by its code: an
asset that returns ``Thing([1, 2])`` stores the same bytes after ``Thing.total`` is edited, and the early
cutoff would keep a consumer that calls ``a.total()`` fresh with the old result. The code versions of what
a value refers to therefore count in its data version, so that a consumer rebuilds when that code changes
(and only then: a cosmetic edit keeps the code version).
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

from datamake.core.hashing import hash_value
from datamake.define.codeversion import fingerprint, is_project_file, _file_of, _is_datamake


def referenced_code(objects: Iterable[Any], roots: Iterable[str]) -> Optional[str]:
    """A hash of the code versions of the project classes and functions among ``objects`` (what a
    pickled value refers to by name); None when it refers to none (its data version is its bytes')."""
    roots = tuple(roots)
    found: List[Tuple[str, str]] = []
    for obj in objects:
        if _is_datamake(obj) or not is_project_file(_file_of(obj), roots):
            continue
        name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
        found.append((name, _version(obj, roots)))
    return hash_value("referenced-code", sorted(found)) if found else None


def _version(obj: Any, roots: Tuple[str, ...]) -> str:
    """``obj``'s code version; one that cannot be read (user code may fail in any way) by its name, so that
    the value is still stored."""
    try:
        return fingerprint(obj, roots).version
    except Exception:  # noqa: BLE001
        return "unreadable"
