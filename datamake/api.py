"""The Python API behind every command; each function returns plain data.

Example::

    import datamake.api as dm
    project = dm.load(".")
    result = dm.make(project, ["report"], jobs=2)
    print(result.counts())
"""
from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from datamake.define.codeversion import changed_parts
from datamake.core.errors import ConfigError, DatamakeError, NotMaterializedError, SelectionError, did_you_mean
from datamake.core.keys import node_id
from datamake.core.manifest import config_record
from datamake.core.nodegraph import Expander
from datamake.execution.coordinator import Coordinator, RunOptions
from datamake.execution.history_reporter import HistoryReporter
from datamake.execution.idle import IdleExecutor
from datamake.execution.reporters import Reporter
from datamake.execution.results import RunResult
from datamake.execution.runcontext import RunContext
from datamake.core.planner import Plan, keeps_value
from datamake.core.records import field_values
from datamake.project.workspace import Project
from datamake.history.events import MATERIALIZATIONS, HistoryError, history_path, parse_older_than, reading
from datamake.history.tags import run_tags
from datamake.storage.lock import store_lock

__all__ = ["activity", "add_partitions", "changed", "dynamic_partitions", "gc", "graph", "history_file", "jobs", "lineage",
           "load", "log", "ls", "make", "named_sources", "preview", "prune_log", "pull", "push", "remove_partitions",
           "run_job", "show", "show_value", "status", "why"]


def load(start: str = ".", config: Optional[Dict[str, Dict[str, Any]]] = None) -> Project:
    """Load the project whose ``datamake.toml`` is at or above ``start``.

    ``config`` overrides asset config values: ``{"clean": {"min_qty": 3}}``.
    """
    return Project.load(start, config)


def changed(project: Project, since: float) -> bool:
    """True when the project's code, ``datamake.toml``, pins or params file changed on disk after
    ``since`` (a ``time.time()`` taken before ``project`` was loaded): a long-lived process then loads it again."""
    return project.changed_since(since)


def status(project: Project, selection: Sequence[str] = (), only: bool = False, force: bool = False,
           partition: Optional[str] = None, verify: bool = False) -> Plan:
    """What ``make`` would do and why, without doing it.

    ``partition`` narrows partitioned assets: ``2024-01-05``,
    ``2024-01-01...2024-01-31`` (inclusive), ``region=eu``, or several joined by commas.
    ``verify``: look at every partition's manifest and artifact file, as ``make`` does, instead of
    the per-asset summaries kept for partitioned assets (slower over many partitions; it also sees
    a file changed in place, which folder stats cannot).
    """
    from datamake.bulkstatus import gather as bulk_status  # lazy: a make does not use it

    compact = None if verify else bulk_status.status(project, selection, only=only, force=force, partition=partition)
    return compact if compact is not None else project.scope(selection, only=only, force=force, partition=partition).plan


def named_sources(project: Project, selection: Sequence[str], partition: Optional[str] = None) -> List[Dict[str, Any]]:
    """The sources ``selection`` names, one row per source (or partition of one): ``key``, ``partition``,
    ``url`` and its observed ``version`` (None: no file). What ``status`` reports of a source, which
    datamake observes and never builds."""
    from datamake.core.nodegraph import selection_partitions
    from datamake.define.sources import source_at
    from datamake.storage.observe import SourceError, observe_all

    sources = project.defs.sources
    keys = [k for k in project.selected_keys(selection, partition=partition) if k in sources]
    if not keys:
        return []
    expander = Expander(project.defs, project.graph, datetime.datetime.now(datetime.timezone.utc))
    chosen = selection_partitions(expander, keys, partition)
    nodes = {node_id(key, pk): (key, pk) for key in keys
             for pk in (expander.partition_keys(key) if chosen[key] is None else chosen[key])}
    versions = observe_all({n: source_at(sources, n) for n, (_, pk) in nodes.items() if pk is not None},
                           project.store, gaps=True)  # a partition without its file: None
    for node, (_, pk) in nodes.items():
        if pk is None:
            try:
                versions.update(observe_all({node: sources[node]}, project.store))
            except SourceError as exc:
                if not exc.missing:
                    raise
                versions[node] = None
    return [{"key": key, "partition": pk, "url": source_at(sources, node).url, "version": versions[node]}
            for node, (key, pk) in nodes.items()]


