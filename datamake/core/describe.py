"""Short text for people about many nodes: partitions summarised as ranges, reasons grouped by code.

A backfill can make one line name thousands of partitions (every missing
upstream partition of a blocked asset); these helpers keep such lines short
the way ``status`` does: ``sales[2024-01-01…2024-12-31] (366 partitions)``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from datamake.core.keys import node_id, split_node

MAX_NAMED = 5  # assets named in one line before "… and N more"


def span(partitions: Sequence[str]) -> str:
    """``2024-01-01…2024-01-31`` for a run of partitions (their first and last), or the one partition."""
    return partitions[0] if len(partitions) == 1 else f"{partitions[0]}…{partitions[-1]}"


def describe_nodes(nodes: Sequence[str], limit: int = MAX_NAMED) -> str:
    """Node ids as one short phrase: the partitions of each asset as one range with their count."""
    by_key: Dict[str, List[Optional[str]]] = {}
    for node in nodes:
        key, partition = split_node(node)
        by_key.setdefault(key, []).append(partition)
    texts = []
    for key, partitions in by_key.items():
        named = [p for p in partitions if p is not None]
        if not named:
            texts.append(key)
        elif len(named) == 1:
            texts.append(node_id(key, named[0]))
        else:
            texts.append(f"{key}[{span(named)}] ({len(named)} partitions)")
    if len(texts) > limit:
        texts[limit:] = [f"… and {len(texts) - limit} more"]
    return ", ".join(texts)


def describe_reasons(reasons: Sequence) -> str:
    """Reasons grouped by code, each naming what it concerns: ``input_changed: orders, customers``."""
    if len(reasons) == 1 and not getattr(reasons[0], "subject", None):
        return reasons[0].code  # one reason about the asset itself ("never_materialized"): its code
    subjects: Dict[str, List[str]] = {}
    for r in reasons:
        named = subjects.setdefault(r.code, [])
        if getattr(r, "subject", None):
            named.append(r.subject)
    return "; ".join(f"{code}: {describe_nodes(named)}" if named else code for code, named in subjects.items())
