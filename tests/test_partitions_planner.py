"""Hypothesis properties of partitioned planning and making, checked against a brute-force model.

Each example builds a random pipeline of assets that are unpartitioned, daily
(``D``, a few days across a month end), static (``R``: two regions) or both
(``M``: date x region), wired by identity, rolling windows, projections,
whole collections and mapping functions. It materializes everything through
:mod:`datamake.api` on a local folder store, then edits it at random:

- ``code``: a real code change to one asset (every partition gets a new meaning);
- ``cosmetic``: a new code version with the same meaning (early cutoff stops it);
- ``data``: the data one root partition returns changes, and the user rebuilds
  exactly that partition (``make -B --only -p KEY ASSET``).

The model knows the mappings independently of datamake and recomputes every
partition from scratch. Checked: the plan's stale set before ``make``; which
partitions ``make`` builds, restores from the action cache or skips; every
stored value against the brute-force recomputation and a from-scratch rebuild
in an empty store; all fresh afterwards; and that a changed partition makes
exactly itself and its mapped dependents stale (unpartitioned dependents
included, since they read every partition).
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from hypothesis import given, note, settings
from hypothesis import strategies as st

from datamake import api
from datamake.project.settings import ProjectConfig
from datamake.define.assets import Definitions, asset
from datamake.core.keys import node_id
from datamake.core.partitions import DailyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping
from datamake.project.workspace import Project

WORK = tempfile.TemporaryDirectory(prefix="datamake-partition-props-")
MODULUS = 3  # small: different inputs often give equal values (early cutoff)
FIRST_DAY = dt.date(2024, 1, 30)  # the days cross a month end
REGIONS = ("eu", "us")
_profile = settings.default.max_examples
BOUNDED = settings(max_examples=_profile if _profile > 100 else min(_profile, 40))

CALLS: List[str] = []  # node ids, appended by every asset function that runs
DATA: Dict[Tuple[str, Optional[str]], int] = {}  # what a root partition "reads" (not versioned by datamake)

Node = Tuple[str, Optional[str]]  # (asset key, partition key)


# -- the model: partition keys and mappings, written independently of datamake ------------------

@dataclass
class World:
    """The partition sets of one example."""

    n_days: int

    @property
    def days(self) -> List[str]:
        return [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(self.n_days)]

    def keys(self, kind: Optional[str]) -> List[Optional[str]]:
        if kind is None:
            return [None]
        if kind == "D":
            return list(self.days)
        if kind == "R":
            return list(REGIONS)
        return [f"{d}|{r}" for d in self.days for r in REGIONS]

    def definition(self, kind: Optional[str]):
        daily = DailyPartitions(start=self.days[0], end=(FIRST_DAY + dt.timedelta(days=self.n_days)).isoformat())
        regions = StaticPartitions(REGIONS, name="region")
        return {None: None, "D": daily, "R": regions, "M": MultiPartitions(daily, regions)}[kind]

    def mapping_fn(self, edge: str):
        """The user's mapping function of a ``fn`` edge (the same function serves datamake and the model)."""
        days = self.days
        if edge == "fn_day_to_region":
            return lambda pk: ["eu"] if int(pk[-2:]) % 2 else ["us"]
        if edge == "fn_region_to_days":
            return lambda pk: days[:1] if pk == "eu" else days[-2:]
        if edge == "fn_previous_day":
            return lambda pk: [(dt.date.fromisoformat(pk) - dt.timedelta(days=1)).isoformat()]
        return None

    def upstream(self, edge: str, up_kind: Optional[str], pk: Optional[str]) -> Tuple[List[Optional[str]], bool]:
        """(upstream partition keys, passed as a {key: value} collection?) of one edge, for partition ``pk``."""
        days = self.days
        if edge == "plain":
            return [None], False
        if edge == "all":
            return self.keys(up_kind), True
        if edge == "identity":
            return [pk], False
        if edge.startswith("rolling"):
            day = pk.split("|")[0]
            i = days.index(day)
            return days[max(0, i - int(edge[-1])):i + 1], True
        if edge.startswith("fn_"):
            return [k for k in self.mapping_fn(edge)(pk) if k in self.keys(up_kind)], True
        if edge == "all_regions":
            return [f"{pk}|{r}" for r in REGIONS], True
        if edge == "all_days":
            return [f"{d}|{pk}" for d in days], True
        if edge == "project_date":
            return [pk.split("|")[0]], False
        if edge == "project_region":
            return [pk.split("|")[1]], False
        raise AssertionError(edge)


