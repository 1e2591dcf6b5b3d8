"""One asset's partitions summarised from their manifests, so that a later ``status`` reads one record. Pure.

A :class:`Summary` holds, for every partition with a manifest, what
:func:`~datamake.bulkstatus.plan.is_fresh` reads of it (code version, config,
inputs, data version, check results, files read undeclared), whether its value was intact, and its
artifact. Its :attr:`~Summary.head` is a few digests over those columns: when
every partition is well formed, intact and built alike (one code version, one
config, input ``d[pk]`` of partition ``pk`` for the same dependencies ``d``),
a whole asset is decided by comparing digests with its dependencies' (see
:func:`aligned`), with no object per partition.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import xxhash

from datamake.core.keys import node_id, split_node

FIELDS = ("code_version", "config_hash", "inputs", "data_version", "checks", "reads")  # what is_fresh reads
FORMAT = 5  # of a head and its columns, as kept between commands (5: with the files each read undeclared)
Artifact = Optional[Tuple[str, int]]  # (content hash, size) of a value kept in a file; None when inline


_MASK = (1 << 128) - 1


def _term(i: int, value: Any) -> int:
    text = f"{i}\x00s{value}" if type(value) is str else f"{i}\x00j{json.dumps(value, sort_keys=True)}"
    return xxhash.xxh3_128_intdigest(text.encode())


def digest(values: Iterable[Any]) -> str:
    """One hash for a column of JSON values, in order (equal digests: equal columns): the sum of a hash of
    each value with its position, so that :func:`shifted` updates it for a few values changed or added."""
    return format(sum(_term(i, v) for i, v in enumerate(values)) & _MASK, "032x")


def shifted(column: str, removed: Iterable[Tuple[int, Any]], added: Iterable[Tuple[int, Any]]) -> str:
    """The :func:`digest` ``column`` with the ``(position, value)`` pairs ``removed`` taken out, ``added`` put in."""
    total = int(column, 16) - sum(_term(i, v) for i, v in removed) + sum(_term(i, v) for i, v in added)
    return format(total & _MASK, "032x")


def entry(manifest: Mapping[str, Any]) -> Dict[str, Any]:
    """What a summary keeps of one decoded manifest."""
    return {f: manifest.get(f) for f in FIELDS}


class Summary:
    """Columns over the partitions ``pks`` (each with a manifest): ``entries[i]`` (None where the manifest
    could not be decoded), ``intact[i]`` (its value was intact when checked), ``artifacts[i]`` and
    ``inos[i]``, the inode of its manifest file as listed (None: not known)."""

    __slots__ = ("pks", "entries", "intact", "artifacts", "inos", "_head")

    def __init__(self, pks: List[str], entries: List[Optional[Dict[str, Any]]], intact: List[bool],
                 artifacts: List[Artifact], inos: Optional[List[int]] = None):
        self.pks, self.entries, self.intact, self.artifacts, self.inos = pks, entries, intact, artifacts, inos
        self._head: Optional[Dict[str, Any]] = None

    @property
    def head(self) -> Dict[str, Any]:
        """``{"n", "pks"}`` digests, and where the partitions are all alike ``{"code_version", "config",
        "deps", "inputs": {dep: digest}, "dv"}`` (see :func:`aligned`)."""
        if self._head is None:
            self._head = {"format": FORMAT, "n": len(self.pks), "pks": digest(self.pks), **(_alike(self) or {})}
        return self._head

    def to_json(self) -> Dict[str, Any]:
        return {"pks": self.pks, "entries": self.entries, "intact": "".join("1" if ok else "0" for ok in self.intact),
                "artifacts": self.artifacts, "inos": self.inos}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], head: Optional[Dict[str, Any]] = None) -> "Summary":
        artifacts = [None if a is None else (a[0], a[1]) for a in data["artifacts"]]
        summary = cls(data["pks"], data["entries"], [c == "1" for c in data["intact"]], artifacts, data.get("inos"))
        summary._head = head
        return summary


def _alike(s: Summary) -> Optional[Dict[str, Any]]:
    """The head's digests when every partition is decoded, intact, without check results and built alike."""
    if not s.pks or not all(s.intact) or any(e is None or _planned_one_by_one(e) for e in s.entries):
        return None
    first = s.entries[0]
    code, config = first["code_version"], first["config_hash"]
    deps = sorted(split_node(node)[0] for node, _ in first["inputs"] or ())
    columns: Dict[str, List[Any]] = {d: [] for d in deps}
    for pk, e in zip(s.pks, s.entries):
        if e["code_version"] != code or e["config_hash"] != config:
            return None
        recorded = dict(e["inputs"] or ())  # as is_fresh reads it
        if len(recorded) != len(deps):
            return None
        for d in deps:
            version = recorded.get(node_id(d, pk))
            if type(version) is not str:
                return None
            columns[d].append(version)
    return {"code_version": code, "config": [config], "deps": deps,
            "inputs": {d: digest(c) for d, c in columns.items()}, "dv": digest([e["data_version"] for e in s.entries])}


