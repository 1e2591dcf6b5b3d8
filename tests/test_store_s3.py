"""The whole store in a bucket (``[storage] root = "s3://..."``), on moto's S3 server via s3fs.

Round trips are counted on the server: a no-op ``status`` or ``make`` must cost
a few listing requests, not one request per asset.
"""
from __future__ import annotations

import json

import pytest


PIPELINE = '''
from datamake import asset


@asset
def numbers():
    return list(range(1000))


@asset
def evens(numbers):
    return [n for n in numbers if n % 2 == 0]


@asset
def summary(evens):
    return {"count": len(evens), "sum": sum(evens)}
'''


def store_toml(url: str, options: str) -> str:
    return f'[storage]\nroot = "{url}"\n[storage.storage_options]\n{options}'


def many_assets(n: int) -> str:
    lines = ["from datamake import asset", ""]
    for i in range(n):
        dep = f"a{(i - 1) // 2}" if i else ""
        body = f"return {i} + 0 * {dep}" if dep else "return 0"  # distinct values: distinct artifacts
        lines += ["", "@asset", f"def a{i}({dep}):", f"    {body}", ""]
    return "\n".join(lines)


def test_store_root_in_a_bucket(inprocess_project, s3_bucket, tmp_path, monkeypatch):
    project = inprocess_project  # commands in this process: no request is counted here
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")  # every value a file in the bucket (tampered with below)
    project.pipeline(PIPELINE, store_toml(f"{s3_bucket.url}/store", s3_bucket.server.toml_options()))
    env = {"DATAMAKE_CACHE_DIR": str(tmp_path / "cache")}
    assert project.outcomes() == dict.fromkeys(["numbers", "evens", "summary"], "built")
    shown = project.run("show", "summary", check=True, env=env).stdout
    assert "249500" in shown and "500" in shown
    fs = s3_bucket.server.filesystem()
    names = {p.split("/store/", 1)[1].split("/", 1)[0] for p in fs.find(f"{s3_bucket.name}/store")}
    assert names == {"artifacts", "manifests", "actions"}  # no leftovers: no tmp/, no leases/
    # an edit rebuilds only what it changes, and the old artifact is verified like any other
    (project.root / "pipeline.py").write_text(PIPELINE.replace("n % 2 == 0", "n % 2 == 0 and n >= 0"))
    assert project.outcomes() == {"numbers": "skipped", "evens": "built", "summary": "skipped"}
    # a corrupt artifact in the bucket is caught by its hash
    manifest = json.loads(fs.cat_file(f"{s3_bucket.name}/store/manifests/summary.json"))
    path = f"{s3_bucket.name}/store/artifacts/{manifest['artifact'][:2]}/{manifest['artifact']}"
    data = fs.cat_file(path)
    fs.pipe_file(path, data[::-1])
    proc = project.run("show", "summary", env=env)
    assert proc.returncode != 0 and "corrupt" in proc.stderr and "Traceback" not in proc.stderr


def test_noop_against_a_bucket_store_costs_a_few_requests(project, s3_bucket, tmp_path):
    import datamake.api as dm

    n = 60
    project.pipeline(many_assets(n), store_toml(f"{s3_bucket.url}/store", s3_bucket.server.toml_options()))
    assert dm.make(dm.load(str(project.root)), jobs=4, history=False).counts()["built"] == n
    env = {"DATAMAKE_CACHE_DIR": str(tmp_path / "cache")}

    def requests(*args):
        before = s3_bucket.requests()
        proc = project.run(*args, "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        return s3_bucket.requests() - before, json.loads(proc.stdout)

    cold, status = requests("status")
    assert {a["state"] for a in status["assets"]} == {"fresh"}
    assert cold <= n + 5  # first look from this machine: one concurrent batch of GETs plus listings
    noop, made = requests("make")  # now the manifests are known here: a listing says they have not changed
    assert {a["outcome"] for a in made["assets"]} == {"skipped"}
    assert noop <= 4, s3_bucket.server.requests_for(s3_bucket.name)[-noop:]
    # a teammate's change is seen: only the changed manifest is read again
    fs = s3_bucket.server.filesystem()
    fs.rm_file(f"{s3_bucket.name}/store/manifests/a{n - 1}.json")
    after, status = requests("status")
    assert [a["key"] for a in status["assets"] if a["state"] == "stale"] == [f"a{n - 1}"]
    assert after <= 4


@pytest.mark.parametrize("kind", ["local", "memory", "s3"])
def test_one_listing_of_a_store_folder_on_every_backend(kind, tmp_path, request):
    """gc, leases, the remote's action list and the manifest reader all list a folder through one helper."""
    import uuid

    from datamake.storage.store import Store

    if kind == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        store, other = Store(f"{bucket.url}/dm", bucket.server.options()), bucket.server.filesystem()
    else:
        import fsspec

        store = Store(str(tmp_path / "dm") if kind == "local" else f"memory://dm-{uuid.uuid4().hex}")
        other = fsspec.filesystem("file", auto_mkdir=True) if kind == "local" else store.fs
    assert store.objects.files_under(f"{store.root}/leases") == {}  # a folder that does not exist yet
    other.pipe_file(f"{store.root}/leases/a.json", b"{}")
    other.pipe_file(f"{store.root}/leases/sub/b.json", b"{}")
    assert sorted(store.objects.files_under(f"{store.root}/leases")) == [f"{store.root}/leases/a.json",
                                                                 f"{store.root}/leases/sub/b.json"]
    other.pipe_file(f"{store.root}/leases/c.json", b"{}")  # written behind the store's back: seen at once
    assert len(store.objects.files_under(f"{store.root}/leases")) == 3
