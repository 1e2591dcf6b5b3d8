"""Workload generation: the same graphs written the way each tool's users would write them.

tree(N): assets a0 .. a(N-1); a(i) depends on a((i-1)//2) and a((i-1)//3)
(once when both are the same asset; a0 has none) and returns i + the sum of its
inputs.  The a1 "variants" model the edits of the benchmark:

* ``base``    ``1 + a0``
* ``changed`` ``2 + a0``       a real change: a1's value changes, so a1 and all its
                               descendants must rebuild
* ``cutoff``  ``2 + a0 + 0``   a new code text with the same value as ``changed``: only
                               a1 needs to run (early cutoff stops the rest)

Each peer writes the tree its own users' way; doit gets one ``task_aI`` per
target with a python-action, ``file_dep`` on its inputs (MD5 checks) and a
``config_changed`` on the action's expression (doit does not version a
python-action's code; a user who edits it tracks the edit by hand, as a
Dagster user bumps ``code_version``).

flat(N): the same writers with no dependencies: N independent trivial targets, a(i) returning i
(``deps_of=flat_deps``), for the cold build throughput of many small independent targets.

par(8): eight independent assets p0 .. p7, each a pure-Python CPU-bound loop of
about 0.5 s (calibrated on this machine once per benchmark run).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections import deque
from typing import Callable, Dict, List, Set

VARIANT_CONST = {"base": 1, "changed": 2, "cutoff": 2}
VARIANT_TAIL = {"base": "", "changed": "", "cutoff": " + 0"}
# Dagster's code version is pinned by hand: a user bumps it with every edit.
DAGSTER_CODE_VERSION = {"base": "1", "changed": "2", "cutoff": "3"}

PAR_ASSETS = 8


# ---------------------------------------------------------------- graph facts


def tree_deps(i: int) -> List[int]:
    if i == 0:
        return []
    out: List[int] = []
    for d in ((i - 1) // 2, (i - 1) // 3):
        if d not in out:
            out.append(d)
    return out


def flat_deps(i: int) -> List[int]:
    """flat(N): N independent targets (no dependencies); a(i) returns i."""
    return []


Deps = Callable[[int], List[int]]  # a workload's shape: the dependencies of a(i)
SHAPES: Dict[str, Deps] = {"tree": tree_deps, "flat": flat_deps}


def tree_children(n: int) -> Dict[int, List[int]]:
    ch: Dict[int, List[int]] = {i: [] for i in range(n)}
    for i in range(n):
        for d in tree_deps(i):
            ch[d].append(i)
    return ch


def descendants(n: int, root: int) -> Set[int]:
    ch = tree_children(n)
    seen: Set[int] = set()
    todo = deque([root])
    while todo:
        x = todo.popleft()
        for c in ch[x]:
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def expected_stale_after_a1_change(n: int) -> int:
    """a1 plus every descendant of a1."""
    return 1 + len(descendants(n, 1))


def tree_values(n: int, variant: str = "base") -> List[int]:
    vals: List[int] = []
    for i in range(n):
        c = VARIANT_CONST[variant] if i == 1 else i
        vals.append(c + sum(vals[d] for d in tree_deps(i)))
    return vals


def _const(i: int, variant: str) -> int:
    return VARIANT_CONST[variant] if i == 1 else i


def _tail(i: int, variant: str) -> str:
    return VARIANT_TAIL[variant] if i == 1 else ""


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


BURN_BODY = """\
x = 0
for i in range({iters}):
    x = (x + i * i) % 1000003
