"""``run_graph``: run a graph of ops against a project's store, and record its invocations.

Example::

    import datamake.api as dm
    from datamake.ops import run_graph
    result = run_graph(dm.load("."), my_graph, config={"fetch": {"limit": 10}})
    assert result["status"] == "ok"
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Union

from datamake.core.errors import DefinitionError, SelectionError, did_you_mean
from datamake.define.loader import definition_roots
from datamake.execution.coordinator import new_run_id
from datamake.execution.executors import make_executor
from datamake.history import opevents
from datamake.history.events import History, command_line, history_path
from datamake.history.tags import run_tags as run_tags_of
from datamake.ops.definition import GraphDef, check_config_names
from datamake.ops.runner import GraphRunner, Invocation, OpEnv
from datamake.ops.trace import GraphPlan, trace
from datamake.ops.versions import OpVersions
from datamake.storage.lock import store_lock

def run_graph(project: Any, graph: Union[GraphDef, str], *, config: Optional[Mapping[str, Mapping[str, Any]]] = None,
              executor: Optional[str] = None, jobs: Optional[int] = None, dry_run: bool = False,
              run_tags: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Run ``graph`` (a ``@graph`` or the name of one in the definitions module) in ``project``.

    Each op invocation whose provenance is in the action cache is restored, not
    run. ``config`` maps op names to their config values; ``executor`` and
    ``jobs`` default to the project's. ``dry_run`` runs nothing and reports
    what is cached (an op after one that would run cannot be decided yet).
    Returns ``{"graph", "status": "ok"|"failed", "run_id", "ops": [{"op",
    "invocation", "status": "ran"|"cached"|"failed"|"skipped", "seconds", "error"}],
    "warnings": [...]}``; the warnings name what an op reads that its code version cannot
    cover (sound or loud, as for assets).
    """
    graph = find_graph(project, graph) if isinstance(graph, str) else graph
    if not isinstance(graph, GraphDef):
        raise DefinitionError(f"run_graph() takes a @graph, got {graph!r}", hint="decorate the function with @graph")
    plan = trace(graph)
    if graph.inputs:
        raise DefinitionError(f"graph '{graph.name}' has inputs ({', '.join(graph.inputs)}); a graph run on its own "
                              f"takes none", hint="compute them with ops, or put the graph behind an asset with "
                                                  "@graph_asset so that upstream assets feed it")
    check_config_names(config, plan.ops, graph.name)
    versions = project_versions(project, config)
    run_id = new_run_id()
    env = OpEnv(store=project.store, project_dir=project.directory, definitions=project.config.definitions,
                run_id=run_id, code_version=versions.code_version, config=versions.config,
                resource_settings=project.config.resources, dry_run=dry_run)
    for op in plan.ops.values():  # config errors are exit 2 before anything runs
        versions.config(op)
        versions.code_version(op)
    project.save_code_cache()
    warnings = [f"op {name} {w}" for name, found in sorted(versions.warnings.items()) for w in found]
    if dry_run:
        return {**_report(graph.name, run_id, GraphRunner(plan, env).run()), "warnings": warnings}
    tags = run_tags_of(run_tags)  # a bad DATAMAKE_RUN_TAGS is a usage error before anything runs
    with store_lock(project.store, "datamake run"):
        return {**_run_recorded(project, plan, env, executor, jobs, tags), "warnings": warnings}


def project_versions(project: Any, config: Optional[Mapping[str, Mapping[str, Any]]] = None) -> OpVersions:
    """Op code versions followed through the project's own folders, with its resources' versions."""
    roots = definition_roots(project.directory, project.config.definitions)
    return OpVersions(roots, {n: r.version for n, r in project.defs.resources.items()}, config)


def _run_recorded(project: Any, plan: GraphPlan, env: OpEnv, executor: Optional[str], jobs: Optional[int],
                  tags: Mapping[str, Any]) -> Dict[str, Any]:
    runner_pool = make_executor(executor or project.config.executor, jobs or project.config.jobs,
                                project.config.dask_address)
    store = project.store
    path = history_path(project.directory, project.config.history_url, store.root, store.is_local)
    history = History(path)
    started, clock = time.time(), time.perf_counter()
    try:
        history.begin_run(env.run_id, [plan.name], command_line(), started, tags=tags)
        invocations: List[Invocation] = []
        status = "error"
        try:
            invocations = GraphRunner(plan, env, runner_pool).run()
            status = "failed" if any(i.status == "failed" for i in invocations) else "ok"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            runner_pool.shutdown(cancel=status != "ok" and status != "failed")
            store.save_state()
            opevents.record(history, [row(i, plan.name, env.run_id) for i in invocations])
            counts: Dict[str, int] = {}
            for inv in invocations:
                counts[inv.status] = counts.get(inv.status, 0) + 1
            history.finish_run(env.run_id, status, counts, time.perf_counter() - clock)
    finally:
        history.close()
    return _report(plan.name, env.run_id, invocations)


def row(inv: Invocation, graph: str, run_id: str, asset: Optional[str] = None) -> Dict[str, Any]:
    """The event-log row of one invocation."""
    outputs = {name: (value.data_version if hasattr(value, "data_version") else [[k, m.data_version] for k, m in value])
               for name, value in inv.outputs.items()}
    return {"run_id": run_id, "ts": time.time(), "graph": graph, "asset": asset, "op": inv.node.op.name,
            "invocation": inv.id, "status": inv.status, "code_version": inv.code_version,
            "provenance": inv.provenance, "outputs": outputs, "seconds": inv.seconds, "error": inv.error}


def _report(name: str, run_id: str, invocations: List[Invocation]) -> Dict[str, Any]:
    ops = []
    for inv in invocations:
        entry = inv.to_dict()
        if inv.status == "would_run":
            entry.update(status="skipped", would_run=True)
        ops.append(entry)
    failed = any(i.status == "failed" for i in invocations)
    return {"graph": name, "status": "failed" if failed else "ok", "run_id": run_id, "ops": ops}


def find_graph(project: Any, name: str) -> GraphDef:
    """The ``@graph`` called ``name`` among the module-level names of the project's definitions module."""
    ref = project.config.definitions
    module_name = os.path.splitext(os.path.basename(ref))[0] if ref.endswith(".py") else ref
    module = sys.modules.get(module_name)
    found = {g.name: g for g in vars(module).values() if isinstance(g, GraphDef)} if module else {}
    if name not in found:
        raise SelectionError(f"no graph named '{name}' in {ref}",
                             hint=did_you_mean(name, found) or "define it at module level with @graph")
    return found[name]
