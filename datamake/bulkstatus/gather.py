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
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from datamake.bulkstatus.plan import AssetRows, CompactPlan, is_fresh
from datamake.bulkstatus.records import Records
from datamake.bulkstatus.summary import aligned, digest
from datamake.core.keys import node_id
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
    digests: Dict[Tuple[int, int], str] = {}  # (id of a list of partition keys, n) -> digest of its first n
    seen: Dict[str, _Seen] = {}
    records = Records(project.store)
    consumers = {k: sum(1 for c in graph.children.get(k, ()) if c in wanted) for k in keys}
    rows = []
    for key in keys:
        pdef = project.defs.assets[key].partitions
        if id(pdef) not in every:
            every[id(pdef)] = list(pdef.keys(now))
        chosen = wanted.get(key, set())
        pks = every[id(pdef)] if chosen is None else [pk for pk in every[id(pdef)] if pk in chosen]
        rows.append(_plan_asset(project, records, key, pks, every[id(pdef)], _prefix_digests(pks, digests), seen))
        for dep in graph.deps[key]:  # a dependency's statuses are dropped once its last dependent is planned
            consumers[dep] -= 1
            if consumers[dep] == 0:
                seen.pop(dep, None)
    records.forget_others(project.defs.assets)  # summaries of assets removed from the project
    records.save()
    project.save_code_cache()
    return CompactPlan(rows)


class _Seen:
    """What the dependents of one asset see of its partitions: ``aligned``, ``(digest of the first partitions,
    digest of their data versions)`` when those are all fresh and line up with its summary, the status of
    each other partition in ``tail``, and (on demand) a status for every partition."""

    __slots__ = ("aligned", "tail", "_statuses", "_load")

    def __init__(self, aligned: Optional[Tuple[str, str]], tail: Dict[str, object],
                 load: Optional[Callable[[], Dict[str, object]]] = None):
        self.aligned, self.tail, self._load = aligned, tail, load
        self._statuses = None if load is not None else tail

    @property
    def statuses(self) -> Dict[str, object]:
        if self._statuses is None:
            self._statuses = {**self._load(), **self.tail}
        return self._statuses


def _prefix_digests(pks: List[str], digests: Dict[Tuple[int, int], str]) -> Callable[[int], str]:
    """``digest_of(n)``: the digest of the first ``n`` of ``pks``, computed once per list and length."""
    def digest_of(n: int) -> str:
        if (id(pks), n) not in digests:
            digests[(id(pks), n)] = digest(pks[:n])
        return digests[(id(pks), n)]
    return digest_of


def _plan_asset(project: Project, records: Records, key: str, pks: List[str], order: List[str],
                digest_of: Callable[[int], str], seen: Dict[str, _Seen]) -> AssetRows:
    """Decide every partition ``pks`` (of all its partitions ``order``) of ``key``; records what its
    dependents see in ``seen``. ``digest_of(n)``: the digest of the first ``n`` of ``pks``."""
    deps = project.graph.deps[key]
    code_version = project.code_version(key).value
    config_hash = project.asset_config(key)[1]
    record = records.record(key, order)
    head = record.head
    n = head["n"]  # the summary covers every manifest: a partition past its first n has none
    prefix = digest_of(n) if n <= len(pks) else None
    if prefix is not None and aligned(head, prefix, code_version, config_hash, deps, [seen[d].aligned for d in deps]):
        mine: Dict[str, object] = {}
        stale = _decide(project, key, pks, [(j, False, {node_id(d, pks[j]): seen[d].tail[pks[j]] for d in deps})
                                            for j in range(n, len(pks))], config_hash, mine)
        seen[key] = _Seen((prefix, head["dv"]), mine, lambda: dict(
            zip(pks, (e["data_version"] for e in record.summary().entries))))
        return AssetRows(key, pks, stale)
    summary = record.summary()
    where = {pk: i for i, pk in enumerate(summary.pks)}
    entries, intact = summary.entries, summary.intact
    upstream = [seen[d].statuses for d in deps]
    mine = {}
    slow = []
    for j, pk in enumerate(pks):
        inputs = {node_id(d, pk): s[pk] for d, s in zip(deps, upstream)}
        i = where.get(pk)
        e = entries[i] if i is not None else None
        if e is not None and is_fresh(e, code_version, config_hash, inputs, intact[i]):
            mine[pk] = e["data_version"]
        else:
            slow.append((j, i is not None, inputs))
    stale = _decide(project, key, pks, slow, config_hash, mine)
    fresh = not slow and "dv" in summary.head and summary.head["pks"] == digest_of(len(pks))
    seen[key] = _Seen((summary.head["pks"], summary.head["dv"]) if fresh else None, mine)
    return AssetRows(key, pks, stale)


def _decide(project: Project, key: str, pks: List[str], slow: List[Tuple[int, bool, Dict[str, object]]],
            config_hash: Optional[str], mine: Dict[str, object]) -> Dict[int, AssetDecision]:
    """Decide by the planner each ``(index in pks, has a manifest, inputs)`` of ``slow``, reading its
    manifest as :meth:`Project.scope` does; each one's status goes into ``mine``, the stale ones are returned."""
    stale: Dict[int, AssetDecision] = {}
    if not slow:
        return stale
    store = project.store
    manifests = store.read_manifests([node_id(key, pks[j]) for j, listed, _ in slow if listed])
    intact = store.values_intact(m for m in manifests.values() if m is not None)
    for j, _, inputs in slow:
        m = manifests.get(node_id(key, pks[j]))
        facts = project.node_facts(key, pks[j], tuple(inputs), m, m is None or intact[id(m)],
                                   config_hash, checks=())  # the scope declares no checks
        reasons = decide(facts, inputs)
        mine[pks[j]] = upstream_status(facts, reasons)
        if reasons:
            stale[j] = AssetDecision(key, pks[j], reasons)
    return stale
