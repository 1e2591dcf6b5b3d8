"""The asset graph: dependency order and cycle detection (selections: :mod:`datamake.selection`)."""
from __future__ import annotations

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
        """Kahn's algorithm, a layer at a time, each layer sorted: the order graphlib's ``get_ready``
        and ``done`` give (one pass over the edges; graphlib also walks the whole graph for a cycle
        before it starts, which is left for when there is one)."""
        waiting = {k: len(v) for k, v in self.deps.items()}
        layer = sorted(k for k, n in waiting.items() if not n)
        order: List[str] = []
        children = self.children
        while layer:
            order.extend(layer)
            ready = []
            for key in layer:
                for child in children[key]:
                    waiting[child] -= 1
                    if not waiting[child]:
                        ready.append(child)
            layer = sorted(ready)
        if len(order) < len(waiting):
            self._raise_cycle()
        return tuple(order)

    def _raise_cycle(self) -> None:
        """The CycleError naming one cycle of the graph (found by graphlib)."""
        from graphlib import CycleError as _GraphlibCycle, TopologicalSorter  # lazy: only for a cycle

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
        raise AssertionError("a graph with no cycle was left unordered")  # pragma: no cover

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