def graph(project: Project, selection: Sequence[str] = (), only: bool = False) -> Dict[str, Any]:
    """The selection (with its upstream, unless ``only``) as ``{"nodes": [...], "edges": [...]}``,
    each asset with its state from the planner (see :func:`datamake.core.graphview.graph_view`)."""
    from datamake.core.graphview import graph_view  # lazy: only this command draws

    plan = status(project, selection, only=only)
    return graph_view(project.graph, plan.decisions, project.defs.sources, project.graph.groups)


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
    history: bool = True,
    partition: Optional[str] = None,
    tags: Optional[Dict[str, Any]] = None,
    on_end: Optional[Callable[[RunResult], None]] = None,
) -> RunResult:
    """Bring the selection (and the upstream it needs) up to date.

    ``resources`` replaces named resources for this run (in-process and
    thread executors only: objects do not travel to other processes).
    ``history=False`` leaves the run out of the event log. ``tags`` are
    recorded with the run, together with those in ``DATAMAKE_RUN_TAGS``
    (see :mod:`datamake.history.tags`; the variable's win). ``on_end`` is
    called with the result while the store lock is still held.
    """
    reporter = reporter or Reporter()
    tags = run_tags(tags)  # a bad DATAMAKE_RUN_TAGS is a usage error before anything runs

    def waiting(holder) -> None:
        reporter.message(f"datamake: waiting for {holder.describe()}, which is running on the store "
                         f"{project.store.url} (press Ctrl-C to give up)")

    # One make at a time on a local store: the second waits, then plans what is still stale.
    with store_lock(project.store, on_wait=waiting):
        result = _make_locked(project, selection, jobs, executor, keep_going, force, only, reporter, resources,
                              history, partition, tags)
        if on_end is not None:
            on_end(result)
        return result


def _make_locked(project, selection, jobs, executor, keep_going, force, only, reporter, resources, history,
                 partition, tags) -> RunResult:
    scope = project.made_scope = project.scope(selection, only=only, force=force, partition=partition)
    jobs = jobs or project.config.jobs
    name = executor or project.config.executor
    if force or any(not keeps_value(d.reasons) for d in scope.plan.decisions):
        from datamake.execution.executors import make_executor  # lazy: a no-op imports no executor

        runner = make_executor(name, jobs, project.config.dask_address)
        for warning in getattr(runner, "warnings", ()):  # (the process executor's: threads its workers lack)
            reporter.message(f"datamake: warning: {warning}")
    else:  # nothing to run: no worker processes, threads or cluster to start
        runner = IdleExecutor()
    options = RunOptions(keep_going=keep_going, force=force, only=only)
    recorder = _recorder(project, selection, tags) if history else None
    remote, lease = _open_remote(project, scope, force)
    project.store.partition_writes.clear()  # what an earlier, interrupted run wrote is not vouched for
    try:
        result = Coordinator(_run_context(project, scope, resources), scope, runner, reporter, options,
                             history=recorder, remote=remote).run()
        if project.store.partition_writes:
            from datamake.bulkstatus.extend import after_make  # lazy: only after partitions were written

            after_make(project)
        _check_out(project, scope)
        return result
    except BaseException as exc:
        if recorder is not None:
            recorder.abort(exc)
        raise
    finally:
        _close_remote(project, remote, lease)


def _run_context(project: Project, scope, resources: Optional[Dict[str, Any]]) -> RunContext:
    """What the coordinator needs from ``project`` for a run over ``scope``."""
    keys = {facts.key for facts in scope.facts.values()}
    return RunContext(
        project_dir=project.directory,
        definitions=project.config.definitions,
        defs=project.defs,
        store=project.store,
        resource_settings=project.config.resources,
        resources=dict(resources or {}),
        code_parts={key: project.code_version(key).parts for key in keys},
        check_versions={key: project.check_versions(key) for key in keys if key in project.defs.checks},
    )


