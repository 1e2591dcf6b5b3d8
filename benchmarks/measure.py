"""Timing and memory helpers for the benchmark.

Every tool invocation is a child process started in its own session (process
group), so that a timeout can end the whole tree it spawned.  The child is
reaped with ``os.wait4``: on Linux the rusage that ``wait4`` returns folds in
the usage of every descendant the child itself waited for, so ``ru_maxrss`` is
the peak resident set of the largest single process in the tree (in KiB).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence


@dataclass
class RunResult:
    argv: List[str]
    rc: Optional[int]
    seconds: float
    timed_out: bool
    max_rss_kib: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system time of the process and the children it waited for

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.rc == 0

    def brief(self, limit: int = 2000) -> str:
        tail = (self.stderr or "")[-limit:]
        out = (self.stdout or "")[-limit:]
        return (
            f"$ {' '.join(self.argv)}\n rc={self.rc} timed_out={self.timed_out} "
            f"seconds={self.seconds:.2f}\n--- stdout (tail)\n{out}\n--- stderr (tail)\n{tail}"
        )


def run(
    argv: Sequence[str],
    cwd: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 600.0,
) -> RunResult:
    """Run ``argv``; wall-clock time, exit code, peak RSS; never hangs past ``timeout``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        box: Dict[str, object] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            box["t1"] = time.perf_counter()
            box["status"] = status
            box["usage"] = usage

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        waiter.join(timeout)
        timed_out = waiter.is_alive()
        if timed_out:
            _kill_group(proc.pid)
            waiter.join(30)
        t1 = box.get("t1", time.perf_counter())
        status = box.get("status")
        rc: Optional[int] = None
        if status is not None:
            rc = os.waitstatus_to_exitcode(status)  # type: ignore[arg-type]
        proc.returncode = rc if rc is not None else -9  # keep Popen from reaping again
        if not timed_out:
            # the tool may have left grandchildren behind in its group
            _kill_group(proc.pid, quiet=True)
        usage = box.get("usage")
        maxrss = int(getattr(usage, "ru_maxrss", 0) or 0)
        out.seek(0)
        err.seek(0)
        return RunResult(
            argv=list(argv),
            rc=rc,
            seconds=float(t1) - t0,  # type: ignore[arg-type]
            timed_out=timed_out,
            max_rss_kib=maxrss,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu_seconds=float(getattr(usage, "ru_utime", 0.0) + getattr(usage, "ru_stime", 0.0)),
        )


def _kill_group(pgid: int, quiet: bool = False) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def median(values: Sequence[float]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


@dataclass
class Samples:
    """Repeated measurements of one figure for one tool."""

    values: List[float] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    timeouts: int = 0
    failures: int = 0

    def add(self, value: Optional[float]) -> None:
        if value is not None:
            self.values.append(value)

    def median(self) -> Optional[float]:
        return median(self.values)


def calibrate_burn(target_seconds: float = 0.5, samples: int = 5) -> int:
    """Number of iterations of the pure-Python busy loop that takes ``target_seconds``.

    The median of ``samples`` timed runs of about a fifth of the target each: one run on a shared
    machine can be slowed (or sped up) by a neighbour, and every par figure is judged against it."""
    n = 200_000
    while True:
        t0 = time.perf_counter()
        burn(n)
        dt = time.perf_counter() - t0
        if dt > 0.1:
            break
        n *= 2
    n = max(1, int(n * target_seconds / 5 / dt))
    rates = []
    for _ in range(samples):
        t0 = time.perf_counter()
        burn(n)
        rates.append(n / (time.perf_counter() - t0))
    return max(1, int(statistics.median(rates) * target_seconds))


def burn(n: int) -> int:
    # Same loop text is written into every tool's workload.
    x = 0
    for i in range(n):
        x = (x + i * i) % 1000003
    return x


NO_TOOL = "no tool"  # the par rows' floor: the same loops in bare forked Python processes

_BARE_PAR = """\
import os
def burn(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 1000003
    return x
pids = []
for share in {shares!r}:
    pid = os.fork()
    if pid == 0:
        for _ in range(share):
            burn({iters})
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
"""


def bare_parallel_argv(python: str, iters: int, assets: int, jobs: int) -> List[str]:
    """A command that does the par workload's work with no tool at all: one Python process forks
    ``jobs`` children that run the ``assets`` busy loops between them. What two cores give for the
    work: on a shared machine two loops side by side each run slower than one alone, so the ideal
    ``assets × 0.5 s / jobs`` is out of reach for every tool."""
    shares = [assets // jobs + (1 if k < assets % jobs else 0) for k in range(jobs)]
    return [python, "-c", _BARE_PAR.format(shares=shares, iters=iters)]


def wait_quiet(threshold: float = 1.0, max_wait: float = 10.0) -> float:
    """Wait (at most ``max_wait`` s) for the 1-minute load average to drop below
    ``threshold``; the machine may be shared.  Returns the load average seen."""
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() - t0 < max_wait:
        time.sleep(3)
        load = os.getloadavg()[0]
    return load
