"""The store and remote-cache contracts, run against every kind of storage datamake supports.

One abstract suite states what a ``Store`` promises through its public methods
(artifacts, manifests, the action cache, corruption, listing, deletion, a
failed write keeping the old value); subclasses run it on a local folder, on
fsspec's ``memory://`` and on a real S3 API (moto's server on loopback, via
s3fs). The remote cache's push/pull contract runs on a local-folder remote and
on S3 the same way. What only one kind of store does (the local store's
verified-stat record, its tmp cleaning and lock, object stores' leases) is
tested in that subclass alone.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import List, Optional

import pytest

from datamake.core.errors import StoreError
from datamake.core.hashing import hash_bytes, hash_value
from datamake.core.manifest import Manifest
from datamake.storage import gc, iomanagers
from datamake.storage.remote import RemoteCache
from datamake.storage.store import CorruptArtifactError, Store


MANY = 34  # more than the store reads one by one: object stores switch to one listing for them all


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path, monkeypatch):
    """Machine-local caches (bucket listings) go to this test's folder, not the user's."""
    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(tmp_path / "machine-cache"))


def put(store: Store, data: bytes, key: str = "k", partition: Optional[str] = None, code: str = "1") -> Manifest:
    """Write ``data`` as an asset's artifact and return the manifest that would record it (not committed)."""
    artifact, size = store.write_artifact(lambda f: f.write(data))
    return Manifest(key=key, code_version=code, provenance=hash_value("test", key, partition, code, hash_bytes(data)),
                    data_version=artifact, artifact=artifact, size=size, io_manager="bytes", partition=partition)


def node(m: Manifest) -> str:
    return m.key if m.partition is None else f"{m.key}[{m.partition}]"


def tamper(store: Store, content_hash: str, data: bytes) -> None:
    """Overwrite a stored artifact's bytes behind the store's back (bit rot, a stray writer)."""
    store.fs.pipe_file(store.artifact_path(content_hash), data)


def artifact_names(store: Store) -> set:
    return {os.path.basename(p) for p in store.listing("artifacts")}


