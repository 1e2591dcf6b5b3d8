"""Op caching against a brute-force model: random op graphs, random edits.

After an edit, exactly the invocations whose provenance changed run (the
edited ops, and the ops downstream whose inputs' values changed), and every
output equals what a run from scratch computes.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

import datamake.api as dm
from datamake.define.loader import forget_project_code
from datamake.history import opevents
from datamake.history.events import reading
from datamake.ops import run_graph

MOD = 5  # small, so that edits often keep an op's value: early cutoff gets exercised


@st.composite
def graphs(draw):
    """(constants, inputs of each op, edits {op: new constant})."""
    n = draw(st.integers(2, 7))
    constants = [draw(st.integers(0, 9)) for _ in range(n)]
    inputs = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=2))) if i else [] for i in range(n)]
    edited = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=2))
    edits = {i: draw(st.integers(0, 9).filter(lambda k, i=i: k != constants[i])) for i in edited}
    return constants, inputs, edits


def source(constants, inputs) -> str:
    lines = ["from pathlib import Path", "from datamake import graph, op", "",
             "LOG = Path(__file__).parent / 'runs.log'", ""]
    for i, (k, ins) in enumerate(zip(constants, inputs)):
        params = ", ".join(f"x{j}" for j in ins)
        total = " + ".join([str(k), *[f"x{j}" for j in ins]])
        lines += ["@op", f"def op{i}({params}):",
                  f"    value = ({total}) % {MOD}",
                  f"    LOG.open('a').write('op{i}=' + str(value) + '\\n')",
                  "    return value", ""]
    lines += ["@graph", "def g():"]
    for i, ins in enumerate(inputs):
        lines.append(f"    o{i} = op{i}({', '.join(f'o{j}' for j in ins)})")
    lines.append("    return {" + ", ".join(f"'o{i}': o{i}" for i in range(len(inputs))) + "}")
    return "\n".join(lines) + "\n"


def model(constants, inputs):
    values = []
    for k, ins in zip(constants, inputs):
        values.append((k + sum(values[j] for j in ins)) % MOD)
    return values


def run(root: Path, text: str):
    """Write the pipeline, run the graph; (what ran with its value, output data versions by op)."""
    (root / "pipeline.py").write_text(text)
    (root / "runs.log").write_text("")
    project = dm.load(str(root))  # an edited pipeline.py is imported afresh
    result = run_graph(project, "g", executor="inprocess")
    assert result["status"] == "ok"
    ran = dict(line.split("=") for line in (root / "runs.log").read_text().split())
    with reading(dm.history_file(project)) as history:
        rows = opevents.invocations(history, result["run_id"])
    reported = {o["invocation"] for o in result["ops"] if o["status"] == "ran"}
    assert reported == set(ran), (reported, ran)
    return {k: int(v) for k, v in ran.items()}, {r["op"]: r["outputs"]["result"] for r in rows}


def project(text: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="dm-ops-model-"))
    store = f"memory://ops-model/{root.name}"  # artifacts in memory: the model is about decisions, not disks
    (root / "datamake.toml").write_text(f'[project]\ndefinitions = "pipeline.py"\n[storage]\nroot = "{store}"\n')
    return root


@settings(max_examples=min(15, settings().max_examples), deadline=None)
@given(graphs())
def test_exactly_the_ops_whose_provenance_changed_run_and_results_match_a_fresh_run(case):
    constants, inputs, edits = case
    before = model(constants, inputs)
    changed = [edits.get(i, k) for i, k in enumerate(constants)]
    after = model(changed, inputs)
    root = fresh = None
    try:
        root = project("")
        first, _ = run(root, source(constants, inputs))
        assert first == {f"op{i}": v for i, v in enumerate(before)}
        again, _ = run(root, source(constants, inputs))
        assert again == {}  # an unchanged graph runs nothing

        expected = {f"op{i}" for i, ins in enumerate(inputs)
                    if i in edits or any(after[j] != before[j] for j in ins)}
        incremental, versions = run(root, source(changed, inputs))
        assert set(incremental) == expected
        assert all(incremental[name] == after[int(name[2:])] for name in incremental)

        fresh = project("")
        scratch, scratch_versions = run(fresh, source(changed, inputs))
        assert scratch == {f"op{i}": v for i, v in enumerate(after)}
        assert versions == scratch_versions  # the same data versions as a run from scratch
    finally:
        for folder in (root, fresh):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        forget_project_code([str(root)])
