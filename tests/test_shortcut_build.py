"""The ``make`` that builds writes the up-to-date certificate: the first no-op after a build is answered
without loading the project, with what the full path prints, and only where that is sound.

Every test drives the real ``datamake`` program on real files. ``fresh_build`` first brings the
project to a state the shortcut answers (its files older than the racy window), then removes the
store, so that the next ``make`` builds everything from files the certificate can vouch for.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from datamake.shortcut import check
from tests.conftest import ProjectDir
from tests.polling import wait_for
from tests.test_shortcut import FULL, HELPERS, NOTE, _without_run, certify, env_of, new_project, shortcut_answers


def fresh_build(p: ProjectDir, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``make ARGS`` building from an empty store, the project's files known old enough to be certified."""
    certify([p])
    shutil.rmtree(p.root / "store")
    proc = p.run("make", "-v", *args, env=env_of(p, **env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built    a" in proc.stdout and "the next make cannot be answered" not in proc.stderr, proc.stderr
    return proc


def runs_logged(p: ProjectDir) -> int:
    """How many runs the event log holds (an answer from the certificate records none)."""
    log = p.run("log", "--json", "-n", "1000", env=env_of(p, **FULL))
    return len(json.loads(log.stdout).get("runs", []))


def certificates(p: ProjectDir) -> list:
    return [f for f in (p.root / "cache").glob("uptodate/*.json") if not f.name.startswith("purity-")]


@pytest.mark.parametrize("args", [["--json"], [], ["-q"], ["-v"]], ids=["json", "text", "quiet", "verbose"])
def test_the_no_op_after_a_build_is_answered_by_the_certificate_with_the_full_paths_output(project, args):
    p = new_project(project.root)
    certify([p])
    shutil.rmtree(p.root / "store")
    built = p.run("make", *args, env=env_of(p))
    assert built.returncode == 0 and built.stderr == "", built.stderr
    logged = runs_logged(p)
    shortcut = p.run("make", *args, env=env_of(p))  # the first no-op after the build
    assert runs_logged(p) == logged, "the no-op after the build went down the full path"
    full = p.run("make", *args, env=env_of(p, **FULL))
    assert shortcut.returncode == full.returncode == 0
    if args == ["--json"]:
        a, b = json.loads(shortcut.stdout), json.loads(full.stdout)
        assert {a_["outcome"] for a_ in a["assets"]} == {"skipped"}
        assert {**a, "run_id": None} == {**b, "run_id": None}
    else:
        assert _without_run(shortcut.stdout) == _without_run(full.stdout)
    if args == ["-v"]:
        assert NOTE in shortcut.stderr
    else:
        assert shortcut.stderr == full.stderr == ""


SLOW = '''\
from datamake import asset
from helpers import scale

@asset
def a():
    wait_at_gate(GATE_PORT, "go")
    return 1

@asset
def b(a):
    return scale(a)
'''


@pytest.mark.parametrize("edit", [True, False], ids=["source edited while a runs", "nothing edited"])
def test_a_source_edited_while_an_asset_runs_sends_the_next_make_down_the_full_path(project, gate, edit):
    p = new_project(project.root)
    p.write("pipeline.py", gate.code(SLOW))
    gate.release("go")  # the first build runs straight through
    env = env_of(p)
    p.run("make", check=True, env=env)
    certify([p])  # the project's files are old enough to be certified
    shutil.rmtree(p.root / "store")
    gate.shut("go")
    building = subprocess.Popen([sys.executable, "-m", "datamake", "make", "-v"], cwd=p.root,
                                env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert gate.arrived("go", 60), "asset a did not start"
        if edit:  # b has not run yet: it runs the code imported before the edit
            helpers = p.root / "helpers.py"
            st = helpers.stat()
            helpers.write_text(helpers.read_text().replace("x * 2", "x * 3"))
            os.utime(helpers, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with its old time and size
        gate.release("go")
        out, err = building.communicate(timeout=120)
    finally:
        building.kill()
    assert building.returncode == 0 and "built    b" in out, out + err
    answered, proc = shortcut_answers(p)
    assert proc.returncode == 0, proc.stderr
    if edit:
        assert not answered and "built    b" in proc.stdout, proc.stdout + proc.stderr
        assert "the next make cannot be answered" in err and "helpers.py" in err, err
    else:
        assert answered, err


def _same_size_and_time(path: Path) -> None:
    """Change a byte of ``path`` in place, keeping its size and modification time."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.chmod(0o644)
    with open(path, "r+b") as f:  # the same inode
        f.write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_store_file_changed_right_after_the_run_keeping_its_stat_is_caught(project):
    p = new_project(project.root)
    fresh_build(p)
    pack = next((p.root / "store" / "packs").iterdir())
    _same_size_and_time(pack)
    answered, proc = shortcut_answers(p)
    assert not answered and proc.returncode == 0
    assert "corrupt pack" in proc.stderr and "built    a" in proc.stdout, proc.stdout + proc.stderr


def test_a_racy_entry_is_compared_by_content_even_when_its_stat_is_unchanged(tmp_path):
    """A file recorded within a clock tick of its last change may change again in that tick with no
    trace in its stat (same size, time and inode): such an entry (``!``) is compared by content."""
    path = tmp_path / "pack.json"
    path.write_bytes(b"what the run wrote")
    recorded = check.file_digest(str(path))
    _same_size_and_time(path)
    st = path.stat()  # the stat a same-tick change leaves: as the certificate recorded it
    entry = [path.name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
    assert check.files_hold({str(tmp_path): [entry + ["=" + recorded]]}, [])  # stat trusted
    assert not check.files_hold({str(tmp_path): [entry + ["!" + recorded]]}, [])  # content compared
    assert check.files_hold({str(tmp_path): [entry + ["!" + check.file_digest(str(path))]]}, [])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # a store file keeps its time: versions are ordered by it
    assert not check.files_hold({str(tmp_path): [entry + ["=" + check.file_digest(str(path))]]}, [])


def test_a_partial_scope_certifies_only_its_own_command_line(project):
    p = new_project(project.root)
    fresh_build(p, "a")
    answered, proc = shortcut_answers(p, "a")
    assert answered and proc.stdout.splitlines()[0] == "skipped  a", proc.stdout
    answered, proc = shortcut_answers(p)
    assert not answered and "built    b" in proc.stdout and "skipped  a" in proc.stdout, proc.stdout


def test_a_failed_run_writes_no_certificate(project):
    p = new_project(project.root)
    p.write("helpers.py", "def scale(x):\n    raise ValueError('no')\n")
    proc = p.run("make", "-v", "-k", env=env_of(p))
    assert proc.returncode == 1 and "built    a" in proc.stdout, proc.stdout + proc.stderr
    assert "cannot be answered without loading the project: the run failed" in proc.stderr, proc.stderr
    assert certificates(p) == []
    answered, proc = shortcut_answers(p, "-k")
    assert not answered and proc.returncode == 1 and "skipped  a" in proc.stdout


def test_a_copy_of_a_project_elsewhere_is_certified_and_an_impure_copy_is_not(tmp_path):
    """Which module sources are pure is kept for every project on the machine, so a copy of a certified
    project in a new folder (a new clone, a CI checkout) does not read them again; a copy whose module
    differs (here: a global read from the environment at import) is judged anew and gets no certificate."""
    shared = {"DATAMAKE_CACHE_DIR": str(tmp_path / "cache")}
    first, copy, impure = (new_project(tmp_path / name) for name in ("first", "copy", "impure"))
    impure.write("helpers.py", HELPERS.replace("def scale", "import os\n\nFACTOR = os.environ.get('F')\n\n\ndef scale"))

    def answered(p: ProjectDir) -> bool:
        proc = p.run("make", "-v", env=env_of(p, **shared))
        assert proc.returncode == 0, proc.stderr
        assert "project module not pure" not in proc.stderr, proc.stderr
        return NOTE in proc.stderr

    for p in (first, copy):  # the copy's first make runs after the first project was certified
        assert wait_for(lambda: answered(p), timeout=30), f"no certificate for {p.root}"
    built = impure.run("make", "-v", env=env_of(impure, **shared))
    assert built.returncode == 0 and "project module not pure" in built.stderr and "helpers.py:3" in built.stderr, built.stderr
    again = impure.run("make", "-v", env=env_of(impure, **shared))
    assert NOTE not in again.stderr and "project module not pure" in again.stderr, again.stderr
