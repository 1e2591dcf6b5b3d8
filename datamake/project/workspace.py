"""A loaded project: config, definitions, graph, pins and store wired together.

This layer gathers the facts the pure planner needs (code versions, manifests,
artifact sizes) and hands them over as plain values.
"""
from __future__ import annotations

import datetime
import functools
import os
import time
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from datamake.project import heap
from datamake.project.lastpass import NO_REUSE, LastPass
from datamake.project import pins as pins_mod
from datamake.project import assetconfig
from datamake.define import codeversion, openwatch
from datamake.define.codeversion import fingerprint, is_project_file
from datamake.project.settings import ProjectConfig, check_resource_settings, find_config, load_config
from datamake.define.assets import AssetDef, Definitions
from datamake.core.errors import ConfigError, DefinitionError, SelectionError, did_you_mean
from datamake.core.nodegraph import Expander, existing_edges, selection_partitions
from datamake.core.graph import AssetGraph
from datamake.core.hashing import hash_value
from datamake.core.keys import node_id, split_node
from datamake.core.records import field, filled, record
from datamake.define.loader import definition_roots, load_definitions, remember
from datamake.core.manifest import Manifest
from datamake.core.planner import DEFINITION_PREFIX, AssetFacts, CheckFact, plan
from datamake.core.scope import Scope
from datamake.storage import iomanagers
from datamake.storage.localfiles import cache_dir, prune_folder_caches, read_json_cache, write_json_cache
from datamake.storage.store import Store
from datamake.project.assetconfig import canonical_value
from datamake.storage.observe import observe_all
from datamake.define.sources import source_at
from datamake.define.snapshot import changed_modules

if TYPE_CHECKING:
    from datamake.storage.reads import ReadVersions
    from datamake.core.partitions import DynamicPartitions
    from datamake.selection import Universe


# what inspect.isfunction, ismethod, isclass or isbuiltin accepts
_PLAIN_CALLABLES = (types.FunctionType, types.MethodType, type, types.BuiltinFunctionType)


@record(frozen=True)
class CodeVersion:
    """An asset's effective code version and where it comes from."""

    value: str
    origin: str  # "code" (code_version= in the decorator), "command" (a command asset's command and scripts),
    # "pin" (pins file) or "auto"; any but "auto" stands for the function's logic
    auto: str  # the automatic version of the current source
    drifted: bool = False  # pinned, and the source has changed since the pin
    parts: Mapping[str, str] = field(default_factory=dict)  # code dependencies behind ``auto``
    logic: str = ""  # ``auto`` without the definition arguments: what a pin replaces
    warnings: Tuple[str, ...] = ()  # code the version cannot cover (one per unversionable global)

    @functools.cached_property
    def definition_parts(self) -> Dict[str, str]:
        """The parts that describe decorator and source arguments (they count even when pinned)."""
        return {n: v for n, v in self.parts.items() if n.startswith(DEFINITION_PREFIX)}


_NO_PARTS: Mapping[str, str] = types.MappingProxyType({})


def with_definition(version: str, definition: Mapping[str, str]) -> str:
    """A logic version combined with the definition parts: ``3`` or ``3+1a2b3c4d``.

    The suffix keeps the logic version readable (and recoverable by ``pin``).
    """
    if not definition:
        return version
    return f"{version}+{hash_value('definition', sorted(definition.items()))[:8]}"


