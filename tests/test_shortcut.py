"""The no-op shortcut never says "up to date" where the full path would do or say anything else.

Every test drives the real ``datamake`` program (``python -m datamake``) on real files. A project is
first brought to a state where the shortcut answers (its certificate is written by a no-op whose
files all changed more than the racy window before it started); then one or more edits are made,
and the shortcut's run is compared with the full path's (``DATAMAKE_NO_SHORTCUT=1``) run right
after it: when the shortcut answered, the full path must find nothing to do either.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ProjectDir

NOTE = "up to date without loading the project"
FULL = {"DATAMAKE_NO_SHORTCUT": "1"}

PIPELINE = '''\
from datamake import asset
from envlib import LIMIT
from helpers import scale

@asset
def c():
    return LIMIT

@asset
def a():
    return 1

@asset
def big():
    return "x" * 6000

@asset
def b(a, big):
    return scale(a) + len(big)
'''
HELPERS = "def scale(x):\n    return x * 2\n"
# An installed library (outside the project's folders) whose global comes from the environment.
ENVLIB = "import os\n\nLIMIT = os.environ.get('LIMIT', '1')\n"


def new_project(root: Path) -> ProjectDir:
    p = ProjectDir(root)
    p.write("pipeline.py", PIPELINE)
    p.write("helpers.py", HELPERS)
    site = _site(p)
    site.mkdir(exist_ok=True)
    (site / "envlib.py").write_text(ENVLIB)
    p.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n\n[storage]\nroot = "store"\n')
    return p


def _site(p: ProjectDir) -> Path:
    return p.root.parent / f"{p.root.name}-site"


def env_of(p: ProjectDir, **extra: str) -> dict:
    """Each project keeps its certificates in a cache folder of its own, and finds its library."""
    return {"DATAMAKE_CACHE_DIR": str(p.root / "cache"), "PYTHONPATH": str(_site(p)), **extra}


def shortcut_answers(p: ProjectDir, *args: str, **env: str):
    proc = p.run("make", "-v", *args, env=env_of(p, **env))
    return NOTE in proc.stderr, proc


def certify(projects) -> None:
    """Run ``make -v`` on each project until the shortcut answers it (bounded: the certificate is
    written once the project's files are older than the racy window)."""
    waiting = list(projects)
    deadline = time.monotonic() + 30
    while waiting:
        assert time.monotonic() < deadline, f"no certificate for {[str(p.root) for p in waiting]}"
        for p in list(waiting):
            answered, proc = shortcut_answers(p)
            assert proc.returncode == 0, proc.stderr
            if answered:
                waiting.remove(p)
        if waiting:
            time.sleep(0.3)  # not for luck: the next run is simply one more try, bounded by the deadline


# ---------------------------------------------------------------- edits


def _same_size_and_mtime(path: Path, old: str, new: str) -> None:
    assert len(old) == len(new)
    st = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _artifact_of(p: ProjectDir) -> Path:
    """The artifact file of ``big`` (the only value above the inline limit)."""
    for path in (p.root / "store" / "artifacts").rglob("*"):
        if path.is_file() and path.stat().st_size == 6000:
            return path
    raise AssertionError("no artifact of 6000 bytes")


def edit_source(p: ProjectDir, env: dict) -> None:
    _same_size_and_mtime(p.root / "pipeline.py", "return 1\n", "return 7\n")


def edit_helper(p: ProjectDir, env: dict) -> None:
    _same_size_and_mtime(p.root / "helpers.py", "x * 2", "x * 3")


def edit_library(p: ProjectDir, env: dict) -> None:
    """A library file edited in place (same size and modification time, its folder unchanged): only its
    own stat shows it, so the certificate must hold the stat of each library file, not of its folder."""
    _same_size_and_mtime(_site(p) / "envlib.py", "'1')", "'3')")


def edit_toml(p: ProjectDir, env: dict) -> None:
    _same_size_and_mtime(p.root / "datamake.toml", 'root = "store"', 'root = "stor2"')


def edit_pins(p: ProjectDir, env: dict) -> None:
    p.write("datamake.pins.toml", '[pins]\na = { code_version = "zzz", source = "" }\n')


def delete_artifact(p: ProjectDir, env: dict) -> None:
    _artifact_of(p).unlink()


def replace_artifact(p: ProjectDir, env: dict) -> None:
    path = _artifact_of(p)
    path.chmod(0o644)
    path.write_bytes(b"y" * 6000)


def other_project_builds(p: ProjectDir, env: dict) -> None:
    other = ProjectDir(p.root / "other")
    other.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 5\n",
                   '\n[storage]\nroot = "../store"\n')
    other.run("make", check=True, env={**env_of(p), **FULL})


