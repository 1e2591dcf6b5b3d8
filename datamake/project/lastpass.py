"""What a long-lived project keeps of its last planning pass, to reuse what has not moved since.

The daemon and the web UI plan the same scope again and again, mostly with nothing changed in
between. Every input is still gathered on every pass (each manifest and artifact stat'ed, each
source observed, code versions as the project holds them); only the work derived from inputs
that are the very same objects as last time is reused:

* the keys a selection names (a selection depends on the project's graph alone);
* the node graph of a project without partitions (it depends on the selection alone; with
  partitions it also depends on the clock and on the partitions that exist, so it is redone);
* each node's planner facts, when its manifest is the same parsed object, its artifact check
  gave the same answer, and its code version, config hash, checks and dependencies are unchanged;
* the plan itself, when every fact and every outside data version is unchanged (the planner is
  a pure function of those).

A pass that finds anything moved plans it again: reuse is by identity, never by a guess.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Optional, Tuple

# A node's inputs to its planner facts: (manifest, artifact ok, config hash, forced, checks,
# code version, dependencies, files read undeclared that changed). Objects are compared by identity,
# the rest by equality.
FactInputs = Tuple[Any, bool, Optional[str], bool, Tuple[Any, ...], Any, Tuple[str, ...], Tuple[str, ...]]


class LastPass:
    """The reusable results of a project's last planning pass (see the module's docstring)."""

    def __init__(self) -> None:
        self._selection: Optional[Tuple[Hashable, Any]] = None
        self._expansion: Optional[Tuple[Hashable, Any]] = None
        self._facts: Dict[str, Tuple[FactInputs, Any]] = {}
        self._plan: Optional[Tuple[Tuple[str, ...], Dict[str, Any], Any, Any]] = None
        self.reused_facts = 0  # how many nodes of the current pass kept last pass's facts

    def selected(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The keys a selection names: last pass's when ``key`` (selection, only, partition) is the same."""
        if self._selection is None or self._selection[0] != key:
            self._selection = (key, compute())
        return self._selection[1]

    def expansion(self, key: Hashable, partitioned: bool, compute: Callable[[], Any]) -> Any:
        """The node graph of ``key``: last pass's for a project without partitions, else computed anew."""
        if partitioned:
            self._expansion = None
            return compute()
        if self._expansion is None or self._expansion[0] != key:
            self._expansion = (key, compute())
        return self._expansion[1]

    def start(self) -> Optional[Dict[str, Tuple[FactInputs, Any]]]:
        """Begin a pass: returns last pass's facts by node, and forgets them (only one pass is kept);
        None where nothing is kept (each node's facts are then computed directly)."""
        last, self._facts, self.reused_facts = self._facts, {}, 0
        return last

    def facts(self, last: Dict[str, Tuple[FactInputs, Any]], node: str, inputs: FactInputs,
              compute: Callable[[], Any]) -> Any:
        """``node``'s planner facts: last pass's when every input is the same, else ``compute()``."""
        known = last.get(node)
        if known is not None and _same(known[0], inputs):
            self.reused_facts += 1
            facts = known[1]
        else:
            facts = compute()
        self._facts[node] = (inputs, facts)
        return facts

    def plan(self, keys: Tuple[str, ...], outside: Dict[str, Any], source_keys: Any,
             compute: Callable[[], Any]) -> Any:
        """The plan: last pass's when every node kept its facts and nothing outside moved."""
        if self._plan is not None and self.reused_facts == len(keys):
            last_keys, last_outside, last_sources, last_plan = self._plan
            if last_keys == keys and last_outside == outside and last_sources == source_keys:
                return last_plan
        result = compute()
        self._plan = (keys, dict(outside), source_keys, result)
        return result


class _NoReuse(LastPass):
    """A one-shot process plans once: everything is computed, nothing kept."""

    def start(self) -> None:
        return None

    def selected(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        return compute()

    def expansion(self, key: Hashable, partitioned: bool, compute: Callable[[], Any]) -> Any:
        return compute()

    def plan(self, keys: Tuple[str, ...], outside: Dict[str, Any], source_keys: Any,
             compute: Callable[[], Any]) -> Any:
        return compute()


NO_REUSE: LastPass = _NoReuse()


def _same(old: FactInputs, new: FactInputs) -> bool:
    return (old[0] is new[0] and old[1] == new[1] and old[2] == new[2] and old[3] == new[3]
            and old[4] == new[4] and old[5] is new[5] and old[6] == new[6] and old[7] == new[7])


__all__ = ["NO_REUSE", "LastPass"]