def _check_out(project: Project, scope) -> None:
    """Bring each ``@asset(path=...)`` of the scope up to date at its workspace path."""
    keys = {facts.key for facts in scope.facts.values()}
    assets = [project.defs.assets[k] for k in sorted(keys) if project.defs.assets[k].path]
    if assets:
        from datamake.checkout.outputs import check_out  # lazy: only projects with path= outputs

        check_out(project.store, assets, project.directory)


def _open_remote(project: Project, scope, force: bool):
    """The remote cache prepared for this run (or None), and the lease a run on a bucket store holds."""
    stale = force or any(d.stale for d in scope.plan.decisions)
    lease = None
    if stale and not project.store.is_local:
        from datamake.storage.gc import Lease  # lazy: only a run that writes to a bucket store holds one

        lease = Lease(project.store, "datamake make").acquire()
    remote = _remote_cache_of(project)
    if remote is not None and stale and not force:
        remote.prepare(scope, project.store)
    return remote, lease


def _close_remote(project: Project, remote, lease) -> None:
    if remote is not None:
        remote.close(project.store)
    if lease is not None:
        lease.release()


def history_file(project: Project) -> str:
    """The path of the project's SQLite event log (it may not exist yet)."""
    store = project.store
    return history_path(project.directory, project.config.history_url, store.root, store.is_local)


def _recorder(project: Project, selection: Sequence[str], tags: Dict[str, Any]):
    return HistoryReporter(history_file(project), selection, warn=project.store.warnings.append, tags=tags)


def why(project: Project, key: str, partition: Optional[str] = None) -> Dict[str, Any]:
    """A detailed explanation of one asset's (or one partition's) state: recorded vs current
    versions of everything."""
    _check_partition_arg(project, key, partition, "why")
    node = node_id(key, partition)
    scope = project.scope([f"key:{key}"], partition=partition)  # key: an asset may be called 'not' or 'and'
    if node not in scope.facts:
        raise SelectionError(f"'{key}' has no partition '{partition}'", hint=f"`datamake status {key}` lists them")
    decision = scope.plan[node]
    manifest = scope.manifests.get(node)
    cv = project.code_version(key)
    inputs = []
    recorded = manifest.input_versions if manifest else {}
    for dep in scope.facts[node].deps:
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
        "partition": partition,
        "state": decision.state,
        "reasons": [r.to_dict() for r in decision.reasons],
        "code_version": {"current": cv.value, "origin": cv.origin, "recorded": manifest.code_version if manifest else None,
                         "drifted": cv.drifted,
                         "changed_parts": _changed_parts(manifest, cv)},
        "config": {"current": scope.facts[node].config_hash, "recorded": manifest.config_hash if manifest else None,
                   "changed_fields": _changed_fields(manifest, scope.configs.get(key))},
        "warnings": project.code_warnings([key]),
        "inputs": inputs,
        "ops": (_from_history(project, lambda history: _opevents().invocations(history, asset=key)) or [])
        if manifest is not None else [],  # a graph asset's op invocations in the run that built it
        "materialization": None if manifest is None else {
            "run_id": manifest.run_id, "created": manifest.created, "data_version": manifest.data_version,
            "size": manifest.size, "io_manager": manifest.io_manager, "seconds": manifest.seconds,
            "run": _produced_by(project, manifest),
        },
    }


def _changed_fields(manifest, instance) -> List[Dict[str, Any]]:
    """The config fields whose value differs from the recorded build's: name, recorded and current value."""
    if manifest is None or manifest.config_hash is None and instance is None:
        return []
    current = config_record(field_values(instance) if instance is not None else {})
    recorded = dict(manifest.config)
    if not recorded and manifest.config_hash is not None:
        return []  # built before config values were recorded: only the hashes can be compared
    return [{"field": name, "recorded": recorded.get(name), "current": current.get(name)}
            for name in sorted({*recorded, *current}) if recorded.get(name) != current.get(name)]


