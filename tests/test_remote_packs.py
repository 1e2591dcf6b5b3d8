"""Push and pull through packs, on moto's S3 server: a request per artifact plus O(1), remotes written
the old way (one object per manifest and action entry) still pull, and a bad pack is never trusted."""
from __future__ import annotations

import json

import pytest

from tests.test_remote import remote_toml

N = 40  # above the point where datamake lists a folder instead of asking per object


def pipeline(n: int, bump: int = 0) -> str:
    lines = ["from datamake import asset", ""]
    for i in range(n):
        value = i + (bump if i == 0 else 0)
        lines += ["", f'@asset(name="s{i}", io_manager="bytes")', f"def s{i}():",
                  f"    return b'artifact {value} ' * 20", ""]
    return "\n".join(lines)


@pytest.fixture
def member(tmp_path, s3_bucket, monkeypatch):
    """A teammate's checkout on a machine of its own (its own cache of packs read before). Its commands
    run in this process (tests/conftest.py); the one whose requests are counted runs in a real one."""
    from tests.conftest import InProcessProjectDir as ProjectDir

    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # these tests count artifact files; small values
    # kept in their manifests travel in the packs (tests/test_remote.py)

    def make(name: str, source: str = pipeline(N)) -> ProjectDir:
        p = ProjectDir(tmp_path / name)
        p.root.mkdir()
        p.pipeline(source, remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options()))
        return p

    def on(project) -> None:
        monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(project.root) + "-machine-cache")

    make.on = on
    return make


def counted(s3_bucket, call):
    """``(result, {(method, kind): count})`` of the requests ``call()`` made; kind is list/object."""
    before = len(s3_bucket.server.requests_for(s3_bucket.name))
    result = call()
    counts = {}
    for method, path, query in s3_bucket.server.requests_for(s3_bucket.name)[before:]:
        kind = "list" if "list-type" in query or path.rstrip("/").count("/") == 1 else "object"
        counts[(method, kind)] = counts.get((method, kind), 0) + 1
    return result, counts


def build(project) -> None:
    import datamake.api as dm

    assert dm.make(dm.load(str(project.root)), history=False).ok


def pushed(project) -> dict:
    import datamake.api as dm

    return dm.push(dm.load(str(project.root)))


def pulled(project) -> dict:
    import datamake.api as dm

    return dm.pull(dm.load(str(project.root)))


def outcomes(report: dict) -> set:
    return {r["outcome"] for r in report["assets"]}


def packs_in(s3_bucket) -> list:
    return s3_bucket.server.filesystem().find(f"{s3_bucket.name}/cache/packs")


def test_push_and_pull_cost_a_request_per_artifact_and_a_few_more(member, s3_bucket):
    a, b = member("a"), member("b")
    member.on(a)
    build(a)
    report, counts = counted(s3_bucket, lambda: pushed(a))
    assert outcomes(report) == {"pushed"} and report["artifacts"] == N and report["manifests"] == N
    # N artifacts, one pack, the lease; a few listings; no HEAD per object
    assert counts.get(("PUT", "object")) == N + 2, counts
    assert counts.get(("GET", "list"), 0) <= 4 and ("HEAD", "object") not in counts, counts
    assert sum(counts.values()) <= N + 8, counts
    assert len(packs_in(s3_bucket)) == 1
    again, counts = counted(s3_bucket, lambda: pushed(a))
    assert outcomes(again) == {"up_to_date"} and again["manifests"] == again["artifacts"] == 0
    assert sum(counts.values()) <= 6 and len(packs_in(s3_bucket)) == 1, counts

    member.on(b)  # a fresh checkout on another machine: the pack is read in one GET
    report, counts = counted(s3_bucket, lambda: pulled(b))
    assert outcomes(report) == {"pulled"} and report["artifacts"] == N
    assert counts.get(("GET", "object")) == N + 1 and sum(counts.values()) <= N + 4, counts
    assert b.states() == {f"s{i}": "fresh" for i in range(N)}


def test_a_teammate_restores_everything_from_the_pack_without_computing(member, s3_bucket):
    a, c = member("a"), member("c")
    member.on(a)
    build(a)
    pushed(a)
    member.on(c)
    proc, counts = counted(s3_bucket, lambda: c.run_process("make", "--json"))  # a fresh process's requests
    assert proc.returncode == 0, proc.stderr
    assert {a["outcome"] for a in json.loads(proc.stdout)["assets"]} == {"cached"}
    assert sum(counts.values()) <= N + 6, counts  # the artifacts, the pack and a few listings


def push_the_old_way(project, s3_bucket) -> None:
    """What earlier versions left in a remote: each artifact, then an action entry and a manifest each."""
    from datamake.storage.localpacks import LocalPacks
    from datamake.storage.store import Store

    remote = Store(f"{s3_bucket.url}/cache", s3_bucket.server.options())
    local = Store(str(project.root / ".datamake"))
    for m in local.read_manifests(sorted(LocalPacks(local.root).refresh().newest)).values():
        remote.put_artifact_file(str(project.root / ".datamake" / "artifacts" / m.artifact[:2] / m.artifact),
                                 m.artifact)
        remote.commit(m)


