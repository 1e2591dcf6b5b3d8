"""Node ids: an asset key, or an asset key with a partition, as one string.

``orders`` is the unpartitioned asset; ``sales[2024-01-05]`` is one partition
of ``sales``. Keys cannot contain ``[``, so the split is unambiguous.
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, Optional, Tuple, TypeVar

from datamake.core.errors import DefinitionError

T = TypeVar("T")

_SEGMENT = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")  # segments joined by '/'; matched whole


def validate_key(key: str) -> str:
    """Check that ``key`` is a valid asset key (segments joined by '/')."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise DefinitionError(
            f"invalid asset key {key!r}",
            hint="keys are names like 'orders' or 'sales/orders': letters, digits, '_', '.', '-'",
        )
    return key


def node_id(key: str, partition: Optional[str] = None) -> str:
    return key if partition is None else f"{key}[{partition}]"


def split_node(node: str) -> Tuple[str, Optional[str]]:
    """``"sales[2024-01-05]"`` -> ``("sales", "2024-01-05")``; ``"orders"`` -> ``("orders", None)``."""
    if node.endswith("]") and "[" in node:
        key, _, rest = node.partition("[")
        return key, rest[:-1]
    return node, None


def index_by_node(items: Iterable[T]) -> Dict[str, T]:
    """Items with ``key`` and ``partition`` by node id, and by bare key for the first of each asset."""
    index: Dict[str, T] = {}
    for item in items:
        index.setdefault(item.key, item)  # type: ignore[attr-defined]
        if item.partition is not None:  # type: ignore[attr-defined]
            index.setdefault(node_id(item.key, item.partition), item)  # type: ignore[attr-defined]
    return index