# (downstream kind, upstream kind) -> the edges the test may draw
EDGES = {
    ("D", "D"): ["identity", "rolling1", "rolling2", "fn_previous_day"],
    ("D", "R"): ["fn_day_to_region"],
    ("D", "M"): ["all_regions"],
    ("R", "D"): ["fn_region_to_days"],
    ("R", "R"): ["identity"],
    ("R", "M"): ["all_days"],
    ("M", "D"): ["project_date", "rolling1"],
    ("M", "R"): ["project_region"],
    ("M", "M"): ["identity"],
}


def edge_options(down: Optional[str], up: Optional[str]) -> List[str]:
    if up is None:
        return ["plain"]
    if down is None:
        return ["all"]
    return EDGES[(down, up)]


@dataclass
class Spec:
    key: str
    kind: Optional[str]
    edges: Tuple[Tuple[str, str], ...]  # (upstream key, edge)
    code: int = 0  # the code_version=; only ever goes up
    meaning: int = 0  # what the function adds; changes with real code edits


def value_of(spec: Spec, pk: Optional[str], inputs: Dict[str, object]) -> str:
    """An asset's value: unique to its key, colliding across partitions and inputs."""
    total = spec.meaning + (DATA.get((spec.key, pk), 0) if not spec.edges else 0)
    for value in inputs.values():
        for v in (value.values() if isinstance(value, dict) else [value]):
            total += int(v.rsplit(":", 1)[1])
    return f"{spec.key}:{total % MODULUS}"


class Model:
    """What the store should hold, node by node: (provenance, value), and the action cache."""

    def __init__(self, world: World, specs: List[Spec]):
        self.world, self.specs = world, specs
        self.by_key = {s.key: s for s in specs}
        self.current: Dict[Node, Tuple[tuple, str]] = {}
        self.cache: Dict[tuple, str] = {}

    def nodes(self) -> List[Node]:
        return [(s.key, pk) for s in self.specs for pk in self.world.keys(s.kind)]

    def ups(self, spec: Spec, pk: Optional[str]) -> List[Tuple[str, Node, bool]]:
        """(parameter, upstream node, collection?) for every upstream node of one partition."""
        out = []
        for dep, edge in spec.edges:
            keys, collection = self.world.upstream(edge, self.by_key[dep].kind, pk)
            out.extend((dep, (dep, k), collection) for k in keys)
        return out

    def inputs(self, spec: Spec, pk: Optional[str], values: Dict[Node, str]) -> Dict[str, object]:
        params: Dict[str, object] = {}
        for dep, edge in spec.edges:
            keys, collection = self.world.upstream(edge, self.by_key[dep].kind, pk)
            params[dep] = {k: values[(dep, k)] for k in keys} if collection else values[(dep, keys[0])]
        return params

    def prov(self, spec: Spec, pk: Optional[str], values: Dict[Node, str]) -> tuple:
        return (spec.key, spec.code, pk, tuple(sorted((node, values[node]) for _p, node, _c in self.ups(spec, pk))))

    def from_scratch(self) -> Dict[Node, str]:
        """The brute-force oracle: every partition recomputed from the current code and data."""
        values: Dict[Node, str] = {}
        for spec in self.specs:
            for pk in self.world.keys(spec.kind):
                values[(spec.key, pk)] = value_of(spec, pk, self.inputs(spec, pk, values))
        return values

    def predicted_stale(self) -> Set[Node]:
        """What the plan should call stale before ``make`` (no early cutoff in a plan)."""
        held = {node: value for node, (_prov, value) in self.current.items()}
        stale: Set[Node] = set()
        for spec in self.specs:
            for pk in self.world.keys(spec.kind):
                node = (spec.key, pk)
                record = self.current.get(node)
                ups = [n for _p, n, _c in self.ups(spec, pk)]
                if (record is None or record[0][1] != spec.code or any(u in stale for u in ups)
                        or dict(record[0][3]) != {u: held.get(u) for u in ups}):
                    stale.add(node)
        return stale

    def make(self, forced: Optional[Node] = None) -> Tuple[Set[Node], Set[Node], Set[Node]]:
        """Simulate ``make`` (or a forced rebuild of one node): (built, cached, skipped)."""
        values = {node: value for node, (_prov, value) in self.current.items()}
        built, cached, skipped = set(), set(), set()
        for node in ([forced] if forced else self.nodes()):
            spec, pk = self.by_key[node[0]], node[1]
            prov = self.prov(spec, pk, values)
            record = self.current.get(node)
            if node != forced and record is not None and record[0] == prov:
                value = record[1]
                skipped.add(node)
            elif node != forced and prov in self.cache:
                value = self.cache[prov]
                cached.add(node)
            else:
                value = value_of(spec, pk, self.inputs(spec, pk, values))
                built.add(node)
            self.current[node] = (prov, value)
            self.cache[prov] = value
            values[node] = value
        return built, cached, skipped

    def dependents(self, changed: Node) -> Set[Node]:
        """``changed`` and every node that reads it, directly or through others."""
        out = {changed}
        for spec in self.specs:
            for pk in self.world.keys(spec.kind):
                if any(u in out for _p, u, _c in self.ups(spec, pk)):
                    out.add((spec.key, pk))
        return out


