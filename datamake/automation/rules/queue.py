"""The run queue's limits: which queued runs may start now. Queued runs wait; none is dropped.

``[daemon] max_concurrent_runs = 4`` caps the runs in flight; ``[daemon.tag_limits]`` caps those
carrying a tag: ``"db=warehouse" = 1`` (a key and value) or ``"db" = 2`` (any value of the key).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

from datamake.core.errors import ConfigError


@dataclass(frozen=True)
class QueuedRun:
    """A run in the queue (waiting or in flight), as far as the limits are concerned."""

    run_key: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class Limits:
    max_concurrent: Optional[int] = None
    tag_limits: Mapping[str, int] = None  # "key=value" or "key" -> at most this many in flight

    def limits_for(self, tags: Mapping[str, str]) -> List[str]:
        limits = self.tag_limits or {}
        return [rule for rule in limits if _matches(rule, tags)]


def admit(waiting: Sequence[QueuedRun], running: Sequence[QueuedRun], limits: Limits) -> List[str]:
    """The run keys of ``waiting`` (oldest first) that may start now, in that order. A run that
    a tag limit holds back does not hold back younger runs with other tags."""
    in_flight = len(running)
    counts: Dict[str, int] = {}
    for run in running:
        for rule in limits.limits_for(run.tags):
            counts[rule] = counts.get(rule, 0) + 1
    started: List[str] = []
    for run in waiting:
        if limits.max_concurrent is not None and in_flight >= limits.max_concurrent:
            break
        rules = limits.limits_for(run.tags)
        if any(counts.get(rule, 0) >= limits.tag_limits[rule] for rule in rules):
            continue
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1
        in_flight += 1
        started.append(run.run_key)
    return started


def parse_limits(max_concurrent: object, tag_limits: Mapping[str, object], where: str) -> Limits:
    """:class:`Limits` from ``[daemon]`` settings, with errors naming the key."""
    if max_concurrent is not None and (isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int)
                                       or max_concurrent < 1):
        raise ConfigError(f"{where}: [daemon] max_concurrent_runs = {max_concurrent!r}: expected a whole number >= 1")
    out: Dict[str, int] = {}
    for rule, value in (tag_limits or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: [daemon.tag_limits] '{rule}' = {value!r}: expected a whole number >= 0",
                              hint='e.g. "db=warehouse" = 1')
        out[str(rule)] = value
    return Limits(max_concurrent, out)


def _matches(rule: str, tags: Mapping[str, str]) -> bool:
    key, sep, value = rule.partition("=")
    return key in tags and (not sep or str(tags[key]) == value)


__all__ = ["Limits", "QueuedRun", "admit", "parse_limits"]