def test_a_remote_written_the_old_way_still_pulls_and_newer_pushes_win(member, s3_bucket):
    a, b = member("a"), member("b")
    member.on(a)
    build(a)
    push_the_old_way(a, s3_bucket)
    assert packs_in(s3_bucket) == []
    member.on(b)
    report = pulled(b)
    assert outcomes(report) == {"pulled"} and report["artifacts"] == N
    assert set(b.states().values()) == {"fresh"}
    # a's next push writes a pack over the old objects: only what changed goes, and it wins
    a.pipeline(pipeline(N, bump=1000), remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options()))
    member.on(a)
    build(a)
    report = pushed(a)
    assert {r["key"] for r in report["assets"] if r["outcome"] == "pushed"} == {"s0"}
    assert report["manifests"] == 1 and len(packs_in(s3_bucket)) == 1
    c = member("c", pipeline(N, bump=1000))
    member.on(c)
    assert outcomes(pulled(c)) == {"pulled"}
    assert set(c.states().values()) == {"fresh"}
    assert "artifact 1000" in c.run("show", "s0", check=True).stdout


def spoil(data: bytes, how: str) -> bytes:
    return bytes(reversed(data)) if how == "corrupted" else data[: len(data) // 2]


@pytest.mark.parametrize("how", ["corrupted", "half-written"])
def test_a_bad_pack_is_reported_and_never_trusted(member, s3_bucket, how):
    a, b, c = member("a"), member("b"), member("c")
    member.on(a)
    build(a)
    pushed(a)
    fs = s3_bucket.server.filesystem()
    (pack,) = packs_in(s3_bucket)
    fs.pipe_file(pack, spoil(fs.cat_file(pack), how))
    member.on(b)
    proc = b.run("pull", "--json")
    assert "corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert {r["outcome"] for r in json.loads(proc.stdout)["assets"]} == {"missing"}
    assert packs_in(s3_bucket) == []  # deleted, so that the next push repairs the remote
    assert set(b.outcomes().values()) == {"built"}  # computed, never restored from the bad pack
    pushed(b)
    member.on(c)
    assert outcomes(pulled(c)) == {"pulled"}


def test_gc_merges_packs_and_keeps_every_current_version(member, s3_bucket):
    import datamake.api as dm

    a = member("a")
    member.on(a)
    build(a)
    pushed(a)
    a.pipeline(pipeline(N, bump=1000), remote_toml(f"{s3_bucket.url}/cache", s3_bucket.server.toml_options()))
    build(a)
    pushed(a)
    assert len(packs_in(s3_bucket)) == 2
    report = dm.gc(dm.load(str(a.root)), remote=True, retention=0)
    assert report["deleted"]["artifacts"] == 1 and report["deleted"]["actions"] == 1
    assert len(packs_in(s3_bucket)) == 1
    c = member("c", pipeline(N, bump=1000))
    member.on(c)
    assert outcomes(pulled(c)) == {"pulled"}
    assert "artifact 1000" in c.run("show", "s0", check=True).stdout


def test_two_packs_dated_to_the_same_second_keep_their_push_order(tmp_path, monkeypatch):
    """S3 dates objects to the whole second: of two pushes within one second, the later one's
    versions are current, whatever their packs are named."""
    import os

    from datamake.core.manifest import Manifest
    from datamake.storage import packgc, packs
    from datamake.storage.store import Store

    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(tmp_path / "cache"))
    store = Store(str(tmp_path / "remote"))

    def version(n: int) -> Manifest:
        return Manifest(key="s0", code_version=str(n), provenance=f"p{n}", data_version=f"d{n}",
                        artifact=f"{n:032x}", size=1, io_manager="pickle", inputs=())

    for n in range(6):  # pack names are hashes: some later pushes sort before earlier ones by name
        path = packs.write(store, [version(n)])
        os.utime(path, (1_700_000_000, 1_700_000_000))
        read = packs.read_all(store, on_corrupt=lambda path, why: pytest.fail(why))
        assert packs.RemoteView(store, read, {}).current(["s0"])["s0"].code_version == str(n)
        assert [m.code_version for m in packgc.winners(read, {})] == [str(n)]


def test_a_pack_whose_time_is_not_a_number_is_corrupt(tmp_path, monkeypatch):
    import json as json_mod

    from datamake.core.hashing import hash_bytes
    from datamake.storage import packs
    from datamake.storage.store import Store

    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(tmp_path / "cache"))
    store = Store(str(tmp_path / "remote"))
    raw = json_mod.dumps({"datamake_pack": packs.FORMAT, "manifests": [], "actions": [], "written": "soon"}).encode()
    store.write_small(f"{store.root}/{packs.FOLDER}/{hash_bytes(raw)}.json", raw)
    reported = []
    assert packs.read_all(store, on_corrupt=lambda path, why: reported.append(why)) == []
    assert len(reported) == 1 and "written" in str(reported[0])
