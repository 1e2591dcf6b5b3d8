"""Freshness goals against a plan: where each asset with a goal stands, and the minimal make that
meets every goal (``datamake status`` shows the first, the daemon launches the second)."""
from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence

from datamake.automation.rules.goals import Freshness, Goal, assess
from datamake.core.keys import node_id


class Entry(NamedTuple):
    """Where one asset (or partition) with a goal stands."""

    key: str
    partition: Optional[str]
    node: str
    goal: Goal
    freshness: Freshness


def assets_with_goals(defs: Any) -> List[str]:
    return [k for k, a in defs.assets.items() if getattr(a, "goal", None) is not None]


def report(defs: Any, decisions: Sequence[Any], manifests: Mapping[str, Any], now: float) -> List[Entry]:
    """One entry per decision of an asset with a goal: the decision, its node, goal and freshness."""
    out = []
    assets = defs.assets
    for d in decisions:
        goal = getattr(assets.get(d.key), "goal", None)
        if goal is None:
            continue
        node = node_id(d.key, d.partition)
        manifest = manifests.get(node)
        built = manifest.created if manifest is not None else None
        out.append(Entry(d.key, d.partition, node, goal, assess(goal, d.stale, built, now)))
    return out


def requests(entries: Sequence[Entry], now: float) -> List[Dict[str, Any]]:
    """The run requests that rebuild every overdue asset: one ``make`` for the unpartitioned ones,
    one with ``-p`` for the partitions (``make`` builds whatever upstream they need)."""
    overdue = [e for e in entries if e.freshness.overdue]
    plain = sorted({e.key for e in overdue if e.partition is None})
    parted = [e for e in overdue if e.partition is not None]
    argvs = []
    if plain:
        argvs.append(["make", *plain])
    if parted:
        argvs.append(["make", *sorted({e.key for e in parted}), "-p", ",".join(sorted({e.partition for e in parted}))])
    out = []
    for argv in argvs:
        digest = hashlib.sha256("\0".join(argv).encode()).hexdigest()[:12]
        key = f"freshness:{digest}:{int(now)}"
        out.append({"run_key": key, "argv": argv, "tags": {"origin": "freshness", "run_key": key}})
    return out


def for_status(project: Any, plan: Any, now: float) -> Dict[str, Dict[str, Any]]:
    """Node id -> freshness dict, for the assets of ``plan`` that declare a goal (reads their manifests)."""
    decisions = [d for d in plan.decisions if getattr(project.defs.assets.get(d.key), "goal", None) is not None]
    if not decisions:
        return {}
    nodes = [node_id(d.key, d.partition) for d in decisions]
    manifests = project.store.read_manifests(nodes)
    return {e.node: e.freshness.to_dict(e.goal) for e in report(project.defs, decisions, manifests, now)}


__all__ = ["Entry", "assets_with_goals", "for_status", "report", "requests"]