# -- real definitions for the model ------------------------------------------------------------

def build_assets(world: World, specs: List[Spec]):
    model = Model(world, specs)
    out = []
    for spec in specs:
        frozen = Spec(spec.key, spec.kind, spec.edges, spec.code, spec.meaning)

        def fn(context, _spec=frozen, **inputs):
            pk = context.partition_key
            CALLS.append(node_id(_spec.key, pk))
            for dep, edge in _spec.edges:  # datamake passes exactly the partitions the model maps
                keys, collection = world.upstream(edge, model.by_key[dep].kind, pk)
                got = inputs[dep]
                assert (sorted(got) if collection else got.split(":")[0]) == (sorted(keys) if collection else dep), \
                    f"{_spec.key}[{pk}] got {dep}={got!r}, expected partitions {keys}"
            if world.definition(_spec.kind) is not None and _spec.kind != "R":
                assert context.partition_time_window[0].date().isoformat() == pk.split("|")[0]
            return value_of(_spec, pk, inputs)

        params = ", ".join(["context", *(d for d, _e in spec.edges)])
        call = ", ".join(f"{d}={d}" for d, _e in spec.edges)
        namespace = {"fn": fn}
        exec(f"def {spec.key}({params}):\n    return fn(context, {call})\n", namespace)  # noqa: S102 - scaffolding
        mapping = {}
        for dep, edge in spec.edges:
            if edge.startswith("rolling"):
                mapping[dep] = TimeWindowMapping(start_offset=-int(edge[-1]))
            elif edge.startswith("fn_"):
                mapping[dep] = world.mapping_fn(edge)
        out.append(asset(namespace[spec.key], code_version=str(spec.code), io_manager="text",
                         partitions=world.definition(spec.kind), partition_mapping=mapping))
    return out


def new_project(world: World, specs: List[Spec], folder: str) -> Project:
    config = ProjectConfig(path=os.path.join(folder, "datamake.toml"), definitions="pipeline.py",
                           storage_root=os.path.join(folder, "store"), executor="inprocess")
    return Project(config, Definitions(build_assets(world, specs)))


def outcomes(result) -> Dict[str, Set[Node]]:
    assert result.ok, result.to_dict()
    out: Dict[str, Set[Node]] = {"built": set(), "cached": set(), "skipped": set()}
    for a in result.assets:
        out[a.outcome].add((a.key, a.partition))
    return out


def stored_values(project: Project, nodes: List[Node]) -> Dict[Node, Optional[str]]:
    ids = [node_id(*n) for n in nodes]
    manifests = project.store.read_manifests(ids)
    return {n: (project.store.load(manifests[i]) if manifests[i] else None) for n, i in zip(nodes, ids)}


def stale_nodes(project: Project) -> Set[Node]:
    before = len(CALLS)
    plan = api.status(project)
    assert len(CALLS) == before, "planning ran an asset function"
    return {(d.key, d.partition) for d in plan.decisions if d.stale}


# -- strategies ---------------------------------------------------------------------------------

@st.composite
def pipelines(draw, max_assets: int = 5) -> Tuple[World, List[Spec]]:
    world = World(draw(st.integers(1, 3)))
    specs: List[Spec] = []
    for i in range(draw(st.integers(1, max_assets))):
        kind = draw(st.sampled_from([None, "D", "R", "M"]))
        deps = sorted(draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True))) if i else []
        edges = tuple((specs[j].key, draw(st.sampled_from(edge_options(kind, specs[j].kind)))) for j in deps)
        specs.append(Spec(f"a{i}", kind, edges, meaning=draw(st.integers(0, MODULUS - 1))))
    return world, specs


edits = st.lists(st.tuples(st.sampled_from(["code", "cosmetic", "data"]), st.integers(0, 99), st.integers(0, 99),
                           st.integers(1, MODULUS - 1)), min_size=1, max_size=4)


