"""What a command leaves behind: a killed pull's downloads, threads an asset left running, status ranges."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ProjectDir

PLAIN = '''
from datamake import asset


@asset
def numbers():
    return list(range(1000))
'''

# A pull in a child process that prints the files it downloads into the store's tmp/ folder (an audit
# hook sees every file opened for writing), then exits: its PID is then a dead writer's.
PULL_AND_NAME_DOWNLOADS = '''
import sys

import datamake.api as dm

tmp = sys.argv[1]
written = []


def watch(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(tmp) and "w" in str(args[1]):
        written.append(args[0])


sys.addaudithook(watch)
dm.pull(dm.load(sys.argv[2]))
print("\\n".join(written))
'''


def _teammates(tmp_path: Path):
    """Two projects of PLAIN sharing a folder as their remote cache; the first has built and pushed."""
    builder, puller = ProjectDir(tmp_path / "a"), ProjectDir(tmp_path / "b")
    for mate in (builder, puller):
        mate.root.mkdir()
        mate.pipeline(PLAIN, f'[cache]\nremote = "{tmp_path / "remote"}"\npush = "manual"\n')
    builder.run("make", check=True)
    builder.run("push", check=True)
    return puller


def test_a_killed_pulls_downloads_go_with_the_next_make(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # the value travels as an artifact file
    puller = _teammates(tmp_path)
    tmp = puller.root / ".datamake" / "tmp"
    child = subprocess.run([sys.executable, "-c", PULL_AND_NAME_DOWNLOADS, str(tmp), str(puller.root)],
                           capture_output=True, text=True, timeout=120, env={**os.environ})
    assert child.returncode == 0, child.stderr
    downloads = [Path(line) for line in child.stdout.split()]
    assert downloads, "the pull downloaded nothing into the store"
    for part in downloads:  # as a pull killed mid-download leaves them (its process is gone now)
        part.write_bytes(b"half a download")
    live = tmp / downloads[0].name.replace(f"@{_pid_of(downloads[0])}.", f"@{os.getpid()}.")
    live.write_bytes(b"a running pull's download")  # this test's process: a live writer
    puller.run("make", "--force", check=True)
    assert [p for p in downloads if p.exists()] == []
    assert live.exists()


def _pid_of(part: Path) -> str:
    """The writer's PID in a temporary file's name (``HOST@PID.token.part``)."""
    return part.name.rsplit(".", 2)[0].rpartition("@")[2]


LEAKS_A_THREAD = '''
import threading

from datamake import asset

forever = threading.Event()


@asset
def leaks():
    threading.Thread(target=forever.wait, name="left-running").start()
    return 2
'''


@pytest.mark.parametrize("executor", ["thread", "inprocess"])
def test_make_ends_without_waiting_for_a_thread_an_asset_left_running(project, executor):
    project.pipeline(LEAKS_A_THREAD)
    proc = subprocess.run([sys.executable, "-m", "datamake", "make", "--executor", executor, "-j", "2"],
                          cwd=project.root, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert "done: 1 built" in proc.stdout
    assert "not waiting for 1 thread(s)" in proc.stderr and "'left-running'" in proc.stderr


PARTITIONED = '''
from datamake import DailyPartitions, MultiPartitions, StaticPartitions, asset

daily = DailyPartitions(start="2024-01-01", end="2024-02-01")


@asset(partitions=daily, io_manager="json")
def orders(context):
    return 1


@asset(partitions=MultiPartitions(daily, StaticPartitions(["eu", "us"], name="region")), io_manager="json")
def regional(context):
    return 1
'''


def _status_line(project, key: str, *args: str) -> str:
    out = project.run("status", *args, key, check=True).stdout
    return next(line for line in out.splitlines() if line.split()[1:2] == [key])


def test_status_prints_a_range_only_for_every_partition_between_its_ends(inprocess_project):
    inprocess_project.pipeline(PARTITIONED)
    inprocess_project.run("make", "-q", check=True)
    assert _status_line(inprocess_project, "orders", "-p", "2024-01-05,2024-01-20").endswith(
        "orders  2024-01-05, 2024-01-20: 2 fresh")
    assert _status_line(inprocess_project, "regional", "-p", "2024-01-05|eu,2024-01-06|eu").endswith(
        "regional  2024-01-05|eu, 2024-01-06|eu: 2 fresh")  # 2024-01-05|us lies between them
    assert _status_line(inprocess_project, "orders", "-p", "2024-01-05...2024-01-09").endswith(
        "orders  2024-01-05…2024-01-09: 5 fresh")
    every_other_day = ",".join(f"2024-01-{day:02}" for day in range(1, 15, 2))
    assert _status_line(inprocess_project, "orders", "-p", every_other_day).endswith(
        "orders  2024-01-01, 2024-01-03, 2024-01-05, 2024-01-07, 2024-01-09, … and 2 more: 7 fresh")
