"""A plan that holds an object only for each stale partition; fresh partitions are kept as ranges. Pure.

:func:`is_fresh` is the planner's own condition for "no reasons" (see
:func:`datamake.core.planner.decide`) on a decoded manifest, for a node whose
asset declares no checks; anything it does not accept is decided by
:func:`~datamake.core.planner.decide` itself, so the result equals the
per-partition plan.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from datamake.core.planner import FRESH, AssetDecision, Plan


def is_fresh(manifest: Mapping, code_version: str, config_hash: Optional[str], inputs: Mapping[str, object],
             artifact_ok: bool) -> bool:
    """True when a node whose asset declares no checks is fresh: ``manifest`` (decoded, well-formed) records
    this code version and config, exactly ``inputs``' keys, each at the data version it has now (``inputs``:
    dependency node -> its status for dependents), no check results, no undeclared reads, and its artifact
    is intact."""
    if not artifact_ok or manifest["code_version"] != code_version or manifest.get("config_hash") != config_hash:
        return False
    if manifest.get("checks") or manifest.get("reads"):  # files it read undeclared: the planner compares them
        return False
    recorded = dict(manifest.get("inputs", ()))
    if len(recorded) != len(inputs):
        return False
    for dep, version in recorded.items():
        if type(version) is not str or inputs.get(dep) != version:
            return False
    return True


class AssetRows:
    """One asset's nodes in a compact plan: its partition keys in order, and a decision for each stale one."""

    __slots__ = ("key", "partitions", "stale")

    def __init__(self, key: str, partitions: Sequence[str], stale: Dict[int, AssetDecision]):
        self.key, self.partitions, self.stale = key, partitions, stale

    def decisions(self) -> Iterator[AssetDecision]:
        stale, key = self.stale, self.key
        for i, pk in enumerate(self.partitions):
            d = stale.get(i)
            yield d if d is not None else AssetDecision(key, pk, ())

    def encoded(self, dump: Callable[[object], str]) -> Iterator[str]:
        """Each node's ``to_dict()`` as ``dump`` encodes it; a fresh one is filled into a template, not built."""
        marker = dump("\x00")
        head, _, tail = dump(AssetDecision(self.key, "\x00", ()).to_dict()).partition(marker)
        stale = self.stale
        for i, pk in enumerate(self.partitions):
            d = stale.get(i)
            yield head + dump(pk) + tail if d is None else dump(d.to_dict())

    def runs(self) -> Iterator[Tuple[AssetDecision, List[str]]]:
        """(first decision, partitions) of each run of fresh partitions, and of each stale partition."""
        start = 0
        parts = self.partitions
        for i in sorted(self.stale):
            if i > start:
                yield AssetDecision(self.key, parts[start], ()), list(parts[start:i])
            yield self.stale[i], [parts[i]]
            start = i + 1
        if start < len(parts):
            yield AssetDecision(self.key, parts[start], ()), list(parts[start:])


class CompactPlan:
    """The decisions of every node in scope, in dependency order, as :class:`~datamake.core.planner.Plan`
    gives them; built with one object per stale node and per asset only."""

    def __init__(self, assets: Sequence[AssetRows]):
        self.assets = tuple(assets)
        self._decisions: Optional[Tuple[AssetDecision, ...]] = None
        self._plan: Optional[Plan] = None

    @property
    def decisions(self) -> Tuple[AssetDecision, ...]:
        """A decision per node, built once, when a caller needs every one (``status --json``)."""
        if self._decisions is None:
            self._decisions = tuple(d for a in self.assets for d in a.decisions())
        return self._decisions

    def full(self) -> Plan:
        """The same plan as a :class:`~datamake.core.planner.Plan` (indexed by node)."""
        if self._plan is None:
            self._plan = Plan(self.decisions)
        return self._plan

    @property
    def stale(self) -> List[str]:
        return [a.key for a in self.assets for _ in a.stale]

    def __len__(self) -> int:
        return sum(len(a.partitions) for a in self.assets)

    def __getitem__(self, key: str) -> AssetDecision:
        return self.full()[key]

    def keys(self) -> List[str]:
        """The asset keys in scope, each once, in order."""
        return [a.key for a in self.assets]

    def encoded(self, dump: Callable[[object], str]) -> Iterator[str]:
        """:attr:`decisions`, each as ``dump`` encodes its ``to_dict()``, without an object per fresh node."""
        for a in self.assets:
            yield from a.encoded(dump)

    def runs(self) -> Iterator[Tuple[AssetDecision, List[str]]]:
        """(first decision, partitions) for consecutive nodes of one asset: each fresh range, each stale node."""
        for a in self.assets:
            yield from a.runs()


__all__ = ["FRESH", "AssetRows", "CompactPlan", "is_fresh"]
