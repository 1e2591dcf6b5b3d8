"""Tracing a ``@graph`` body into invocations, and the provenance of each: pure, no IO.

Calling a graph's function with references in place of values records every
op call as a :class:`Node`; each input of a node says where its value comes
from (another node's output, a graph input, a constant, a chunk of a dynamic
output, or all chunks collected). Nodes mapped over a dynamic output are
expanded into one invocation per chunk when that output is known, at run time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from datamake.core.errors import DefinitionError
from datamake.core.hashing import canonical, hash_value
from datamake.ops.definition import GraphDef, OpDef, set_tracer

# Where an input's value comes from: (kind, *details)
#   ("out", node, out)        an output of a node that runs once
#   ("input", name)           an input of the graph
#   ("const", json_text)      a constant written in the graph body
#   ("chunk", node, out)      this invocation's chunk of a dynamic output
#   ("mapped", node, out)     the same chunk's output of another mapped node
#   ("collect", node, out)    every chunk's value (a mapped node's output, or a dynamic output), as a list
Source = Tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """One op invocation in a graph (``mapped_over``: once per chunk of that dynamic output)."""

    id: str
    op: OpDef
    inputs: Tuple[Tuple[str, Source], ...]
    mapped_over: Optional[Tuple[str, str]] = None


@dataclass(frozen=True)
class GraphPlan:
    """A traced graph: its nodes in call order (a topological order) and what it returns."""

    name: str
    nodes: Tuple[Node, ...]
    outputs: Tuple[Tuple[str, Source], ...]

    @property
    def ops(self) -> Dict[str, OpDef]:
        """The ops of the graph by name."""
        return {n.op.name: n.op for n in self.nodes}


@dataclass(frozen=True)
class _Ref:
    source: Source

    def __iter__(self):
        raise DefinitionError(f"cannot unpack the single output of '{self.source[1]}' inside a graph",
                              hint="declare several outputs with @op(out={'a': Out(), 'b': Out()})")

    def __bool__(self) -> bool:
        raise DefinitionError(f"the output of '{self.source[1]}' is not known while the graph is traced",
                              hint="decide inside an op, not in the @graph body")


class OutputRef(_Ref):
    """An op's output inside a graph body."""


@dataclass(frozen=True)
class DynamicRef(_Ref):
    """A dynamic output (or the per-chunk output of a mapped op): ``.map(fn)`` and ``.collect()``."""

    tracer: Any = None

    def map(self, fn: Callable[[Any], Any]) -> "DynamicRef":
        """Run ``fn`` (ops called on the chunk) once per chunk; returns the per-chunk result."""
        return self.tracer.map(self, fn)

    def collect(self) -> OutputRef:
        """Every chunk's value, as one list in chunk order."""
        kind, node, out = self.source[:3]
        return OutputRef(("collect", node, out))


