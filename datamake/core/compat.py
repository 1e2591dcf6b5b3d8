"""Small shims for the range of Pythons and dependency versions datamake supports.

Supported: CPython 3.9 to 3.13 (see docs/compatibility.md). Each helper names the
version difference it papers over, so it can be deleted when the floor moves.
"""
from __future__ import annotations

import datetime
import functools
import sys
import typing
from typing import Any, Callable, Dict


@functools.lru_cache(maxsize=None)
def _parameters(fn: Callable[..., Any]) -> frozenset:
    import inspect  # only a store of an optional dependency asks
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return frozenset({"**"})
    return frozenset(p.name for p in params)


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword argument ``name`` (or any keyword, through ``**kwargs``).

    Used for optional dependencies whose signatures grew between the versions we
    allow: s3fs added ``max_concurrency`` to ``_cat_file`` in 2025.12 (the last s3fs
    for Python 3.9 is 2025.10).
    """
    names = _parameters(getattr(fn, "__func__", fn))
    return name in names or "**" in names


def fromisoformat(text: str) -> datetime.datetime:
    """``datetime.fromisoformat`` with a trailing ``Z`` (UTC) accepted on every Python.

    Python 3.11 reads any ISO 8601 form; 3.9 and 3.10 only the ones ``isoformat()``
    writes, so ``2024-01-31T00:00:00Z`` would be an error there.
    """
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        if sys.version_info < (3, 11) and text.endswith(("Z", "z")):
            return datetime.datetime.fromisoformat(text[:-1] + "+00:00")
        raise


def type_hints(cls: type) -> Dict[str, Any]:
    """``typing.get_type_hints(cls)``, or the annotations as written when they cannot be evaluated.

    Under ``from __future__ import annotations`` a user may write ``int | None`` on
    Python 3.9, where evaluating it raises TypeError (``X | Y`` needs 3.10), or name
    a type imported only for type checkers (NameError). The unevaluated strings
    are what callers then work from, best effort.
    """
    try:
        return typing.get_type_hints(cls)
    except (TypeError, NameError):
        hints: Dict[str, Any] = {}
        for klass in reversed(getattr(cls, "__mro__", (cls,))):
            hints.update(getattr(klass, "__dict__", {}).get("__annotations__", {}))
        return hints
