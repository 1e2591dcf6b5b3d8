"""After a thread-pool run whose assets took turns on the GIL, `make` says to use the process executor."""
from __future__ import annotations

from datamake.execution.gilhint import gil_hint

# Four pure-Python loops: on two threads they take turns on the GIL.
BURN = '''
from datamake import asset


def burn(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 1000003
    return x

''' + "".join(f'''
@asset
def p{k}():
    return burn(1_500_000) + {k}
''' for k in range(4))

SLEEPY = '''
import time

from datamake import asset

''' + "".join(f'''
@asset
def s{k}():
    time.sleep(0.6)
    return {k}
''' for k in range(4))


def test_cpu_bound_python_assets_on_threads_get_the_hint(process_project):
    process_project.pipeline(BURN)
    proc = process_project.run("make", "-j", "2", "--executor", "thread", check=True)
    assert "pure-Python work holds the GIL" in proc.stderr
    assert 'executor = "process"' in proc.stderr


def test_the_process_executor_and_io_bound_assets_get_no_hint(process_project):
    process_project.pipeline(BURN)
    proc = process_project.run("make", "-j", "2", "--executor", "process", check=True)
    assert "GIL" not in proc.stderr
    process_project.pipeline(SLEEPY)
    proc = process_project.run("make", "-j", "2", "--executor", "thread", check=True)
    assert "GIL" not in proc.stderr


def test_the_hint_needs_overlapping_assets_on_about_one_busy_core():
    assert gil_hint("thread", 2, run_seconds=4.0, cpu_seconds=4.0, asset_seconds=8.0)
    assert gil_hint("thread", 2, run_seconds=4.0, cpu_seconds=7.5, asset_seconds=8.0) is None  # two cores busy
    assert gil_hint("thread", 2, run_seconds=4.0, cpu_seconds=0.1, asset_seconds=8.0) is None  # waiting on IO
    assert gil_hint("thread", 2, run_seconds=4.0, cpu_seconds=4.0, asset_seconds=4.0) is None  # one at a time
    assert gil_hint("process", 2, run_seconds=4.0, cpu_seconds=4.0, asset_seconds=8.0) is None
    assert gil_hint("thread", 1, run_seconds=4.0, cpu_seconds=4.0, asset_seconds=8.0) is None
    assert gil_hint("thread", 2, run_seconds=0.5, cpu_seconds=0.5, asset_seconds=1.0) is None  # too short to matter
