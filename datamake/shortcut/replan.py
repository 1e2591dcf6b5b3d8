"""After a ``make`` that built or restored assets: whether its whole scope is now fresh, established by
planning it again, not assumed.

The planner (pure, :mod:`datamake.core.planner`) decides the scope again over the manifests current at
the end of the run (those the run committed, as it holds them in memory, and those the first plan
read for the assets the run kept), with the facts the first plan gathered for everything else (code
versions, config, dependencies): what the next ``make``'s planner decides from the same files and
code. A certificate is written only when it finds nothing stale.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

from datamake.core.manifest import Manifest
from datamake.core.planner import AssetFacts, plan
from datamake.core.records import filled
from datamake.core.scope import Scope


class Ineligible(Exception):
    """Why a command gets no certificate (the message says)."""


def fresh_after_run(store, scope: Scope, current: Mapping[str, Optional[Manifest]]) -> Dict[str, Optional[Manifest]]:
    """The manifests of ``scope`` (and of its dependencies outside it) at the end of its run
    (``current``), when planning the scope again over them finds every asset fresh; :class:`Ineligible`
    otherwise. A value the run committed is looked at as the full path would (its artifact's size
    and recorded stat)."""
    before = scope.manifests
    now = {node: current.get(node, m) for node, m in before.items()}
    changed = [m for node, m in now.items() if m is not None and m is not before[node]]
    if any(m.checks for m in changed):
        raise Ineligible("a value restored with recorded check results")
    intact = store.values_intact(changed) if changed else {}
    facts: Dict[str, AssetFacts] = {}
    for node in scope.keys:
        f, m = scope.facts[node], now[node]
        if m is not f.manifest:
            f = filled(AssetFacts, **{**f.__dict__, "manifest": m, "artifact_ok": m is None or intact[id(m)],
                                      "recorded_checks": ()})
        facts[node] = f
    stale = [d.key for d in plan(facts, scope.keys, scope.outside, scope.sources).decisions if d.reasons]
    if stale:
        raise Ineligible(f"planned again after the run, {stale[0]} is not fresh")
    return now
