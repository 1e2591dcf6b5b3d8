"""Running a traced graph: op invocations content-addressed in the store and the action cache.

Each invocation's provenance is its op's code version, its config and the data
versions of its inputs (see :func:`~datamake.ops.trace.op_provenance`). Before
running an op, the runner looks that provenance up in the action cache: a hit
whose recorded reads (files the op read undeclared) are unchanged restores the
outputs' manifests without calling the op, so an unchanged graph
runs nothing, and an edit reruns the edited op and only those downstream whose
inputs' data versions actually changed (early cutoff). A dynamic output's
chunks are versioned one by one, so each mapped invocation is cached on its
own chunk. Invocations run on the same executors as assets.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple

from datamake.core.hashing import hash_value
from datamake.core.manifest import Manifest
from datamake.ops.trace import GraphPlan, Node, Source, const_version, op_provenance
from datamake.ops.work import OpResult, OpTask, Reads, op_reference, output_key, run_op_task, store_value
from datamake.execution.waiting import wait_first
from datamake.storage.reads import ReadVersions
from datamake.storage.store import Store

Outputs = Dict[str, Any]  # out name -> Manifest, or for a dynamic output a list of (mapping key, Manifest)


@dataclass
class OpEnv:
    """What the runner needs from the project: where things are and each op's code version and config."""

    store: Store
    project_dir: str
    definitions: str
    run_id: str
    code_version: Callable[[Any], str]  # OpDef -> its code version
    config: Callable[[Any], Tuple[Mapping[str, Any], Optional[str]]]  # OpDef -> (values, hash)
    resource_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    graph_inputs: Mapping[str, Manifest] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(eq=False)
class Invocation:
    """The outcome of one invocation, as ``run_graph`` reports it."""

    node: Node
    mapping_key: Optional[str]
    status: str = "pending"  # ran | cached | failed | skipped | would_run
    provenance: Optional[str] = None
    code_version: Optional[str] = None
    outputs: Outputs = field(default_factory=dict)
    seconds: float = 0.0
    error: Optional[str] = None
    listed: bool = False  # in the runner's start order already
    reads: Reads = ()  # (name, version) of the files it read undeclared, when it ran (or when its result was made)

    @property
    def id(self) -> str:
        return self.node.id if self.mapping_key is None else f"{self.node.id}[{self.mapping_key}]"

    def to_dict(self) -> Dict[str, Any]:
        return {"op": self.node.op.name, "invocation": self.id, "status": self.status,
                "seconds": round(self.seconds, 6), "error": self.error}


def _action_id(provenance: str, out: str, chunk: Optional[str] = None) -> str:
    return hash_value("op-output", provenance, out, chunk)


