"""A planned scope: the nodes a command works on, the facts gathered for them and their plan."""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

from datamake.core.manifest import Manifest
from datamake.core.nodegraph import NodeGraph
from datamake.core.planner import AssetFacts, Plan
from datamake.core.records import field, record


@record(frozen=True)
class Scope:
    """What a command works on: the keys in dependency order, and the facts and plan for them."""

    keys: Tuple[str, ...]
    facts: Dict[str, AssetFacts]
    plan: Plan
    outside: Dict[str, Optional[str]]
    manifests: Dict[str, Optional[Manifest]]
    sources: FrozenSet[str] = frozenset()
    configs: Mapping[str, Any] = field(default_factory=dict)  # asset key -> config instance
    nodes: Optional[NodeGraph] = None  # the partition-level graph: deps, children, inputs per node

    def deps(self, node: str) -> Tuple[str, ...]:
        return self.facts[node].deps

    def children(self, node: str) -> List[str]:
        return self.nodes.children.get(node, []) if self.nodes else []

    def asset_key(self, node: str) -> str:
        return self.facts[node].key
