"""The first no-op ``make`` after a cold build, and the cold build itself, for one or more installs.

For each repetition and each install in turn (alternating, so a drift of the machine's speed hits
them alike): a cold build of tree(N) from an empty store and no certificate (the purity verdict of
the module kept, as after a change of data only), then the first no-op ``make`` after it. Each is timed as a whole process (wall, and CPU of the child from the
operating system's accounting); medians are printed per install. The build column is context, not
an A/B of the builds (each build follows the other install's no-op): compare those by instruction
counts or by alternating whole builds.

Usage: python benchmarks/bench_first_noop.py N RUNS PYTHON [PYTHON ...]
(each PYTHON: the interpreter of a virtual environment with datamake installed, non-editable)
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as wl  # noqa: E402


def timed(cmd, cwd: str, env: dict):
    """(wall seconds, CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(n: int, runs: int, pythons) -> None:
    root = tempfile.mkdtemp(prefix="first-noop-")
    project = os.path.join(root, "tree")
    os.makedirs(project)
    wl.write_datamake_tree(project, n)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DATAMAKE_NO_SHORTCUT")}
    figures = {p: {"build": [], "noop": []} for p in pythons}
    try:
        for rep in range(runs + 1):  # the first round (bytecode, the kept purity verdict) is not counted
            for python in pythons:
                cache = os.path.join(root, python.replace(os.sep, "_"))
                shutil.rmtree(os.path.join(project, ".datamake"), ignore_errors=True)
                for name in os.listdir(os.path.join(cache, "uptodate")) if rep else ():
                    if not name.startswith("purity-"):  # (the verdicts stay, as after a data-only change)
                        os.unlink(os.path.join(cache, "uptodate", name))
                run_env = {**env, "DATAMAKE_CACHE_DIR": cache}
                build = timed([python, "-m", "datamake", "make", "-q"], project, run_env)
                noop = timed([python, "-m", "datamake", "make", "-q"], project, run_env)
                if rep:
                    figures[python]["build"].append(build)
                    figures[python]["noop"].append(noop)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for python, got in figures.items():
        for what, samples in got.items():
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            print(f"tree({n}) {what:5} {python}: wall {wall:.3f} s, cpu {cpu:.3f} s (median of {len(samples)})")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