def _changed_parts(manifest, cv) -> List[str]:
    """The code parts that changed since the recorded build (only the definition parts when pinned)."""
    if manifest is None or not manifest.code_parts:
        return []
    if cv.origin == "auto":
        return changed_parts(manifest.code_parts, cv.parts)
    recorded = {n: v for n, v in manifest.code_parts.items() if n in cv.definition_parts or n.startswith("<definition:")}
    return changed_parts(recorded, cv.definition_parts)


def _check_partition_arg(project: Project, key: str, partition: Optional[str], command: str) -> None:
    a = project.asset(key)
    if a.partitions is not None and partition is None:
        raise SelectionError(f"'{key}' is partitioned: say which partition", hint=f"datamake {command} {key} -p KEY")
    if a.partitions is None and partition is not None:
        raise SelectionError(f"'{key}' is not partitioned", hint=f"datamake {command} {key}")


def ls(project: Project, selection: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """The assets ``selection`` names (default: every asset) with their dependencies, group, tags and code version."""
    rows = []
    selected = project.select(selection) if selection else None
    for key in project.graph.order:
        if selected is not None and key not in selected:
            continue
        if key in project.defs.sources:
            src = project.defs.sources[key]
            rows.append({"key": key, "kind": "source", "deps": [], "group": src.group, "code_version": None,
                         "pinned": False, "pin_origin": None, "drifted": False, "description": src.description,
                         "url": src.url, "tags": {}, "partitions": _partitions_detail(src.partitions)})
            continue
        a = project.defs.assets[key]
        cv = project.code_version(key)
        rows.append({
            "key": key,
            "kind": "asset",
            "deps": list(project.graph.deps[key]),
            "group": a.group,
            "code_version": cv.value,
            "pinned": cv.origin in ("code", "pin"),
            "pin_origin": cv.origin,
            "drifted": cv.drifted,
            "description": a.description,
            "tags": dict(a.tags),
            **_ls_details(project, key),
        })
    return rows


def _ls_details(project: Project, key: str) -> Dict[str, Any]:
    """What ``ls`` adds about an asset: its partitions (and how many exist now), config values, resources."""
    config, _hash = project.asset_config(key)
    values = field_values(config) if config is not None else None
    return {"partitions": _partitions_detail(project.defs.assets[key].partitions), "config": values,
            "resources": sorted(project.defs.resource_params[key])}


def _partitions_detail(pdef) -> Optional[Dict[str, Any]]:
    if pdef is None:
        return None
    from datamake.core.partitions import label as partition_label  # lazy: only partitioned assets have one

    return {"definition": partition_label(pdef), "count": len(pdef.keys(datetime.datetime.now(datetime.timezone.utc)))}


def show(project: Project, key: str, partition: Optional[str] = None) -> Any:
    """The current materialized value of ``key`` (of one partition of it), its hash verified."""
    return show_value(project, key, partition)[0]


def show_value(project: Project, key: str, partition: Optional[str] = None) -> Tuple[Any, str]:
    """:func:`show`, and the name of the IO manager that stored the value (``json``, ``pickle``...)."""
    a = project.asset(key)
    if a.partitions is not None and partition is None:
        raise SelectionError(f"'{key}' is partitioned: say which partition", hint=f"datamake show {key} -p KEY")
    if a.partitions is None and partition is not None:
        raise SelectionError(f"'{key}' is not partitioned", hint=f"datamake show {key}")
    if partition is not None:
        known = a.partitions.keys(datetime.datetime.now(datetime.timezone.utc))
        if partition not in known:
            sample = ", ".join(known[:3]) + (" … " + known[-1] if len(known) > 3 else "")
            raise SelectionError(f"'{key}' has no partition '{partition}'", hint=f"its partitions are {sample or 'none yet'}")
    manifest = project.current_manifest(key, partition)
    if manifest is None:
        what = f"'{key}' partition {partition}" if partition else f"'{key}'"
        flag = f" -p {partition}" if partition else ""
        raise NotMaterializedError(f"{what} has never been materialized", hint=f"run `datamake make {key}{flag}`")
    return project.store.load(manifest), manifest.io_manager


# -- dynamic partitions: keys added at run time (see datamake.storage.partitionstate) ----------

def dynamic_partitions(project: Project, name: Optional[str] = None) -> Dict[str, List[str]]:
    """Each dynamic partitions definition of the project (or only ``name``), with its keys in the order added."""
    if name is not None:
        _dynamic_name(project, name)
    return {each: list(pdefs[0].known) for each, pdefs in sorted(project.dynamic_partitions().items())
            if name in (None, each)}


def add_partitions(project: Project, name: str, keys: Sequence[str]) -> List[str]:
    """Add partition keys to the dynamic partitions ``name`` (one per arriving file, say); returns the new ones.

    The keys are stored with the project's state, so every later command (and
    every teammate on the same store) sees them; ``project`` sees them at once.
    """
    from datamake.storage import partitionstate  # lazy: only the partitions command changes them

    _dynamic_name(project, name)
    added = partitionstate.add_dynamic(project.store, name, keys)
    project.bind_dynamic_partitions()
    return added


def remove_partitions(project: Project, name: str, keys: Sequence[str]) -> List[str]:
    """Remove partition keys from the dynamic partitions ``name``; returns those that were there."""
    from datamake.storage import partitionstate  # lazy: only the partitions command changes them

    _dynamic_name(project, name)
    removed = partitionstate.remove_dynamic(project.store, name, keys)
    project.bind_dynamic_partitions()
    return removed


def _dynamic_name(project: Project, name: str) -> None:
    known = project.dynamic_partitions()
    if name not in known:
        raise SelectionError(f"no dynamic partitions are called '{name}'",
                             hint=did_you_mean(name, known) or (f"the project has {', '.join(sorted(known))}" if known
                                  else 'declare them: @asset(partitions=DynamicPartitions("NAME"))'))


def preview(project: Project, key: str, partition: Optional[str] = None, offset: int = 0,
            limit: int = 50) -> Dict[str, Any]:
    """A page of ``key``'s current value for display: a table's schema and rows ``offset`` to
    ``offset + limit`` (read by Parquet row group, never the whole artifact), or a text's first bytes."""
    _check_partition_arg(project, key, partition, "show")
    manifest = project.current_manifest(key, partition)
    if manifest is None:
        raise NotMaterializedError(f"'{key}' has never been materialized", hint=f"run `datamake make {key}`")
    from datamake.storage import preview as preview_mod  # lazy: a make does not show values

    data = preview_mod.preview(project.store, manifest, offset, limit)
    return {"key": key, "partition": partition, "io_manager": manifest.io_manager, "size": manifest.size, **data}


def _remote_cache_of(project: Project):
    """The project's remote cache, or None without ``[cache] remote``."""
    if not project.config.cache_remote:
        return None
    from datamake.storage.remote import RemoteCache  # lazy: most projects have no remote cache

    return RemoteCache.from_config(project.config)


def _remote_cache(project: Project):
    remote = _remote_cache_of(project)
    if remote is None:
        raise ConfigError(f"{project.config.path}: no remote cache configured ([cache] remote)",
                          hint='add e.g.\n  [cache]\n  remote = "s3://bucket/datamake"')
    return remote


def _sync_keys(project: Project, selection: Sequence[str]) -> List[str]:
    """The nodes (``key`` or ``key[partition]``) of the selection and its upstream, sources left out."""
    return list(project.scope_nodes(selection))


def push(project: Project, selection: Sequence[str] = ()) -> Dict[str, Any]:
    """Upload what the remote cache lacks for the selection and its upstream; returns a report."""
    remote = _remote_cache(project)
    keys = _sync_keys(project, selection)
    manifests = project.store.read_manifests(keys)
    report = remote.push([m for m in manifests.values() if m is not None], project.store)
    report.assets.extend({"key": k, "outcome": "not_materialized", "data_version": None}
                         for k in keys if manifests[k] is None)
    return report.to_dict()


def pull(project: Project, selection: Sequence[str] = ()) -> Dict[str, Any]:
    """Fetch the remote's current versions of the selection and its upstream, without computing."""
    remote = _remote_cache(project)
    keys = _sync_keys(project, selection)
    from datamake.storage.gc import writing  # lazy: see _remote_cache_of

    with store_lock(project.store, "datamake pull"), writing(project.store, "datamake pull"):
        return remote.pull(keys, project.store).to_dict()


def gc(project: Project, *, remote: bool = False, dry_run: bool = False, retention: Optional[float] = None,
       on_wait=None) -> Dict[str, Any]:
    """Delete unreferenced artifacts and action-cache entries older than ``retention`` seconds."""
    store = _remote_cache(project).store if remote else project.store
    # the effective pinned versions (a pin plus the asset's definition arguments) are what manifests record
    pins = {key: project.code_version(key).value if key in project.defs.assets else pin.code_version
            for key, pin in project.pins.items()}
    from datamake.storage import gc as gc_mod  # lazy: only `datamake gc`

    keep = gc_mod.DEFAULT_RETENTION if retention is None else retention
    return gc_mod.collect(store, pins, keep, dry_run=dry_run, on_wait=on_wait).to_dict()


# -- history: runs, materializations, lineage (see datamake.history.events) ----------

def _history(project: Project):
    """``with _history(project) as history:`` the event log for reading (see :func:`events.reading`)."""
    return reading(history_file(project))


def log(project: Project, key: Optional[str] = None, *, run_id: Optional[str] = None, limit: int = 20,
        every: bool = False, partition: Optional[str] = None, job: Optional[str] = None) -> Dict[str, Any]:
    """Recent runs (``job``: of that job only); or one asset's materializations (``key``); or one run's
    events (``run_id``).

    ``every`` also lists an asset's ``skipped`` and ``started`` events; ``partition`` narrows
    a partitioned asset's history to one partition.
    """
    if job is not None and (key is not None or run_id is not None):
        raise SelectionError("--job lists the runs of a job; it does not go with ASSET or --run",
                             hint="datamake log --job JOB")
    if partition is not None:
        if key is None:
            raise SelectionError("--partition needs an asset", hint="datamake log ASSET -p KEY")
        _check_partition_arg(project, key, partition, "log")

    with _history(project) as history:
        if key is not None and key not in project.graph and not (history is not None and history.events(asset=key, limit=1)):
            project.asset(key)  # an unknown key, never recorded: SelectionError with a did-you-mean hint
        if run_id is not None:
            run = history.run(run_id) if history is not None else None
            if run is None:
                raise SelectionError(f"no run '{run_id}' in the event log", hint="`datamake log` lists the runs")
            return {"run": run, "events": history.events(run_id=run_id), "ops": _opevents().invocations(history, run_id)}
        if key is not None:
            kinds = (*MATERIALIZATIONS, "skipped", "started") if every else MATERIALIZATIONS
            if history is None:
                rows = []
            elif partition is None:
                rows = history.materializations(key, limit, kinds)
            else:
                rows = _partition_rows(history, key, partition, limit, kinds)
            data = {"asset": key, "materializations": rows}
            if partition is not None:
                data["partition"] = partition
            return data
        return {"runs": history.runs(limit, job) if history is not None else []}


def _partition_rows(history, key: str, partition: str, limit: int, kinds) -> List[Dict[str, Any]]:
    """The newest ``limit`` history rows of one partition of ``key`` (events record key and partition apart)."""
    asked = max(limit * 4, 64)
    while True:
        rows = history.materializations(key, asked, kinds)
        mine = [r for r in rows if r.get("partition") == partition]
        if len(mine) >= limit or len(rows) < asked:
            return mine[:limit]
        asked *= 4


def activity(project: Project) -> Dict[str, Any]:
    """What is happening now: ``last_event`` (grows with every event written to the event log), the
    runs still ``running`` and, for each, the assets started and not yet finished."""
    with _history(project) as history:
        if history is None:
            return {"last_event": 0, "running": []}
        running = [r for r in history.runs(50) if r["status"] == "running"]
        for run in running:
            started: Dict[str, None] = {}
            for e in history.events(run_id=run["run_id"], kinds=("started", *MATERIALIZATIONS, "skipped")):
                node = node_id(e["asset"], e["partition"]) if e["asset"] else None
                if node is not None and e["kind"] == "started":
                    started[node] = None
                elif node is not None:
                    started.pop(node, None)
            run["assets"] = list(started)
        return {"last_event": history.last_event_id(), "running": running}


def prune_log(project: Project, older_than: str) -> Dict[str, Any]:
    """Delete runs (and their events) that started before ``older_than`` (``30d``, ``12h``, a date)."""
    cutoff = parse_older_than(older_than)
    with _history(project) as history:
        runs, events = history.prune(cutoff) if history is not None else (0, 0)
        if history is not None:
            events += _opevents().prune(history)  # the op invocations of the runs deleted
    return {"pruned_runs": runs, "pruned_events": events, "before": cutoff}


def lineage(project: Project, key: str) -> Dict[str, Any]:
    """Upstream: the exact (key, data version) the current value was built from; downstream: what uses it."""
    if project.asset(key).partitions is not None:
        raise SelectionError(f"lineage of the partitioned asset '{key}' is not supported yet",
                             hint=f"`datamake why {key} -p KEY` shows the exact inputs of one partition")
    manifests: Dict[str, Any] = {}

    def read(nodes: Sequence[str]) -> Dict[str, Any]:
        """Current manifests of nodes (``key`` or a partition's ``key[pk]``), each read once."""
        manifests.update(project.store.read_manifests([n for n in dict.fromkeys(nodes) if n not in manifests]))
        return {n: manifests[n] for n in nodes}

    from datamake.history import lineage as lineage_mod  # lazy: a make does not trace lineage

    sources = getattr(project.defs, "sources", {})
    up = _from_history(project, lambda history: lineage_mod.upstream(key, read, history.find_version, sources))
    if up is None:
        up = lineage_mod.upstream(key, read, lambda k, v: None, sources)
    graph = project.graph
    expander = Expander(project.defs, graph, datetime.datetime.now(datetime.timezone.utc))
    descendants = graph.ordered(graph.downstream([key]) - {key})
    below = [node_id(k, pk) for k in descendants for pk in expander.partition_keys(k)]
    read(below)
    read([dep for n in below if manifests[n] is not None for dep, _version in manifests[n].inputs])
    down = lineage_mod.downstream(key, below, manifests)
    root = manifests.get(key)
    return {"key": key, "data_version": root.data_version if root else None,
            "run_id": root.run_id if root else None, "inputs": up[0]["inputs"] if up else [],
            "upstream": up[1:], "downstream": down}


def _produced_by(project: Project, manifest) -> Optional[Dict[str, Any]]:
    """The run that produced ``manifest``'s value, from the event log (None when it is not recorded)."""
    found = _from_history(project, lambda history: (history.run(manifest.run_id) if manifest.run_id else None,
                                                    history.find_version(manifest.key, manifest.data_version)))
    if found is None:
        return None
    run, latest = found
    out = dict(run) if run else {"run_id": manifest.run_id, "recorded": False}
    if latest is not None and latest["run_id"] != manifest.run_id:
        out["restored_in"] = latest["run_id"]  # a cache hit: built elsewhere, restored by this run
    return out


def _opevents():
    from datamake.history import opevents  # lazy: a make does not read the op invocations

    return opevents


def _from_history(project: Project, read: Callable[[Any], Any]) -> Any:
    """``read(history)`` for commands the event log only adds to (``why``, ``lineage``); None when
    nothing was recorded, or when the log cannot be read: that is a warning (in
    ``project.store.warnings``) and the command goes on without it."""
    try:
        with _history(project) as history:
            return read(history) if history is not None else None
    except HistoryError as exc:
        project.store.warnings.append(f"{exc.message}; not shown here (hint: {exc.hint})")
        return None


# -- jobs (see datamake.jobs) ---------------------------------------------------------------

def jobs(project: Project) -> List[Dict[str, Any]]:
    """Every job, with what it runs: the assets its selection names (or the error that it names none)."""
    rows = []
    for name, job in sorted(getattr(project.defs, "jobs", {}).items()):
        row = {"name": name, "description": job.description, "selection": job.selection_text or None,
               "graph": None if job.graph is None else getattr(job.graph, "name", repr(job.graph)),
               "assets": None, "config": job.config, "tags": job.tags, "partitions": job.partitions,
               "executor": job.executor, "jobs": job.jobs, "error": None}
        if job.graph is None:
            try:
                row["assets"] = project.graph.ordered(_checked_selection(project, job, job.config))
            except DatamakeError as exc:
                row["error"] = exc.message
        rows.append(row)
    return rows


def run_job(project: Project, name: str, *, config: Optional[Dict[str, Dict[str, Any]]] = None,
            partition: Optional[str] = None, dry_run: bool = False, reporter: Optional[Reporter] = None) -> Any:
    """Run the job ``name``: over assets, ``make`` of its selection with its config, partitions, executor
    and tags (a :class:`RunResult`; the :class:`Plan` when ``dry_run``); over a graph, the graph of ops
    (the dict of ``datamake.ops.run_graph``). ``config`` (``--config``) and ``partition`` (``-p``) win
    over the job's own."""
    job = _job(project, name)
    tags = {**job.tags, "job": job.name}
    if job.graph is not None:
        if partition is not None:
            raise SelectionError(f"job '{job.name}' runs the graph {getattr(job.graph, 'name', job.graph)}, "
                                 "which has no partitions", hint=f"datamake run {job.name} (without -p)")
        return _run_graph_job(project, job, config or {}, dry_run, tags)
    _checked_selection(project, job, [*job.config, *(config or {})])
    project.config_overrides = _merged_config(job.config, project.config_overrides, config or {})
    partition = partition if partition is not None else job.partitions
    if dry_run:
        return status(project, [job.selection_text], partition=partition)
    return make(project, [job.selection_text], jobs=job.jobs, executor=job.executor, reporter=reporter,
                partition=partition, tags=tags)


def _checked_selection(project: Project, job, configured) -> Set[str]:
    """The keys ``job`` selects, its config for ``configured`` assets checked (errors name the job)."""
    from datamake.jobs import check_config, job_selection  # lazy: a make parses no job selection

    selected = job_selection(job, project.universe)
    with_config = {k for k, a in project.defs.assets.items() if a.config is not None}
    check_config(job, project.universe, selected, configured, with_config)
    return selected


def _merged_config(*layers: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per-asset config values, later layers winning field by field (the job's, then --config)."""
    merged: Dict[str, Dict[str, Any]] = {}
    for layer in layers:
        for key, values in layer.items():
            merged.setdefault(key, {}).update(values)
    return merged


def _job(project: Project, name: str):
    known = getattr(project.defs, "jobs", {})
    if name not in known:
        raise SelectionError(f"unknown job '{name}'", hint=did_you_mean(name, known) or (
            f"the jobs are: {', '.join(sorted(known))}" if known else "declare one: Definitions(jobs=[job(...)])"))
    return known[name]


def _run_graph_job(project: Project, job, config: Dict[str, Any], dry_run: bool, tags: Dict[str, Any]) -> Dict[str, Any]:
    from datamake.ops import run_graph  # lazy: ops load only for a job over a graph

    result = run_graph(project, job.graph, config=_merged_config(job.config, config) or None, executor=job.executor,
                       jobs=job.jobs, dry_run=dry_run, run_tags=run_tags(tags))
    return {"job": job.name, **result}