def lose_pack(p: ProjectDir, env: dict) -> None:
    packs = sorted((p.root / "store" / "packs").iterdir())
    assert packs, "the store has no pack"
    packs[0].unlink()


def bad_env_var(p: ProjectDir, env: dict) -> None:
    env["DATAMAKE_RUN_TAGS"] = "not json"


def library_reads_another_environment(p: ProjectDir, env: dict) -> None:
    env["LIMIT"] = "2"


def other_selection(p: ProjectDir, env: dict) -> None:
    env["args"] = "no_such_asset"


EDITS = {f.__name__: f for f in (edit_source, edit_helper, edit_library, edit_toml, edit_pins, delete_artifact, replace_artifact,
                                 other_project_builds, lose_pack, bad_env_var, library_reads_another_environment,
                                 other_selection)}


def build(p: ProjectDir, env: dict) -> None:
    """A ``make`` with the shortcut on, right after the steps before it: it builds what they made stale
    and writes the certificate where it can (the next step, or the check, is the no-op after it)."""
    args = [env["args"]] if "args" in env else []
    p.run("make", *args, env=env_of(p, **{k: v for k, v in env.items() if k not in ("args", "built")}))
    env["built"] = True


STEPS = {**EDITS, "build": build}


def check_against_full_path(p: ProjectDir, env: dict) -> bool:
    """The shortcut's run, then the full path's: when the shortcut answered, the full path finds nothing
    to do (and exits 0). Returns whether the shortcut answered."""
    args = [env.pop("args")] if "args" in env else []
    built = env.pop("built", False)  # the last step built: there may be nothing left to do either way
    answered, proc = shortcut_answers(p, *args, **env)
    full = p.run("make", "--json", *args, env=env_of(p, **env, **FULL))
    if answered:
        assert proc.returncode == 0 and full.returncode == 0, (proc.stderr, full.stderr)
        outcomes = {a["key"]: a["outcome"] for a in json.loads(full.stdout)["assets"]}
        assert set(outcomes.values()) == {"skipped"}, f"the shortcut said up to date, the full path: {outcomes}"
    elif not built:  # the full path had something to do or say (an edit that changes nothing is not drawn)
        assert full.returncode != 0 or "built" in proc.stdout or proc.returncode != 0, proc.stdout
    return answered


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_each_edit_the_certificate_records_sends_make_down_the_full_path(tmp_path, edit):
    p = new_project(tmp_path / "p")
    p.run("make", check=True, env=env_of(p))
    certify([p])
    env: dict = {}
    EDITS[edit](p, env)
    assert not check_against_full_path(p, env), f"{edit}: the shortcut answered after the edit"


def _drawable(steps: list) -> bool:
    """No artifact to replace once it was deleted (until a build makes it again)."""
    gone = False
    for name in steps:
        if name == "replace_artifact" and gone:
            return False
        gone = name == "delete_artifact" or gone and name != "build"
    return True


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=3, unique=True).filter(_drawable), st.booleans())
def test_random_edits_never_get_an_answer_the_full_path_disagrees_with(tmp_path_factory, steps, then_build):
    """Random edits, some followed by a build (whose certificate answers the no-op after it, or not),
    then the no-op: the shortcut never answers where the full path would build or say anything."""
    p = new_project(tmp_path_factory.mktemp("edits"))
    p.run("make", check=True, env=env_of(p))
    certify([p])
    env: dict = {}
    for name in steps + (["build"] if then_build and steps[-1] != "build" else []):
        env.pop("built", None)
        STEPS[name](p, env)
    check_against_full_path(p, env)


def _without_run(text: str) -> str:
    return re.sub(r"in \d+\.\d\ds \(run [^)]*\)", "in …s (run …)", text)


