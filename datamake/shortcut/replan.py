"""After a ``make`` that built or restored assets: whether its whole scope is now fresh, established by
planning it again, not assumed.

The planner's own test of freshness (:func:`datamake.core.planner.fresh`, what :func:`~datamake.core.
planner.decide` answers first) runs again over the scope in dependency order, with the manifests
current at the end of the run (those the run committed, as it holds them in memory, and those the
first plan read for the assets the run kept) and the facts the first plan gathered for everything
else (code versions, config, dependencies): what the next ``make``'s planner decides from the same
files and code. A certificate is written only when every asset is fresh.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

from datamake.core.manifest import Manifest
from datamake.core.planner import fresh
from datamake.core.scope import Scope


class Ineligible(Exception):
    """Why a command gets no certificate (the message says)."""


def fresh_after_run(scope: Scope, current: Mapping[str, Optional[Manifest]]) -> Dict[str, Optional[Manifest]]:
    """The manifests of ``scope`` (and of its dependencies outside it) at the end of its run
    (``current``), when every asset is fresh with them; :class:`Ineligible` otherwise.

    The value of a manifest the run committed is intact: the run wrote its artifact (which the
    certificate records with the stat noted then) or found it intact when it restored it."""
    before = scope.manifests
    now = {node: current.get(node, m) for node, m in before.items()}
    status: Dict[str, object] = dict(scope.outside)
    facts = scope.facts
    for node in scope.keys:
        f, m = facts[node], now[node]
        if not fresh(f, m, f.artifact_ok if m is f.manifest else True, status):
            raise Ineligible(f"planned again after the run, {node} is not fresh")
        if m is not f.manifest and (m.checks or m.reads):  # facts the first plan gathered for another value
            raise Ineligible(f"{node} was built or restored with check results or undeclared reads")
        status[node] = m.data_version
    return now
