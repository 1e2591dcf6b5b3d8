"""``status`` of a partitioned scope read asset by asset, without an object per fresh partition.

It applies where every asset in scope is partitioned like each of its
dependencies (the same partitions definition, no mapping: partition ``d``
reads partition ``d``), declares no checks and reads no source, on a local
store: the shape of a daily backfill. Each asset's manifests are read as one
range of the manifest index; a partition whose manifest records the current
code version, config and input versions, with its artifact intact, is fresh
(:func:`~datamake.bulkstatus.plan.is_fresh`); every other partition is decided
by the planner itself, with the facts :meth:`Project.scope` would give it. Any
other scope returns None: the caller plans it node by node.
"""
from __future__ import annotations

import datetime
import os
from typing import Dict, List, Optional, Sequence, Set

from datamake.bulkstatus.plan import AssetRows, CompactPlan, is_fresh
from datamake.core.keys import node_id
from datamake.core.manifest import decode
from datamake.core.nodegraph import Expander, existing_edges, selection_partitions
from datamake.core.planner import AssetDecision, decide, upstream_status
from datamake.project import heap
from datamake.project.workspace import Project


def status(project: Project, selection: Sequence[str] = (), only: bool = False, force: bool = False,
           partition: Optional[str] = None, now: Optional[datetime.datetime] = None) -> Optional[CompactPlan]:
    """The plan ``project.scope(...).plan`` gives, kept compact; None where this path does not apply."""
    if only or force or not project.store.is_local or existing_edges(project.defs):
        return None
    with heap.planning(freeze=project.one_shot):
        return _status(project, selection, partition, now or datetime.datetime.now(datetime.timezone.utc))


def _eligible(project: Project, keys: Sequence[str]) -> bool:
    defs = project.defs
    for key in keys:
        a = defs.assets.get(key)
        if a is None or a.partitions is None or defs.checks.get(key):
            return False
        for dep in project.graph.deps[key]:
            up = defs.assets.get(dep)
            if up is None or a.partition_mapping.get(dep) is not None or up.partitions != a.partitions:
                return False
    return True


def _status(project: Project, selection: Sequence[str], partition: Optional[str], now: datetime.datetime):
    graph = project.graph
    selected_keys = project.selected_keys(selection, False, partition)
    keys = graph.ordered(graph.upstream(selected_keys))
    if not keys or not _eligible(project, keys):
        return None
    expander = Expander(project.defs, graph, now)
    expander.validate()
    wanted: Dict[str, Optional[Set[str]]] = {
        k: None if pks is None else set(pks)
        for k, pks in selection_partitions(expander, selected_keys, partition).items()}
    for key in reversed(keys):  # identity edges: a partition needs the same partition of each dependency
        for dep in graph.deps[key]:
            if key not in wanted or wanted.get(dep, ()) is None:
                continue
            mine = wanted[key]
            if mine is None:
                wanted[dep] = None
            else:
                wanted.setdefault(dep, set()).update(mine)
    every: Dict[int, List[str]] = {}  # one list of keys per partitions definition, shared by its assets
    statuses: Dict[str, Dict[str, object]] = {}
    consumers = {k: sum(1 for c in graph.children.get(k, ()) if c in wanted) for k in keys}
    rows = []
    for key in keys:
        pdef = project.defs.assets[key].partitions
        if id(pdef) not in every:
            every[id(pdef)] = list(pdef.keys(now))
        chosen = wanted.get(key, set())
        pks = every[id(pdef)] if chosen is None else [pk for pk in every[id(pdef)] if pk in chosen]
        rows.append(_plan_asset(project, key, pks, statuses))
        for dep in graph.deps[key]:  # a dependency's statuses are dropped once its last dependent is planned
            consumers[dep] -= 1
            if consumers[dep] == 0:
                statuses.pop(dep, None)
    project.save_code_cache()
    return CompactPlan(rows)


def _listed(paths: List[str]) -> List[str]:
    """Those of ``paths`` (files of one folder) that the folder lists: one listing, not a stat per missing file."""
    if not paths:
        return paths
    folder = os.path.dirname(paths[0])
    try:
        names = set(os.listdir(folder))
    except OSError:  # no folder: no partition of this asset has a manifest
        return []
    return [p for p in paths if os.path.basename(p) in names]


def _plan_asset(project: Project, key: str, pks: List[str], statuses: Dict[str, Dict[str, object]]) -> AssetRows:
    """Decide every partition ``pks`` of ``key``; records what its dependents see in ``statuses[key]``."""
    store = project.store
    deps = project.graph.deps[key]
    code_version = project.code_version(key).value
    config_hash = project.asset_config(key)[1]
    paths = store.partition_manifest_paths(key, pks)
    texts = store.manifest_index.read(_listed(paths), folder=f"{key}/@partitions")
    decoded: Dict[int, dict] = {}
    for i, path in enumerate(paths):
        text = texts.get(path)
        if text is not None:
            try:
                decoded[i] = decode(text)
            except ValueError:
                pass  # read again below, where the store says what is wrong with it
    sizes = store.artifact_sizes(m["artifact"] for m in decoded.values() if m.get("inline") is None)
    upstream = [statuses[d] for d in deps]
    mine: Dict[str, object] = {}
    slow = []
    for i, pk in enumerate(pks):
        inputs = {node_id(d, pk): s[pk] for d, s in zip(deps, upstream)}
        m = decoded.get(i)
        if m is not None and m.get("inline") is None and \
                is_fresh(m, code_version, config_hash, inputs, sizes.get(m["artifact"]) == m["size"]):
            mine[pk] = m["data_version"]
        else:
            slow.append((i, inputs))
    stale: Dict[int, AssetDecision] = {}
    if slow:
        manifests = store.read_manifests([node_id(key, pks[i]) for i, _ in slow if paths[i] in texts])
        intact = store.values_intact(m for m in manifests.values() if m is not None)  # inline values: checked here
        for i, inputs in slow:
            m = manifests.get(node_id(key, pks[i]))
            facts = project.node_facts(key, pks[i], tuple(inputs), m, m is None or intact[id(m)],
                                       config_hash, checks=())  # the scope declares no checks
            reasons = decide(facts, inputs)
            mine[pks[i]] = upstream_status(facts, reasons)
            if reasons:
                stale[i] = AssetDecision(key, pks[i], reasons)
    statuses[key] = mine
    return AssetRows(key, pks, stale)