def fresh_example(world: World, specs: List[Spec]) -> Tuple[str, Model, Project]:
    DATA.clear()
    for spec in specs:
        for pk in world.keys(spec.kind):
            DATA[(spec.key, pk)] = sum(map(ord, f"{spec.key}{pk}")) % MODULUS
    folder = os.path.join(WORK.name, uuid.uuid4().hex)
    model = Model(world, specs)
    project = new_project(world, specs, folder)
    CALLS.clear()
    result = api.make(project, executor="inprocess", history=False)
    built, _cached, _skipped = model.make()
    assert outcomes(result)["built"] == built == set(model.nodes())
    return folder, model, project


# -- properties ---------------------------------------------------------------------------------

@BOUNDED
@given(pipelines(), edits)
def test_incremental_make_matches_brute_force_and_builds_only_what_changed(pipeline, edit_list):
    world, specs = pipeline
    note(f"days={world.days} specs={specs}")
    folder, model, project = fresh_example(world, specs)
    roots = [s for s in specs if not s.edges]
    for kind, i, j, delta in edit_list:
        if kind == "data":  # one root partition returns other data; the user rebuilds exactly it
            spec = roots[i % len(roots)]
            pk = world.keys(spec.kind)[j % len(world.keys(spec.kind))]
            DATA[(spec.key, pk)] += delta
            result = api.make(new_project(world, specs, folder), [spec.key], executor="inprocess", history=False,
                              force=True, only=True, partition=pk)
            built, _c, _s = model.make(forced=(spec.key, pk))
            assert outcomes(result)["built"] == built == {(spec.key, pk)}
        else:
            spec = specs[i % len(specs)]
            spec.code += 1
            spec.meaning += kind == "code"
    note(f"after edits: specs={specs} data={DATA}")

    project = new_project(world, specs, folder)
    assert stale_nodes(project) == model.predicted_stale()

    CALLS.clear()
    got = outcomes(api.make(project, executor="inprocess", history=False))
    built, cached, skipped = model.make()
    assert got == {"built": built, "cached": cached, "skipped": skipped}
    assert sorted(CALLS) == sorted(node_id(*n) for n in built)  # each function ran once, and only those

    truth = model.from_scratch()
    assert stored_values(project, model.nodes()) == truth
    oracle = os.path.join(WORK.name, uuid.uuid4().hex)  # rebuild everything in an empty store and diff
    api.make(new_project(world, specs, oracle), executor="inprocess", history=False)
    assert stored_values(new_project(world, specs, oracle), model.nodes()) == truth

    assert stale_nodes(new_project(world, specs, folder)) == set()


@BOUNDED
@given(pipelines(), st.integers(0, 99), st.integers(0, 99))
def test_a_changed_partition_makes_exactly_itself_and_its_mapped_dependents_stale(pipeline, i, j):
    world, specs = pipeline
    note(f"days={world.days} specs={specs}")
    folder, model, project = fresh_example(world, specs)
    roots = [s for s in specs if not s.edges]
    spec = roots[i % len(roots)]
    pk = world.keys(spec.kind)[j % len(world.keys(spec.kind))]
    changed = (spec.key, pk)

    DATA[changed] += 1  # the value of this partition changes (MODULUS > 1)
    api.make(new_project(world, specs, folder), [spec.key], executor="inprocess", history=False,
             force=True, only=True, partition=pk)
    model.make(forced=changed)

    project = new_project(world, specs, folder)
    plan = api.status(project)
    stale = {(d.key, d.partition) for d in plan.decisions if d.stale}
    expected = model.dependents(changed) - {changed}
    assert stale == expected
    direct = {n for n in model.nodes() if changed in [u for _p, u, _c in model.ups(model.by_key[n[0]], n[1])]}
    for d in plan.decisions:
        codes = {r.code for r in d.reasons}
        node = (d.key, d.partition)
        if node in direct:
            assert "input_changed" in codes
        elif d.stale:
            assert codes == {"upstream_stale"}
    # an unpartitioned asset downstream of the changed asset reads every partition: it is stale
    readers = {s.key for s in specs if s.kind is None} & {k for k, _pk in expected}
    assert readers <= {k for k, pk in stale if pk is None}

    CALLS.clear()
    got = outcomes(api.make(project, executor="inprocess", history=False))
    built, cached, skipped = model.make()
    assert got == {"built": built, "cached": cached, "skipped": skipped}
    assert built | cached <= expected
    assert stored_values(project, model.nodes()) == model.from_scratch()
    assert stale_nodes(new_project(world, specs, folder)) == set()
