"""The hint after a thread-pool run whose assets took turns on Python's GIL.

Pure-Python work holds the GIL, so ``-j N`` threads run it one at a time: the
assets overlap in wall time while the process uses about one core. Libraries
that release the GIL (Arrow, NumPy) keep several cores busy, and IO-bound
assets hardly use the CPU at all; neither gets the hint. (On a machine whose
other work leaves this process one core or less, GIL-releasing assets can get it.)
"""
from __future__ import annotations

from typing import Optional

MIN_SECONDS = 1.0  # shorter runs have little to win
OVERLAP = 1.5  # the assets' wall seconds summed, over the run's: they did run side by side
ONE_CORE = 1.25  # the process's CPU seconds over the run's: at most about one core busy
MIN_WORK = 0.5  # CPU seconds the assets' threads used: IO-bound assets stay far below it
IN_ASSETS = 0.5  # ... and the share of the process's CPU time that went into them


def gil_hint(executor: str, workers: int, run_seconds: float, cpu_seconds: float, asset_seconds: float,
             asset_cpu_seconds: float) -> Optional[str]:
    """A hint to use the process executor, or None.

    ``cpu_seconds`` is the CPU time this process used during the run,
    ``asset_seconds`` the sum of the wall times of the assets that ran and
    ``asset_cpu_seconds`` the CPU time their threads used. CPU amounts, unlike
    rates, do not shrink when other work shares the machine.
    """
    if executor != "thread" or workers < 2 or run_seconds < MIN_SECONDS:
        return None
    if asset_seconds < OVERLAP * run_seconds or cpu_seconds > ONE_CORE * run_seconds:
        return None
    if asset_cpu_seconds < MIN_WORK or asset_cpu_seconds < IN_ASSETS * cpu_seconds:
        return None
    return (f"hint: the assets ran side by side on {workers} threads but used about one core "
            f"({cpu_seconds:.1f} CPU-seconds in {run_seconds:.1f} s): pure-Python work holds the GIL, so "
            f"threads take turns. For CPU-bound Python assets set executor = \"process\" under [execution] "
            f"in datamake.toml (or pass --executor process)")
