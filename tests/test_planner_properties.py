"""Hypothesis properties of planning and making, checked against a brute-force oracle.

Each example builds a random DAG of assets whose values are small strings
computed from their inputs (many collide, so early cutoff is exercised),
materializes it through the real API and store (``memory://``), applies random
edits (real code changes, value-preserving code changes, deleted manifests and
artifacts), and checks:

- correctness: after ``make``, every data version equals the one a full
  rebuild from scratch in an empty store gives (the "rebuild everything and
  diff" oracle);
- minimality: ``make`` runs exactly the functions of assets whose provenance
  has no usable materialization (not the current one, not in the action cache);
- idempotence: after ``make`` the next plan is empty and the next make runs nothing;
- locality: a code change to X makes exactly X and its descendants stale;
- determinism: the plan does not depend on the order the assets are declared in.
"""
from __future__ import annotations

import base64
import os
import random
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Set, Tuple

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from datamake import api
from datamake.project.settings import ProjectConfig
from datamake.define.assets import Definitions, asset
from datamake.project.workspace import Project

PROJECTS = tempfile.TemporaryDirectory(prefix="datamake-props-")  # project folders (pins would go there)
MODULUS = 3  # small, so that different inputs often give the same value (early cutoff)
CALLS: List[str] = []  # every asset function appends its key when it runs


@dataclass
class Spec:
    """One asset of the model: its dependencies, declared code version and meaning."""

    key: str
    deps: Tuple[str, ...]
    code: int = 0  # the code_version= string; bumped by every code edit
    meaning: int = 0  # what the function computes; bumped only by real edits
    reads_inputs: bool = True  # False: the value ignores the inputs (they are deps for ordering only)


def model_value(spec: Spec, inputs: Dict[str, str]) -> str:
    """The value the asset's function returns: unique to the key, colliding across inputs."""
    total = spec.meaning + (sum(int(v.rsplit(":", 1)[1]) for v in inputs.values()) if spec.reads_inputs else 0)
    return f"{spec.key}:{total % MODULUS}"


def make_function(spec: Spec):
    frozen = replace(spec)
    keys = frozen.deps

    def fn(**inputs):
        CALLS.append(frozen.key)
        assert set(inputs) == set(keys)
        return model_value(frozen, inputs)

    fn.__name__ = spec.key
    return fn


def build_assets(specs: List[Spec]):
    """Real @asset definitions for the model: inputs passed by name through ins=."""
    out = []
    for spec in specs:
        fn = make_function(spec)
        # A signature with one parameter per dependency, so values are passed in.
        params = ", ".join(spec.deps)
        call = ", ".join(f"{d}={d}" for d in spec.deps)
        namespace = {"fn": fn}
        exec(f"def {spec.key}({params}):\n    return fn({call})\n", namespace)  # noqa: S102 - test scaffolding
        out.append(asset(namespace[spec.key], code_version=f"{spec.code}", io_manager="text"))
    return out


def new_project(specs: List[Spec], store_url: str, shuffle_seed: Optional[int] = None) -> Project:
    assets = build_assets(specs)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(assets)
    config = ProjectConfig(path=os.path.join(PROJECTS.name, uuid.uuid4().hex, "datamake.toml"),
                           definitions="pipeline.py", storage_root=store_url, executor="inprocess")
    return Project(config, Definitions(assets))


def run_make(specs: List[Spec], store_url: str) -> Tuple[Set[str], Dict[str, str]]:
    """Make everything; returns (functions that ran, outcome per asset)."""
    CALLS.clear()
    result = api.make(new_project(specs, store_url), executor="inprocess", history=False)
    assert result.ok, result.to_dict()
    ran = set(CALLS)
    assert len(ran) == len(CALLS), "a function ran twice in one make"
    return ran, {a.key: a.outcome for a in result.assets}


def data_versions(project: Project) -> Dict[str, Optional[str]]:
    manifests = project.store.read_manifests(project.graph.order)
    return {k: (m.data_version if m else None) for k, m in manifests.items()}


def descendants(specs: List[Spec], roots: Set[str]) -> Set[str]:
    out = set(roots)
    for spec in specs:  # specs are in topological order
        if any(d in out for d in spec.deps):
            out.add(spec.key)
    return out


# -- the model of what make should do ------------------------------------------------------

@dataclass
class Model:
    """What the store holds, in model terms: current provenance per key, the action cache, artifacts."""

    current: Dict[str, Tuple[tuple, str]] = field(default_factory=dict)  # key -> (provenance, value)
    action_cache: Dict[tuple, str] = field(default_factory=dict)  # provenance -> value
    artifacts: Set[str] = field(default_factory=set)  # values whose artifact exists

    def expected_runs(self, specs: List[Spec]) -> Set[str]:
        """Simulate make: the keys whose function must run. Updates the model."""
        values: Dict[str, str] = {}
        runs = set()
        for spec in specs:
            inputs = {d: values[d] for d in spec.deps}
            prov = (spec.key, spec.code, tuple(sorted(inputs.items())))
            held = self.current.get(spec.key)
            if held is not None and held[0] == prov and held[1] in self.artifacts:
                value = held[1]  # skipped: fresh (possibly by early cutoff)
            elif prov in self.action_cache and self.action_cache[prov] in self.artifacts:
                value = self.action_cache[prov]  # cached
            else:
                value = model_value(spec, inputs)  # built
                runs.add(spec.key)
                self.artifacts.add(value)
            self.current[spec.key] = (prov, value)
            self.action_cache[prov] = value
            values[spec.key] = value
        return runs


