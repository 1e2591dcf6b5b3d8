"""Overhead of the SQLite event log per trivial asset (in-process executor).

Two measurements, N trivial assets (default 1,000):

1. end to end: ``api.make(force=True, executor="inprocess")`` with the event log
   on and off, alternating, best of R rounds each; the difference per asset is
   the logging overhead as the user pays it;
2. isolated: the HistoryReporter alone, fed the events of N built assets
   (started + built, with a manifest each), which is the same cost without the
   noise of the store's fsyncs.

Wall time on a busy 2-core machine is noisy; CPU time (process_time) is
printed too, and the store is measured on disk and on tmpfs (where fsync is
free, so the per-asset cost is pure CPU).

Usage: python benchmarks/bench_history.py [N] [ROUNDS]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from types import SimpleNamespace

PIPELINE = """
from datamake import asset

def make_asset(i):
    @asset(name=f"t{i}", code_version="1")
    def trivial():
        return i
    return trivial

ASSETS = [make_asset(i) for i in range(N)]
"""


def end_to_end(n: int, rounds: int, where: str) -> dict:
    """Per-asset wall and CPU seconds of ``make -B``, log off vs on (rounds alternate; medians)."""
    import statistics

    from datamake import api

    with tempfile.TemporaryDirectory(dir=where) as root:
        with open(os.path.join(root, "pipeline.py"), "w") as f:
            f.write(PIPELINE.replace("N", str(n)))
        with open(os.path.join(root, "datamake.toml"), "w") as f:
            f.write('[project]\ndefinitions = "pipeline.py"\n')
        project = api.load(root)
        api.make(project, executor="inprocess", history=False)  # warm: imports, first artifacts
        samples = {(h, k): [] for h in (False, True) for k in ("wall", "cpu")}
        for _ in range(rounds):
            for history in (False, True):
                wall, cpu = time.perf_counter(), time.process_time()
                result = api.make(project, executor="inprocess", force=True, history=history)
                samples[(history, "wall")].append((time.perf_counter() - wall) / n)
                samples[(history, "cpu")].append((time.process_time() - cpu) / n)
                assert result.ok and result.counts()["built"] == n
    return {f"{'on' if h else 'off'}_{k}": statistics.median(v) for (h, k), v in samples.items()}


def isolated(n: int, rounds: int) -> float:
    from datamake.execution.history_reporter import HistoryReporter
    from datamake.execution.results import AssetOutcome, RunResult
    from datamake.core.manifest import Manifest

    manifests = [Manifest(key=f"t{i}", code_version="1", provenance=f"{i:032x}", data_version=f"{i:032x}",
                          artifact=f"{i:032x}", size=10, io_manager="json", inputs=(("up", "0" * 32),),
                          run_id="r", created=0.0, seconds=0.0001, metadata={}) for i in range(n)]
    best = float("inf")
    with tempfile.TemporaryDirectory() as root:
        for r in range(rounds):
            reporter = HistoryReporter(os.path.join(root, "h.sqlite"), command="bench")
            reporter.run_started(f"run{r}", SimpleNamespace(keys=()))
            outcomes = []
            started = time.perf_counter()
            for m in manifests:
                reporter.asset_started(m.key, ("forced",))
                outcome = AssetOutcome(m.key, "built", data_version=m.data_version, seconds=0.0001)
                reporter.note(m.key, m)
                reporter.asset_finished(outcome)
                outcomes.append(outcome)
            reporter.run_finished(RunResult(f"run{r}", tuple(outcomes)))
            best = min(best, time.perf_counter() - started)
    return best / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    us = 1e6
    print(f"event log overhead, {n} trivial assets, in-process executor, median of {rounds} alternating rounds")
    places = [("disk", None)] + ([("tmpfs", "/dev/shm")] if os.path.isdir("/dev/shm") else [])
    for label, where in places:
        r = end_to_end(n, rounds, where)
        for kind in ("wall", "cpu"):
            off, on = r[f"off_{kind}"], r[f"on_{kind}"]
            print(f"  {label:<5} {kind:<4}  log off {off * us:8.1f} us/asset   log on {on * us:8.1f} us/asset   "
                  f"overhead {(on - off) * us:+7.1f} us/asset ({(on / off - 1) * 100:+.1f} %)")
    alone = isolated(n, rounds)
    print(f"  HistoryReporter alone (started + built row with manifest, batched commits): {alone * us:.1f} us/asset")


if __name__ == "__main__":
    main()
