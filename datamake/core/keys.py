"""Node ids: an asset key, or an asset key with a partition, as one string.

``orders`` is the unpartitioned asset; ``sales[2024-01-05]`` is one partition
of ``sales``. Keys cannot contain ``[``, so the split is unambiguous.
"""
from __future__ import annotations

from typing import Optional, Tuple


def node_id(key: str, partition: Optional[str] = None) -> str:
    return key if partition is None else f"{key}[{partition}]"


def split_node(node: str) -> Tuple[str, Optional[str]]:
    """``"sales[2024-01-05]"`` -> ``("sales", "2024-01-05")``; ``"orders"`` -> ``("orders", None)``."""
    if node.endswith("]") and "[" in node:
        key, _, rest = node.partition("[")
        return key, rest[:-1]
    return node, None