# -- strategies -------------------------------------------------------------------------------

@st.composite
def dags(draw, max_assets: int = 8) -> List[Spec]:
    n = draw(st.integers(1, max_assets))
    specs = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        specs.append(Spec(f"a{i}", tuple(f"a{j}" for j in sorted(deps)),
                          meaning=draw(st.integers(0, MODULUS - 1)), reads_inputs=draw(st.booleans())))
    return specs


EDIT_KINDS = ("real_edit", "cosmetic_edit", "revert", "delete_manifest", "delete_artifact")
edits = st.lists(st.tuples(st.sampled_from(EDIT_KINDS), st.integers(0, 100)), min_size=1, max_size=4)


def apply_edit(kind: str, spec: Spec, project: Project, model: Model, history: Dict[str, List[Tuple[int, int]]]):
    """Change one asset's code, or damage its stored state; keep the model in step."""
    if kind == "real_edit":
        spec.code += 1
        spec.meaning += 1
    elif kind == "cosmetic_edit":  # a new code version, the same meaning
        spec.code += 1
    elif kind == "revert":  # back to an earlier version (the action cache may still have it)
        spec.code, spec.meaning = history[spec.key][0]
    elif kind == "delete_manifest":
        project.store.remove_manifest(spec.key)
        model.current.pop(spec.key, None)
    elif kind == "delete_artifact":
        held = model.current.get(spec.key)
        manifest = project.current_manifest(spec.key)
        if held is not None and manifest is not None and manifest.inline is not None:
            # a small value lives in its manifest: damage it there. The action entry keeps its own
            # good copy, so the value comes back from the action cache without running anything.
            bad = base64.b64encode(b"not the value").decode()
            project.store.write_small(project.store.manifest_path(spec.key), manifest.replace(inline=bad).to_json())
        elif held is not None and manifest is not None and held[1] in model.artifacts:
            project.store.fs.rm_file(project.store.artifact_path(manifest.artifact))
            model.artifacts.discard(held[1])
    history[spec.key].append((spec.code, spec.meaning))


# -- properties -------------------------------------------------------------------------------

@pytest.mark.parametrize("values_in", ["manifests", "files"])  # small values inline, or every value a file
@given(specs=dags(), edit_list=edits)
def test_incremental_make_matches_full_rebuild_and_runs_only_what_changed(values_in, specs, edit_list):
    saved = os.environ.get("DATAMAKE_INLINE_LIMIT")
    os.environ["DATAMAKE_INLINE_LIMIT"] = "0" if values_in == "files" else "2048"
    try:
        _incremental_make_matches_full_rebuild(specs, edit_list)
    finally:
        if saved is None:
            del os.environ["DATAMAKE_INLINE_LIMIT"]
        else:
            os.environ["DATAMAKE_INLINE_LIMIT"] = saved


def _incremental_make_matches_full_rebuild(specs, edit_list):
    store_url = f"memory://props-{uuid.uuid4().hex}"
    model = Model()
    history = {s.key: [(s.code, s.meaning)] for s in specs}
    assert model.expected_runs(specs) == {s.key for s in specs}
    ran, _ = run_make(specs, store_url)
    assert ran == {s.key for s in specs}

    project = new_project(specs, store_url)
    for kind, index in edit_list:
        apply_edit(kind, specs[index % len(specs)], project, model, history)
    note(f"specs after edits: {specs}")

    expected = model.expected_runs(specs)
    ran, outcomes = run_make(specs, store_url)
    assert ran == expected  # minimality (and no missed rebuild)
    assert {k for k, o in outcomes.items() if o == "built"} == ran

    oracle = f"memory://oracle-{uuid.uuid4().hex}"
    run_make(specs, oracle)  # rebuild everything from scratch
    assert data_versions(new_project(specs, store_url)) == data_versions(new_project(specs, oracle))

    # idempotence: nothing is stale, and another make runs nothing
    assert api.status(new_project(specs, store_url)).stale == []
    ran, outcomes = run_make(specs, store_url)
    assert ran == set() and set(outcomes.values()) == {"skipped"}


@given(dags(), st.data())
def test_a_code_change_makes_exactly_the_asset_and_its_descendants_stale(specs, data):
    store_url = f"memory://locality-{uuid.uuid4().hex}"
    run_make(specs, store_url)
    changed = data.draw(st.sets(st.sampled_from([s.key for s in specs]), min_size=1, max_size=2))
    for spec in specs:
        if spec.key in changed:
            spec.code += 1
    plan = api.status(new_project(specs, store_url))
    assert set(plan.stale) == descendants(specs, changed)
    for decision in plan.decisions:
        reason_codes = {r.code for r in decision.reasons}
        if decision.key in changed:
            assert "code_changed" in reason_codes
        elif decision.stale:
            assert reason_codes == {"upstream_stale"}


@given(dags(), st.randoms(use_true_random=False), st.booleans())
def test_plan_does_not_depend_on_declaration_order(specs, rnd, built):
    store_url = f"memory://order-{uuid.uuid4().hex}"
    if built:
        run_make(specs, store_url)
        specs[rnd.randrange(len(specs))].code += 1
    plans = [api.status(new_project(specs, store_url, shuffle_seed=seed)) for seed in (None, rnd.random(), 7)]
    assert plans[0] == plans[1] == plans[2]
    selection = [specs[-1].key]
    scopes = [new_project(specs, store_url, shuffle_seed=seed).scope(selection).plan for seed in (None, 3)]
    assert scopes[0] == scopes[1]