class GraphRunner:
    """Walks a :class:`GraphPlan`: a ready queue, the action cache, an executor."""

    def __init__(self, plan: GraphPlan, env: OpEnv, executor: Any = None):
        self.plan = plan
        self.env = env
        self.executor = executor
        self.results: Dict[Tuple[str, Optional[str]], Invocation] = {}
        self.order: List[Invocation] = []
        self.mapped: Dict[Tuple[str, str], List[Node]] = {}
        self.over: Dict[str, Tuple[str, str]] = {n.id: n.mapped_over for n in plan.nodes if n.mapped_over}
        for node in plan.nodes:
            if node.mapped_over is not None:
                self.mapped.setdefault(node.mapped_over, []).append(node)
        self._refs: Dict[int, Tuple[str, str]] = {}
        self._chunks: Dict[Tuple[str, str], Dict[str, Manifest]] = {}  # a dynamic output's chunks by key
        self._reads: Optional[ReadVersions] = None  # current versions of files ops read, at the first cached read

    # -- driving ---------------------------------------------------------------------------
    def run(self) -> List[Invocation]:
        """Run every invocation (or decide each, with ``dry_run``); returns them in start order.

        An invocation that waits is parked under the node it waits for and looked at
        again only when an invocation of that node finishes: linear in the graph's size.
        """
        self.queue: Deque[Invocation] = deque(self._new(n, None) for n in self.plan.nodes if n.mapped_over is None)
        self.waiting: Dict[str, List[Invocation]] = {}
        running: Dict[cf.Future, Invocation] = {}
        while self.queue or running:
            while self.queue:
                inv = self.queue.popleft()
                state, blocker = self._readiness(inv)
                if state == "wait":
                    self.waiting.setdefault(blocker, []).append(inv)
                elif state == "blocked":
                    self._finish(inv, "skipped", error="an upstream op failed")
                else:
                    self._start(inv, running)
            if running:
                done = wait_first(self.executor, list(running))
                for future in done:
                    self._settle(running.pop(future), future)
        for parked in self.waiting.values():  # only in a dry run: after an op that would run
            for inv in parked:
                self._finish(inv, "would_run" if self.env.dry_run else "skipped")
        return self.order

    def _new(self, node: Node, key: Optional[str]) -> Invocation:
        inv = Invocation(node, key)
        self.results[(node.id, key)] = inv
        return inv

    def _readiness(self, inv: Invocation) -> Tuple[str, str]:
        """("ready" | "wait" | "blocked", the node id it waits for)."""
        for _param, source in inv.node.inputs:
            for dep in self._deps(source, inv.mapping_key):
                if dep is None or dep.status in ("pending", "would_run"):
                    return "wait", dep.node.id if dep is not None else source[1]
                if dep.status in ("failed", "skipped"):
                    return "blocked", ""
        return "ready", ""

    def _deps(self, source: Source, key: Optional[str]) -> List[Optional[Invocation]]:
        kind = source[0]
        if kind in ("input", "const"):
            return []
        node_id = source[1]
        if kind == "mapped":
            return [self.results.get((node_id, key))]
        if kind == "collect" and (node_id, None) not in self.results:  # a mapped node: all of its chunks
            over = self.over[node_id]
            source_inv = self.results.get((over[0], None))
            if source_inv is None or source_inv.status in ("pending", "would_run", "failed", "skipped"):
                return [source_inv]
            return [self.results.get((node_id, k)) for k, _ in source_inv.outputs[over[1]]]
        return [self.results.get((node_id, None))]

    # -- one invocation ----------------------------------------------------------------------
    def _inputs(self, inv: Invocation) -> List[Tuple[str, Any, Any]]:
        """(param, what the worker loads, data version) of each input; the worker is given a
        Manifest, a list of Manifests (collected) or ``("const", value)``."""
        out: List[Tuple[str, Any, Any]] = []
        for param, source in inv.node.inputs:
            kind = source[0]
            if kind == "const":
                out.append((param, ("const", json.loads(source[1])), const_version(source[1])))
                continue
            if kind == "input":
                spec: Any = self.env.graph_inputs[source[1]]
            elif kind == "chunk":
                chunks = self._chunks.get((source[1], source[2]))
                if chunks is None:
                    chunks = dict(self.results[(source[1], None)].outputs[source[2]])
                    self._chunks[(source[1], source[2])] = chunks
                spec = chunks[inv.mapping_key]
            elif kind == "mapped":
                spec = self.results[(source[1], inv.mapping_key)].outputs[source[2]]
            elif kind == "collect":
                deps = self._deps(source, None)
                if len(deps) == 1 and deps[0].node.id == source[1] and deps[0].mapping_key is None:
                    spec = [m for _, m in deps[0].outputs[source[2]]]  # the chunks of a dynamic output
                else:
                    spec = [d.outputs[source[2]] for d in deps]  # a mapped op's output, chunk by chunk
            else:
                spec = self.results[(source[1], None)].outputs[source[2]]
            version = spec.data_version if isinstance(spec, Manifest) else [m.data_version for m in spec]
            out.append((param, spec, version))
        return out

    def _start(self, inv: Invocation, running: Dict[cf.Future, Invocation]) -> None:
        op = inv.node.op
        inputs = self._inputs(inv)
        config, config_hash = self.env.config(op)
        inv.code_version = self.env.code_version(op)
        inv.provenance = op_provenance(op.name, inv.code_version, config_hash,
                                       [(p, version) for p, _spec, version in inputs])
        cached = self._lookup(inv)
        if cached is not None:
            inv.outputs = cached
            self._finish(inv, "cached")
            return
        if self.env.dry_run:
            self._finish(inv, "would_run")
            return
        task = OpTask(key=inv.id, op_name=op.name, op_ref=self._ref(op), run_id=self.env.run_id,
                      provenance=inv.provenance, code_version=inv.code_version, project_dir=self.env.project_dir,
                      definitions=self.env.definitions, store_url=self.env.store.url,
                      store_options=self.env.store.storage_options, inputs=tuple((p, s) for p, s, _v in inputs),
                      config=config, resource_settings=self.env.resource_settings, mapping_key=inv.mapping_key,
                      **self._shared(op))
        self._list(inv)
        future = self.executor.submit(task, run_op_task)
        if future.done():  # in-process: settle now
            self._settle(inv, future)
        else:
            running[future] = inv

    def _shared(self, op: Any) -> Dict[str, Any]:
        if not getattr(self.executor, "shares_memory", False):
            return {}
        return {"op": op, "resources": self.env.resources, "store": self.env.store}

    def _ref(self, op: Any) -> Tuple[str, str]:
        ref = self._refs.get(id(op))
        if ref is None:
            ref = self._refs[id(op)] = op_reference(op)
        return ref

    def _settle(self, inv: Invocation, future: cf.Future) -> None:
        try:
            result: OpResult = future.result()
        except BaseException as exc:  # noqa: BLE001 - a worker that died, a lost Dask connection
            result = OpResult(inv.id, False, error=f"{type(exc).__name__}: {exc}")
        inv.seconds, inv.reads = result.seconds, result.reads
        if not result.ok:
            self._finish(inv, "failed", error=result.error)
            return
        if result.chunks is not None:
            inv.outputs = {inv.node.op.out_names[0]: list(result.chunks)}
        else:
            inv.outputs = dict(result.outputs)
        self._commit(inv)
        self._finish(inv, "ran")

    def _finish(self, inv: Invocation, status: str, error: Optional[str] = None) -> None:
        inv.status = status
        inv.error = error
        self._list(inv)
        if status == "would_run":
            return  # what waits for it stays parked: a dry run cannot decide it
        if inv.node.op.dynamic and status in ("ran", "cached"):
            out = inv.node.op.out_names[0]
            for node in self.mapped.get((inv.node.id, out), ()):  # fan out: one invocation per chunk
                self.queue.extend(self._new(node, key) for key, _ in inv.outputs[out])
        self.queue.extend(self.waiting.pop(inv.node.id, ()))

    def _list(self, inv: Invocation) -> None:
        if not inv.listed:
            inv.listed = True
            self.order.append(inv)

    # -- the action cache ------------------------------------------------------------------
    def _commit(self, inv: Invocation) -> None:
        store = self.env.store
        for out, value in inv.outputs.items():
            if isinstance(value, Manifest):
                store.write_small(store.action_path(_action_id(inv.provenance, out)), value.to_json())
                continue
            for key, chunk in value:
                store.write_small(store.action_path(_action_id(inv.provenance, out, key)), chunk.to_json())
            index = [[key, chunk.artifact] for key, chunk in value]
            store.write_small(store.action_path(_action_id(inv.provenance, out, "<index>")),
                              _index_manifest(store, inv, out, index).to_json())

    def _lookup(self, inv: Invocation) -> Optional[Outputs]:
        """The outputs recorded for the invocation's provenance, unless a file the op read when it made them
        changed since (then it runs again); ``inv.reads`` gets those reads."""
        recorded = self._recorded(inv)
        if recorded is None:
            return None
        found, reads = recorded
        if reads and self._read_versions().changed(self.env.project_dir, reads):
            return None  # made from other bytes of a file it read without declaring it: not this result
        inv.reads = reads
        return found

    def _recorded(self, inv: Invocation) -> Optional[Tuple[Outputs, Reads]]:
        """The outputs in the action cache for the invocation's provenance, with the reads that made them."""
        store = self.env.store
        op = inv.node.op
        if op.dynamic:
            out = op.out_names[0]
            index = store.lookup_action(_action_id(inv.provenance, out, "<index>"))
            if index is None:
                return None
            chunks = []
            for key, _artifact in index.metadata.get("chunks", ()):
                chunk = store.lookup_action(_action_id(inv.provenance, out, key))
                if chunk is None:
                    return None
                chunks.append((key, chunk))
            return {out: chunks}, index.reads
        found: Outputs = {}
        for out in op.out_names:
            manifest = store.lookup_action(_action_id(inv.provenance, out))
            if manifest is None:
                return None
            found[out] = manifest
        return found, manifest.reads  # (every output carries the invocation's reads)

    def _read_versions(self) -> ReadVersions:
        if self._reads is None:
            self._reads = ReadVersions(self.env.store)
        return self._reads


def _index_manifest(store: Store, inv: Invocation, out: str, index: List[List[str]]) -> Manifest:
    """The action-cache entry listing a dynamic output's chunks (their own entries hold their manifests);
    the list is stored as an artifact too, so that the entry is checked like any other."""
    return store_value(store, output_key(inv.node.op.name, out) + "/<index>", index, "json",
                       code_version=inv.code_version or "", provenance=inv.provenance or "",
                       metadata={"chunks": index}, reads=inv.reads)