def _planned_one_by_one(e: Mapping[str, Any]) -> bool:
    """A partition with check results or files it read undeclared: the planner decides it on its own."""
    return bool(e["checks"] or e.get("reads"))


def extended_head(head: Mapping[str, Any], changes: Sequence[Tuple[int, str, Optional[Dict[str, Any]],
                                                                    Dict[str, Any], bool]]) -> Optional[Dict[str, Any]]:
    """The head of a summary whose partitions are all alike (``"dv"`` in ``head``) once ``changes`` are made,
    each ``(position, partition, entry there before (None: appended), new entry, its value intact)``, where
    every new entry is alike too; None otherwise (the columns then decide). Appended positions follow on."""
    n = head["n"]
    added = sorted(i for i, _, old, _, _ in changes if old is None)
    if "dv" not in head or added != list(range(n, n + len(added))):
        return None
    code, config, deps = head["code_version"], head["config"][0], head["deps"]
    for _, pk, _, e, ok in changes:
        if not ok or _planned_one_by_one(e) or e["code_version"] != code or e["config_hash"] != config:
            return None
        recorded = dict(e["inputs"] or ())
        if len(recorded) != len(deps) or any(type(recorded.get(node_id(d, pk))) is not str for d in deps):
            return None
    replaced = [(i, pk, dict(old["inputs"] or ()), old) for i, pk, old, _, _ in changes if old is not None]
    new = [(i, pk, dict(e["inputs"] or ()), e) for i, pk, _, e, _ in changes]
    return {"format": FORMAT, "n": n + len(added),
            "pks": shifted(head["pks"], (), [(i, pk) for i, pk, old, _, _ in changes if old is None]),
            "code_version": code, "config": [config], "deps": deps,
            "inputs": {d: shifted(head["inputs"][d], [(i, r.get(node_id(d, pk))) for i, pk, r, _ in replaced],
                                  [(i, r[node_id(d, pk)]) for i, pk, r, _ in new]) for d in deps},
            "dv": shifted(head["dv"], [(i, e.get("data_version")) for i, _, _, e in replaced],
                          [(i, e.get("data_version")) for i, _, _, e in new])}


def well_formed(head: Any) -> bool:
    """True when ``head`` (as read back from JSON) has the shape :attr:`Summary.head` gives."""
    if not isinstance(head, dict) or head.get("format") != FORMAT or not isinstance(head.get("pks"), str):
        return False
    if "dv" not in head:
        return set(head) == {"format", "n", "pks"}
    deps, inputs = head.get("deps"), head.get("inputs")
    return (isinstance(deps, list) and isinstance(inputs, dict) and sorted(inputs) == deps
            and isinstance(head.get("config"), list) and len(head["config"]) == 1)


def aligned(head: Mapping[str, Any], wanted: str, code_version: str, config_hash: Optional[str],
            deps: Sequence[str], upstream: Sequence[Optional[Tuple[str, str]]]) -> bool:
    """True when every partition of a summary is fresh: its partitions are exactly those wanted (digest
    ``wanted``), all alike at this code version and config, reading ``deps``, and each dependency's
    ``upstream`` (``(partitions digest, data versions digest)`` when all its wanted partitions are fresh)
    lines up with the input versions recorded. This is :func:`~datamake.bulkstatus.plan.is_fresh` of every
    partition at once."""
    if head["pks"] != wanted or "dv" not in head or head["code_version"] != code_version:
        return False
    if head["config"] != [config_hash] or head["deps"] != sorted(deps):
        return False
    return all(up is not None and up == (wanted, head["inputs"][d]) for d, up in zip(deps, upstream))


__all__ = ["FIELDS", "FORMAT", "Summary", "aligned", "digest", "entry", "extended_head", "shifted", "well_formed"]