def test_the_shortcut_prints_what_the_full_path_prints(project):
    p = new_project(project.root)
    p.run("make", check=True, env=env_of(p))
    certify([p])
    for args in (["--json"], [], ["-q"]):
        runs = []
        deadline = time.monotonic() + 30
        while True:  # until this command line has its own certificate
            shortcut = p.run("make", *args, env=env_of(p))
            full = p.run("make", *args, env=env_of(p, **FULL))
            log = p.run("log", "--json", "-n", "1000", env=env_of(p, **FULL))
            runs.append(len(json.loads(log.stdout).get("runs", [])))
            if len(runs) > 1 and runs[-1] == runs[-2] + 1:  # only the full path's run was recorded
                break
            assert time.monotonic() < deadline, "the shortcut never answered"
        assert shortcut.returncode == full.returncode == 0
        if args == ["--json"]:
            a, b = json.loads(shortcut.stdout), json.loads(full.stdout)
            assert a["run_id"] != b["run_id"]
            assert {**a, "run_id": None} == {**b, "run_id": None}
        else:
            assert _without_run(shortcut.stdout) == _without_run(full.stdout)
        assert shortcut.stderr == full.stderr == ""


def test_a_project_whose_globals_come_from_the_environment_never_gets_a_certificate(project):
    p = project
    p.pipeline("import os\nfrom datamake import asset\n\nLIMIT = int(os.environ.get('LIMIT', '1'))\n\n"
               "@asset\ndef a():\n    return LIMIT\n")
    p.run("make", check=True, env=env_of(p))
    started = time.monotonic()
    while time.monotonic() - started < 3:  # past the racy window, when an eligible project has one
        answered, proc = shortcut_answers(p)
        assert not answered and proc.returncode == 0
    certificates = [f for f in (p.root / "cache").glob("uptodate/*.json") if not f.name.startswith("purity-")]
    assert not certificates, "a certificate was written"
    answered, proc = shortcut_answers(p, LIMIT="2")
    assert not answered and "built    a" in proc.stdout


def test_an_asset_that_read_an_undeclared_file_gets_no_certificate_and_an_edit_rebuilds_it(project):
    p = project
    p.pipeline("from pathlib import Path\nfrom datamake import asset\n\nNOTES = Path(__file__).parent / 'notes.txt'\n\n"
               "@asset\ndef a():\n    return NOTES.read_text()\n")
    p.write("notes.txt", "one")
    assert "built    a" in p.run("make", check=True, env=env_of(p)).stdout
    deadline = time.monotonic() + 30
    while True:  # past the racy window, an eligible project would get its certificate here
        answered, proc = shortcut_answers(p)
        assert not answered and proc.returncode == 0, proc.stderr
        if "a read files it does not declare" in proc.stderr:
            break
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.3)  # not for luck: one more try, bounded by the deadline
    p.write("notes.txt", "two")
    answered, proc = shortcut_answers(p)
    assert not answered and "built    a" in proc.stdout


def test_datamake_no_shortcut_turns_it_off(project):
    p = new_project(project.root)
    p.run("make", check=True, env=env_of(p))
    certify([p])
    answered, proc = shortcut_answers(p, DATAMAKE_NO_SHORTCUT="1")
    assert not answered and proc.returncode == 0
    assert "skipped  b" in proc.stdout


LOCATED = '''\
import os
from pathlib import Path
from datamake import asset

DATA = Path(__file__).parent / "data"
HERE = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
PARTS = [f"p{i}" for i in range(3)]

@asset
def where():
    return [HERE, DATA.name, PARTS]
'''


@pytest.mark.parametrize("change", ["move the project", "edit a literal"])
def test_globals_made_from_the_module_location_are_certified_and_what_they_depend_on_is_seen(tmp_path, change):
    p = ProjectDir(tmp_path / "one")
    p.pipeline(LOCATED, '\n[storage]\nroot = "store"\n')
    p.run("make", check=True, env=env_of(p))
    certify([p])  # the project is eligible: its globals come from its location and literals only
    if change == "move the project":  # (its store and certificates move with it)
        shutil.move(str(p.root), str(tmp_path / "two"))
        p = ProjectDir(tmp_path / "two")
    else:
        _same_size_and_mtime(p.root / "pipeline.py", "range(3)", "range(4)")
    answered, proc = shortcut_answers(p)
    assert not answered and "built    where" in proc.stdout, proc.stdout + proc.stderr
