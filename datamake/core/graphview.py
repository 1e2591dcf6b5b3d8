"""The asset graph as a view for people: each asset's state summarised from the planner's decisions. Pure.

``graph_view`` turns a plan (one decision per node, partitions included) into
one entry per asset, with the edges between the assets shown, so a renderer
(Mermaid, Graphviz DOT, text, JSON) never looks at partitions or reasons itself.
"""
from __future__ import annotations

from typing import Any, Collection, Dict, List, Mapping, Sequence

from datamake.core.graph import AssetGraph

FRESH, STALE, NEW, SOURCE = "fresh", "stale", "new", "source"
STATES = (FRESH, STALE, NEW, SOURCE)  # new: stale only because it was never materialized


def graph_view(graph: AssetGraph, decisions: Sequence[Any], sources: Collection[str],
               groups: Mapping[str, str]) -> Dict[str, List[Dict[str, Any]]]:
    """``{"nodes": [...], "edges": [...]}`` for the assets ``decisions`` cover and the sources they read.

    A node: ``key``, ``kind`` (asset or source), ``group``, ``state`` (one of
    :data:`STATES`), ``reasons`` (the reason codes, each once), and for a
    partitioned asset ``partitions``: ``{"total": N, "stale": M}``.
    """
    by_key: Dict[str, List[Any]] = {}
    for d in decisions:
        by_key.setdefault(d.key, []).append(d)
    shown = set(by_key) | {dep for key in by_key for dep in graph.deps.get(key, ()) if dep in sources}
    nodes = []
    for key in graph.ordered(shown):
        if key not in by_key:
            nodes.append({"key": key, "kind": "source", "group": groups.get(key), "state": SOURCE, "reasons": [],
                          "partitions": None})
            continue
        nodes.append(_asset_node(key, by_key[key], groups.get(key)))
    edges = [{"from": dep, "to": key} for key in graph.ordered(shown) for dep in graph.deps.get(key, ())
             if dep in shown]
    return {"nodes": nodes, "edges": edges}


def _asset_node(key: str, decisions: List[Any], group: Any) -> Dict[str, Any]:
    stale = [d for d in decisions if d.stale]
    codes = list(dict.fromkeys(r.code for d in stale for r in d.reasons))
    if not stale:
        state = FRESH
    elif codes == ["never_materialized"]:
        state = NEW
    else:
        state = STALE
    partitioned = decisions[0].partition is not None
    return {"key": key, "kind": "asset", "group": group, "state": state, "reasons": codes,
            "partitions": {"total": len(decisions), "stale": len(stale)} if partitioned else None}
