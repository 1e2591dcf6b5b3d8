"""Threads the definitions start at import are not in the process executor's forked workers: `make` says so
before anything waits on them (an asset handing them work waited for ever, without a word)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

if not hasattr(os, "fork"):  # pragma: no cover - POSIX only
    pytest.skip("no fork()", allow_module_level=True)

# A reader thread started at import, fed through a queue: in a forked worker nobody takes from the queue.
SERVED_AT_IMPORT = '''
import queue
import threading

from datamake import asset

_q = queue.Queue()


def _serve():
    while True:
        text, reply = _q.get()
        reply.put(len(text))


threading.Thread(target=_serve, daemon=True, name="reader").start()


@asset(code_version="1")
def size():
    reply = queue.Queue()
    _q.put(("hello", reply))
    return reply.get()
'''

# The same thread at import, and the asset doing what the warning says: its own thread and queue, once per process.
SERVED_PER_PROCESS = '''
import os
import queue
import threading

from datamake import asset


def _serve(q):
    while True:
        text, reply = q.get()
        reply.put(len(text))


_q = queue.Queue()
threading.Thread(target=_serve, args=(_q,), daemon=True, name="reader").start()
_own = {}


def _queue():
    if os.getpid() not in _own:
        _own[os.getpid()] = q = queue.Queue()
        threading.Thread(target=_serve, args=(q,), daemon=True, name="reader").start()
    return _own[os.getpid()]


@asset(code_version="1")
def size():
    reply = queue.Queue()
    _queue().put(("hello", reply))
    return reply.get()
'''

NO_THREADS = '''
from datamake import asset


@asset
def size():
    return 5
'''

WARNING = ("datamake: warning: thread 'reader' (running pipeline._serve), started when pipeline.py was imported, "
           "is not in the process executor's workers")


def _project(folder, code: str) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (folder / "pipeline.py").write_text(textwrap.dedent(code))
    return str(folder)


def _datamake(*args: str) -> list:
    return [sys.executable, "-m", "datamake", *args]


def _make(folder: str, executor: str) -> subprocess.CompletedProcess:
    return subprocess.run(_datamake("make", "--executor", executor, "-j", "2"), cwd=folder, capture_output=True,
                          text=True, timeout=60)


def _value(folder: str) -> str:
    return subprocess.run(_datamake("show", "size"), cwd=folder, capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip()


def test_a_thread_started_at_import_is_named_before_an_asset_waits_on_it(tmp_path):
    folder = _project(tmp_path, SERVED_AT_IMPORT)
    make = subprocess.Popen(_datamake("make", "--executor", "process", "-j", "2"), cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, make.kill)  # without the warning the asset waits for ever: fail, not hang
    watchdog.start()
    try:
        told = next((line for line in make.stderr if line.startswith(WARNING)), "")
        make.send_signal(signal.SIGINT)  # the user, told why it waits, gives up
        assert make.wait(timeout=30) != 0
    finally:
        watchdog.cancel()
        make.kill()
        make.wait()
    assert "a fork copies only the thread that forks" in told
    assert "an asset that waits for it waits for ever" in told
    assert "Use --executor thread" in told


def test_the_thread_made_once_per_process_builds_and_the_warning_still_names_the_import_one(tmp_path):
    folder = _project(tmp_path, SERVED_PER_PROCESS)
    make = _make(folder, "process")
    assert make.returncode == 0, make.stderr
    assert make.stderr.count(WARNING) == 1
    assert "built    size" in make.stdout
    assert _value(folder) == "5"


def test_threads_and_projects_without_import_threads_are_not_warned(tmp_path):
    threaded = _project(tmp_path / "threaded", SERVED_AT_IMPORT)
    make = _make(threaded, "thread")
    assert make.returncode == 0, make.stderr
    assert "is not in the process executor's workers" not in make.stderr
    plain = _project(tmp_path / "plain", NO_THREADS)
    make = _make(plain, "process")
    assert make.returncode == 0, make.stderr
    assert "is not in the process executor's workers" not in make.stderr
    assert _value(plain) == "5"
