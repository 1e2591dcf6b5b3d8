"""Small shims for the range of Pythons and dependency versions datamake supports.

Supported: CPython 3.9 to 3.13 (see docs/compatibility.md). Each helper names the
version difference it papers over, so it can be deleted when the floor moves.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


@functools.lru_cache(maxsize=None)
def _parameters(fn: Callable[..., Any]) -> frozenset:
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