class StoreContract:
    """What every Store does, whatever its URL. Subclasses provide the ``store`` fixture (a fresh, empty store)."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - provided by each subclass
        raise NotImplementedError

    @pytest.fixture
    def reopen(self, store):
        """A second Store on the same URL (as another process would open it)."""
        return lambda: Store(store.url, store.storage_options)

    # -- artifacts -------------------------------------------------------------
    def test_an_artifact_is_stored_under_its_content_hash(self, store):
        m = put(store, b"hello artifact")
        assert m.artifact == hash_bytes(b"hello artifact") and m.size == len(b"hello artifact")
        assert store.read_artifact(m) == b"hello artifact"
        with store.open_artifact(m.artifact) as f:
            assert f.read() == b"hello artifact"
        assert store.artifact_sizes([m.artifact]) == {m.artifact: m.size}
        assert store.artifact_intact(m.artifact, m.size)
        assert store.verify_artifact(m.artifact)

    def test_equal_bytes_are_stored_once(self, store):
        a, b = put(store, b"same", key="a"), put(store, b"same", key="b")
        assert a.artifact == b.artifact
        assert artifact_names(store) == {a.artifact}

    def test_an_empty_artifact(self, store):
        m = put(store, b"")
        assert m.size == 0 and store.read_artifact(m) == b""
        assert store.artifact_sizes([m.artifact]) == {m.artifact: 0}

    def test_a_missing_artifact(self, store):
        absent = hash_bytes(b"never written")
        assert store.artifact_sizes([absent]) == {absent: None}
        assert not store.artifact_intact(absent, 13)
        assert not store.verify_artifact(absent)
        with pytest.raises(CorruptArtifactError, match="missing"):
            store.open_artifact(absent)

    def test_artifact_sizes_of_many_artifacts(self, store):
        written = [put(store, f"artifact {i}".encode() * (i + 1)) for i in range(MANY)]
        absent = [hash_bytes(f"absent {i}".encode()) for i in range(3)]
        sizes = store.artifact_sizes([m.artifact for m in written] + absent)
        assert sizes == {**{m.artifact: m.size for m in written}, **dict.fromkeys(absent)}

    def test_a_value_round_trips_through_its_io_manager(self, store):
        manager = iomanagers.choose({"rows": [1, 2, 3]})
        artifact, size = store.write_artifact(lambda f: manager.dump({"rows": [1, 2, 3]}, f))
        m = Manifest(key="k", code_version="1", provenance="p", data_version=artifact, artifact=artifact,
                     size=size, io_manager=manager.name)
        assert store.load(m) == {"rows": [1, 2, 3]}

    def test_copy_artifact_hands_out_a_private_read_only_copy(self, store, tmp_path):
        m = put(store, b"file input")
        folder = tmp_path / "scratch"
        folder.mkdir()
        path = store.copy_artifact(m, str(folder))
        with open(path, "rb") as f:
            assert f.read() == b"file input"
        assert not os.access(path, os.W_OK) or os.geteuid() == 0
        assert store.read_artifact(m) == b"file input"

    def test_put_artifact_file_stores_an_already_hashed_file(self, store, tmp_path):
        local = tmp_path / "downloaded"
        local.write_bytes(b"from elsewhere")
        digest = hash_bytes(b"from elsewhere")
        store.put_artifact_file(str(local), digest)
        assert store.artifact_sizes([digest]) == {digest: len(b"from elsewhere")}
        assert store.verify_artifact(digest)

    # -- manifests ---------------------------------------------------------------
    def test_a_committed_manifest_is_current(self, store):
        m = put(store, b"v1")
        assert store.read_manifests(["k", "other"]) == {"k": None, "other": None}
        store.commit(m)
        assert store.read_manifests(["k", "other"]) == {"k": m, "other": None}
        assert store.read_manifests(["k"]) == {"k": m}
        assert self.reopen_read(store, ["k"]) == {"k": m}

    def reopen_read(self, store: Store, keys: List[str]):
        return Store(store.url, store.storage_options).read_manifests(keys)

    def test_a_new_commit_replaces_the_current_manifest(self, store):
        old, new = put(store, b"v1"), put(store, b"v2")
        store.commit(old)
        store.commit(new)
        assert store.read_manifests(["k"])["k"] == new
        assert store.read_artifact(old) == b"v1"  # artifacts are immutable: the old one stays until gc

    def test_partitions_and_prefixed_keys_have_their_own_manifests(self, store):
        parts = [put(store, b"jan", key="sales/daily", partition="2024-01"),
                 put(store, b"odd", key="sales/daily", partition="a/b c?&%"),
                 put(store, b"whole", key="sales/daily")]
        for m in parts:
            store.commit(m)
        nodes = [node(m) for m in parts] + ["sales/daily[2024-02]"]
        assert store.read_manifests(nodes) == {**{node(m): m for m in parts}, "sales/daily[2024-02]": None}

    def test_reading_many_manifests_sees_every_change(self, store):
        keys = [f"asset{i}" for i in range(MANY)]
        first = {k: put(store, f"{k} v1".encode(), key=k) for k in keys}
        for m in first.values():
            store.commit(m)
        assert store.read_manifests(keys + ["absent"]) == {**first, "absent": None}
        changed = put(store, b"asset7 v2", key="asset7")
        store.commit(changed)
        store.remove_manifest("asset8")
        again = self.reopen_read(store, keys)
        assert again == {**first, "asset7": changed, "asset8": None}
        assert store.read_manifests(keys) == again

    def test_remove_manifest(self, store):
        m = put(store, b"v1")
        store.commit(m)
        store.remove_manifest("k")
        store.remove_manifest("never-there")  # nothing to remove is fine
        assert store.read_manifests(["k"]) == {"k": None}
        assert store.lookup_action(m.provenance) == m  # the action cache still knows the value

    @pytest.mark.parametrize("raw", [b"{not json", b"", b'{"key": "k"}', b"\xff\xfe", b'"a string"', b"null"])
    def test_an_unreadable_manifest_is_absent_with_a_warning(self, store, raw):
        good = put(store, b"v1", key="good")
        store.commit(good)
        store.write_small(store.manifest_path("k"), raw)
        assert store.read_manifests(["k", "good"]) == {"k": None, "good": good}
        assert any(store.manifest_path("k") in w and "rebuilt" in w for w in store.warnings), store.warnings

    def test_an_unreadable_manifest_among_many(self, store):
        keys = [f"asset{i}" for i in range(MANY)]
        for k in keys:
            store.commit(put(store, k.encode(), key=k))
        store.write_small(store.manifest_path("asset3"), b"\x00garbage")
        found = store.read_manifests(keys)
        assert found["asset3"] is None and sum(m is not None for m in found.values()) == MANY - 1
        assert any("asset3" in w for w in store.warnings)

    def test_write_small_replaces_a_bookkeeping_file(self, store):
        path = f"{store.root}/observations.json"
        store.write_small(path, b'{"a": 1}')
        store.write_small(path, b'{"a": 2}')
        assert json.loads(store.fs.cat_file(path)) == {"a": 2}

    # -- the action cache ----------------------------------------------------------
    def test_the_action_cache_finds_every_committed_value_by_provenance(self, store):
        old, new = put(store, b"v1"), put(store, b"v2")
        store.commit(old)
        store.commit(new)
        assert store.lookup_action(old.provenance) == old
        assert store.lookup_action(new.provenance) == new
        assert store.lookup_action(hash_value("test", "unknown")) is None

    def test_an_action_whose_artifact_is_gone_is_a_miss(self, store):
        m = put(store, b"v1")
        store.commit(m)
        store.discard_artifact(m.artifact)
        assert store.lookup_action(m.provenance) is None
        assert store.artifact_sizes([m.artifact]) == {m.artifact: None}

    def test_an_unreadable_action_entry_is_a_miss(self, store):
        m = put(store, b"v1")
        store.commit(m)
        store.write_small(store.action_path(m.provenance), b"{truncated")
        assert store.lookup_action(m.provenance) is None

    # -- corruption ------------------------------------------------------------------
    def test_a_corrupt_artifact_is_detected_on_read_and_discarded(self, store):
        m = put(store, b"good bytes")
        store.commit(m)
        tamper(store, m.artifact, b"evil bytes")  # same size
        assert not store.verify_artifact(m.artifact)
        with pytest.raises(CorruptArtifactError, match="corrupt") as err:
            store.read_artifact(m)
        assert "datamake make" in (err.value.hint or "")
        # discarded: every later look sees it missing (artifact_missing) instead of trusting it again
        assert store.artifact_sizes([m.artifact]) == {m.artifact: None}
        assert store.lookup_action(m.provenance) is None

    def test_a_corrupt_artifact_is_never_loaded(self, store, tmp_path):
        value_manifest = put(store, b"loaded value")
        tamper(store, value_manifest.artifact, b"LOADED VALUE")
        with pytest.raises(CorruptArtifactError):
            store.load(value_manifest)
        copied = put(store, b"copied value")
        tamper(store, copied.artifact, b"COPIED VALUE")
        folder = tmp_path / "scratch"
        folder.mkdir()
        with pytest.raises(CorruptArtifactError):
            store.copy_artifact(copied, str(folder))
        assert list(folder.iterdir()) == []  # no corrupt copy handed out

    def test_a_truncated_artifact_is_not_intact(self, store):
        m = put(store, b"0123456789")
        tamper(store, m.artifact, b"01234")
        assert not store.artifact_intact(m.artifact, m.size)
        assert store.artifact_sizes([m.artifact])[m.artifact] != m.size

    def test_rewriting_a_corrupted_artifact_repairs_it(self, store):
        m = put(store, b"repair me")
        tamper(store, m.artifact, b"broken!!!")
        with pytest.raises(CorruptArtifactError):
            store.read_artifact(m)
        again = put(store, b"repair me")
        assert again.artifact == m.artifact and store.read_artifact(again) == b"repair me"

    # -- atomicity -------------------------------------------------------------------
    def test_a_failed_write_keeps_the_previous_artifact_and_manifest(self, store):
        old = put(store, b"v1 " * 1000)
        store.commit(old)

        def dump(f):
            f.write(b"half of v2 " * 1000)
            raise RuntimeError("the asset failed while writing")

        with pytest.raises(RuntimeError, match="failed while writing"):
            store.write_artifact(dump)
        assert store.read_manifests(["k"]) == {"k": old}
        assert store.read_artifact(old) == b"v1 " * 1000
        assert artifact_names(store) == {old.artifact}
        assert store.listing("tmp") == {}  # nothing half-written is left behind

    # -- listing and low-level reads ---------------------------------------------------
    def test_listing_names_each_stored_object_with_its_size(self, store):
        a, b = put(store, b"aaa", key="a"), put(store, b"bbbbb", key="b")
        store.commit(a)
        listed = store.listing("artifacts")
        assert {os.path.basename(p): info["size"] for p, info in listed.items()} == {a.artifact: 3, b.artifact: 5}
        assert set(store.listing("manifests")) == {store.manifest_path("a")}
        assert store.listing("nothing-here") == {}

    def test_stats_and_sizes_of_paths(self, store):
        m = put(store, b"12345")
        store.commit(m)
        paths = [store.artifact_path(m.artifact), store.manifest_path("k"), store.manifest_path("absent")]
        stats = store.stats(paths)
        assert stats[0]["size"] == 5 and stats[1]["size"] == len(m.to_json()) and stats[2] is None
        assert store.sizes(paths) == [5, len(m.to_json()), None]

    # -- deletion (gc) -----------------------------------------------------------------
    def test_gc_deletes_only_what_nothing_references(self, store):
        old, current = put(store, b"old value"), put(store, b"current value")
        store.commit(old)
        store.commit(current)
        report = gc.collect(store, {}, retention=0.0, now=time.time() + 60)
        assert report.deferred is None
        assert [os.path.basename(p) for p in report.artifacts] == [old.artifact]
        assert store.lookup_action(old.provenance) is None
        assert artifact_names(store) == {current.artifact}
        assert store.read_manifests(["k"]) == {"k": current}
        assert store.lookup_action(current.provenance) == current

    def test_gc_keeps_what_is_younger_than_the_retention_or_pinned(self, store):
        old, pinned, current = put(store, b"old"), put(store, b"pinned", code="7"), put(store, b"current")
        for m in (old, pinned, current):
            store.commit(m)
        report = gc.collect(store, {"k": "7"}, retention=3600.0)
        assert report.artifacts == [] and report.actions == []
        report = gc.collect(store, {"k": "7"}, retention=0.0, now=time.time() + 60, dry_run=True)
        assert [os.path.basename(p) for p in report.artifacts] == [old.artifact]
        assert artifact_names(store) == {old.artifact, pinned.artifact, current.artifact}  # a dry run deletes nothing


class TestLocalFolderStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return Store(str(tmp_path / "store"))

    def test_a_same_size_corruption_is_seen_without_reading_the_artifact(self, store):
        m = put(store, b"good bytes")
        store.save_state()
        tamper(store, m.artifact, b"evil bytes")
        fresh = Store(store.url)  # another process: it knows the artifact only from the state record
        assert fresh.artifact_sizes([m.artifact]) == {m.artifact: None}
        assert not fresh.artifact_intact(m.artifact, m.size)

    def test_a_verified_artifact_stays_trusted_across_processes(self, store):
        m = put(store, b"kept")
        store.save_state()
        assert os.path.exists(f"{store.root}/state.sqlite")
        assert Store(store.url).artifact_sizes([m.artifact]) == {m.artifact: m.size}

    def test_an_unreadable_state_record_only_costs_hashing(self, store):
        m = put(store, b"still good")
        store.save_state()
        with open(f"{store.root}/state.sqlite", "wb") as f:
            f.write(b"not a database")
        fresh = Store(store.url)
        assert fresh.artifact_sizes([m.artifact]) == {m.artifact: m.size}
        tamper(fresh, m.artifact, b"still BAD!")
        assert Store(store.url).artifact_sizes([m.artifact]) == {m.artifact: None}

    def test_a_worker_hands_its_verified_stat_to_the_coordinator(self, store):
        m = put(store, b"built by a worker")
        stat = store.written_stat(m.artifact)
        assert stat is not None and stat[0] == m.size
        coordinator = Store(store.url)
        coordinator.note_verified(m.artifact, list(stat))
        coordinator.save_state()
        assert Store(store.url).artifact_sizes([m.artifact]) == {m.artifact: m.size}

    def test_clean_tmp_removes_only_what_dead_writers_left(self, store):
        put(store, b"makes the tmp folder")
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = socket.gethostname()
        leftovers = {
            "dead": f"{store.root}/tmp/{host}@{dead.pid}.{uuid.uuid4().hex}.part",
            "live": f"{store.root}/tmp/{host}@{os.getpid()}.{uuid.uuid4().hex}.part",
            "other-host": f"{store.root}/tmp/elsewhere@1.{uuid.uuid4().hex}.part",
        }
        for path in leftovers.values():
            store.write_small(path, b"half")
        assert store.clean_tmp() == 1
        assert sorted(os.path.basename(p) for p in store.listing("tmp")) == sorted(
            os.path.basename(leftovers[k]) for k in ("live", "other-host"))
        assert store.clean_tmp(older_than=-1) == 2

    def test_gc_waits_for_the_store_lock(self, store):
        import threading

        from datamake.storage.lock import store_lock

        old = put(store, b"old")
        store.commit(old)
        store.commit(put(store, b"new"))
        waiting = threading.Event()
        reports = []
        with store_lock(store, "datamake make"):
            t = threading.Thread(target=lambda: reports.append(
                gc.collect(store, {}, retention=0.0, now=time.time() + 60, on_wait=lambda holder: waiting.set())))
            t.start()
            assert waiting.wait(timeout=60)  # gc saw the running make and waits for it
            assert reports == [] and artifact_names(store) >= {old.artifact}
        t.join(timeout=60)
        assert [os.path.basename(p) for p in reports[0].artifacts] == [old.artifact]


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return Store(f"memory://contract-{uuid.uuid4().hex}")


class TestS3Store(StoreContract):
    @pytest.fixture
    def store(self, s3_bucket) -> Store:
        return Store(f"{s3_bucket.url}/store", s3_bucket.server.options())

    def test_gc_defers_while_a_writer_holds_a_lease(self, store):
        old = put(store, b"old")
        store.commit(old)
        store.commit(put(store, b"new"))
        with gc.writing(store, "datamake push"):
            report = gc.collect(store, {}, retention=0.0, now=time.time() + 60)
            assert report.deferred and "datamake push" in report.deferred
            assert report.artifacts == []
        assert store.listing("leases") == {}
        report = gc.collect(store, {}, retention=0.0, now=time.time() + 60)
        assert [os.path.basename(p) for p in report.artifacts] == [old.artifact]

    def test_a_lease_of_the_wrong_shape_is_no_lease(self, store):
        old = put(store, b"old")
        store.commit(old)
        store.commit(put(store, b"new"))
        for i, junk in enumerate([b"[1, 2]", b'"text"', b"null", b"not json", b'{"started": "soon"}']):
            store.fs.pipe_file(f"{store.root}/leases/junk{i}.json", junk)
        report = gc.collect(store, {}, retention=0.0, now=time.time() + 60)
        assert report.deferred is None and [os.path.basename(p) for p in report.artifacts] == [old.artifact]

    def test_an_unreachable_bucket_is_a_store_error(self, s3_bucket):
        from tests.s3server import free_port

        store = Store(f"{s3_bucket.url}/store", {"endpoint_url": f"http://127.0.0.1:{free_port()}",
                                                 "key": "testing", "secret": "testing",
                                                 "config_kwargs": {"retries": {"max_attempts": 1}}})
        with pytest.raises(StoreError, match="cannot"):
            store.read_manifests([f"a{i}" for i in range(MANY)])


# == the remote cache ==================================================================

class RemoteContract:
    """What push, pull and the read-through action cache do, whatever the remote's URL.

    Subclasses provide ``remote_url`` and ``remote_options``; teammates A and B
    each have a local folder store. ``validators``: the remote lists a content
    validator (an ETag) for each object, so an unchanged manifest is not sent again.
    """

    validators = True

    @pytest.fixture
    def remote(self, remote_url, remote_options) -> RemoteCache:
        return RemoteCache(remote_url, remote_options)

    @pytest.fixture
    def a(self, tmp_path) -> Store:
        return Store(str(tmp_path / "a"))

    @pytest.fixture
    def b(self, tmp_path) -> Store:
        return Store(str(tmp_path / "b"))

    @staticmethod
    def outcomes(report) -> dict:
        return {r["key"]: r["outcome"] for r in report.assets}

    def built(self, store: Store, *names: str) -> List[Manifest]:
        ms = [put(store, f"value of {n}".encode(), key=n) for n in names]
        for m in ms:
            store.commit(m)
        return ms

    def test_push_then_pull_gives_a_teammate_the_same_values(self, remote, a, b):
        ms = self.built(a, "raw", "clean")
        pushed = remote.push(ms, a)
        assert self.outcomes(pushed) == {"raw": "pushed", "clean": "pushed"}
        assert pushed.artifacts == 2 and pushed.manifests == 2 and pushed.actions == 2
        pulled = RemoteCache(remote.url, remote.storage_options).pull(["raw", "clean", "absent"], b)
        assert self.outcomes(pulled) == {"raw": "pulled", "clean": "pulled", "absent": "missing"}
        assert b.read_manifests(["raw", "clean"]) == {"raw": ms[0], "clean": ms[1]}
        assert b.read_artifact(ms[0]) == b"value of raw"
        assert self.outcomes(remote.pull(["raw", "clean"], b)) == {"raw": "up_to_date", "clean": "up_to_date"}

    def test_pushing_again_sends_no_artifact_and_no_action(self, remote, a):
        ms = self.built(a, "raw")
        remote.push(ms, a)
        again = remote.push(ms, a)
        assert (again.artifacts, again.actions) == (0, 0)
        if self.validators:  # the remote tells an unchanged manifest by its ETag: nothing is sent
            assert self.outcomes(again) == {"raw": "up_to_date"} and again.manifests == 0

    def test_pushing_a_new_version_replaces_the_remote_current_one(self, remote, a, b):
        (v1,) = self.built(a, "raw")
        remote.push([v1], a)
        v2 = put(a, b"raw v2", key="raw")
        a.commit(v2)
        assert self.outcomes(remote.push([v2], a)) == {"raw": "pushed"}
        remote.pull(["raw"], b)
        assert b.read_manifests(["raw"]) == {"raw": v2}
        assert remote.fetch_action(v1.provenance, b) == v1  # the old value stays in the action cache

    def test_many_assets_travel(self, remote, a, b):
        names = [f"asset{i}" for i in range(MANY)]
        ms = self.built(a, *names)
        assert set(self.outcomes(remote.push(ms, a)).values()) == {"pushed"}
        again = remote.push(ms, a)
        assert (again.artifacts, again.actions) == (0, 0)
        if self.validators:
            assert set(self.outcomes(again).values()) == {"up_to_date"}
        pulled = remote.pull(names, b)
        assert set(self.outcomes(pulled).values()) == {"pulled"} and pulled.artifacts == MANY
        assert b.read_manifests(names) == {m.key: m for m in ms}

    def test_partitions_travel(self, remote, a, b):
        ms = [put(a, f"day {d}".encode(), key="daily", partition=f"2024-01-0{d}") for d in (1, 2)]
        for m in ms:
            a.commit(m)
        remote.push(ms, a)
        nodes = [node(m) for m in ms]
        assert set(self.outcomes(remote.pull(nodes, b)).values()) == {"pulled"}
        assert b.read_manifests(nodes) == dict(zip(nodes, ms))

    def test_fetch_action_restores_a_value_by_its_provenance(self, remote, a, b):
        (m,) = self.built(a, "raw")
        remote.push([m], a)
        assert remote.fetch_action(hash_value("test", "never built"), b) is None
        assert remote.fetch_action(m.provenance, b) == m
        assert b.read_artifact(m) == b"value of raw"
        assert b.read_manifests(["raw"]) == {"raw": None}  # restoring is not committing: make does that

    def test_automatic_push_is_complete_after_close(self, remote, a, b):
        ms = self.built(a, "raw", "clean")
        for m in ms:
            remote.push_one(m, a)
        remote.close(a)
        assert a.warnings == []
        assert [remote.fetch_action(m.provenance, b) for m in ms] == ms

    def test_a_corrupt_remote_artifact_counts_as_absent_and_push_repairs_it(self, remote, a, b):
        (m,) = self.built(a, "raw")
        remote.push([m], a)
        remote.store.fs.pipe_file(remote.store.artifact_path(m.artifact), b"VALUE OF RAW")
        pulled = remote.pull(["raw"], b)
        assert self.outcomes(pulled) == {"raw": "corrupt"}
        assert b.read_manifests(["raw"]) == {"raw": None}
        assert b.artifact_sizes([m.artifact]) == {m.artifact: None}
        assert any("corrupt" in w and "datamake push" in w for w in b.warnings), b.warnings
        assert self.outcomes(remote.push([m], a)) == {"raw": "pushed"}
        assert self.outcomes(RemoteCache(remote.url, remote.storage_options).pull(["raw"], b)) == {"raw": "pulled"}
        assert b.read_artifact(m) == b"value of raw"

    def test_a_corrupt_remote_action_entry_is_a_miss(self, remote, a, b):
        (m,) = self.built(a, "raw")
        remote.push_one(m, a)  # an automatic push writes one action entry per asset
        remote.close(a)
        remote.store.fs.pipe_file(remote.store.action_path(m.provenance), b"{torn")
        assert remote.fetch_action(m.provenance, b) is None
        assert any("action-cache entry" in w for w in b.warnings), b.warnings

    def test_a_corrupt_pack_is_a_miss(self, remote, a, b, tmp_path, monkeypatch):
        (m,) = self.built(a, "raw")
        remote.push([m], a)
        (path,) = remote.store.objects.files_under(f"{remote.store.root}/packs")
        remote.store.fs.pipe_file(path, b"{torn")
        monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(tmp_path / "another-machine"))
        assert RemoteCache(remote.url, remote.storage_options).fetch_action(m.provenance, b) is None
        assert any("pack" in w and "corrupt" in w for w in b.warnings), b.warnings

    def test_a_missing_or_corrupt_local_artifact_is_not_pushed(self, remote, a):
        gone, rotten, fine = self.built(a, "gone", "rotten", "fine")
        a.discard_artifact(gone.artifact)
        tamper(a, rotten.artifact, b"value of ROTTEN")
        report = remote.push([gone, rotten, fine], a)
        assert self.outcomes(report) == {"gone": "skipped", "rotten": "skipped", "fine": "pushed"}
        assert sum("not pushing" in w for w in a.warnings) == 2
        assert artifact_names(remote.store) == {fine.artifact}


class TestLocalFolderRemote(RemoteContract):
    validators = False  # a local folder has no ETags: manifests are written again (the same bytes)

    @pytest.fixture
    def remote_url(self, tmp_path) -> str:
        return str(tmp_path / "shared" / "team-cache")

    @pytest.fixture
    def remote_options(self) -> dict:
        return {"auto_mkdir": True}  # what datamake.toml loading adds for a local-folder remote


class TestS3Remote(RemoteContract):
    @pytest.fixture
    def remote_url(self, s3_bucket) -> str:
        return f"{s3_bucket.url}/cache"

    @pytest.fixture
    def remote_options(self, s3_bucket) -> dict:
        return s3_bucket.server.options()

    def test_an_unreachable_remote_is_a_warning_during_make_and_an_error_for_push(self, a):
        from tests.s3server import free_port

        options = {"endpoint_url": f"http://127.0.0.1:{free_port()}", "key": "testing", "secret": "testing"}
        (m,) = self.built(a, "raw")
        down = RemoteCache("s3://nowhere/cache", options)
        assert down.fetch_action(m.provenance, a) is None
        assert not down.available and any("unreachable" in w for w in a.warnings)
        with pytest.raises(StoreError, match="cannot reach the remote cache"):
            RemoteCache("s3://nowhere/cache", options).push([m], a)
