"""Op figures: overhead per trivial op invocation, and a no-op run of a 1,000-op graph.

Usage::

    python benchmarks/bench_ops.py [--ops 1000] [--repeats 5] [--json results/ops.json]

1. Overhead per trivial op invocation, in-process: a graph of ``--ops`` ops, each
   adding its one or two inputs (a tree, like ``workloads.py``'s), run with
   ``run_graph(executor="inprocess")`` on an empty store; the time of that call
   divided by the number of ops (tracing, code versions, provenance, running the
   op, writing its output and action-cache entry, recording the run). Then the
   same graph again: every invocation restored from the action cache.
2. A no-op run of the same graph as a whole process (interpreter start, imports,
   loading the definitions, code versions, one action-cache look-up per op, the
   event log), after a first run built it.

Every figure is the median of ``--repeats`` runs, each in a fresh process.
``--memory`` also times (1) with the store in ``memory://``: datamake's own cost
per invocation, without the disk's.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Dict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from measure import median, run  # noqa: E402

IN_PROCESS = """
import dataclasses, json, sys, time
import datamake.api as dm
from datamake.ops import run_graph
project = dm.load(sys.argv[1])
if len(sys.argv) > 2:
    project.config = dataclasses.replace(project.config, storage_root=sys.argv[2])
t0 = time.perf_counter()
first = run_graph(project, "g", executor="inprocess")
t1 = time.perf_counter()
second = run_graph(project, "g", executor="inprocess")
t2 = time.perf_counter()
assert {o["status"] for o in first["ops"]} == {"ran"} and {o["status"] for o in second["ops"]} == {"cached"}
print(json.dumps({"run": t1 - t0, "cached": t2 - t1, "ops": len(first["ops"])}))
"""

NO_OP = """
import sys
import datamake.api as dm
from datamake.ops import run_graph
result = run_graph(dm.load(sys.argv[1]), "g")
assert {o["status"] for o in result["ops"]} == {"cached"}, result["ops"][:3]
"""


def write_graph(root: str, n: int) -> None:
    """``n`` trivial ops: op i adds the outputs of ops i // 2 and i - 1 (a tree with a chain)."""
    lines = ["from datamake import graph, op", ""]
    for i in range(n):
        ins = sorted({i // 2, i - 1}) if i else []
        params = ", ".join(f"x{j}" for j in ins)
        lines += ["@op", f"def op{i}({params}):", f"    return {i} + {' + '.join(f'x{j}' for j in ins) or 0}", ""]
    lines += ["@graph", "def g():"]
    for i in range(n):
        ins = sorted({i // 2, i - 1}) if i else []
        lines.append(f"    o{i} = op{i}({', '.join(f'o{j}' for j in ins)})")
    lines.append(f"    return o{n - 1}")
    with open(os.path.join(root, "pipeline.py"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(root, "datamake.toml"), "w") as f:
        f.write('[project]\ndefinitions = "pipeline.py"\n[execution]\nexecutor = "inprocess"\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--memory", action="store_true", help="also time (1) with a memory:// store")
    args = parser.parse_args()
    figures: Dict[str, float] = {}
    per_run, per_cached, no_op, memory_run, memory_cached = [], [], [], [], []
    for _ in range(args.repeats):
        root = tempfile.mkdtemp(prefix="dm-bench-ops-")
        try:
            write_graph(root, args.ops)
            done = run([sys.executable, "-c", IN_PROCESS, root], cwd=root)
            assert done.ok, done.brief()
            timing = json.loads(done.stdout)
            per_run.append(timing["run"] / timing["ops"])
            per_cached.append(timing["cached"] / timing["ops"])
            if args.memory:
                done = run([sys.executable, "-c", IN_PROCESS, root, "memory://bench-ops"], cwd=root)
                assert done.ok, done.brief()
                timing = json.loads(done.stdout)
                memory_run.append(timing["run"] / timing["ops"])
                memory_cached.append(timing["cached"] / timing["ops"])
            whole = run([sys.executable, "-c", NO_OP, root], cwd=root)
            assert whole.ok, whole.brief()
            no_op.append(whole.seconds)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    figures["ms_per_op_invocation_run"] = median(per_run) * 1000
    figures["ms_per_op_invocation_cached"] = median(per_cached) * 1000
    figures[f"no_op_run_{args.ops}_ops_whole_process_s"] = median(no_op)
    print(f"trivial op invocation, in-process, run:     {figures['ms_per_op_invocation_run']:.3f} ms each "
          f"({args.ops} ops, median of {args.repeats})")
    print(f"trivial op invocation, in-process, cached:  {figures['ms_per_op_invocation_cached']:.3f} ms each")
    print(f"no-op run of a {args.ops}-op graph, whole process: {median(no_op):.2f} s")
    if args.memory:
        figures["ms_per_op_invocation_run_memory_store"] = median(memory_run) * 1000
        figures["ms_per_op_invocation_cached_memory_store"] = median(memory_cached) * 1000
        print(f"the same with a memory:// store, run:       {median(memory_run) * 1000:.3f} ms each")
        print(f"the same with a memory:// store, cached:    {median(memory_cached) * 1000:.3f} ms each")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
