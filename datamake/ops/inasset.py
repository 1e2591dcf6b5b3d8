"""Running a ``@graph_asset``'s graph inside the asset's own task."""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Tuple

from datamake.core.errors import DatamakeError
from datamake.core.manifest import Manifest
from datamake.define.loader import definition_roots, load_definitions
from datamake.execution.executors import InProcessExecutor
from datamake.history import opevents
from datamake.history.events import History
from datamake.ops.api import row
from datamake.ops.definition import GraphDef
from datamake.ops.runner import GraphRunner, OpEnv
from datamake.ops.trace import trace
from datamake.ops.versions import OpVersions
from datamake.ops.work import store_value


def run_in_asset(graph: GraphDef, op_config: Mapping[str, Mapping[str, Any]], context: Any,
                 values: Mapping[str, Any], output: Optional[Tuple[str, int]] = None) -> Any:
    """Run ``graph`` with the store, inputs and run id of the asset task behind ``context``;
    returns the graph's output value. Op invocations are recorded with the asset's key.

    An input the task has a manifest for (an upstream asset) is passed by that
    manifest; another (a source's value) is stored first, so it has a data version."""
    task = getattr(context, "_task", None)
    if task is None:
        raise DatamakeError(f"graph asset '{graph.name}' is built by datamake make, not called directly")
    plan = trace(graph)
    source = _output_source(plan, output)
    defs = load_definitions(task.project_dir, task.definitions)
    versions = OpVersions(definition_roots(task.project_dir, task.definitions),
                          {n: r.version for n, r in defs.resources.items()}, op_config)
    store = context._store
    env = OpEnv(store=store, project_dir=task.project_dir, definitions=task.definitions, run_id=task.run_id,
                code_version=versions.code_version, config=versions.config,
                resource_settings=task.resource_settings, resources=task.resources,
                graph_inputs=_graph_inputs(task, store, values))
    invocations = GraphRunner(plan, env, InProcessExecutor()).run()
    _record(task, graph.name, invocations)
    watch = getattr(context, "_watch", None)
    if watch is not None:  # what restored op results read when they were made is the asset's read too
        watch.add_restored([read for i in invocations if i.status == "cached" for read in i.reads])
    failed = [i for i in invocations if i.status == "failed"]
    if failed:
        raise DatamakeError(f"op '{failed[0].id}' failed: {failed[0].error}")
    _kind, node, out = source[:3]
    return store.load(next(i for i in invocations if i.node.id == node and i.mapping_key is None).outputs[out])


def _output_source(plan: Any, output: Optional[Tuple[str, int]]) -> Any:
    """Where the asset's value comes from: the graph's one output, or the named one of several
    (checked when the asset was defined)."""
    found = dict(plan.outputs)
    if output is None:
        return plan.outputs[0][1]
    return found.get(output[0], found.get(str(output[1])))


def _graph_inputs(task: Any, store: Any, values: Mapping[str, Any]) -> Dict[str, Manifest]:
    inputs = {param: spec for param, spec in task.inputs if isinstance(spec, Manifest)}
    for param, value in values.items():
        if param not in inputs:  # a source's value (a local file by its content): stored, to have a data version
            local_file = isinstance(value, str) and os.path.isfile(value)
            inputs[param] = store_value(store, f"{task.key}:{param}", value, "file" if local_file else None, task)
    return inputs


def _record(task: Any, graph: str, invocations: list) -> None:
    if task.history_file is None:  # a make that records no history
        return
    history = History(task.history_file)
    try:
        opevents.record(history, [row(i, graph, task.run_id, asset=task.key) for i in invocations])
    finally:
        history.close()
