#!/usr/bin/env python
"""datamake vs Dagster, Snakemake and DVC on the same workloads.

    python benchmarks/run.py            # full run (N = 1,000 and 10,000, 3 repetitions)
    python benchmarks/run.py --quick    # smoke run (N = 200, 1 repetition)

Creates each peer's virtual environment under benchmarks/.venvs/ on first use,
generates every workload in temporary directories, runs the tools in
alternation (round-robin, the order rotating every repetition), and prints a
table of medians with ratios peer / datamake.  Results go to
benchmarks/results/latest.json and latest.md, and into docs/benchmarks.md
between its RESULTS markers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import peers  # noqa: E402
import workloads as wl  # noqa: E402

REPO = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
DOC = os.path.join(REPO, "docs", "benchmarks.md")
BEGIN, END = "<!-- BEGIN RESULTS -->", "<!-- END RESULTS -->"


# ------------------------------------------------------------------ bookkeeping


class Figures:
    """figure id -> meta + per-tool samples."""

    def __init__(self) -> None:
        self.meta: Dict[str, dict] = {}
        self.data: Dict[str, Dict[str, dict]] = {}
        self.errors: List[dict] = []

    def define(self, fid: str, title: str, unit: str, kind: str, expected=None) -> None:
        self.meta[fid] = {"title": title, "unit": unit, "kind": kind, "expected": expected}
        self.data.setdefault(fid, {})

    def _slot(self, fid: str, tool: str) -> dict:
        return self.data[fid].setdefault(tool, {"values": [], "notes": [], "timeouts": 0, "failures": 0})

    def add(self, fid: str, tool: str, value) -> None:
        if value is not None:
            self._slot(fid, tool)["values"].append(value)

    def note(self, fid: str, tool: str, text: str) -> None:
        notes = self._slot(fid, tool)["notes"]
        if text not in notes:
            notes.append(text)

    def timeout(self, fid: str, tool: str, seconds: float) -> None:
        self._slot(fid, tool)["timeouts"] += 1
        self.note(fid, tool, f">timeout ({seconds:.0f} s)")

    def failure(self, fid: str, tool: str, r: measure.RunResult) -> None:
        self._slot(fid, tool)["failures"] += 1
        self.note(fid, tool, f"failed (exit {r.rc})")
        self.errors.append({"figure": fid, "tool": tool, "detail": r.brief(1500)})

    def record_run(self, fid: str, tool: str, r: measure.RunResult, value=None) -> bool:
        """Add ``value`` (default: the run's seconds) if the run went well."""
        if r.timed_out:
            self.timeout(fid, tool, r.seconds)
            return False
        if r.rc != 0:
            self.failure(fid, tool, r)
            return False
        self.add(fid, tool, r.seconds if value is None else value)
        return True

    def median(self, fid: str, tool: str):
        slot = self.data.get(fid, {}).get(tool)
        if not slot or not slot["values"]:
            return None
        return measure.median(slot["values"])

    def as_json(self) -> dict:
        out = {}
        for fid, meta in self.meta.items():
            tools = {}
            for tool, slot in self.data.get(fid, {}).items():
                tools[tool] = dict(slot, median=self.median(fid, tool))
            out[fid] = dict(meta, tools=tools)
        return out


LOADS: List[float] = []  # 1-min load average before each tree scenario (shared machine?)


def dump_partial(figs: "Figures") -> None:
    """Progress file, so a long run that is stopped still leaves its numbers."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "partial.json.tmp"), "w") as f:
        json.dump({"figures": figs.as_json(), "errors": figs.errors}, f, indent=1)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rotate(items: List, k: int) -> List:
    if not items:
        return items
    k %= len(items)
    return items[k:] + items[:k]


# --------------------------------------------------------------------- figures


def fig_startup(tools: Dict[str, peers.Tool], figs: Figures, reps: int) -> None:
    figs.define("startup", "start-up: `TOOL --version`", "s", "time")
    figs.define("import", "start-up: `python -c 'import TOOL'`", "s", "time")
    names = list(tools)
    for rep in range(reps):
        for name in rotate(names, rep):
            t = tools[name]
            figs.record_run("startup", name, t.run(t.startup_argv(), None, timeout=120))
            figs.record_run("import", name, t.run(t.import_argv(), None, timeout=120))


def tree_scenario(
    t: peers.Tool, n: int, figs: Figures, tmp: str, rep: int, full: bool, check: bool,
    budget: float = float("inf"),
) -> None:
    """One repetition of the tree(N) life cycle for one tool in a fresh directory.

    Once the life cycle has run longer than ``budget`` seconds its remaining
    steps are skipped (with a note), so one slow tool cannot eat the run."""
    wd = tempfile.mkdtemp(prefix=f"{t.name}-n{n}-r{rep}-", dir=tmp)
    t_start = time.perf_counter()

    def over(next_fids: List[str]) -> bool:
        spent = time.perf_counter() - t_start
        if spent <= budget:
            return False
        for fid in next_fids:
            figs.note(fid, t.name, f"skipped: life cycle over its {budget:.0f} s budget")
        return True

    try:
        if f"first_{n}" in figs.meta:  # the same build on a machine the tool never ran on, in a folder of its own
            first = tempfile.mkdtemp(prefix=f"{t.name}-first-n{n}-r{rep}-", dir=tmp)
            t.setup_tree(first, n)
            r = t.first_build(first)
            if r is not None and figs.record_run(f"first_{n}", t.name, r):
                figs.add(f"first_rate_{n}", t.name, n / r.seconds)
            shutil.rmtree(first, ignore_errors=True)
        t.setup_tree(wd, n)
        r, built = t.cold_build(wd)
        if not figs.record_run(f"cold_{n}", t.name, r):
            return
        add_cold(figs, "cold", t.name, n, r)
        if built is not None and built != n:
            figs.note(f"cold_{n}", t.name, f"built {built} of {n}")
        if check and rep == 0:
            v = t.read_value(wd, n - 1)
            want = wl.tree_values(n)[n - 1]
            if v != want:
                figs.note(f"cold_{n}", t.name, f"WRONG value a{n-1}: {v} != {want}")

        later = ["changed_stale_count", "changed_rebuild_s", "changed_rebuilt_count",
                 "cutoff_stale_count", "cutoff_rebuild_s", "cutoff_rebuilt_count"]
        if over([f"noop_status_{n}", f"noop_build_{n}"] + later):
            return
        r, stale = t.status(wd)
        figs.record_run(f"noop_status_{n}", t.name, r)
        if r.ok and stale:
            figs.note(f"noop_status_{n}", t.name, f"reported {stale} stale when all fresh")
        r, built = t.build(wd)
        if figs.record_run(f"noop_build_{n}", t.name, r):
            figs.add(f"noop_rss_{n}", t.name, r.max_rss_kib / 1024.0)
        if r.ok and built:
            figs.note(f"noop_build_{n}", t.name, f"rebuilt {built} when all fresh")
        # the same no-op again: a tool may keep what the first one learnt (datamake's certificate)
        r, built = t.build(wd)
        figs.record_run(f"noop_again_{n}", t.name, r)
        if r.ok and built:
            figs.note(f"noop_again_{n}", t.name, f"rebuilt {built} when all fresh")
        if not full:
            return

        # (4) change the code of a1 (its value changes)
        if over(later):
            return
        t.set_a1(wd, n, "changed")
        r, stale = t.status(wd)
        figs.record_run("changed_stale_count", t.name, r, stale)
        r, built = t.build(wd)
        if figs.record_run("changed_rebuild_s", t.name, r):
            figs.add("changed_rebuilt_count", t.name, built)
            if check and rep == 0:
                v = t.read_value(wd, n - 1)
                want = wl.tree_values(n, "changed")[n - 1]
                if v != want:
                    figs.note("changed_rebuild_s", t.name, f"WRONG value a{n-1} after rebuild: {v} != {want}")
        else:
            return

        # (5) early cutoff: new code text, same value
        if over(later[3:]):
            return
        t.set_a1(wd, n, "cutoff")
        r, stale = t.status(wd)
        figs.record_run("cutoff_stale_count", t.name, r, stale)
        r, built = t.build(wd)
        if figs.record_run("cutoff_rebuild_s", t.name, r):
            figs.add("cutoff_rebuilt_count", t.name, built)
    except Exception as e:  # a tool's setup step blew up: note it, go on with the others
        figs.note(f"cold_{n}", t.name, f"error: {e!r}"[:300])
    finally:
        shutil.rmtree(wd, ignore_errors=True)


@contextlib.contextmanager
def full_path():
    """``DATAMAKE_NO_SHORTCUT=1`` for the commands started meanwhile: a no-op loads the project."""
    os.environ["DATAMAKE_NO_SHORTCUT"] = "1"
    try:
        yield
    finally:
        del os.environ["DATAMAKE_NO_SHORTCUT"]


def noop_big(
    tools: Dict[str, peers.Tool],
    n: int,
    figs: Figures,
    tmp: str,
    reps: int,
    projected: Dict[str, Optional[float]],
    budget: float,
) -> None:
    """One cold build per tool at N (setup), then `reps` alternated no-op rounds."""
    wds: Dict[str, str] = {}
    for name, t in tools.items():
        p = projected.get(name)
        if p is None or p > budget:
            why = "no N=1,000 cold build to project from" if p is None else f"projected cold build {p:.0f} s > budget {budget:.0f} s"
            for fid in (f"cold_{n}", f"noop_status_{n}", f"noop_build_{n}", f"noop_rss_{n}"):
                figs.note(fid, name, f"skipped: {why}")
            log(f"[N={n}] {name}: skipped ({why})")
            continue
        wd = tempfile.mkdtemp(prefix=f"{name}-n{n}-", dir=tmp)
        try:
            t.setup_tree(wd, n)
            log(f"[N={n}] {name}: cold build (setup) ...")
            r, _ = t.cold_build(wd)
            ok = figs.record_run(f"cold_{n}", name, r)
            if ok:
                add_cold(figs, "cold", name, n, r)
                wds[name] = wd
                log(f"[N={n}] {name}: cold build {r.seconds:.1f} s")
            else:
                log(f"[N={n}] {name}: cold build failed/timed out")
                shutil.rmtree(wd, ignore_errors=True)
        except Exception as e:
            figs.note(f"cold_{n}", name, f"error: {e!r}"[:300])
            shutil.rmtree(wd, ignore_errors=True)
    names = list(wds)
    for rep in range(reps):
        for name in rotate(names, rep):
            t, wd = tools[name], wds[name]
            r, stale = t.status(wd)
            figs.record_run(f"noop_status_{n}", name, r)
            if r.ok and stale:
                figs.note(f"noop_status_{n}", name, f"reported {stale} stale when all fresh")
            with full_path():  # datamake loads the project, as after an edit (other tools ignore it)
                r, built = t.build(wd)
            if figs.record_run(f"noop_build_{n}", name, r):
                figs.add(f"noop_rss_{n}", name, r.max_rss_kib / 1024.0)
            if r.ok and built:
                figs.note(f"noop_build_{n}", name, f"rebuilt {built} when all fresh")
            # datamake: the first round's writes the certificate, the later ones are answered by it
            again, built = t.build(wd)
            figs.record_run(f"noop_again_{n}", name, again)
            if again.ok and built:
                figs.note(f"noop_again_{n}", name, f"rebuilt {built} when all fresh")
            log(f"[N={n}] rep {rep} {name}: status {figs.median(f'noop_status_{n}', name)} build {r.seconds:.2f} s"
                f" again {again.seconds:.2f} s")
    for wd in wds.values():
        shutil.rmtree(wd, ignore_errors=True)


def fig_parallel(tools: Dict[str, peers.Tool], figs: Figures, tmp: str, reps: int, iters: int) -> None:
    for j in (1, 2):
        figs.define(f"par_j{j}", f"8 × 0.5 s CPU-bound assets, {j} worker(s)", "s", "time", expected=8 * 0.5 / j)
    names = list(tools) + [measure.NO_TOOL]
    for rep in range(reps):
        for name in rotate(names, rep):
            if name == measure.NO_TOOL:
                for j in (1, 2):
                    r = measure.run(measure.bare_parallel_argv(sys.executable, iters, wl.PAR_ASSETS, j))
                    figs.record_run(f"par_j{j}", name, r)
                    log(f"[par] rep {rep} {name} j={j}: {r.seconds:.2f} s rc={r.rc}")
                continue
            t = tools[name]
            for j in (1, 2):
                if j > 1 and not t.parallel:
                    figs.note(f"par_j{j}", name, "n/a: " + t.parallel_note)
                    continue
                if t.parallel_note:
                    figs.note(f"par_j{j}", name, t.parallel_note)
                one_build(figs, f"par_j{j}", name, tempfile.mkdtemp(prefix=f"{name}-par-j{j}-", dir=tmp),
                          lambda wd: t.setup_par(wd, iters), lambda wd: t.par_build(wd, j), wl.PAR_ASSETS,
                          f"[par] rep {rep} {name} j={j}")


def one_build(figs: Figures, fid: str, name: str, wd: str, setup, build, expected: int, label: str):
    """Set up ``wd``, build once and record the time (noting a build of fewer than ``expected``);
    returns the run when it went well. ``wd`` is removed afterwards."""
    try:
        setup(wd)
        r, built = build(wd)
        ok = figs.record_run(fid, name, r)
        if r.ok and built is not None and built != expected:
            figs.note(fid, name, f"built {built} of {expected}")
        log(f"{label}: {r.seconds:.2f} s rc={r.rc}")
        return r if ok else None
    except Exception as e:
        figs.note(fid, name, f"error: {e!r}"[:300])
        return None
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def fig_flat(tools: Dict[str, peers.Tool], figs: Figures, tmp: str, reps: int, n: int) -> None:
    """Cold build of flat(n): n independent trivial targets, each tool in a fresh directory per repetition."""
    figs.define(f"flat_{n}", f"cold build, {n:,} independent targets", "s", "time")
    figs.define(f"flat_rate_{n}", f"cold build, {n:,} independent targets: assets/s", "assets/s", "rate")
    figs.define(f"flat_cpu_{n}", f"cold build, {n:,} independent targets: CPU time", "s", "time")
    for rep in range(reps):
        for name in rotate(list(tools), rep):
            t = tools[name]
            r = one_build(figs, f"flat_{n}", name, tempfile.mkdtemp(prefix=f"{name}-flat-", dir=tmp),
                          lambda wd: t.setup_tree(wd, n, shape="flat"), t.cold_build, n, f"[flat N={n}] rep {rep} {name}")
            if r is not None:
                add_cold(figs, "flat", name, n, r)


def add_cold(figs: Figures, kind: str, name: str, n: int, r: measure.RunResult) -> None:
    """The assets/s and the CPU time of a cold build of ``n`` that went well: the CPU time moves
    less than the wall time with a neighbour's load, so its ratio is the steadier one."""
    if r.seconds:
        figs.add(f"{kind}_rate_{n}", name, n / r.seconds)
    figs.add(f"{kind}_cpu_{n}", name, r.cpu_seconds or None)


# ---------------------------------------------------------------------- output


def fmt(v, kind: str) -> str:
    if v is None:
        return "–"
    if kind == "count":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    if kind == "rate":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    if kind == "mem":
        return f"{v:.0f} MiB"
    return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"


def ratio(fid_kind: str, dm, peer) -> str:
    if dm in (None, 0) or peer is None or fid_kind == "count":
        return ""
    if fid_kind == "rate":  # throughput: express as a time ratio too (peer time / datamake time)
        r = dm / peer
    else:
        r = peer / dm
    return f" (×{r:.1f})" if r >= 10 else f" (×{r:.2f})"


def render_table(figs: Figures, tools: List[str], order: List[str]) -> str:
    head = ["figure", "expected"] + tools
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    footnotes: List[str] = []
    for fid in order:
        if fid not in figs.meta:
            continue
        meta = figs.meta[fid]
        kind = meta["kind"]
        exp = meta.get("expected")
        exp_s = fmt(exp, kind) if exp is not None else ""
        floor = figs.median(fid, measure.NO_TOOL)
        if floor is not None:  # what the machine gives for the work with no tool (the par rows)
            exp_s += f"; {measure.NO_TOOL}: {fmt(floor, kind)}"
        dm = figs.median(fid, "datamake")
        cells = []
        for tool in tools:
            slot = figs.data.get(fid, {}).get(tool)
            med = figs.median(fid, tool)
            if med is None:
                cell = "–"
                if slot and slot["timeouts"]:
                    cell = next((x for x in slot["notes"] if x.startswith(">timeout")), ">timeout")
                elif slot and slot["failures"]:
                    cell = "failed"
                elif slot and any(x.startswith(("skipped", "n/a")) for x in slot["notes"]):
                    cell = "skipped"
                elif slot and slot["notes"]:
                    cell = "not run"
            else:
                cell = fmt(med, kind)
                if tool != "datamake" and not tool.startswith("datamake["):
                    cell += ratio(kind, dm, med)
                if slot and slot["timeouts"]:
                    cell += f" ({slot['timeouts']}× timeout)"
            if slot and slot["notes"]:
                footnotes.append(f"{tool} / {meta['title']}: " + "; ".join(slot["notes"]))
                cell += f" [{len(footnotes)}]"
            cells.append(cell)
        lines.append("| " + " | ".join([meta["title"], exp_s] + cells) + " |")
    out = "\n".join(lines)
    if footnotes:
        out += "\n\n" + "\n".join(f"[{i}] {t}" for i, t in enumerate(footnotes, 1))
    return out


def update_doc(markdown: str) -> None:
    if not os.path.exists(DOC):
        return
    with open(DOC) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        return
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    with open(DOC, "w") as f:
        f.write(pre + BEGIN + "\n" + markdown.strip() + "\n" + END + post)


def render_only(no_doc: bool) -> int:
    with open(os.path.join(RESULTS_DIR, "latest.json")) as f:
        doc = json.load(f)
    figs = Figures()
    for fid, fig in doc["figures"].items():
        figs.define(fid, fig["title"], fig["unit"], fig["kind"], fig.get("expected"))
        for tool, slot in fig["tools"].items():
            figs.data[fid][tool] = {k: slot[k] for k in ("values", "notes", "timeouts", "failures")}
    with open(os.path.join(RESULTS_DIR, "latest.md")) as f:
        old = f.read()
    header = old.split("| figure |", 1)[0]
    tools = [t for t in ["datamake", "datamake[process]", "dagster", "snakemake", "dvc", "doit"]
             if any(t in fig["tools"] for fig in doc["figures"].values())]
    md = header + render_table(figs, tools, doc.get("order") or list(figs.meta)) + "\n"
    print(md)
    with open(os.path.join(RESULTS_DIR, "latest.md"), "w") as f:
        f.write(md)
    if not no_doc:
        update_doc(md)
    return 0


# ------------------------------------------------------------------------ main


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=200 only, 1 repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick: 1)")
    ap.add_argument("--tools", default="datamake,dagster,snakemake,dvc,doit", help="comma-separated subset")
    ap.add_argument("--n", type=int, default=None, help="tree size for the full life cycle (default 1000; --quick 200)")
    ap.add_argument("--big-n", type=int, default=None, help="tree size for the no-op at scale (default 10000; --quick: none)")
    ap.add_argument("--timeout", type=float, default=600.0, help="per command, seconds (default 600)")
    ap.add_argument("--big-budget", type=float, default=600.0,
                    help="skip a peer at --big-n when its projected cold build exceeds this many seconds")
    ap.add_argument("--cycle-budget", type=float, default=900.0,
                    help="seconds after which a tree life cycle skips its remaining steps (default 900)")
    ap.add_argument("--rep-budget", type=float, default=300.0,
                    help="a tool whose first tree life cycle took longer gets no further repetitions (default 300)")
    ap.add_argument("--flat-n", type=int, default=200, help="independent targets in the flat cold build (default 200)")
    ap.add_argument("--skip", default="", help="comma-separated figure groups to skip: startup,tree,big,par,flat")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--render-only", action="store_true",
                    help="re-render the table from results/latest.json, run nothing")
    args = ap.parse_args(argv)
    if args.render_only:
        return render_only(args.no_doc)

    reps = args.reps or (1 if args.quick else 3)
    n = args.n or (200 if args.quick else 1000)
    big_n = args.big_n if args.big_n is not None else (0 if args.quick else 10000)
    skip = set(filter(None, args.skip.split(",")))
    wanted = [s.strip() for s in args.tools.split(",") if s.strip()]
    t_start = time.perf_counter()

    tools: Dict[str, peers.Tool] = {}
    unavailable: Dict[str, str] = {}
    for name in wanted:
        if name == "datamake":
            t: peers.Tool = peers.Datamake(args.timeout)
        elif name in peers.PEERS:
            if not peers.ensure_venv(name, log):
                unavailable[name] = "venv creation failed"
                continue
            t = peers.PEERS[name](args.timeout)
        else:
            ap.error(f"unknown tool {name!r}")
        ok, why = t.available()
        if ok:
            tools[name] = t
        else:
            unavailable[name] = why
            log(f"[setup] {name} unavailable: {why}")
    versions = {name: t.version() for name, t in tools.items()}
    log(f"[setup] versions: {versions}")

    figs = Figures()
    expected_stale = wl.expected_stale_after_a1_change(n)
    for size in [n] + ([big_n] if big_n else []):
        figs.define(f"cold_{size}", f"cold build, N={size:,}", "s", "time")
        figs.define(f"cold_rate_{size}", f"cold build, N={size:,}: assets/s", "assets/s", "rate")
        figs.define(f"cold_cpu_{size}", f"cold build, N={size:,}: CPU time", "s", "time")
        figs.define(f"noop_status_{size}", f"no-op dry run / status, N={size:,}", "s", "time")
        figs.define(f"noop_build_{size}", f"no-op build, N={size:,}", "s", "time")
        figs.define(f"noop_again_{size}", f"the same no-op build again, N={size:,}", "s", "time")
        figs.define(f"noop_rss_{size}", f"peak RSS, no-op build, N={size:,}", "MiB", "mem")
    figs.define(f"first_{n}", f"cold build, N={n:,}, first on the machine (no per-user caches)", "s", "time")
    figs.define(f"first_rate_{n}", f"cold build, N={n:,}, first on the machine: assets/s", "assets/s", "rate")
    figs.define("changed_stale_count", f"a1 edited: assets reported stale (N={n:,})", "assets", "count", expected_stale)
    figs.define("changed_rebuild_s", f"a1 edited: rebuild (N={n:,})", "s", "time")
    figs.define("changed_rebuilt_count", f"a1 edited: assets recomputed (N={n:,})", "assets", "count", expected_stale)
    figs.define("cutoff_stale_count", f"a1 edited, same value: reported stale (N={n:,})", "assets", "count")
    figs.define("cutoff_rebuild_s", f"a1 edited, same value: rebuild (N={n:,})", "s", "time")
    figs.define("cutoff_rebuilt_count", f"a1 edited, same value: assets recomputed (N={n:,})", "assets", "count", 1)

    tmp = tempfile.mkdtemp(prefix="datamake-bench-")
    interrupted = False
    try:
        if "startup" not in skip:
            log("[startup] ...")
            fig_startup(tools, figs, max(reps, 5) if not args.quick else 3)
        if "par" not in skip:
            iters = measure.calibrate_burn(0.5)
            log(f"[par] busy loop calibrated to {iters} iterations ≈ 0.5 s")
            par_tools = dict(tools)
            if "datamake" in tools:
                par_tools["datamake[process]"] = peers.Datamake(args.timeout, executor="process")
            fig_parallel(par_tools, figs, tmp, reps, iters)
            dump_partial(figs)
        if "flat" not in skip:
            fig_flat(tools, figs, tmp, reps, args.flat_n)
            dump_partial(figs)
        if "tree" not in skip:
            names = list(tools)
            first_cycle: Dict[str, float] = {}
            for rep in range(reps):
                for name in rotate(names, rep):
                    if rep > 0 and first_cycle.get(name, 0) > args.rep_budget:
                        for fid in (f"cold_{n}", "changed_rebuild_s"):
                            figs.note(fid, name, f"1 repetition only: its life cycle took "
                                      f"{first_cycle[name]:.0f} s > {args.rep_budget:.0f} s")
                        continue
                    load = measure.wait_quiet()
                    LOADS.append(load)
                    log(f"[tree N={n}] rep {rep} {name} (load {load:.2f}) ...")
                    t0 = time.perf_counter()
                    tree_scenario(tools[name], n, figs, tmp, rep, full=True, check=True,
                                  budget=args.cycle_budget)
                    spent = time.perf_counter() - t0
                    first_cycle.setdefault(name, spent)
                    dump_partial(figs)
                    log(f"[tree N={n}] rep {rep} {name}: {spent:.1f} s "
                        f"(cold {figs.median(f'cold_{n}', name)})")
        if big_n and "big" not in skip:
            projected = {}
            for name in tools:
                c = figs.median(f"cold_{n}", name)
                projected[name] = None if c is None else c * (big_n / n) * 1.3
            noop_big(tools, big_n, figs, tmp, reps, projected, args.big_budget)
            dump_partial(figs)
    except KeyboardInterrupt:
        interrupted = True
        log("[interrupted] writing what was measured so far")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for name, why in unavailable.items():
        figs.errors.append({"tool": name, "detail": f"unavailable: {why}"})

    elapsed = time.perf_counter() - t_start
    order = (
        ["startup", "import"]
        + [f"cold_{n}", f"cold_rate_{n}", f"cold_cpu_{n}", f"first_{n}", f"first_rate_{n}", f"noop_status_{n}", f"noop_build_{n}", f"noop_again_{n}"]
        + ([f"cold_{big_n}", f"cold_rate_{big_n}", f"cold_cpu_{big_n}", f"noop_status_{big_n}", f"noop_build_{big_n}",
             f"noop_again_{big_n}"] if big_n else [])
        + ([f"flat_{args.flat_n}", f"flat_rate_{args.flat_n}", f"flat_cpu_{args.flat_n}"] if "flat" not in skip else [])
        + ["changed_stale_count", "changed_rebuilt_count", "changed_rebuild_s",
           "cutoff_stale_count", "cutoff_rebuilt_count", "cutoff_rebuild_s",
           "par_j1", "par_j2", f"noop_rss_{n}"] + ([f"noop_rss_{big_n}"] if big_n else [])
    )
    col_tools = [c for c in ["datamake", "dagster", "snakemake", "dvc", "doit"] if c in tools or c in unavailable]
    if "datamake" in tools and "par" not in skip:
        col_tools.insert(1, "datamake[process]")
    table = render_table(figs, col_tools, order)
    machine = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    cmd = "python benchmarks/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    header = (
        f"Run {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} · `{cmd.strip()}` · "
        f"{machine['nproc']} cores · Python {machine['python']} · "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f" · repetitions {reps} · took {elapsed / 60:.1f} min"
        + (" · INTERRUPTED (incomplete)" if interrupted else "")
        + f" · mean 1-min load before life cycles {sum(LOADS) / len(LOADS) if LOADS else float('nan'):.1f}\n\n"
        "Medians. In brackets: peer time / datamake time (above 1: datamake is faster; "
        "throughput rows are compared as times too). Counts have no ratio; `expected` is the "
        "correct answer.\n\n"
    )
    md = header + table + "\n"
    print()
    print(md)

    os.makedirs(RESULTS_DIR, exist_ok=True)
    doc = {
        "command": cmd.strip(),
        "when": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine,
        "versions": versions,
        "unavailable": unavailable,
        "config": {"reps": reps, "n": n, "big_n": big_n, "timeout": args.timeout,
                   "big_budget": args.big_budget, "quick": args.quick},
        "order": order,
        "figures": figs.as_json(),
        "errors": figs.errors,
        "load_before_scenarios": LOADS,
        "elapsed_s": elapsed,
        "interrupted": interrupted,
    }
    with open(os.path.join(RESULTS_DIR, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2)
    with open(os.path.join(RESULTS_DIR, "latest.md"), "w") as f:
        f.write(md)
    if not args.no_doc:
        update_doc(md)
    if figs.errors:
        log(f"[done] {len(figs.errors)} error(s), details in benchmarks/results/latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
