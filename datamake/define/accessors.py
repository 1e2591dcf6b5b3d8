"""Accessors that project code registers on pandas' classes (``@pd.api.extensions.register_dataframe_accessor(
"clean")``): ``df.clean.total()`` runs the registered class, although nothing the code names points to
it. Code that reads an attribute of a registered name therefore counts the class registered under it.

Found in pandas' own registry, as imported (nothing when pandas is not loaded); the names are
remembered until another one is registered, so that code reading none of them pays a set lookup.
"""
from __future__ import annotations

import sys
from typing import Any, FrozenSet, List, Set, Tuple

_OWNERS = ("DataFrame", "Series", "Index")
_names: Tuple[Tuple[int, ...], FrozenSet[str]] = ((), frozenset())  # (size of each registry, every name in them)


def _owners(pandas: Any) -> List[Any]:
    return [getattr(pandas, name, None) for name in _OWNERS]


def _registered_names(owners: List[Any]) -> FrozenSet[str]:
    """Every accessor name pandas' registries hold (its own ``str``, ``dt``... too)."""
    global _names
    registries = [getattr(owner, "_accessors", None) or () for owner in owners]
    sizes = tuple(len(r) for r in registries)
    if sizes != _names[0]:  # (registering only adds names: an unchanged size is an unchanged set)
        _names = (sizes, frozenset().union(*registries))
    return _names[1]


def registered_accessors(reads: Set[str]) -> List[Tuple[str, type]]:
    """(name, class) of each accessor registered outside pandas under one of the names ``reads``."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return []
    owners = _owners(pandas)
    used = _registered_names(owners).intersection(reads)
    found = []
    for name in sorted(used):
        for owner in owners:
            cls = getattr(vars(owner).get(name) if owner is not None else None, "_accessor", None)
            if isinstance(cls, type) and not cls.__module__.startswith("pandas."):
                found.append((name, cls))
    return found