def logic_version(manifest: Manifest) -> str:
    """The logic part of a recorded code version (without its definition suffix)."""
    if any(n.startswith(DEFINITION_PREFIX) for n in manifest.code_parts) and "+" in manifest.code_version:
        return manifest.code_version.rsplit("+", 1)[0]
    return manifest.code_version


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
        self.one_shot = False  # True in a process that ends with its command: planning may freeze its objects
        self.last_pass: Optional[LastPass] = None  # set by a long-lived process that plans again and again
        self.made_scope: Optional[Scope] = None  # what the last make planned (its certificate reuses what it read)
        self.loaded_at = time.time()  # before its files were read (Project.load): see changed_since
        self._code_versions: Dict[str, CodeVersion] = {}
        self._check_versions: Dict[Tuple[str, str], str] = {}
        self._check_warnings: Dict[Tuple[str, str], Tuple[str, ...]] = {}
        self._fingerprints: Dict[Tuple[Any, Tuple[str, ...]], Any] = {}  # (fn, packages) -> fingerprint
        self.pin_notes: Dict[str, str] = {}  # asset key -> what the last pin() chose and why
        self._config_hashes: Dict[str, Optional[str]] = {}
        self._params: Optional[Dict[str, Any]] = None
        self._code_roots = self._project_roots()
        self._load_code_cache()
        self._check_config_targets()
        self.bind_dynamic_partitions()

    def dynamic_partitions(self) -> Dict[str, List[DynamicPartitions]]:
        """The project's dynamic partition definitions by name (assets' and sources')."""
        found: Dict[str, List[DynamicPartitions]] = {}
        pdefs = [n.partitions for n in self.defs.nodes.values() if getattr(n, "partitions", None) is not None]
        if not pdefs:
            return found
        from datamake.core.partitions import dynamic_definitions  # lazy: a project without partitions skips it

        for pdef in dynamic_definitions(pdefs):
            found.setdefault(pdef.name, []).append(pdef)
        return found

    def bind_dynamic_partitions(self) -> None:
        """Give each dynamic partitions definition the keys the store holds for it now."""
        for name, pdefs in self.dynamic_partitions().items():
            from datamake.storage import partitionstate  # lazy: only a project with dynamic partitions

            keys = partitionstate.read_dynamic(self.store, name)
            for pdef in pdefs:
                pdef.bind(keys)

    def changed_since(self, since: float) -> bool:
        """True when the project's code (or a file its modules read at import), ``datamake.toml``, pins
        or params file changed on disk after ``since`` (a ``time.time()`` taken before it was loaded):
        a long-lived process then loads it again."""
        if changed_modules():
            return True
        paths = [self.config.path, pins_mod.pins_path(self.directory)]
        if self.config.params_file:
            paths.append(os.path.join(self.directory, self.config.params_file))
        for path in paths:
            try:
                if os.stat(path).st_mtime >= since:
                    return True
            except FileNotFoundError:
                continue
        return False

    def _code_cache_path(self) -> str:
        """Where normalized-source hashes are kept between runs: a per-user cache, not the project."""
        return os.path.join(cache_dir(), f"code-{hash_value('project', self.directory)[:16]}.json")

    def _load_code_cache(self) -> None:
        """Read the analyses kept for this folder. A folder seen for the first time (a fresh clone, a copy,
        a CI checkout) starts from those of the last new folder (``code-seed.json``): every entry is found
        by the exact bytes of a module file, never by its path, so another folder's entries are as good."""
        data = read_json_cache(self._code_cache_path())
        self._code_cache_new = not data
        codeversion.load_cache(data or read_json_cache(os.path.join(cache_dir(), "code-seed.json")))

    def _project_roots(self) -> Tuple[str, ...]:
        """Folders whose code counts as the project's own (followed for helper code)."""
        return tuple(sorted(definition_roots(self.directory, self.config.definitions)))

    def _check_config_targets(self) -> None:
        check_resource_settings(self.config, self.defs.resources)
        for a in self.defs.assets.values():
            if a.io_manager is not None:  # (most assets: the IO manager is chosen by the value)
                _check_io_manager(a)
        for key in [*self.config.asset_config, *self.config_overrides]:
            if key not in self.defs.assets:
                raise ConfigError(f"config given for unknown asset '{key}'",
                                  hint=did_you_mean(key, self.defs.assets) or "check [config.ASSET] and --config")

    def asset_config(self, key: str) -> Tuple[Any, Optional[str]]:
        """(config instance, config hash) of one asset; (None, None) without config."""
        a = self.defs.assets[key]
        if a.config is None and key not in self.config.asset_config and key not in self.config_overrides:
            return None, None  # the common case, and what resolve() says of it
        toml_values, overrides = self.config.asset_config.get(key, {}), self.config_overrides.get(key, {})
        if a.config is not None:
            from datamake.project.paramsfile import params_only, with_params  # lazy: only assets with a config

            if self.config.params_file or params_only(a.config):
                toml_values = with_params(a.config, key, self.params, self.config.params_file, toml_values, overrides)
        return assetconfig.resolve(a.config, key, toml_values, overrides)

    @property
    def params(self) -> Dict[str, Any]:
        """The sections of the params file (``[project] params``), read once; {} without one."""
        if self._params is None:
            from datamake.project.paramsfile import load_params  # lazy: only a project with config classes

            name = self.config.params_file
            self._params = load_params(os.path.join(self.directory, name)) if name else {}
        return self._params

    @classmethod
    def load(cls, start: str = ".", config_overrides: Optional[Mapping[str, Mapping]] = None) -> "Project":
        """Find ``datamake.toml`` from ``start`` upwards and load the project it describes."""
        started = time.time()
        config = load_config(find_config(start))
        project = cls(config, load_definitions(config.directory, config.definitions, reload_changed=True),
                      config_overrides)
        project.loaded_at = started
        return project

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.storage_root, self.config.storage_options)
        return self._store

    @functools.cached_property
    def _has_partitions(self) -> bool:
        """Whether any asset or source of the project is partitioned."""
        return any(a.partitions is not None for a in self.defs.assets.values()) \
            or any(s.partitions is not None for s in self.defs.sources.values())

    def _io_manager_description(self, name: str) -> Any:
        """A named IO manager: a built-in one by its name; the project's own with its code, which writes the
        stored bytes and reads them back for the consumers."""
        manager = iomanagers.get(name)
        if iomanagers.is_built_in(manager):
            return name
        return [name, self._callable_version(manager)]

    @functools.cached_property
    def _own_auto_io_managers(self) -> List[Any]:
        """The IO managers registered with ``auto=True`` that are not built in, with their code: any of them
        may store the value of an asset that names none (most projects: none)."""
        return [[m.name, self._callable_version(m)] for m in iomanagers.automatic()
                if not iomanagers.is_built_in(m) and self._is_own_code(type(m))]

    def _is_own_code(self, cls: type) -> bool:
        """Whether ``cls`` is defined in this project (not in another one a long-lived process loaded, whose
        module may have the same name): the file of its methods' code."""
        files = (f.__code__.co_filename for f in vars(cls).values() if hasattr(f, "__code__"))
        return is_project_file(next(files, None), self._code_roots)

    @functools.cached_property
    def universe(self) -> Universe:
        """What a selection can name: keys, dependencies, groups, tags and kinds (IO managers)."""
        from datamake.selection import Universe  # lazy: a make of everything parses no selection

        kinds = {k: "source" for k in self.defs.sources}
        kinds.update((k, a.io_manager or "auto") for k, a in self.defs.assets.items())
        return Universe(self.graph.deps, self.graph.groups, {k: a.tags for k, a in self.defs.assets.items()},
                        kinds, children=self.graph.children)

    def select(self, selection: Sequence[str]) -> Set[str]:
        """The keys a selection names (see :mod:`datamake.selection`); none means every asset and source."""
        if not selection:
            return set(self.graph.deps)  # the common case: no universe to build
        if not all(part.strip() for part in selection):
            from datamake.selection.errors import empty_argument  # lazy: only for an error

            raise empty_argument()
        from datamake.selection import select  # lazy: a make of everything parses no selection

        return select(self.universe, selection)

    def asset(self, key: str) -> AssetDef:
        if key not in self.graph:
            from datamake.selection import unknown_key  # lazy: only for an error

            raise unknown_key(key, self.graph.deps)
        if key in self.defs.sources:
            raise SelectionError(f"'{key}' is a source: datamake observes it but does not build it",
                                 hint="name an asset that uses it; `datamake ls` lists both")
        return self.defs.assets[key]

    def _fingerprint(self, fn: Any, packages: Sequence[str] = ()) -> Any:
        """``codeversion.fingerprint`` of a function or class, with the project's roots; cached per project."""
        cache_key = (fn, tuple(packages))
        try:
            fp = self._fingerprints.get(cache_key)
        except TypeError:  # a class whose metaclass makes it unhashable: not cached
            return fingerprint(fn, self._code_roots, packages)
        if fp is None:
            fp = self._fingerprints[cache_key] = fingerprint(fn, self._code_roots, packages)
        return fp

    def code_version(self, key: str) -> CodeVersion:
        """The effective code version: decorator pin, then pins file, then automatic.

        The function's logic (its source, helpers, constants, tracked packages,
        versioned resources and its config class) makes the automatic version,
        which a pin replaces; the decorator and source arguments that change
        what the function receives (``<definition:...>`` parts) are added to
        whichever version applies.
        """
        cached = self._code_versions.get(key)
        if cached is None:
            a = self.defs.assets[key]
            fp = self._fingerprint(a.fn, a.packages)
            logic, parts = fp.version, fp.parts  # copied below only if something is added
            warnings = list(getattr(fp, "warnings", ()) or ())
            extra: Dict[str, str] = {}
            used = self.defs.resource_params[key]
            versioned = {n: self.defs.resources[n].version for n in used} if used else _NO_PARTS
            versioned = {n: v for n, v in versioned.items() if v is not None} if versioned else _NO_PARTS
            if versioned:  # a resource that declares a version is part of the code version
                extra.update({f"resource:{n}": v for n, v in versioned.items()})
            if a.config is not None:  # the config class's methods and properties are code the asset runs
                cfp = self._fingerprint(a.config)
                extra[f"<config:{getattr(a.config, '__qualname__', 'config')}>"] = cfp.version
                warnings.extend(w for w in getattr(cfp, "warnings", ()) or () if w not in warnings)
            if extra:
                parts = {**parts, **extra}
                logic = hash_value("code+resources", logic, sorted(extra.items()))[:16]
            definition = self._definition_parts(a, warnings)
            if definition:
                parts = {**parts, **definition}
            auto = with_definition(logic, definition)
            pin = self.pins.get(key)
            if a.code_version is not None:
                origin = "command" if hasattr(a.fn, openwatch.VERSIONED_FILES) else "code"
                cached = CodeVersion(with_definition(a.code_version, definition), origin, auto, parts=parts,
                                     logic=logic, warnings=tuple(warnings))
            elif pin is not None:
                cached = CodeVersion(with_definition(pin.code_version, definition), "pin", auto,
                                     drifted=pin.source not in (logic, auto), parts=parts, logic=logic,
                                     warnings=tuple(warnings))
            else:  # most assets: built without the frozen dataclass's __init__ (see core.records)
                cached = filled(CodeVersion, value=auto, origin="auto", auto=auto, parts=parts, logic=logic,
                                warnings=tuple(warnings))
            self._code_versions[key] = cached
        return cached

    def _definition_parts(self, a: AssetDef, warnings: List[str]) -> Dict[str, str]:
        """One part per decorator or source argument that changes what the function receives.

        Only arguments that are set appear, so an asset that sets none keeps
        the code version it had before they were versioned. Warnings about the
        functions among them (mappings, loaders) are added to ``warnings``.
        """

        def version(fn: Any) -> str:
            return self._callable_version(fn, warnings)

        described: Dict[str, Any] = {}
        if a.ins:
            described["ins"] = sorted([p, k] for p, k in a.ins.items())
        if a.io_manager is not None:
            described["io_manager"] = self._io_manager_description(a.io_manager)
        elif self._own_auto_io_managers:  # one of the project's may store its value
            described["io_managers"] = self._own_auto_io_managers
        if a.partitions is not None:
            described["partitions"] = _describe(a.partitions)
        if self._has_partitions:  # (most projects: no partitioned asset or source, nothing to look up)
            described.update(self._reading_parts(a))
        if a.partition_mapping:
            for up, mapping in sorted(a.partition_mapping.items()):
                described[f"partition_mapping {up}"] = _describe(mapping, version)
        sources = self.defs.sources
        if sources:  # (most projects have none: their assets' inputs are not looked up)
            for param, dep in sorted(self.defs.inputs.get(a.key, {}).items()):
                src = sources.get(dep)
                if src is not None and src.load != "path":
                    described[f"load {dep}"] = self._loader_description(src.load, version)
        if not described:
            return _NO_PARTS  # most assets: one shared empty mapping, not an empty dict each
        return {f"{DEFINITION_PREFIX}{name}>": hash_value("definition", name, value)[:16]
                for name, value in described.items()}

    def _reading_parts(self, a: AssetDef) -> Dict[str, Any]:
        """How ``a`` receives its partitioned upstreams (see :func:`datamake.core.partitions.reading_parts`)."""
        ups = {}
        for dep in self.defs.inputs.get(a.key, {}).values():
            pdef = getattr(self.defs.assets.get(dep) or self.defs.sources.get(dep), "partitions", None)
            if pdef is not None:
                ups[dep] = (pdef, a.partition_mapping.get(dep))
        if not ups:  # most assets
            return {}
        from datamake.core.partitions import reading_parts  # lazy: only assets with partitioned upstreams

        return reading_parts(a.partitions, ups)

    def _callable_version(self, fn: Any, warnings: Optional[List[str]] = None) -> str:
        """The code version of a user function used as an argument (a mapping, a loader).

        A callable object that is not a function or a class is versioned by its
        class's code and its attributes (never by its ``repr``, which may hold
        a memory address).
        """

        plain = isinstance(fn, _PLAIN_CALLABLES)
        fp = self._fingerprint(fn if plain else type(fn))
        if warnings is not None:
            warnings.extend(w for w in getattr(fp, "warnings", ()) or () if w not in warnings)
        if plain:
            return fp.version
        state = canonical_value(dict(vars(fn))) if hasattr(fn, "__dict__") else None
        return hash_value("callable", fp.version, state)[:16]

    def _loader_description(self, load: Any, version: Callable[[Any], str]) -> Any:
        """A source's ``load=``: a loader name, or a function (fingerprinted, helpers followed)
        with the arguments bound to it by ``functools.partial``."""

        if isinstance(load, str):
            return ["name", load]
        if isinstance(load, functools.partial):
            return ["partial", self._loader_description(load.func, version), canonical_value(list(load.args)),
                    canonical_value(dict(load.keywords or {}))]
        return ["function", version(load)]

    def check_version(self, check: Any) -> str:
        """The code version of an ``@asset_check`` function, helpers followed like an asset's (cached per project)."""
        cache_key = (check.asset_key, check.name)
        version = self._check_versions.get(cache_key)
        if version is None:
            fp = self._fingerprint(check.fn)
            version = self._check_versions[cache_key] = fp.version
            self._check_warnings[cache_key] = tuple(getattr(fp, "warnings", ()) or ())
        return version

    def check_versions(self, key: str) -> Dict[str, str]:
        """Check name -> code version, for the checks of asset ``key``."""
        return {c.name: self.check_version(c) for c in self.defs.checks.get(key, ())}

    def code_warnings(self, keys: Iterable[str]) -> List[str]:
        """Warnings about code the versions of ``keys`` (asset keys or node ids) cannot cover, each once."""
        out: List[str] = []
        seen: Set[str] = set()
        assets, checks, versions = self.defs.assets, self.defs.checks, self._code_versions
        for node in keys:  # (every node of a make, twice: its calls kept few)
            key = node.split("[", 1)[0] if "[" in node else node
            if key in seen or key not in assets:
                continue
            seen.add(key)
            version = versions.get(key)
            for w in (self.code_version(key) if version is None else version).warnings:
                out.append(_warning_text(f"asset {key}", w))
            for check in checks[key] if key in checks else ():
                self.check_version(check)
                for w in self._check_warnings.get((key, check.name), ()):
                    out.append(_warning_text(f"check {key}:{check.name}", w))
        return list(dict.fromkeys(out))

    def scope(self, selection: Sequence[str] = (), only: bool = False, force: bool = False,
              partition: Optional[str] = None, now: Optional[datetime.datetime] = None) -> Scope:
        """Resolve a selection (and ``--partition``), gather the facts and plan it.

        Scope keys are node ids: the asset key, or ``key[partition]``.
        """
        with heap.planning(freeze=self.one_shot):
            return self._scope(selection, only, force, partition, now)

    def scope_nodes(self, selection: Sequence[str] = ()) -> Tuple[str, ...]:
        """The nodes :meth:`scope` plans for ``selection`` (asset keys and ``key[partition]``, sources left
        out), without reading their manifests or planning them: what ``push`` and ``pull`` move."""
        with heap.planning(freeze=self.one_shot):
            return self._expanded(selection, False, None, None)[2]

    def _expanded(self, selection: Sequence[str], only: bool, partition: Optional[str],
                  now: Optional[datetime.datetime]) -> Tuple[List[str], Any, Tuple[str, ...]]:
        """The keys the selection names, their nodes, and those nodes that are not sources, in order."""
        sources = self.defs.sources
        last = self.last_pass or NO_REUSE  # a one-shot process keeps nothing
        selected_keys = last.selected((tuple(selection), only, partition),
                                      lambda: self.selected_keys(selection, only, partition))
        existing = _materialized(self.store, existing_edges(self.defs))
        expander = Expander(self.defs, self.graph, now or datetime.datetime.now(datetime.timezone.utc), existing)
        expander.validate()
        nodes = last.expansion((tuple(selected_keys), only, partition), expander.partitioned, lambda: expander.expand(
            selection_partitions(expander, selected_keys, partition), only))
        return selected_keys, nodes, tuple([n for n in nodes.order if nodes.asset_of[n][0] not in sources])

    def _scope(self, selection: Sequence[str], only: bool, force: bool, partition: Optional[str],
               now: Optional[datetime.datetime]) -> Scope:
        sources = self.defs.sources
        last = self.last_pass or NO_REUSE  # a one-shot process keeps nothing
        selected_keys, nodes, keys = self._expanded(selection, only, partition, now)
        in_scope = set(keys)
        outside_keys = sorted({d for n in keys for d in nodes.deps[n]} - in_scope)
        source_keys = [n for n in outside_keys if split_node(n)[0] in sources]  # a source, or one of its partitions
        asset_outside = [n for n in outside_keys if split_node(n)[0] not in sources]
        manifests = self.store.read_manifests([*keys, *asset_outside])
        intact = self.store.values_intact(m for m in manifests.values() if m is not None)
        facts: Dict[str, AssetFacts] = {}
        configs: Dict[str, Any] = {}
        selected = set(selected_keys)
        forced = {n for n in keys if nodes.asset_of[n][0] in selected} if force else set()
        check_facts: Dict[str, Tuple[CheckFact, ...]] = {}
        last_facts = last.start()
        for node in keys:
            key, pk = nodes.asset_of[node]
            m = manifests[node]
            if key not in configs:
                configs[key], config_hashes = self.asset_config(key)
                self._config_hashes[key] = config_hashes
            checks = check_facts[key] if key in check_facts else check_facts.setdefault(key, self._check_facts(key))
            ok, config_hash, deps, is_forced = m is None or intact[id(m)], self._config_hashes[key], nodes.deps[node], \
                node in forced
            moved = self.reads_changed(m) if m is not None else ()  # (no value yet: nothing it read has moved)
            if last_facts is None:
                facts[node] = self.node_facts(key, pk, deps, m, ok, config_hash, is_forced, checks, moved)
            else:
                facts[node] = last.facts(
                    last_facts, node, (m, ok, config_hash, is_forced, checks, self.code_version(key), deps, moved),
                    lambda: self.node_facts(key, pk, deps, m, ok, config_hash, is_forced, checks, moved))
        outside: Dict[str, Optional[str]] = dict(observe_all({k: source_at(sources, k) for k in source_keys}, self.store, gaps=True))
        for node in asset_outside:
            m = manifests[node]
            ok = m is not None and intact[id(m)]
            outside[node] = m.data_version if ok else None
        self.save_code_cache()
        decided = last.plan(keys, outside, source_keys, lambda: plan(facts, keys, outside, source_keys))
        return Scope(keys, facts, decided, outside, manifests, frozenset(source_keys), configs, nodes)

    def selected_keys(self, selection: Sequence[str], only: bool = False, partition: Optional[str] = None) -> List[str]:
        """The asset (and source) keys a selection names, in dependency order, as ``scope`` plans them."""
        sources = self.defs.sources
        selected_keys = [k for k in self.graph.ordered(self.select(selection)) if k not in sources or not only]
        if partition is not None and not selection:
            # `make -p DAY` means that day of the partitioned assets: an unpartitioned asset
            # downstream would pull in every partition, so it is left out unless named.
            partitioned = [k for k in selected_keys if k in self.defs.assets and self.defs.assets[k].partitions]
            selected_keys = partitioned or selected_keys
        return selected_keys

    def node_facts(self, key: str, partition: Optional[str], deps: Tuple[str, ...], manifest: Optional[Manifest],
                   artifact_ok: bool, config_hash: Optional[str], forced: bool = False,
                   checks: Optional[Tuple[CheckFact, ...]] = None,
                   reads_changed: Optional[Tuple[str, ...]] = None) -> AssetFacts:
        """The planner's facts for one node (asset ``key``, its ``partition``) with its current manifest."""
        cv = self.code_version(key)
        return filled(  # AssetFacts(...) without its frozen __init__: one per node of every plan
            AssetFacts,
            key=key,
            code_version=cv.value,
            deps=deps,
            config_hash=config_hash,
            partition=partition,
            manifest=manifest,
            artifact_ok=artifact_ok,
            forced=forced,
            code_parts=cv.parts if cv.origin == "auto" else cv.definition_parts,
            code_pinned=cv.origin != "auto",
            checks=self._check_facts(key) if checks is None else checks,
            recorded_checks=_recorded_checks(manifest) if manifest is not None else (),
            reads_changed=self.reads_changed(manifest) if reads_changed is None else reads_changed,
            unreadable=self.store.unreadable.get(node_id(key, partition), "") if self.store.unreadable else "",
        )

    @functools.cached_property
    def read_versions(self) -> "ReadVersions":
        """Current versions of files assets read without declaring them (hashed once per stat)."""
        from datamake.storage.reads import ReadVersions  # lazy: only a project whose assets read such files

        return ReadVersions(self.store)

    def reads_changed(self, manifest: Optional[Manifest]) -> Tuple[str, ...]:
        """The files ``manifest``'s value was built reading, without declaring them, that differ now."""
        if manifest is None or not manifest.reads:
            return ()
        return self.read_versions.changed(self.directory, manifest.reads)

    def save_code_cache(self) -> None:
        """Keep the normalized-source hashes computed so far for the next command (if any are new)."""
        saved = codeversion.cache_to_save(keep_unused=not self._code_cache_new)
        if saved is not None:
            write_json_cache(self._code_cache_path(), saved)
            if self._code_cache_new:  # the seed of the next new folder
                write_json_cache(os.path.join(cache_dir(), "code-seed.json"), saved)
                prune_folder_caches(cache_dir())

    def _check_facts(self, key: str) -> Tuple[CheckFact, ...]:
        if key not in self.defs.checks:
            return ()
        return tuple(CheckFact(c.name, self.check_version(c), c.blocking) for c in self.defs.checks.get(key, ()))

    def current_manifest(self, key: str, partition: Optional[str] = None) -> Optional[Manifest]:
        node = node_id(key, partition)
        return self.store.read_manifests([node])[node]

    def pin(self, keys: Iterable[str]) -> List[Tuple[str, str]]:
        """Pin each key; returns (key, version) pinned.

        The pinned version is the logic version the asset's current value was
        built with (so the edits made since are declared cosmetic and rebuild
        nothing), or the current one when it has no value yet. A partitioned
        asset takes the version its current partitions were built with; when
        they disagree, the one most of them were built with (see
        :attr:`pin_notes`). An existing pin keeps its version and acknowledges
        the current source. Decorator and source arguments are never pinned.
        """
        keys = list(keys)
        recorded = self._recorded_code_versions(keys)
        done = []
        for key in keys:
            cv = self.code_version(key)
            if cv.origin in ("code", "command"):
                continue
            value = self.pins[key].code_version if cv.origin == "pin" else (recorded.get(key) or cv.logic)
            self.pins[key] = pins_mod.Pin(value, cv.logic)
            done.append((key, value))
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return done

    def _recorded_code_versions(self, keys: List[str]) -> Dict[str, str]:
        """The logic version each asset's current value was built with.

        For a partitioned asset: the version of its current partitions, or the
        most common one when they disagree (explained in :attr:`pin_notes`).
        """
        self.pin_notes: Dict[str, str] = {}
        plain = [k for k in keys if self.defs.assets[k].partitions is None]
        manifests = self.store.read_manifests(plain)
        out = {k: logic_version(m) for k, m in manifests.items() if m is not None}
        partitioned = [k for k in keys if self.defs.assets[k].partitions is not None]
        if not partitioned:
            return out
        now = datetime.datetime.now(datetime.timezone.utc)
        nodes = {k: [node_id(k, pk) for pk in self.defs.assets[k].partitions.keys(now)] for k in partitioned}
        found = self.store.read_manifests([n for ns in nodes.values() for n in ns])
        for key, ns in nodes.items():
            counts: Dict[str, int] = {}
            for n in ns:
                m = found.get(n)
                if m is not None:
                    v = logic_version(m)
                    counts[v] = counts.get(v, 0) + 1
            if not counts:
                continue
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            out[key] = ranked[0][0]
            if len(ranked) > 1:
                others = ", ".join(f"{n} with {v}" for v, n in ranked[1:])
                self.pin_notes[key] = (f"its partitions were built with different code versions: {ranked[0][1]} with "
                                       f"{ranked[0][0]} (pinned), {others}; those are stale: "
                                       f"`datamake make {key}` rebuilds them")
        return out

    def unpin(self, keys: Iterable[str]) -> List[str]:
        removed = [k for k in keys if self.pins.pop(k, None) is not None]
        pins_mod.write_pins(self.directory, self.pins)
        self._code_versions.clear()
        return removed


