"""A loaded project: config, definitions, graph, pins and store wired together.

This layer gathers the facts the pure planner needs (code versions, manifests,
artifact sizes) and hands them over as plain values.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from . import pins as pins_mod
from . import assetconfig
from . import codeversion
from .codeversion import fingerprint
from .config import ProjectConfig, find_config, load_config
from .definitions import AssetDef, Definitions
from .errors import ConfigError, did_you_mean
from .expand import Expander, NodeGraph, selection_partitions
from .graph import AssetGraph
from .hashing import hash_value
from .keys import node_id
from .loader import load_definitions, remember
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
    parts: Mapping[str, str] = field(default_factory=dict)  # code dependencies behind ``auto``


@dataclass(frozen=True)
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


class Project:
    """Everything a command needs, loaded once."""

    def __init__(self, config: ProjectConfig, defs: Definitions, config_overrides: Optional[Mapping[str, Mapping]] = None):
        self.config = config
        self.directory = config.directory
        self.defs = defs
        remember(self.directory, config.definitions, defs)  # in-process workers use these, not a re-import
        self.graph = AssetGraph(defs.deps, {k: a.group for k, a in defs.nodes.items()})
        self.pins = pins_mod.read_pins(self.directory)
        self.config_overrides: Dict[str, Mapping] = dict(config_overrides or {})
        self._store: Optional[Store] = None
        self._code_versions: Dict[str, CodeVersion] = {}
        self._config_hashes: Dict[str, Optional[str]] = {}
        self._code_roots = self._project_roots()
        codeversion.load_cache(self._code_cache_path())
        self._check_config_targets()

    def _code_cache_path(self) -> str:
        """Where normalized-source hashes are kept between runs: a per-user cache, not the project."""
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "datamake", f"code-{hash_value('project', self.directory)[:16]}.json")

    def _project_roots(self) -> Tuple[str, ...]:
        """Folders whose code counts as the project's own (followed for helper code)."""
        roots = {self.directory}
        ref = self.config.definitions
        if ref.endswith(".py") or "/" in ref:
            roots.add(os.path.dirname(os.path.normpath(os.path.join(self.directory, ref))))
        return tuple(sorted(roots))

    def _check_config_targets(self) -> None:
        for key in [*self.config.asset_config, *self.config_overrides]:
            if key not in self.defs.assets:
                raise ConfigError(f"config given for unknown asset '{key}'",
                                  hint=did_you_mean(key, self.defs.assets) or "check [config.ASSET] and --config")

    def asset_config(self, key: str) -> Tuple[Any, Optional[str]]:
        """(config instance, config hash) of one asset; (None, None) without config."""
        a = self.defs.assets[key]
        return assetconfig.resolve(a.config, key, self.config.asset_config.get(key, {}),
                                   self.config_overrides.get(key, {}))

    @classmethod
    def load(cls, start: str = ".", config_overrides: Optional[Mapping[str, Mapping]] = None) -> "Project":
        """Find ``datamake.toml`` from ``start`` upwards and load the project it describes."""
        config = load_config(find_config(start))
        return cls(config, load_definitions(config.directory, config.definitions, reload_changed=True), config_overrides)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.storage_root, self.config.storage_options)
        return self._store

    def asset(self, key: str) -> AssetDef:
        self.graph.select([key])  # raises SelectionError with a hint
        if key in self.defs.sources:
            from .errors import SelectionError

            raise SelectionError(f"'{key}' is a source: datamake observes it but does not build it",
                                 hint=f"name an asset that uses it; `datamake ls` lists both")
        return self.defs.assets[key]

    def code_version(self, key: str) -> CodeVersion:
        """The effective code version: decorator pin, then pins file, then automatic."""
        cached = self._code_versions.get(key)
        if cached is None:
            a = self.defs.assets[key]
            fp = fingerprint(a.fn, self._code_roots, a.packages)
            auto, parts = fp.version, dict(fp.parts)
            versioned = {n: self.defs.resources[n].version for n in self.defs.resource_params[key]}
            versioned = {n: v for n, v in versioned.items() if v is not None}
            if versioned:  # a resource that declares a version is part of the code version
                parts.update({f"resource:{n}": v for n, v in versioned.items()})
                auto = hash_value("code+resources", auto, sorted(versioned.items()))[:16]
            pin = self.pins.get(key)
            if a.code_version is not None:
                cached = CodeVersion(a.code_version, "code", auto, parts=parts)
            elif pin is not None:
                cached = CodeVersion(pin.code_version, "pin", auto, drifted=pin.source != auto, parts=parts)
            else:
                cached = CodeVersion(auto, "auto", auto, parts=parts)
            self._code_versions[key] = cached
        return cached

    def scope(self, selection: Sequence[str] = (), only: bool = False, force: bool = False,
              partition: Optional[str] = None, now: Optional[datetime.datetime] = None) -> Scope:
        """Resolve a selection (and ``--partition``), gather the facts and plan it.

        Scope keys are node ids: the asset key, or ``key[partition]``.
        """
        from .observe import observe_all

        sources = self.defs.sources
        selected_keys = [k for k in self.graph.ordered(self.graph.select(selection)) if k not in sources or not only]
        if partition is not None and not selection:
            # `make -p DAY` means that day of the partitioned assets: an unpartitioned asset
            # downstream would pull in every partition, so it is left out unless named.
            partitioned = [k for k in selected_keys if k in self.defs.assets and self.defs.assets[k].partitions]
            selected_keys = partitioned or selected_keys
        expander = Expander(self.defs, self.graph, now or datetime.datetime.now(datetime.timezone.utc))
        expander.validate()
        nodes = expander.expand(selection_partitions(expander, selected_keys, partition), only)
        keys = tuple(n for n in nodes.order if nodes.asset_of[n][0] not in sources)
        in_scope = set(keys)
        outside_keys = sorted({d for n in keys for d in nodes.deps[n]} - in_scope)
        source_keys = [n for n in outside_keys if n in sources]
        asset_outside = [n for n in outside_keys if n not in sources]
        manifests = self.store.read_manifests([*keys, *asset_outside])
        sizes = self.store.artifact_sizes(m.artifact for m in manifests.values() if m is not None)
        facts: Dict[str, AssetFacts] = {}
        configs: Dict[str, Any] = {}
        forced = {n for n in keys if nodes.asset_of[n][0] in set(selected_keys)} if force else set()
        for node in keys:
            key, pk = nodes.asset_of[node]
            m = manifests[node]
            cv = self.code_version(key)
            if key not in configs:
                configs[key], config_hashes = self.asset_config(key)
                self._config_hashes[key] = config_hashes
            facts[node] = AssetFacts(
                key=key,
                code_version=cv.value,
                deps=nodes.deps[node],
                config_hash=self._config_hashes[key],
                partition=pk,
                manifest=m,
                artifact_ok=m is None or sizes.get(m.artifact) == m.size,
                forced=node in forced,
                code_parts=cv.parts if cv.origin == "auto" else {},
            )
        outside: Dict[str, Optional[str]] = dict(observe_all({k: sources[k] for k in source_keys}, self.store))
        for node in asset_outside:
            m = manifests[node]
            ok = m is not None and sizes.get(m.artifact) == m.size
            outside[node] = m.data_version if ok else None
        codeversion.save_cache(self._code_cache_path())
        return Scope(keys, facts, plan(facts, keys, outside, source_keys), outside, manifests,
                     frozenset(source_keys), configs, nodes)

    def current_manifest(self, key: str, partition: Optional[str] = None) -> Optional[Manifest]:
        node = node_id(key, partition)
        return self.store.read_manifests([node])[node]

    def pin(self, keys: Iterable[str]) -> List[Tuple[str, str]]:
        """Pin each key; returns (key, version) pinned.

        The pinned version is the one the asset's current value was built with
        (so the edits made since are declared cosmetic and rebuild nothing), or
        the current code version when it has no value yet. An existing pin keeps
        its version and acknowledges the current source.
        """
        keys = list(keys)
        recorded = self._recorded_code_versions(keys)
        done = []
        for key in keys:
            cv = self.code_version(key)
            if cv.origin == "code":
                continue
            value = cv.value if cv.origin == "pin" else (recorded.get(key) or cv.auto)
            self.pins[key] = pins_mod.Pin(value, cv.auto)
            done.append((key, value))
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return done

    def _recorded_code_versions(self, keys: List[str]) -> Dict[str, str]:
        """The code version of each unpartitioned asset's current value (partitioned: none)."""
        plain = [k for k in keys if self.defs.assets[k].partitions is None]
        manifests = self.store.read_manifests(plain)
        return {k: m.code_version for k, m in manifests.items() if m is not None}

    def unpin(self, keys: Iterable[str]) -> List[str]:
        removed = [k for k in keys if self.pins.pop(k, None) is not None]
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return removed
