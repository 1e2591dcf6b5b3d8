"""The Python API behind every command; each function returns plain data.

Example::

    import datamake.api as dm
    project = dm.load(".")
    result = dm.make(project, ["report"], jobs=2)
    print(result.counts())
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .codeversion import changed_parts
from .errors import NotMaterializedError
from .execution.coordinator import Coordinator, RunOptions
from .execution.executors import make_executor
from .execution.reporters import Reporter
from .execution.results import RunResult
from .planner import Plan
from .project import Project


def load(start: str = ".", config: Optional[Dict[str, Dict[str, Any]]] = None) -> Project:
    """Load the project whose ``datamake.toml`` is at or above ``start``.

    ``config`` overrides asset config values: ``{"clean": {"min_qty": 3}}``.
    """
    return Project.load(start, config)


def status(project: Project, selection: Sequence[str] = (), only: bool = False, force: bool = False) -> Plan:
    """What ``make`` would do and why, without doing it."""
    return project.scope(selection, only=only, force=force).plan


def make(
    project: Project,
    selection: Sequence[str] = (),
    *,
    jobs: Optional[int] = None,
    executor: Optional[str] = None,
    keep_going: bool = False,
    force: bool = False,
    only: bool = False,
    reporter: Optional[Reporter] = None,
    resources: Optional[Dict[str, Any]] = None,
) -> RunResult:
    """Bring the selection (and the upstream it needs) up to date.

    ``resources`` replaces named resources for this run (in-process and
    thread executors only: objects do not travel to other processes).
    """
    from .execution.tasks import override_resources

    override_resources(resources or {})
    scope = project.scope(selection, only=only, force=force)
    jobs = jobs or project.config.jobs
    name = executor or project.config.executor
    runner = make_executor(name, jobs, project.config.dask_address)
    options = RunOptions(keep_going=keep_going, force=force, only=only)
    return Coordinator(project, scope, runner, reporter or Reporter(), options).run()


def why(project: Project, key: str) -> Dict[str, Any]:
    """A detailed explanation of one asset's state: recorded vs current versions of everything."""
    project.asset(key)
    scope = project.scope([key])
    decision = scope.plan[key]
    manifest = scope.manifests.get(key)
    cv = project.code_version(key)
    inputs = []
    recorded = manifest.input_versions if manifest else {}
    for dep in project.graph.deps[key]:
        if dep in scope.sources:
            inputs.append({"key": dep, "kind": "source", "recorded": recorded.get(dep),
                           "current": scope.outside.get(dep), "state": "observed"})
            continue
        dep_manifest = scope.manifests.get(dep)
        inputs.append({
            "key": dep,
            "kind": "asset",
            "recorded": recorded.get(dep),
            "current": dep_manifest.data_version if dep_manifest else None,
            "state": scope.plan[dep].state,
        })
    return {
        "key": key,
        "state": decision.state,
        "reasons": [r.to_dict() for r in decision.reasons],
        "code_version": {"current": cv.value, "origin": cv.origin, "recorded": manifest.code_version if manifest else None,
                         "drifted": cv.drifted,
                         "changed_parts": changed_parts(manifest.code_parts, cv.parts) if manifest and manifest.code_parts else []},
        "config": {"current": scope.facts[key].config_hash, "recorded": manifest.config_hash if manifest else None},
        "inputs": inputs,
        "materialization": None if manifest is None else {
            "run_id": manifest.run_id, "created": manifest.created, "data_version": manifest.data_version,
            "size": manifest.size, "io_manager": manifest.io_manager, "seconds": manifest.seconds,
        },
    }


def ls(project: Project) -> List[Dict[str, Any]]:
    """Every asset with its dependencies, group and code version."""
    rows = []
    for key in project.graph.order:
        if key in project.defs.sources:
            src = project.defs.sources[key]
            rows.append({"key": key, "kind": "source", "deps": [], "group": src.group, "code_version": None,
                         "pinned": False, "pin_origin": None, "drifted": False, "description": src.description,
                         "url": src.url})
            continue
        a = project.defs.assets[key]
        cv = project.code_version(key)
        rows.append({
            "key": key,
            "kind": "asset",
            "deps": list(project.graph.deps[key]),
            "group": a.group,
            "code_version": cv.value,
            "pinned": cv.origin != "auto",
            "pin_origin": cv.origin,
            "drifted": cv.drifted,
            "description": a.description,
        })
    return rows


def show(project: Project, key: str) -> Any:
    """The current materialized value of ``key`` (its hash is verified)."""
    project.asset(key)
    manifest = project.current_manifest(key)
    if manifest is None:
        raise NotMaterializedError(f"'{key}' has never been materialized", hint=f"run `datamake make {key}`")
    return project.store.load(manifest)
