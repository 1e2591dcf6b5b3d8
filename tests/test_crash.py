"""SIGKILL a real `datamake make` at random moments; the store must only ever hold whole, verified state.

After every kill: each manifest parses and points at an artifact whose bytes
hash to its name, every file under ``artifacts/`` is whole (it hashes to its
name), and every action-cache entry parses. Every few kills, and at the end,
`status` must work and a follow-up `make` must reach exactly the values of an
uninterrupted run, leaving nothing behind in ``tmp/``.

Each kill lands a seeded random time after the run took the store lock (it has loaded the
project, planned and begun to write), never during interpreter start-up, so every kill tests
the store; a failure can be replayed.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datamake.core.hashing import hash_bytes, hash_file
from datamake.core.manifest import Manifest
from datamake.storage import packs
from datamake.storage.localpacks import LocalPacks
from datamake.storage.lock import LOCK_NAME, LockHolder
from datamake.storage.store import Store

KILLS = 15
SEED = 20240611
MODES = [("inprocess", []), ("thread", ["-j", "2"]), ("process", ["-j", "2"])]

PIPELINE = '''
import json
import random

from datamake import asset


def blob(seed, size):
    return random.Random(seed).randbytes(size)


def wide(i):
    @asset(name=f"raw_{i}")
    def raw():
        return blob(i, 3 << 20)

    @asset(name=f"mid_{i}", ins={"raw": f"raw_{i}"})
    def mid(raw):
        return raw[::-1] + blob(100 + i, 1 << 20)

    return raw, mid


WIDE = [a for i in range(4) for a in wide(i)]


@asset(ins={"m0": "mid_0", "m1": "mid_1", "m2": "mid_2", "m3": "mid_3"})
def summary(m0, m1, m2, m3):
    return {"sizes": [len(m) for m in (m0, m1, m2, m3)], "heads": [m[:8].hex() for m in (m0, m1, m2, m3)]}


def chain(i, previous):
    name = f"step_{i}"
    if previous is None:
        @asset(name=name)
        def first():
            return {"step": 0, "text": "start"}
        return first

    @asset(name=name, ins={"prev": previous})
    def step(prev):
        return {"step": prev["step"] + 1, "text": prev["text"] + f"-{prev['step'] + 1}"}
    return step


STEPS = []
for _i in range(6):
    STEPS.append(chain(_i, None if _i == 0 else f"step_{_i - 1}"))
'''


def datamake(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datamake", *args], cwd=root, capture_output=True, text=True,
                          timeout=240)


def start_make(root: Path, *args: str) -> "tuple[subprocess.Popen, float]":
    """Start `datamake make ARGS`; return it once it holds the store lock (or has exited), and when that was."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make", *args], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=err)
    proc.err = err  # what it printed, for a failure message
    lock = root / ".datamake" / LOCK_NAME
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if LockHolder.parse(lock.read_bytes()).pid == proc.pid:
                break
        except OSError:
            pass  # the store folder or its lock file does not exist yet
        time.sleep(0.002)  # polling a condition, with a deadline: not a delay that a test relies on
    return proc, time.monotonic()


def stderr_of(proc: subprocess.Popen) -> str:
    proc.err.seek(0)
    return proc.err.read().decode(errors="replace")


def current_versions(store: Path) -> dict:
    """Each asset's current data version, in manifest files or in the packs of batched commits."""
    nodes = {p.stem for p in (store / "manifests").rglob("*.json")} | set(LocalPacks(str(store)).refresh().newest)
    found = Store(str(store)).read_manifests(sorted(nodes))
    return {m.key: m.data_version for m in found.values() if m is not None}


def check_whole(store: Path, context: str) -> int:
    """Assert that everything visible in the store is whole; returns the number of manifests."""
    if not store.exists():
        return 0
    for path in (store / "artifacts").rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                assert hash_file(f) == path.name, f"{context}: torn artifact {path}"
    manifests = list((store / "manifests").rglob("*.json"))
    recorded = [(path, Manifest.from_json(path.read_bytes()))  # raises on a torn or partial manifest
                for path in manifests + list((store / "actions").rglob("*.json"))]
    for path in (store / "packs").glob("*.json"):  # raises on a torn pack (its name is the hash of its bytes)
        pack = packs.decode(str(path), path.read_bytes(), 0.0)
        recorded += [(path, m) for m in pack.manifests + pack.actions]
    for path, m in recorded:
        if m.inline is not None:  # a small value kept in the manifest itself
            data = m.inline_bytes()
            assert hash_bytes(data) == m.artifact and len(data) == m.size, f"{context}: {path} torn inline value"
            continue
        artifact = store / "artifacts" / m.artifact[:2] / m.artifact  # whole, by the loop above
        assert artifact.is_file(), f"{context}: {path} points at a missing artifact"
        assert artifact.stat().st_size == m.size, f"{context}: {path} size differs from its artifact"
    return len(recorded)


def follow_up(root: Path, expected: dict, context: str) -> None:
    status = datamake(root, "status", "--json")
    assert status.returncode == 0, f"{context}: status failed\n{status.stderr}"
    assert {a["key"] for a in json.loads(status.stdout)["assets"]} == set(expected)
    done = datamake(root, "make", "--json")
    assert done.returncode == 0, f"{context}: follow-up make failed\n{done.stdout}\n{done.stderr}"
    assert current_versions(root / ".datamake") == expected, f"{context}: values differ from an uninterrupted run"
    assert list((root / ".datamake" / "tmp").glob("*")) == [], f"{context}: leftovers in tmp/"
    check_whole(root / ".datamake", context)


def test_sigkill_at_random_points_never_leaves_torn_state(project):
    project.pipeline(PIPELINE)
    root, store = project.root, project.root / ".datamake"

    reference, locked = start_make(root)
    assert reference.wait(timeout=240) == 0, stderr_of(reference)
    reference.err.close()
    work = time.monotonic() - locked  # how long a whole run holds the lock
    expected = current_versions(store)
    assert len(expected) == 15

    rng = random.Random(SEED)
    kills = []
    for i in range(KILLS):
        executor, jobs = MODES[i % len(MODES)]
        if i % 4 == 0:
            shutil.rmtree(store)  # it exists: every earlier run got as far as taking its lock
        args = ["--executor", executor, *jobs, *(["-B"] if i % 2 else [])]
        delay = rng.uniform(0.0, 1.1) * work
        proc, locked = start_make(root, *args)
        assert proc.poll() is None or proc.returncode == 0, stderr_of(proc)
        try:
            proc.wait(timeout=max(0.0, locked + delay - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.err.close()
        context = f"kill {i} (make {' '.join(args)}, {delay:.2f}s after it took the lock, exit {proc.returncode})"
        kills.append((context, check_whole(store, context)))
        if i % 5 == 4 and i != KILLS - 1:
            follow_up(root, expected, context)
    follow_up(root, expected, "final")
    assert any(code < 0 for code in [int(c.split("exit ")[1].rstrip(")")) for c, _ in kills]), kills