def _materialized(store: Any, keys: Iterable[str]) -> Dict[str, Any]:
    """Which partitions of each asset in ``keys`` hold a value (the assets a partition mapping reads)."""
    keys = list(keys)
    if not keys:
        return {}
    from datamake.storage import partitionstate  # lazy: only a project whose partitions map onto others

    return {k: partitionstate.materialized_partitions(store, k) for k in keys}


def _describe(obj: Any, fn_version: Optional[Callable[[Callable], str]] = None) -> Any:
    """:func:`datamake.core.partitions.describe`, imported when a partitioned asset or a mapping is met."""
    from datamake.core.partitions import describe  # lazy: a project without partitions never loads the module

    return describe(obj, fn_version)


def _recorded_checks(manifest: Optional[Manifest]) -> Tuple[CheckFact, ...]:
    """The check results recorded with a value, as planner facts."""
    if manifest is None or not manifest.checks:
        return ()
    from datamake.define.checks import recorded  # lazy: a project without checks never loads the module

    return tuple(CheckFact(r.name, r.version, r.blocking, r.passed, r.message)
                 for r in recorded(manifest.key, manifest.checks))


def _warning_text(who: str, warning: str) -> str:
    """``asset X reads global Y ...`` from a code-version warning (which may or may not name the asset)."""
    text = warning.strip()
    if text.startswith(who):
        return text
    verb = text.split(" ", 1)[0]
    return f"{who} {text}" if verb in ("reads", "uses", "calls", "imports", "writes") else f"{who}: {text}"


def _check_io_manager(a: AssetDef) -> None:
    """Reject an unknown ``io_manager=`` (one is given) when the project loads, not when the asset has run."""
    known = iomanagers.names()
    if a.io_manager not in known:
        raise DefinitionError(
            f"asset '{a.key}': unknown io_manager '{a.io_manager}'",
            hint=did_you_mean(a.io_manager, known) or f"known IO managers: {', '.join(known)}",
        )