"""

# Scripts (Snakemake script:, DVC stages) keep the loop in a function, as the
# asset functions of datamake and Dagster do, so every tool runs the same
# bytecode (local, not global, variables).
BURN_SCRIPT = "def work():\n" + BURN_BODY.replace("\n", "\n    ").replace("x = 0", "    x = 0", 1).rstrip() + "\n    return x\n\n\nx = work()\n"


# ------------------------------------------------------------------ datamake


def datamake_asset_src(i: int, variant: str = "base", deps_of: Deps = tree_deps) -> str:
    deps = [f"a{d}" for d in deps_of(i)]
    expr = " + ".join([str(_const(i, variant))] + deps) + _tail(i, variant)
    return f"@asset\ndef a{i}({', '.join(deps)}):\n    return {expr}\n"


def write_datamake_tree(root: str, n: int, variant: str = "base", deps_of: Deps = tree_deps) -> None:
    parts = ["from datamake import asset\n\n"]
    parts += [datamake_asset_src(i, variant, deps_of) + "\n" for i in range(n)]
    _write(os.path.join(root, "pipeline.py"), "\n".join(parts))
    _write(os.path.join(root, "datamake.toml"), '[project]\ndefinitions = "pipeline.py"\n')


def write_datamake_par(root: str, iters: int, executor: str = "") -> None:
    parts = ["from datamake import asset\n\n"]
    body = textwrap.indent(BURN_BODY.format(iters=iters), "    ")
    for k in range(PAR_ASSETS):
        parts.append(f"@asset\ndef p{k}():\n{body}    return x + {k}\n\n")
    _write(os.path.join(root, "pipeline.py"), "\n".join(parts))
    toml = '[project]\ndefinitions = "pipeline.py"\n'
    if executor:
        toml += f'\n[execution]\nexecutor = "{executor}"\n'
    _write(os.path.join(root, "datamake.toml"), toml)


# ------------------------------------------------------------------- dagster


def dagster_asset_src(i: int, variant: str = "base", deps_of: Deps = tree_deps) -> str:
    deps = [f"a{d}" for d in deps_of(i)]
    expr = " + ".join([str(_const(i, variant))] + deps) + _tail(i, variant)
    cv = DAGSTER_CODE_VERSION[variant] if i == 1 else "1"
    return f'@asset(code_version="{cv}")\ndef a{i}({", ".join(deps)}):\n    return {expr}\n'


# The driver a Dagster user would write to "materialize what is stale" from a
# script: Dagster's own stale-status resolver (what the UI's "Materialize stale
# and missing" and RunRequest(stale_assets_only=True) use), then materialize()
# on a persistent instance (DAGSTER_HOME) with the default, in-process executor.
DAGSTER_DRIVER = '''\
import json
import sys

from dagster import DagsterInstance, materialize

from defs import ASSETS


def stale_keys(instance):
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._time import get_current_datetime

    graph = AssetGraph.from_assets(ASSETS)
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    keys = [a.key for a in ASSETS]
    return [k for k in keys if resolver.get_status(k) in (StaleStatus.STALE, StaleStatus.MISSING)]


def main():
    mode = sys.argv[1]
    instance = DagsterInstance.get()
    if mode == "all":
        result = materialize(ASSETS, instance=instance)
        n = len(result.get_asset_materialization_events())
        print(json.dumps({"ok": result.success, "materialized": n}))
        return 0 if result.success else 1
    stale = stale_keys(instance)
    if mode == "status":
        print(json.dumps({"ok": True, "stale": len(stale)}))
        return 0
    # Dagster's stale status is one level deep: a child of a stale asset only
    # becomes stale once that parent has been re-materialized.  So "materialize
    # stale" is repeated until nothing is stale (what eager automation does too).
    first, total, passes = len(stale), 0, 0
    while stale:
        result = materialize(ASSETS, instance=instance, selection=stale)
        total += len(result.get_asset_materialization_events())
        passes += 1
        if not result.success:
            print(json.dumps({"ok": False, "stale": first, "materialized": total, "passes": passes}))
            return 1
        stale = stale_keys(instance)
    print(json.dumps({"ok": True, "stale": first, "materialized": total, "passes": passes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def write_dagster_tree(root: str, n: int, variant: str = "base", deps_of: Deps = tree_deps) -> None:
    parts = ["from dagster import asset\n\n"]
    parts += [dagster_asset_src(i, variant, deps_of) + "\n" for i in range(n)]
    parts.append("ASSETS = [" + ", ".join(f"a{i}" for i in range(n)) + "]\n")
    _write(os.path.join(root, "defs.py"), "\n".join(parts))
    _write(os.path.join(root, "driver.py"), DAGSTER_DRIVER)
    _write(os.path.join(root, "dagster_home", "dagster.yaml"), DAGSTER_YAML)


def write_dagster_par(root: str, iters: int) -> None:
    body = textwrap.indent(BURN_BODY.format(iters=iters), "    ")
    parts = [
        "import os\n\nfrom dagster import Definitions, asset, multiprocess_executor\n\n",
    ]
    for k in range(PAR_ASSETS):
        parts.append(f'@asset(code_version="1")\ndef p{k}():\n{body}    return x + {k}\n\n')
    parts.append(
        "defs = Definitions(\n"
        "    assets=[" + ", ".join(f"p{k}" for k in range(PAR_ASSETS)) + "],\n"
        '    executor=multiprocess_executor.configured({"max_concurrent": int(os.environ["BENCH_JOBS"])}),\n'
        ")\n"
    )
    _write(os.path.join(root, "par_defs.py"), "\n".join(parts))
    _write(os.path.join(root, "dagster_home", "dagster.yaml"), DAGSTER_YAML)


# ----------------------------------------------------------------- snakemake


def snakemake_rule_src(i: int, variant: str = "base", deps_of: Deps = tree_deps) -> str:
    deps = deps_of(i)
    lines = [f"rule a{i}:"]
    if deps:
        lines.append("    input: " + ", ".join(f'"out/a{d}.txt"' for d in deps))
    lines.append(f'    output: "out/a{i}.txt"')
    lines.append("    run:")
    if deps:
        lines.append(
            f"        value = {_const(i, variant)} + sum(int(open(f).read()) for f in input)"
            + _tail(i, variant)
        )
    else:
        lines.append(f"        value = {_const(i, variant)}")
    lines.append('        with open(output[0], "w") as f:')
    lines.append("            f.write(str(value))")
    return "\n".join(lines) + "\n"


def write_snakemake_tree(root: str, n: int, variant: str = "base", deps_of: Deps = tree_deps) -> None:
    parts = [
        "rule all:\n"
        f'    input: expand("out/a{{i}}.txt", i=range({n}))\n'
    ]
    parts += [snakemake_rule_src(i, variant, deps_of) for i in range(n)]
    _write(os.path.join(root, "Snakefile"), "\n".join(parts))


def write_snakemake_par(root: str, iters: int) -> None:
    # run: blocks execute inside the Snakemake process (threads, one GIL), so a
    # user who wants CPU parallelism writes the work as a script: per job.
    parts = [
        "rule all:\n"
        f'    input: expand("out/p{{k}}.txt", k=range({PAR_ASSETS}))\n',
        "rule p:\n"
        '    output: "out/p{k}.txt"\n'
        '    script: "scripts/burn.py"\n',
    ]
    _write(os.path.join(root, "Snakefile"), "\n".join(parts))
    script = BURN_SCRIPT.format(iters=iters) + (
        'x += int(snakemake.wildcards.k)\n'
        'with open(snakemake.output[0], "w") as f:\n'
        "    f.write(str(x))\n"
    )
    _write(os.path.join(root, "scripts", "burn.py"), script)


# ----------------------------------------------------------------------- DVC


def dvc_stage_script(i: int, variant: str = "base", deps_of: Deps = tree_deps) -> str:
    deps = deps_of(i)
    lines = ["import os", "", f"value = {_const(i, variant)}"]
    if deps:
        lines.append("for path in [" + ", ".join(f'"out/a{d}.txt"' for d in deps) + "]:")
        lines.append("    with open(path) as f:")
        lines.append("        value += int(f.read())")
    if _tail(i, variant):
        lines.append("value = value" + _tail(i, variant))
    lines.append('os.makedirs("out", exist_ok=True)')
    lines.append(f'with open("out/a{i}.txt", "w") as f:')
    lines.append("    f.write(str(value))")
    return "\n".join(lines) + "\n"


def _dvc_yaml(stages: List[Dict[str, object]]) -> str:
    # dvc.yaml is YAML; JSON is a subset of YAML, but write the block style
    # that DVC users know.
    out = ["stages:"]
    for st in stages:
        out.append(f"  {st['name']}:")
        out.append(f"    cmd: {st['cmd']}")
        out.append("    deps:")
        for d in st["deps"]:  # type: ignore[union-attr]
            out.append(f"    - {d}")
        out.append("    outs:")
        for o in st["outs"]:  # type: ignore[union-attr]
            out.append(f"    - {o}")
    return "\n".join(out) + "\n"


def write_dvc_tree(root: str, n: int, variant: str = "base", only_a1: bool = False,
                   deps_of: Deps = tree_deps) -> None:
    if only_a1:
        _write(os.path.join(root, "src", "a1.py"), dvc_stage_script(1, variant))
        return
    stages = []
    for i in range(n):
        _write(os.path.join(root, "src", f"a{i}.py"), dvc_stage_script(i, variant, deps_of))
        stages.append(
            {
                "name": f"a{i}",
                "cmd": f"python src/a{i}.py",
                "deps": [f"src/a{i}.py"] + [f"out/a{d}.txt" for d in deps_of(i)],
                "outs": [f"out/a{i}.txt"],
            }
        )
    _write(os.path.join(root, "dvc.yaml"), _dvc_yaml(stages))


def write_dvc_par(root: str, iters: int) -> None:
    stages = []
    for k in range(PAR_ASSETS):
        script = (
            "import os\n\n"
            + BURN_SCRIPT.format(iters=iters)
            + f"x += {k}\n"
            + 'os.makedirs("out", exist_ok=True)\n'
            + f'with open("out/p{k}.txt", "w") as f:\n'
            + "    f.write(str(x))\n"
        )
        _write(os.path.join(root, "src", f"p{k}.py"), script)
        stages.append(
            {
                "name": f"p{k}",
                "cmd": f"python src/p{k}.py",
                "deps": [f"src/p{k}.py"],
                "outs": [f"out/p{k}.txt"],
            }
        )
    _write(os.path.join(root, "dvc.yaml"), _dvc_yaml(stages))


# ---------------------------------------------------------------------- doit

DOIT_HEAD = """\
import os

