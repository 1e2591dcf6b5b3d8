"""Expanding the asset graph into a node graph over partitions. Pure: ``now`` is passed in.

Each asset becomes one node per partition (or one node when unpartitioned);
each dependency edge is expanded through its partition mapping. The result
lists the nodes a command needs in a valid dependency order.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, AbstractSet, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from datamake.core.graph import AssetGraph
from datamake.core.errors import SelectionError
from datamake.core.keys import node_id
from datamake.core.records import record

if TYPE_CHECKING:  # the definitions layer sits above the core: only its type is named here
    from datamake.core.partitions import ResolvedMapping
    from datamake.define.assets import Definitions

# datamake.core.partitions is imported where a partitioned asset or a mapping is met: a project
# without them never loads it (its classes are a good part of a no-op make's start-up).

# A parameter's input: one node, or a collection of (partition key, node).
InputSpec = Union[str, Tuple[Tuple[Optional[str], str], ...]]


@record(frozen=True)
class NodeGraph:
    order: Tuple[str, ...]                 # nodes in dependency order (assets and sources)
    deps: Dict[str, Tuple[str, ...]]       # node -> upstream nodes
    children: Dict[str, List[str]]         # node -> downstream nodes (within ``order``)
    asset_of: Dict[str, Tuple[str, Optional[str]]]  # node -> (asset key, partition key)
    inputs: Dict[str, Dict[str, InputSpec]]  # node -> parameter -> input


class Expander:
    """Partition keys and edge mappings of one project at one moment, computed lazily and memoized."""

    def __init__(self, defs: Definitions, graph: AssetGraph, now: dt.datetime,
                 existing: Optional[Mapping[str, AbstractSet[str]]] = None):
        """``existing``: asset key -> its materialized partitions, for the upstreams of an
        ExistingPartitionsMapping (see :func:`existing_edges`); the partitions a run builds are added."""
        self.defs, self.graph, self.now = defs, graph, now
        self._keys: Dict[str, List[Optional[str]]] = {}
        self._mappings: Dict[Tuple[str, str], ResolvedMapping] = {}
        self._existing: Dict[str, Set[str]] = {k: set(v) for k, v in (existing or {}).items()}
        # (a list, not a generator resumed per asset)
        self.partitioned = any([a.partitions is not None for a in defs.assets.values()]) or any(
            getattr(s, "partitions", None) is not None for s in defs.sources.values())

    def partitions_def(self, key: str):
        a = self.defs.assets.get(key) or self.defs.sources.get(key)
        return getattr(a, "partitions", None) if a is not None else None

    def partition_keys(self, key: str) -> List[Optional[str]]:
        if key not in self._keys:
            pdef = self.partitions_def(key)
            self._keys[key] = [None] if pdef is None else list(pdef.keys(self.now))
        return self._keys[key]

    def mapping(self, key: str, dep: str) -> ResolvedMapping:
        edge = (key, dep)
        if edge not in self._mappings:
            from datamake.core.partitions import resolve_mapping  # lazy: see the note at the top

            a = self.defs.assets[key]
            self._mappings[edge] = resolve_mapping(
                key, a.partitions, dep, self.partitions_def(dep), a.partition_mapping.get(dep), self.now,
                self._existing.setdefault(dep, set()))
        return self._mappings[edge]

    def validate(self) -> None:
        """Resolve every edge once, so that a bad combination is reported before anything runs."""
        if not self.partitioned:
            return  # without partitions every edge is the identity: nothing can be wrong
        for key in self.defs.assets:
            for dep in self.graph.deps[key]:
                self.mapping(key, dep)

    def expand(self, selected: Mapping[str, Optional[Sequence[str]]], only: bool) -> NodeGraph:
        """Nodes for ``selected`` (asset key -> partition keys, or None for all) and, unless ``only``,
        every upstream node they need."""
        if not self.partitioned:
            return self._unpartitioned(selected, only)
        from datamake.core.partitions import ExistingPartitionsMapping  # lazy: see the note at the top

        wanted: Dict[str, Set[Optional[str]]] = {}
        for key, pks in selected.items():
            wanted[key] = set(self.partition_keys(key) if pks is None else pks)
        if not only:
            for key in reversed(self.graph.ordered(self.graph.upstream(selected))):
                for dep in self.graph.deps[key]:
                    if key in self.defs.assets and isinstance(self.defs.assets[key].partition_mapping.get(dep),
                                                              ExistingPartitionsMapping):
                        # what this run builds exists once it has run: reading it keeps the next plan empty
                        self._existing.setdefault(dep, set()).update(wanted.get(dep, ()))
                    m = self.mapping(key, dep) if key in self.defs.assets else None
                    need = wanted.setdefault(dep, set())
                    for pk in wanted.get(key, ()):
                        need.update(m.upstream(pk) if m else [None])
        order: List[str] = []
        deps: Dict[str, Tuple[str, ...]] = {}
        asset_of: Dict[str, Tuple[str, Optional[str]]] = {}
        inputs: Dict[str, Dict[str, InputSpec]] = {}
        for key in self.graph.ordered(wanted):
            pks = wanted[key]
            ordered_pks = [pk for pk in self.partition_keys(key) if pk in pks]
            for pk in ordered_pks:
                node = node_id(key, pk)
                order.append(node)
                asset_of[node] = (key, pk)
                deps[node], inputs[node] = self._edges(key, pk)
        children: Dict[str, List[str]] = {n: [] for n in order}
        for node in order:
            for d in deps[node]:
                if d in children:
                    children[d].append(node)
        return NodeGraph(tuple(order), deps, children, asset_of, inputs)

    def _unpartitioned(self, selected: Mapping[str, Optional[Sequence[str]]], only: bool) -> NodeGraph:
        """The same expansion without partitions: nodes are asset keys (the common, fast case)."""
        keys = self.graph.ordered(selected if only else self.graph.upstream(selected))
        deps = {k: self.graph.deps[k] for k in keys}
        children: Dict[str, List[str]] = {k: [] for k in keys}
        for k in keys:
            for d in deps[k]:
                if d in children:
                    children[d].append(k)
        inputs = {k: dict(self.defs.inputs.get(k, {})) for k in keys}
        return NodeGraph(tuple(keys), deps, children, {k: (k, None) for k in keys}, inputs)

    def _edges(self, key: str, pk: Optional[str]) -> Tuple[Tuple[str, ...], Dict[str, InputSpec]]:
        if key not in self.defs.assets:
            return (), {}
        by_dep: Dict[str, InputSpec] = {}
        nodes: List[str] = []
        for dep in self.graph.deps[key]:
            m = self.mapping(key, dep)
            ups = m.upstream(pk)
            dep_nodes = [node_id(dep, u) for u in ups]
            nodes.extend(dep_nodes)
            by_dep[dep] = tuple(zip(ups, dep_nodes)) if m.collection else dep_nodes[0]
        params = {param: by_dep[dep] for param, dep in self.defs.inputs[key].items()}
        return tuple(dict.fromkeys(nodes)), params


def selection_partitions(expander: Expander, keys: Sequence[str], spec: Optional[str]) -> Dict[str, Optional[List[str]]]:
    """Asset key -> partition keys for ``--partition SPEC`` (None: all partitions).

    The spec narrows each partitioned asset it applies to; a partitioned asset it
    names nothing of (``region=eu`` on a daily asset) is left out of the selection.
    It is an error when it names no partition of any selected asset.
    """
    if spec is None:  # no --partition (most commands): all partitions of every asset, none looked up
        return dict.fromkeys(keys)
    out: Dict[str, Optional[List[str]]] = {}
    errors: List[SelectionError] = []
    partitioned = 0
    for key in keys:
        pdef = expander.partitions_def(key)
        if pdef is None:
            out[key] = None
            continue
        partitioned += 1
        from datamake.core.partitions import select_partitions  # lazy: see the note at the top

        try:
            out[key] = select_partitions(pdef, expander.partition_keys(key), spec)
        except SelectionError as exc:
            out[key] = []
            errors.append(exc)
    if partitioned == 0:
        raise SelectionError(f"--partition {spec!r}: none of the selected assets is partitioned",
                             hint="drop --partition, or select a partitioned asset")
    if errors and len(errors) == partitioned:
        raise errors[0]
    if "," in spec:
        _check_each_part_matches(expander, [k for k in keys if out[k]], spec)
    return out


def _check_each_part_matches(expander: Expander, keys: Sequence[str], spec: str) -> None:
    """A SelectionError naming each part of a comma-separated spec that selects no partition of ``keys``."""
    from datamake.core.partitions import unmatched_parts  # lazy: see the note at the top

    missing = unmatched_parts(spec, [(expander.partitions_def(k), expander.partition_keys(k)) for k in keys])
    if missing:
        keys_of = expander.partition_keys(keys[0])
        sample = ", ".join(keys_of[:3]) + (" … " + keys_of[-1] if len(keys_of) > 3 else "")
        raise SelectionError(f"--partition {spec!r}: {', '.join(map(repr, missing))} matches no partition",
                             hint=f"partitions of {keys[0]} are {sample}")


def existing_edges(defs: Definitions) -> List[str]:
    """The asset keys read through an ExistingPartitionsMapping: whose materialized partitions the caller
    lists (that is IO) and passes to :class:`Expander` as ``existing``."""
    mappings = [(dep, m) for a in defs.assets.values() for dep, m in a.partition_mapping.items()]
    if not mappings:
        return []
    from datamake.core.partitions import ExistingPartitionsMapping  # lazy: see the note at the top

    return sorted({dep for dep, m in mappings if isinstance(m, ExistingPartitionsMapping)})