class Tracer:
    """Records the op calls of one graph body."""

    def __init__(self) -> None:
        self.nodes: List[Node] = []
        self.ids: Dict[str, int] = {}
        self.mapping: Optional[Tuple[str, str]] = None  # the dynamic output being mapped over

    def invoke(self, op: OpDef, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        bound = self._bind(op, args, kwargs)
        count = self.ids[op.name] = self.ids.get(op.name, 0) + 1
        node_id = op.name if count == 1 else f"{op.name}_{count}"
        inputs = tuple((param, self._source(op, param, value)) for param, value in bound.items())
        if op.dynamic and self.mapping is not None:
            raise DefinitionError(f"op '{op.name}' has a DynamicOut and is called inside .map()",
                                  hint="nested fan-out is not supported: yield all chunks from one op")
        self.nodes.append(Node(node_id, op, inputs, self.mapping))
        mapped = self.mapping is not None
        refs = [DynamicRef(("mapped", node_id, out), self) if mapped
                else DynamicRef(("chunk", node_id, out), self) if op.dynamic
                else OutputRef(("out", node_id, out)) for out in op.out_names]
        return refs[0] if len(refs) == 1 else tuple(refs)

    def _bind(self, op: OpDef, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        if len(args) > len(op.inputs):
            raise DefinitionError(f"op '{op.name}' takes {len(op.inputs)} inputs ({', '.join(op.inputs)}), "
                                  f"the graph passes {len(args)}")
        bound = dict(zip(op.inputs, args))
        for name, value in kwargs.items():
            if name not in op.inputs or name in bound:
                raise DefinitionError(f"op '{op.name}' got an unexpected or repeated input '{name}'",
                                      hint=f"its inputs are {', '.join(op.inputs) or 'none'}")
            bound[name] = value
        missing = [n for n in op.inputs if n not in bound and n not in op.optional_inputs]
        if missing:
            raise DefinitionError(f"op '{op.name}' is called without its input '{missing[0]}'",
                                  hint="pass every input: the output of another op, a graph input or a constant")
        return bound

    def _source(self, op: OpDef, param: str, value: Any) -> Source:
        if isinstance(value, DynamicRef) and value.source[0] in ("chunk", "mapped"):
            over = (value.source[1], value.source[2]) if value.source[0] == "chunk" else self._over(value.source[1])
            if self.mapping is None or over != self.mapping:
                raise DefinitionError(f"op '{op.name}': input '{param}' is a dynamic output",
                                      hint="use dyn.map(lambda chunk: op(chunk)) or pass dyn.collect()")
            return value.source
        if isinstance(value, _Ref):
            return value.source
        try:
            return ("const", canonical(value).decode())
        except (TypeError, ValueError):
            raise DefinitionError(f"op '{op.name}': input '{param}' is given the constant {value!r}, which is not "
                                  f"JSON-serializable", hint="make an op return it, or pass a plain number, "
                                                             "string, list or dict") from None

    def _over(self, node_id: str) -> Optional[Tuple[str, str]]:
        return next((n.mapped_over for n in self.nodes if n.id == node_id), None)

    def map(self, ref: DynamicRef, fn: Callable[[Any], Any]) -> DynamicRef:
        if self.mapping is not None:
            raise DefinitionError("a .map() inside a .map() is not supported", hint="chain the maps instead")
        kind, node, out = ref.source[:3]
        self.mapping = (node, out) if kind == "chunk" else self._over(node)
        try:
            result = fn(ref)
        finally:
            self.mapping = None
        if not isinstance(result, DynamicRef) or result.source[0] != "mapped":
            raise DefinitionError("the function given to .map() must return the output of an op it called",
                                  hint="e.g. chunks.map(lambda chunk: clean(chunk))")
        return result


def trace(graph: GraphDef, input_names: Sequence[str] = ()) -> GraphPlan:
    """Trace ``graph``'s body into a :class:`GraphPlan`; its inputs are referenced, never read."""
    tracer = Tracer()
    previous = set_tracer(tracer)
    try:
        returned = graph.fn(**{name: OutputRef(("input", name)) for name in graph.inputs})
    finally:
        set_tracer(previous)
    if not tracer.nodes:
        raise DefinitionError(f"graph '{graph.name}' calls no op", hint="call @op functions in its body")
    return GraphPlan(graph.name, tuple(tracer.nodes), _outputs(graph.name, returned))


def _outputs(name: str, returned: Any) -> Tuple[Tuple[str, Source], ...]:
    if returned is None:
        return ()
    if isinstance(returned, _Ref):
        items: List[Tuple[str, Any]] = [("result", returned)]
    elif isinstance(returned, tuple):
        items = [(str(i), r) for i, r in enumerate(returned)]
    elif isinstance(returned, dict):
        items = [(str(k), r) for k, r in returned.items()]
    else:
        raise DefinitionError(f"graph '{name}' returns {returned!r}, which is not an op's output",
                              hint="return an op's output, a tuple or a dict of them, or nothing")
    for key, ref in items:
        if not isinstance(ref, _Ref) or ref.source[0] in ("chunk", "mapped"):
            raise DefinitionError(f"graph '{name}': output '{key}' is not an op's output",
                                  hint="return op outputs; for a dynamic output, return dyn.collect()")
    return tuple((key, ref.source) for key, ref in items)


# -- provenance -----------------------------------------------------------------------------

def const_version(json_text: str) -> str:
    """The data version of a constant written in a graph body."""
    return hash_value("const", json.loads(json_text))


def op_provenance(op_name: str, code_version: str, config_hash: Optional[str],
                  inputs: Sequence[Tuple[str, Any]]) -> str:
    """The cache key of one op invocation: its op, code version, config and each input's data
    version (a list of versions for a collected input). Where it sits in a graph does not count."""
    return hash_value("op-provenance", op_name, code_version, config_hash, sorted([p, v] for p, v in inputs))
