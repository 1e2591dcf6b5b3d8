"""After a thread-pool run whose assets took turns on the GIL, `make` says to use the process executor."""
from __future__ import annotations

from datamake.execution.gilhint import gil_hint

# Four pure-Python loops (about 0.5 s each on a quiet machine, so the run lasts over the
# hint's 1 s minimum): on two threads they take turns on the GIL.
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
    return burn(5_000_000) + {k}
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
    assert "pure-Python work holds the GIL" in proc.stdout + proc.stderr
    assert 'executor = "process"' in proc.stdout + proc.stderr


def test_the_process_executor_and_io_bound_assets_get_no_hint(process_project):
    process_project.pipeline(BURN)
    proc = process_project.run("make", "-j", "2", "--executor", "process", check=True)
    assert "GIL" not in proc.stdout + proc.stderr
    process_project.pipeline(SLEEPY)
    proc = process_project.run("make", "-j", "2", "--executor", "thread", check=True)
    assert "GIL" not in proc.stdout + proc.stderr


def test_the_hint_needs_overlapping_cpu_bound_assets_on_about_one_core():
    def hint(executor="thread", workers=2, run=4.0, cpu=4.0, assets=8.0, asset_cpu=3.9):
        return gil_hint(executor, workers, run, cpu, assets, asset_cpu)

    assert hint()
    assert hint(cpu=0.6, asset_cpu=0.55)  # a busy machine left this process little CPU: still the GIL
    assert hint(cpu=7.5, asset_cpu=7.4) is None  # two cores busy: the assets released the GIL
    assert hint(cpu=0.1, asset_cpu=0.01) is None  # waiting on IO
    assert hint(cpu=3.0, asset_cpu=0.2) is None  # the CPU went elsewhere, not into the assets
    assert hint(assets=4.0) is None  # one at a time: nothing ran side by side
    assert hint(executor="process") is None
    assert hint(workers=1) is None
    assert hint(run=0.5, cpu=0.5, assets=1.0, asset_cpu=0.5) is None  # too short to matter
