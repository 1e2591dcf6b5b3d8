"""The asset graph: dependency order and cycle detection (selections: :mod:`datamake.selection`)."""
from __future__ import annotations

from graphlib import CycleError as _GraphlibCycle  # stdlib since Python 3.9
from graphlib import TopologicalSorter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from datamake.core.errors import CycleError


class AssetGraph:
    """An immutable DAG of asset keys.

    ``deps`` maps each key to its upstream keys. The topological order is
    stable: it depends only on the keys, not on the mapping's order.
    """

    def __init__(self, deps: Mapping[str, Sequence[str]], groups: Optional[Mapping[str, str]] = None):
        self.deps: Dict[str, Tuple[str, ...]] = {k: tuple(v) for k, v in deps.items()}
        self.groups: Dict[str, str] = dict(groups or {})
        self.children: Dict[str, List[str]] = {k: [] for k in self.deps}
        for key in sorted(self.deps):
            for dep in self.deps[key]:
                self.children[dep].append(key)
        self.order: Tuple[str, ...] = self._topological_order()
        self.position = {k: i for i, k in enumerate(self.order)}

    def _topological_order(self) -> Tuple[str, ...]:
        sorter = TopologicalSorter()
        for key in sorted(self.deps):
            sorter.add(key, *self.deps[key])
        try:
            sorter.prepare()
        except _GraphlibCycle as exc:
            cycle = list(exc.args[1])
            raise CycleError(
                "dependency cycle: " + " -> ".join(cycle),
                hint="remove one of these dependencies (a parameter or a deps= entry) to break the loop",
            ) from None
        order: List[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order.extend(ready)
            sorter.done(*ready)
        return tuple(order)

    def __contains__(self, key: str) -> bool:
        return key in self.deps

    def __len__(self) -> int:
        return len(self.deps)

    def upstream(self, keys: Iterable[str]) -> Set[str]:
        """``keys`` and everything they depend on, transitively."""
        return self._closure(keys, self.deps)

    def downstream(self, keys: Iterable[str]) -> Set[str]:
        """``keys`` and everything that depends on them, transitively."""
        return self._closure(keys, self.children)

    @staticmethod
    def _closure(keys: Iterable[str], edges: Mapping[str, Sequence[str]]) -> Set[str]:
        seen: Set[str] = set()
        stack = list(keys)
        while stack:
            key = stack.pop()
            if key not in seen:
                seen.add(key)
                stack.extend(edges[key])
        return seen

    def ordered(self, keys: Iterable[str]) -> List[str]:
        """``keys`` in topological order."""
        return sorted(keys, key=self.position.__getitem__)
