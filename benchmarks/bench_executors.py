"""Executor figures: trivial assets per second, no-op make on 10,000 assets, 8 x 0.5 s of CPU.

Usage::

    python benchmarks/bench_executors.py [--repeats 5] [--json results/executors.json]

Every figure is the median of ``--repeats`` runs, each in a fresh process:

1. trivial assets per second at N = 1,000 (the ``tree`` graph of
   ``workloads.py``: each asset adds its one or two inputs), for the
   in-process, thread (-j 2), process (-j 2) and Dask (-j 2) executors. The
   time is that of ``api.make`` alone (planning, running, writing artifacts and
   manifests) on an empty store; the Dask cluster is started beforehand, its
   start-up is reported on its own line;
2. a no-op ``datamake make`` on a built 10,000-asset tree: the whole process,
   interpreter start and imports included;
3. eight independent assets of 0.5 s of pure-Python CPU work each (calibrated
   here), ``datamake make`` as a whole process at ``-j 1`` and ``-j 2`` for each
   executor. On two cores the ideal is 4 s at -j 1 and 2 s at -j 2.

The machine may be shared: each section first waits (a bounded time) for the
load average to drop, and the load seen is printed with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from measure import calibrate_burn, median, run, wait_quiet  # noqa: E402
from workloads import write_datamake_par, write_datamake_tree  # noqa: E402

PY = sys.executable
TRIVIAL_N = 1000
NOOP_N = 10_000
EXECUTORS = [("inprocess", 1), ("thread", 2), ("process", 2), ("dask", 2)]
CPU_CASES = [("inprocess", 1), ("thread", 1), ("thread", 2), ("process", 1), ("process", 2), ("dask", 1), ("dask", 2)]

# Runs in a fresh interpreter: times api.make alone and prints the seconds.
_TIMED_MAKE = r"""
import os, sys, time
root, executor, jobs, store = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if store:
    with open(os.path.join(root, "datamake.toml"), "a") as f:
        f.write(f'\n[storage]\nroot = "{store}"\n')
cluster = None
if executor == "dask":
    import distributed
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=50)
    startup = time.perf_counter() - t0
    with open(os.path.join(root, "datamake.toml"), "a") as f:
        f.write(f'\n[execution]\naddress = "{cluster.scheduler_address}"\n')
    print("startup", startup)
from datamake import api
project = api.load(root)
t0 = time.perf_counter()
result = api.make(project, executor=executor, jobs=jobs)
elapsed = time.perf_counter() - t0
assert result.ok and result.counts()["built"] == len(result.assets), result.counts()
print("make", elapsed)
if cluster is not None:
    cluster.close()
"""


def _fresh_tree(n: int) -> str:
    root = tempfile.mkdtemp(prefix="dm-bench-")
    write_datamake_tree(root, n)
    return root


def trivial_rate(executor: str, jobs: int, repeats: int, tmpfs: bool = False) -> Dict[str, Optional[float]]:
    """Median assets per second of api.make on an empty store (and the Dask start-up).

    With ``tmpfs`` the store lies in /dev/shm: what is left is datamake's own
    overhead, without the disk's cost of creating and renaming files.
    """
    rates, startups = [], []
    for _ in range(repeats):
        root = _fresh_tree(TRIVIAL_N)
        store = tempfile.mkdtemp(prefix="dm-bench-", dir="/dev/shm") if tmpfs else ""
        try:
            proc = subprocess.run([PY, "-c", _TIMED_MAKE, root, executor, str(jobs), store],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                print(f"  {executor}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            figures = dict(line.split() for line in proc.stdout.splitlines() if line.split()[0] in ("make", "startup"))
            rates.append(TRIVIAL_N / float(figures["make"]))
            if "startup" in figures:
                startups.append(float(figures["startup"]))
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if store:
                shutil.rmtree(store, ignore_errors=True)
    return {"assets_per_second": median(rates), "cluster_startup_seconds": median(startups) if startups else None}


def noop_make(repeats: int) -> Optional[float]:
    """Median wall time of a whole `datamake make` process with nothing to do on NOOP_N assets."""
    root = _fresh_tree(NOOP_N)
    try:
        built = run([PY, "-m", "datamake", "make", "-q", "--executor", "inprocess"], cwd=root, timeout=1800)
        if not built.ok:
            print(built.brief(), file=sys.stderr)
            return None
        times = []
        for _ in range(repeats):
            r = run([PY, "-m", "datamake", "make", "-q"], cwd=root, timeout=600)
            if r.ok:
                times.append(r.seconds)
        return median(times)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cpu_case(executor: str, jobs: int, iters: int, repeats: int) -> Optional[float]:
    """Median wall time of `datamake make` (whole process) over eight 0.5 s CPU-bound assets."""
    times = []
    for _ in range(repeats):
        root = tempfile.mkdtemp(prefix="dm-bench-")
        try:
            write_datamake_par(root, iters)
            r = run([PY, "-m", "datamake", "make", "-q", "--executor", executor, "-j", str(jobs)], cwd=root, timeout=600)
            if r.ok:
                times.append(r.seconds)
            else:
                print(r.brief(), file=sys.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return median(times)


def _fmt(value: Optional[float], unit: str = "") -> str:
    return "failed" if value is None else f"{value:,.2f}{unit}"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this file")
    parser.add_argument("--skip", action="append", default=[], choices=["trivial", "noop", "cpu"])
    args = parser.parse_args(argv)
    figures: Dict[str, object] = {"cpus": os.cpu_count(), "repeats": args.repeats}

    if "trivial" not in args.skip:
        print(f"trivial assets per second, N = {TRIVIAL_N} (load {wait_quiet():.2f})")
        figures["trivial"] = {}
        for executor, jobs in EXECUTORS:
            got = trivial_rate(executor, jobs, args.repeats)
            figures["trivial"][f"{executor} -j {jobs}"] = got
            extra = f"  (cluster start-up {got['cluster_startup_seconds']:.2f} s, not counted)" \
                if got["cluster_startup_seconds"] else ""
            print(f"  {executor:<10} -j {jobs}  {_fmt(got['assets_per_second'])} assets/s{extra}")
        if os.path.isdir("/dev/shm"):
            got = trivial_rate("inprocess", 1, args.repeats, tmpfs=True)
            figures["trivial"]["inprocess -j 1, store on tmpfs"] = got
            print(f"  inprocess  -j 1  {_fmt(got['assets_per_second'])} assets/s  (store on tmpfs: no disk cost)")

    if "noop" not in args.skip:
        print(f"no-op make, N = {NOOP_N}, whole process (load {wait_quiet():.2f})")
        figures["noop_make_seconds"] = noop_make(args.repeats)
        print(f"  {_fmt(figures['noop_make_seconds'], ' s')}")

    if "cpu" not in args.skip:
        iters = calibrate_burn(0.5)
        print(f"8 x 0.5 s CPU, whole process ({iters:,} loop iterations per asset; load {wait_quiet():.2f})")
        figures["cpu_8x05"] = {}
        for executor, jobs in CPU_CASES:
            seconds = cpu_case(executor, jobs, iters, args.repeats)
            figures["cpu_8x05"][f"{executor} -j {jobs}"] = seconds
            print(f"  {executor:<10} -j {jobs}  {_fmt(seconds, ' s')}")

    if args.json_path:
        os.makedirs(os.path.dirname(os.path.abspath(args.json_path)), exist_ok=True)
        with open(args.json_path, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