from doit.tools import config_changed

DOIT_CONFIG = {"verbosity": 0}


def _read(path):
    with open(path) as f:
        return int(f.read())


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


"""


def doit_task_src(i: int, variant: str = "base", deps_of: Deps = tree_deps) -> str:
    deps = deps_of(i)
    expr = " + ".join([str(_const(i, variant))] + [f"_read('out/a{d}.txt')" for d in deps]) + _tail(i, variant)
    dep_list = "[" + ", ".join(f"'out/a{d}.txt'" for d in deps) + "]"
    return (
        f"def act_a{i}():\n    _write('out/a{i}.txt', {expr})\n\n\n"
        f"def task_a{i}():\n"
        f"    return {{'actions': [act_a{i}], 'file_dep': {dep_list}, 'targets': ['out/a{i}.txt'],\n"
        f"            'uptodate': [config_changed({expr!r})]}}\n\n\n"
    )


def write_doit_tree(root: str, n: int, variant: str = "base", deps_of: Deps = tree_deps) -> None:
    parts = [DOIT_HEAD, "os.makedirs('out', exist_ok=True)\n\n\n"]
    parts += [doit_task_src(i, variant, deps_of) for i in range(n)]
    _write(os.path.join(root, "dodo.py"), "".join(parts))


def write_doit_par(root: str, iters: int) -> None:
    body = textwrap.indent(BURN_BODY.format(iters=iters), "    ")
    parts = [DOIT_HEAD, "os.makedirs('out', exist_ok=True)\n\n\n"]
    for k in range(PAR_ASSETS):
        parts.append(
            f"def act_p{k}():\n{body}    _write('out/p{k}.txt', x + {k})\n\n\n"
            f"def task_p{k}():\n    return {{'actions': [act_p{k}], 'targets': ['out/p{k}.txt']}}\n\n\n"
        )
    _write(os.path.join(root, "dodo.py"), "".join(parts))
