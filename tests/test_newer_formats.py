"""What a newer datamake wrote into a store, as an older one meets it: kept for the newer one (by `make`,
`gc`, automatic pushes), and what `pull` says about it; and where a relative remote is."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import InProcessProjectDir, teammates
from tests.test_loose_ends import PLAIN  # big, and small reading it

THEIR_PROVENANCE = "0123456789abcdef0123456789abcdef"  # what a newer datamake computed for big


@pytest.fixture
def project(inprocess_project: InProcessProjectDir) -> InProcessProjectDir:
    return inprocess_project


def as_a_newer_datamake_writes_it(data: dict) -> bytes:
    """A manifest as a datamake of the next format writes it: a newer format, a field unknown here, and the
    provenance that datamake computes."""
    return json.dumps(dict(data, format=data.get("format", 1) + 1, lineage={}, provenance=THEIR_PROVENANCE)).encode()


def files_holding(folder, raw: bytes):
    return [p for p in folder.rglob("*.json") if p.read_bytes() == raw]


def make_old(path) -> None:
    old = time.time() - 30 * 86400
    os.utime(path, (old, old))


@pytest.mark.parametrize("batched", ["1", "0"], ids=["packs", "manifest-files"])
def test_make_keeps_what_a_newer_datamake_recorded_when_it_records_its_own(project, batched):
    """The manifest a newer datamake wrote for ``big`` is not trusted (``big`` is made again), and it is not
    lost when this datamake records its own: it stays in the store as that datamake's action-cache entry,
    which ``gc`` leaves alone, and ``make`` says where it is."""
    project.pipeline(PLAIN)
    env = {"DATAMAKE_BATCH_COMMITS": batched}
    project.run("make", check=True, env=env)
    store = project.root / ".datamake"
    packed = [json.loads(p.read_text()) for p in (store / "packs").glob("*.json")]
    data = next(m for pack in packed for m in pack["manifests"] if m["key"] == "big") if packed else \
        json.loads((store / "manifests" / "big.json").read_text())
    theirs = as_a_newer_datamake_writes_it(data)
    current = store / "manifests" / "big.json"
    current.parent.mkdir(exist_ok=True)
    if current.exists():
        current.unlink()  # (a newer datamake replaces the file: its action entry keeps our bytes)
    current.write_bytes(theirs)
    assert project.states()["big"] == "stale"

    made = project.run("make", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    kept = files_holding(store / "actions", theirs)
    assert [p.name for p in kept] == [f"{THEIR_PROVENANCE}.json"], made.stderr
    assert f"{current} that a newer datamake wrote is kept, as the action-cache entry {kept[0]}" in made.stderr
    assert project.states() == {"big": "fresh", "small": "fresh"}

    make_old(kept[0])
    gc = project.run("gc", "--older-than", "1d")
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert files_holding(store / "actions", theirs) == kept


def test_status_says_why_a_stored_manifest_is_not_used(project):
    """An asset whose manifest a newer datamake wrote, or whose manifest file is damaged, has no value
    this datamake can use: ``status`` says which of the two, not that it was never materialized."""
    project.pipeline(PLAIN)
    env = {"DATAMAKE_BATCH_COMMITS": "0"}  # a manifest file per asset
    project.run("make", check=True, env=env)
    manifests = project.root / ".datamake" / "manifests"
    (manifests / "big.json").write_bytes(as_a_newer_datamake_writes_it(json.loads((manifests / "big.json").read_text())))
    (manifests / "small.json").write_text("{not json")

    reasons = {a["key"]: a["reasons"] for a in project.json("status")["assets"]}
    assert [r["code"] for r in reasons["big"]] == ["never_materialized"]  # (the codes DESIGN.md lists)
    assert "written by a newer datamake" in reasons["big"][0]["message"]
    assert "upgrade datamake" in reasons["big"][0]["message"]
    assert reasons["small"][0]["code"] == "never_materialized"
    assert "its file is damaged" in reasons["small"][0]["message"]
    assert reasons["small"][0]["message"] != "never materialized"


def test_gc_keeps_old_entries_of_a_newer_format_and_what_they_name(project):
    """An old action-cache entry that nothing here references is deleted, unless a newer datamake wrote it
    (it cannot be read here: what it is still for is that datamake's to say). Its artifact stays with it,
    and ``gc -n`` and ``gc`` say how many such entries they kept."""
    project.pipeline(PLAIN)
    project.run("make", check=True)
    store = project.root / ".datamake"
    artifact = store / "artifacts" / "ab" / ("ab" * 16)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"a value a newer datamake built")
    entry = {"key": "big", "code_version": "1", "provenance": "", "data_version": artifact.name,
             "artifact": artifact.name, "size": 30, "io_manager": "pickle", "inputs": [], "format": 2}
    paths = {}
    for name, fmt in (("ours", 2), ("theirs", 3)):
        provenance = (name * 32)[:32].encode().hex()[:32]
        path = paths[name] = store / "actions" / provenance[:2] / f"{provenance}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(entry, provenance=provenance, format=fmt)))
        make_old(path)
    make_old(artifact)

    dry = project.run("gc", "-n", "--older-than", "1d")
    assert "and 1 action-cache entries" in dry.stdout, dry.stdout + dry.stderr
    assert "kept 1 action-cache entries a newer datamake wrote, whatever their age: upgrade datamake" in dry.stdout
    gc = project.run("gc", "--older-than", "1d", "--json")
    report = json.loads(gc.stdout)
    assert report["actions"] == [str(paths["ours"])] and report["kept"]["newer"] == 1, report
    assert not paths["ours"].exists() and paths["theirs"].exists() and artifact.exists()


def test_pull_says_it_skips_what_a_newer_datamake_pushed_and_make_builds_it(tmp_path):
    """``pull`` builds nothing: an asset whose remote manifest a newer datamake wrote is reported
    ``skipped``, with what to do, not "will be rebuilt". ``make`` says it rebuilds it, and does."""
    remote, (newer, older) = teammates(tmp_path, PLAIN, "auto", kind=InProcessProjectDir)
    newer.run("make", check=True)
    for path in (remote / "manifests").glob("*.json"):
        path.write_bytes(as_a_newer_datamake_writes_it(json.loads(path.read_text())))

    pulled = older.run("pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert {line.split()[1]: line.split()[0] for line in pulled.stdout.splitlines()[:2]} == \
        {"big": "skipped", "small": "skipped"}
    said = [line for line in pulled.stderr.splitlines() if "manifests/big.json" in line]
    assert said and said[0].endswith("upgrade datamake to use it); not pulled (`datamake make` builds it here "
                                     "instead)"), pulled.stderr
    assert "rebuilt" not in pulled.stderr

    made = older.run("make")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "upgrade datamake to use it); the asset will be rebuilt" in made.stderr
    assert older.states() == {"big": "fresh", "small": "fresh"}


def test_pull_over_a_local_manifest_of_a_newer_datamake_says_nothing_of_a_rebuild(tmp_path):
    """``pull`` takes the remote's versions of the selection and plans nothing: a local manifest a newer
    datamake wrote draws no "will be rebuilt", and the pulled version is current afterwards."""
    remote, (mate, me) = teammates(tmp_path, PLAIN, "auto", kind=InProcessProjectDir)
    mate.run("make", check=True)
    current = me.root / ".datamake" / "manifests" / "big.json"
    current.parent.mkdir(parents=True)
    current.write_bytes(as_a_newer_datamake_writes_it(json.loads((remote / "manifests" / "big.json").read_text())))

    pulled = me.run("pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "rebuilt" not in pulled.stderr, pulled.stderr
    assert me.states() == {"big": "fresh", "small": "fresh"}


@pytest.mark.parametrize("push", ["auto", "manual"])
def test_a_push_keeps_the_remote_manifest_a_newer_datamake_wrote(tmp_path, push):
    """The older teammate's push makes its version of ``big`` current on the remote (an automatic push
    replaces the manifest object, ``push`` writes a pack beside it): either way the newer teammate's
    manifest is kept on the remote as its action-cache entry, and the push says so."""
    remote, (newer, older) = teammates(tmp_path, PLAIN, "auto", kind=InProcessProjectDir)
    older.pipeline(PLAIN, f'[cache]\nremote = "{remote}"\npush = "{push}"\n')
    newer.run("make", check=True)
    for entry in (remote / "actions").rglob("*.json"):  # not restored here: built, then pushed
        entry.write_text(json.dumps(dict(json.loads(entry.read_text()), format=3)))
    current = remote / "manifests" / "big.json"
    theirs = as_a_newer_datamake_writes_it(json.loads(current.read_text()))
    current.write_bytes(theirs)

    made = older.run("make")
    pushed = older.run("push") if push == "manual" else made
    assert made.returncode == 0 and pushed.returncode == 0, made.stderr + pushed.stdout + pushed.stderr
    kept = files_holding(remote / "actions", theirs)
    assert [p.name for p in kept] == [f"{THEIR_PROVENANCE}.json"], pushed.stderr
    assert f"remote cache: the manifest at {current} that a newer datamake wrote is kept" in pushed.stderr
    if push == "manual":
        assert "upgrade datamake to use it); this datamake's version is pushed as the current one beside it" \
            in pushed.stderr
    pulled = {a["key"]: a["outcome"] for a in older.json("pull")["assets"]}
    assert pulled["big"] == "up_to_date"  # the remote's current version is this datamake's


def test_a_relative_remote_is_the_folder_beside_the_project_shown_without_dots(project, tmp_path):
    """``remote = "../shared-cache"`` names the folder beside the project's, from a subfolder and with -C
    as from the project's own; push, pull and gc name it as an absolute path without ``..``."""
    project.pipeline(PLAIN, '[cache]\nremote = "../shared-cache"\n')
    (project.root / "sub").mkdir()
    shared = project.root.parent / "shared-cache"
    project.run("make", check=True)

    pushed = project.run("push", cwd=project.root / "sub")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert pushed.stdout.rstrip().endswith(f"; {shared}"), pushed.stdout
    assert (shared / "packs").is_dir() and not (project.root / "shared-cache").exists()
    pulled = project.run("-C", str(project.root / "sub"), "pull", cwd=tmp_path)
    assert pulled.stdout.rstrip().endswith(f"; {shared}"), pulled.stdout
    gc = project.run("gc", "--remote", "-n", cwd=project.root / "sub")
    assert gc.stdout.rstrip().endswith(f"({shared})"), gc.stdout


def test_gc_deferred_by_a_newer_pack_says_why_once_and_what_to_do(project):
    """A local pack a newer datamake wrote stays, its assets are made again beside it, and ``gc`` deletes
    nothing: it says so once and says to upgrade, not to wait for writers that do not exist."""
    from datamake.core.hashing import hash_bytes

    project.pipeline(PLAIN)
    project.run("make", check=True)
    (pack,) = (project.root / ".datamake" / "packs").glob("*.json")
    body = json.loads(pack.read_text())
    body["manifests"] = [json.loads(as_a_newer_datamake_writes_it(m)) for m in body["manifests"]]
    raw = json.dumps(body).encode()
    pack.unlink()
    theirs = pack.with_name(f"{hash_bytes(raw)}.json")
    theirs.write_bytes(raw)

    assert project.outcomes() == {"big": "built", "small": "built"}
    assert theirs.read_bytes() == raw
    gc = project.run("gc", "--older-than", "0")
    assert gc.returncode == 1 and theirs.exists()
    assert gc.stderr.strip().endswith(f"gc deferred, nothing deleted: the pack {theirs} (written by a newer datamake "
                                      "(manifest format 3, this one reads 2)) is unreadable; upgrade datamake to "
                                      "collect this store"), gc.stderr
