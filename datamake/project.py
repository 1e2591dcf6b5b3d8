"""A loaded project: config, definitions, graph, pins and store wired together.

This layer gathers the facts the pure planner needs (code versions, manifests,
artifact sizes) and hands them over as plain values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from . import pins as pins_mod
from .codeversion import auto_code_version
from .config import ProjectConfig, find_config, load_config
from .definitions import AssetDef, Definitions
from .errors import SelectionError
from .graph import AssetGraph
from .loader import load_definitions
from .manifest import Manifest
from .planner import AssetFacts, Plan, current_data_version, plan
from .store import Store


@dataclass(frozen=True)
class CodeVersion:
    """An asset's effective code version and where it comes from."""

    value: str
    origin: str  # "code" (code_version= in the decorator), "pin" (pins file) or "auto"
    auto: str  # the automatic version of the current source
    drifted: bool = False  # pinned, and the source has changed since the pin


@dataclass(frozen=True)
class Scope:
    """What a command works on: the keys in dependency order, and the facts and plan for them."""

    keys: Tuple[str, ...]
    facts: Dict[str, AssetFacts]
    plan: Plan
    outside: Dict[str, Optional[str]]
    manifests: Dict[str, Optional[Manifest]]


class Project:
    """Everything a command needs, loaded once."""

    def __init__(self, config: ProjectConfig, defs: Definitions):
        self.config = config
        self.directory = config.directory
        self.defs = defs
        self.graph = AssetGraph(defs.deps, {k: a.group for k, a in defs.assets.items()})
        self.pins = pins_mod.read_pins(self.directory)
        self._store: Optional[Store] = None
        self._code_versions: Dict[str, CodeVersion] = {}

    @classmethod
    def load(cls, start: str = ".") -> "Project":
        """Find ``datamake.toml`` from ``start`` upwards and load the project it describes."""
        config = load_config(find_config(start))
        return cls(config, load_definitions(config.directory, config.definitions))

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.storage_root, self.config.storage_options)
        return self._store

    def asset(self, key: str) -> AssetDef:
        self.graph.select([key])  # raises SelectionError with a hint
        return self.defs.assets[key]

    def code_version(self, key: str) -> CodeVersion:
        """The effective code version: decorator pin, then pins file, then automatic."""
        cached = self._code_versions.get(key)
        if cached is None:
            a = self.defs.assets[key]
            auto = auto_code_version(a.fn)
            pin = self.pins.get(key)
            if a.code_version is not None:
                cached = CodeVersion(a.code_version, "code", auto)
            elif pin is not None:
                cached = CodeVersion(pin.code_version, "pin", auto, drifted=pin.source != auto)
            else:
                cached = CodeVersion(auto, "auto", auto)
            self._code_versions[key] = cached
        return cached

    def scope(self, selection: Sequence[str] = (), only: bool = False, force: bool = False) -> Scope:
        """Resolve a selection, gather the facts and plan it."""
        selected = self.graph.select(selection)
        keys = tuple(self.graph.ordered(selected if only else self.graph.upstream(selected)))
        outside_keys = sorted({d for k in keys for d in self.graph.deps[k]} - set(keys))
        manifests = self.store.read_manifests([*keys, *outside_keys])
        sizes = self.store.artifact_sizes(m.artifact for m in manifests.values() if m is not None)
        facts = {}
        forced = selected if force else set()
        for key in keys:
            m = manifests[key]
            facts[key] = AssetFacts(
                key=key,
                code_version=self.code_version(key).value,
                deps=self.graph.deps[key],
                manifest=m,
                artifact_ok=m is None or sizes.get(m.artifact) == m.size,
                forced=key in forced,
            )
        outside = {}
        for key in outside_keys:
            m = manifests[key]
            ok = m is not None and sizes.get(m.artifact) == m.size
            outside[key] = m.data_version if ok else None
        return Scope(keys, facts, plan(facts, keys, outside), outside, manifests)

    def current_manifest(self, key: str) -> Optional[Manifest]:
        return self.store.read_manifests([key])[key]

    def pin(self, keys: Iterable[str]) -> List[Tuple[str, str]]:
        """Pin each key at its current code version; returns (key, version) pinned."""
        done = []
        for key in keys:
            cv = self.code_version(key)
            if cv.origin == "code":
                continue
            value = cv.value if cv.origin == "pin" else cv.auto
            self.pins[key] = pins_mod.Pin(value, cv.auto)
            done.append((key, value))
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return done

    def unpin(self, keys: Iterable[str]) -> List[str]:
        removed = [k for k in keys if self.pins.pop(k, None) is not None]
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return removed
