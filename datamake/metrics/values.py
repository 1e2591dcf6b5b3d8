"""``datamake metrics show/diff``: the numbers of the metric assets, now and at a revision or an earlier run."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from datamake import api
from datamake.core.errors import NotMaterializedError, SelectionError
from datamake.define.metricvalues import flatten_text, metric_values
from datamake.metrics.gitrev import check_revision, text_at


def metric_keys(project: Any) -> List[str]:
    """The keys of the metric assets (``@asset(metric=True)``), in graph order."""
    keys = [k for k in project.graph.order if k in project.defs.assets and project.defs.assets[k].metric]
    if not keys:
        raise SelectionError("this project has no metric assets",
                             hint="mark an asset returning a dict of numbers with @asset(metric=True)")
    return keys


def current(project: Any) -> Dict[str, Optional[Dict[str, float]]]:
    """Each metric asset's numbers from its current materialization (None if never built)."""
    out: Dict[str, Optional[Dict[str, float]]] = {}
    for key in metric_keys(project):
        try:
            value, _ = api.show_value(project, key)
        except NotMaterializedError:
            out[key] = None
            continue
        out[key] = metric_values(value, key)
    return out


def at_revision(project: Any, keys: List[str], rev: str) -> Dict[str, Optional[Dict[str, float]]]:
    """The numbers in each metric's workspace file (``path=``) as committed at ``rev``."""
    check_revision(project.directory, rev)
    out: Dict[str, Optional[Dict[str, float]]] = {}
    for key in keys:
        path = project.defs.assets[key].path
        if path is None:
            raise SelectionError(f"metric '{key}' has no workspace path, so git does not know its values",
                                 hint=f"give it @asset(path=\"metrics/{key}.json\") and commit that file, "
                                      f"or compare with a run: --run RUN_ID")
        text = text_at(project.directory, rev, path)
        out[key] = None if text is None else flatten_text(text, key)
    return out


def recorded_in_run(project: Any, keys: List[str], run_id: str) -> Dict[str, Optional[Dict[str, Any]]]:
    """Each asset's latest materialization event (built or cached) at or before run ``run_id``
    (None for an asset that had none); a SelectionError for an unknown run."""
    out: Dict[str, Optional[Dict[str, Any]]] = {}
    with api._history(project) as history:
        run = history.run(run_id) if history is not None else None
        if run is None:
            raise SelectionError(f"no run '{run_id}' in the event log", hint="`datamake log` lists the runs")
        until = (run["finished"] or run["started"]) + 1e-6
        for key in keys:
            rows = [r for r in history.materializations(key, limit=10_000)
                    if r["ts"] <= until and r["kind"] in ("built", "cached")]
            out[key] = rows[0] if rows else None
    return out


def in_run(project: Any, keys: List[str], run_id: str) -> Dict[str, Optional[Dict[str, float]]]:
    """Each metric's numbers as recorded by the latest materialization at or before run ``run_id``."""
    return {key: None if row is None else _numbers(row["metadata"])
            for key, row in recorded_in_run(project, keys, run_id).items()}


def history_of(project: Any, key: str, limit: int = 1000) -> List[Dict[str, Any]]:
    """A metric's recorded numbers, oldest first: ``[{"run_id", "ts", "values"}]``."""
    with api._history(project) as history:
        rows = history.materializations(key, limit=limit) if history is not None else []
    return [{"run_id": r["run_id"], "ts": r["ts"], "values": _numbers(r["metadata"])}
            for r in reversed(rows) if r["kind"] in ("built", "cached")]


def _numbers(metadata: Any) -> Dict[str, float]:
    return {k: v for k, v in (metadata or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def diff(old: Dict[str, Optional[Dict[str, float]]], new: Dict[str, Optional[Dict[str, float]]],
         show_all: bool = False) -> List[Dict[str, Any]]:
    """One row per metric number that changed (or every one): asset, metric, old, new, change."""
    rows = []
    for key in new:
        before, after = old.get(key) or {}, new.get(key) or {}
        for name in sorted({*before, *after}):
            a, b = before.get(name), after.get(name)
            if show_all or a != b:
                change = b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
                rows.append({"asset": key, "metric": name, "old": a, "new": b, "change": change})
    return rows
