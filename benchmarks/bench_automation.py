"""What the daemon costs: a tick over N assets with freshness goals, and its CPU use when idle.

1. tick: N assets (default 10,000, a chain of layers of 100), each with ``fresh_within``, all
   built; then one source changes so every asset is stale. Timed: the freshness decision alone
   (goals against the plan, and the minimal make), and the whole freshness pass of the daemon
   (plan the assets with goals with the real planner, then decide), on a project kept loaded
   the way the daemon keeps it (code versions, parsed manifests and the last pass's planner
   facts and plan kept between passes and reused where nothing moved; every manifest and
   artifact is still stat'ed and every source observed each pass). The first pass after loading is shown on
   its own; then the median and best of R passes with nothing moved in between, and of R passes
   each after the source moved (every asset's facts kept, the plan made again).
2. idle: a real ``datamake daemon`` on a project with a daily schedule, a sensor every 30 s and
   a freshness goal, nothing to do; its CPU time (utime + stime from /proc) over S seconds.

Usage: python benchmarks/bench_automation.py [N] [ROUNDS] [IDLE_SECONDS]
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import textwrap
import time

PIPELINE = """
from datamake import Definitions, asset, source

seed = source("seed.txt")

def layer_asset(i, width):
    deps = [] if i < width else [f"t{i - width}"]
    @asset(name=f"t{i}", code_version="1", deps=deps or [seed], fresh_within="1h")
    def trivial():
        return i
    return trivial

defs = Definitions([seed, *[layer_asset(i, 100) for i in range(N)]])
"""

IDLE = """
from datamake import Definitions, SkipReason, asset, schedule, sensor

@asset(fresh_within="1h")
def report():
    return 1

@sensor("report", minimum_interval=30)
def quiet(context):
    return SkipReason("nothing new")

defs = Definitions([report], schedules=[schedule(report, cron="0 3 * * *")], sensors=[quiet])
"""


def tick(n: int, rounds: int) -> None:
    from datamake import api
    from datamake.automation.runtime import freshness
    from datamake.project.holder import keep_loaded

    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "datamake.toml"), "w") as f:
            f.write('[project]\ndefinitions = "pipeline.py"\n')
        with open(os.path.join(root, "pipeline.py"), "w") as f:
            f.write(PIPELINE.replace("N)", f"{n})"))
        with open(os.path.join(root, "seed.txt"), "w") as f:
            f.write("1")
        project = api.load(root)
        keep_loaded(project)
        t = time.perf_counter()
        api.make(project, executor="inprocess", history=False)
        print(f"built {n} assets in {time.perf_counter() - t:.1f}s")
        with open(os.path.join(root, "seed.txt"), "w") as f:
            f.write("2")  # every asset stale now
        goals = freshness.assets_with_goals(project.defs)
        later = time.time() + 7200  # their hour is up: every asset is overdue

        def one_pass():
            t0, c0 = time.perf_counter(), time.process_time()
            scope = project.scope(goals, now=dt.datetime.fromtimestamp(later, dt.timezone.utc))
            t1 = time.perf_counter()
            entries = freshness.report(project.defs, scope.plan.decisions, scope.manifests, later)
            requests = freshness.requests(entries, later)
            t2 = time.perf_counter()
            return t2 - t1, t2 - t0, time.process_time() - c0, entries, requests

        first = one_pass()
        still = [one_pass() for _ in range(rounds)]  # nothing moved in between
        moved = []
        for i in range(rounds):  # the source moved before each: every fact kept, the plan made again
            with open(os.path.join(root, "seed.txt"), "w") as f:
                f.write(f"moved {i}")
            moved.append(one_pass())
        entries, requests = first[3], first[4]
        overdue = sum(e.freshness.overdue for e in entries)
        print(f"tick over {n} assets with goals ({overdue} overdue, {len(requests[0]['argv']) - 1} in one make): "
              f"decide {min(p[0] for p in still) * 1000:.0f} ms; whole pass: first after loading "
              f"{first[1] * 1000:.0f} ms")
        for label, runs in (("nothing moved since the last pass", still), ("the source moved before each pass", moved)):
            walls, cpus = sorted(p[1] for p in runs), sorted(p[2] for p in runs)
            print(f"  {label}: median {walls[len(walls) // 2] * 1000:.0f} ms, best {walls[0] * 1000:.0f} ms "
                  f"({rounds} passes; CPU time median {cpus[len(cpus) // 2] * 1000:.0f} ms, which a busy machine "
                  f"inflates less)")


def idle(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "datamake.toml"), "w") as f:
            f.write('[project]\ndefinitions = "pipeline.py"\n')
        with open(os.path.join(root, "pipeline.py"), "w") as f:
            f.write(textwrap.dedent(IDLE))
        subprocess.run([sys.executable, "-m", "datamake", "make"], cwd=root, check=True, capture_output=True)
        daemon = subprocess.Popen([sys.executable, "-m", "datamake", "daemon"], cwd=root,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)  # start-up and the first pass are not idle time
            before, t0 = _cpu(daemon.pid), time.monotonic()
            time.sleep(seconds)
            used, wall = _cpu(daemon.pid) - before, time.monotonic() - t0
        finally:
            daemon.terminate()
            daemon.wait()
        print(f"idle daemon: {used:.3f} s CPU in {wall:.0f} s = {100 * used / wall:.2f} % of a core")


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    args = sys.argv[1:]
    tick(int(args[0]) if args else 10_000, int(args[1]) if len(args) > 1 else 3)
    idle(float(args[2]) if len(args) > 2 else 60)
