"""Lineage: the exact data versions an asset's current value was built from, and what was built from it.

Upstream is followed through manifests: the current manifest of an asset
lists the (key, data version) of each input it was built from. Where an input
has since been rebuilt, its current manifest no longer describes that version;
the event log (:mod:`datamake.history.events`) still does, so the walk goes on from
the recorded materialization. Downstream lists every descendant that has a
value and says whether it was built from this asset's current value.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from datamake.core.keys import node_id, split_node

Node = Dict[str, Any]


def _from_manifest(m: Any, current: bool) -> Node:
    return {"key": node_id(m.key, m.partition), "data_version": m.data_version, "current": current, "known": True, "run_id": m.run_id,
            "created": m.created, "code_version": m.code_version,
            "inputs": [{"key": k, "data_version": v} for k, v in m.inputs]}


def _from_event(e: Mapping[str, Any]) -> Node:
    return {"key": node_id(e["asset"], e.get("partition")), "data_version": e["data_version"], "current": False, "known": True,
            "run_id": e["run_id"], "created": e["ts"], "code_version": e["code_version"],
            "inputs": [{"key": k, "data_version": v} for k, v in sorted((e.get("inputs") or {}).items())]}


def upstream(key: str, read: Callable[[Sequence[str]], Mapping[str, Any]],
             find_version: Callable[[str, str], Optional[Mapping[str, Any]]], sources: Iterable[str] = ()) -> List[Node]:
    """Every (key, data version) the current value of ``key`` was built from, root first, each once.

    ``read(nodes)`` gives the current manifests of nodes (asset keys or partitions' ``key[pk]``);
    it is asked once per node whose inputs are followed, for all of them together.
    """
    manifests: Dict[str, Any] = dict(read([key]))
    root = manifests.get(key)
    if root is None:
        return []
    source_keys = set(sources)
    nodes: Dict[Tuple[str, str], Node] = {}
    stack = [(key, root.data_version)]
    while stack:
        k, dv = stack.pop()
        if (k, dv) in nodes:
            continue
        m = manifests.get(k)
        if m is not None and m.data_version == dv:
            node = _from_manifest(m, current=True)
        else:
            event = find_version(k, dv)
            node = _from_event(event) if event else {"key": k, "data_version": dv, "current": None,
                                                     "known": False, "inputs": []}
        node["source"] = split_node(k)[0] in source_keys  # a source, or one file of a partitioned source
        nodes[(k, dv)] = node
        unread = [i["key"] for i in node["inputs"] if i["key"] not in manifests]
        if unread:
            manifests.update(read(unread))
        stack.extend((i["key"], i["data_version"]) for i in reversed(node["inputs"]))
    return list(nodes.values())


def downstream(key: str, order: Sequence[str], manifests: Mapping[str, Any]) -> List[Node]:
    """Each descendant of ``key`` with a value, and whether it derives from ``key``'s current value.

    ``order`` lists the descendants' nodes (a partitioned asset's partitions in its place) in
    dependency order; ``manifests`` holds the current manifest of those nodes and of their inputs.
    """
    root = manifests.get(key)
    derived = {key: root is not None}
    out = []
    for k in order:
        m = manifests.get(k)
        if k == key or m is None:
            continue
        node = _from_manifest(m, current=True)
        for i in node["inputs"]:
            dep = manifests.get(i["key"])
            i["current"] = dep is not None and dep.data_version == i["data_version"]
        node["from_current"] = any(derived.get(i["key"]) and i["current"] for i in node["inputs"])
        derived[k] = node["from_current"]
        out.append(node)
    return out
