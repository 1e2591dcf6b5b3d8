"""This checkout against an earlier datamake release, side by side on the same workloads.

Usage::

    python benchmarks/vs_release.py                  # against 0.1.0 (git revision 67c132f)
    python benchmarks/vs_release.py --base v0.2.0 --reps 9 --big-n 10000

The base revision is exported with ``git archive`` and installed into its own
virtual environment under ``benchmarks/.venvs/``; this working tree is installed
the same way (not editable) into another. Each figure is measured as a whole process,
the two versions in turn (base, current, base, current, ...) on their own copy
of the workload, so a machine whose speed drifts affects both alike. It prints
each version's median and the median of the pairwise ratios current / base:
below 1 is faster. Both versions cache bytecode, as on a user's machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import measure
import workloads as wl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENVS = os.path.join(HERE, ".venvs")
RELEASE_0_1_0 = "67c132f"


def current_python() -> str:
    """The interpreter of a venv with this working tree installed as a user would (not editable:
    an editable install adds an import hook to every start-up, which the release does not pay)."""
    venv = os.path.join(VENVS, "datamake-current")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    print(f"[setup] installing this working tree into {venv} ...", flush=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", REPO], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", REPO], check=True)  # dependencies, if missing
    return python


def base_python(revision: str) -> str:
    """The interpreter of a venv with datamake at ``revision`` installed (created once)."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", revision], check=True,
                         capture_output=True, text=True).stdout.strip()
    venv = os.path.join(VENVS, f"datamake-{sha}")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python):
        return python
    print(f"[setup] installing datamake at {revision} ({sha}) into {venv} ...", flush=True)
    with tempfile.TemporaryDirectory() as src:
        archive = subprocess.run(["git", "-C", REPO, "archive", sha], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", src], check=True)
    return python


def _env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "0"
    return env


class Version:
    """One datamake installation and its own work folders."""

    def __init__(self, label: str, python: str, work: str):
        self.label, self.python = label, python
        self.work = os.path.join(work, label)
        os.makedirs(self.work, exist_ok=True)

    def run(self, wd: Optional[str], *args: str) -> measure.RunResult:
        result = measure.run([self.python, "-m", "datamake", *args], cwd=wd, env=_env())
        if not result.ok:
            raise SystemExit(f"{self.label}: datamake {' '.join(args)} failed\n{result.brief()}")
        return result

    def tree(self, name: str, n: int, built: bool) -> str:
        """A fresh tree(n) workload folder, built once when ``built``."""
        wd = os.path.join(self.work, name)
        shutil.rmtree(wd, ignore_errors=True)
        wl.write_datamake_tree(wd, n)
        if built:
            self.run(wd, "make", "-q")
        return wd


Figure = Tuple[str, Callable[[Version], Callable[[], measure.RunResult]]]


def figures(n: int, big_n: int) -> List[Figure]:
    """(name, prepare) pairs; ``prepare(version)`` sets up and returns the timed call."""

    def startup(v: Version):
        return lambda: v.run(None, "--version")

    def cold(v: Version):
        def timed():
            wd = v.tree("cold", n, built=False)
            return v.run(wd, "make", "-q")
        return timed

    def noop(size: int, *args: str):
        def prepare(v: Version):
            wd = v.tree(f"noop{size}", size, built=True)
            return lambda: v.run(wd, *args)
        return prepare

    def edit(v: Version):
        wd = v.tree("edit", n, built=True)
        state = {"variant": "base"}

        def timed():  # a1's code changes: its 998 descendants rebuild
            state["variant"] = "changed" if state["variant"] != "changed" else "base"
            wl.write_datamake_tree(wd, n, state["variant"])
            return v.run(wd, "make", "-q")
        return timed

    out: List[Figure] = [
        ("start-up: datamake --version", startup),
        (f"cold build, tree({n:,})", cold),
        (f"no-op status, tree({n:,})", noop(n, "status", "--json")),
        (f"no-op make, tree({n:,})", noop(n, "make", "-q")),
        (f"a1 edited: rebuild, tree({n:,})", edit),
    ]
    if big_n:
        out += [(f"no-op status, tree({big_n:,})", noop(big_n, "status", "--json")),
                (f"no-op make, tree({big_n:,})", noop(big_n, "make", "-q"))]
    return out


def compare(base: Version, current: Version, figure: Figure, reps: int) -> Dict[str, float]:
    name, prepare = figure
    timed = {base.label: prepare(base), current.label: prepare(current)}
    for call in timed.values():  # warm-up: bytecode caches, the page cache
        call()
    secs: Dict[str, List[float]] = {base.label: [], current.label: []}
    rss: Dict[str, List[int]] = {base.label: [], current.label: []}
    for _ in range(reps):
        for label, call in timed.items():
            result = call()
            secs[label].append(result.seconds)
            rss[label].append(result.max_rss_kib)
    ratios = [c / b for b, c in zip(secs[base.label], secs[current.label])]
    return {"base": statistics.median(secs[base.label]), "current": statistics.median(secs[current.label]),
            "ratio": statistics.median(ratios), "base_rss": statistics.median(rss[base.label]) / 1024,
            "current_rss": statistics.median(rss[current.label]) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=RELEASE_0_1_0, help="git revision to compare with (default: 0.1.0)")
    ap.add_argument("--reps", type=int, default=5, help="alternating pairs per figure (default 5)")
    ap.add_argument("--n", type=int, default=1000, help="tree size (default 1000)")
    ap.add_argument("--big-n", type=int, default=10000, help="tree size of the large no-op (0: skip)")
    ap.add_argument("--only", default="", help="run only figures whose name contains this text")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="datamake-vs-release-") as work:
        base = Version(f"base {args.base}", base_python(args.base), work)
        current = Version("current", current_python(), work)
        print(f"{'figure':38} {'base':>9} {'current':>9} {'current/base':>13} {'peak MiB base → current':>24}")
        for figure in figures(args.n, args.big_n):
            if args.only and args.only not in figure[0]:
                continue
            r = compare(base, current, figure, args.reps)
            print(f"{figure[0]:38} {r['base']:8.3f}s {r['current']:8.3f}s {r['ratio']:13.2f} "
                  f"{r['base_rss']:11.0f} → {r['current_rss']:.0f}", flush=True)
        print(f"medians of {args.reps} alternating pairs; current/base is the median of the pairwise ratios")


if __name__ == "__main__":
    main()
