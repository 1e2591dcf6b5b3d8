"""``status`` over partitions planned asset by asset (datamake.bulkstatus) equals the per-partition plan.

Each case builds a random pipeline of assets partitioned alike (daily or static, partition ``d`` reading
partition ``d`` of each dependency), materializes a random part of it through :mod:`datamake.api` on a
local store, then damages it at random: a code change (and that asset alone rebuilt), a lost manifest, an artifact overwritten behind the
store's back (same size), an unreadable manifest. The compact plan must give exactly the decisions, the
text and the warnings of :meth:`Project.scope`, for everything and for a selection with ``--partition``,
whether it reads the manifests or the per-asset summaries kept by an earlier ``status`` (each damage is
done by "another process" after those were kept, as files are replaced: written aside, then renamed).
"""
from __future__ import annotations

import os
import random
import textwrap
import time

import pytest

from datamake import api
from datamake.bulkstatus import gather
from datamake.cli.main import _status_json, json_text
from datamake.cli.render import status_text
from datamake.core.keys import node_id
from datamake.core.partitions import DailyPartitions, StaticPartitions
from datamake.define.assets import Definitions, asset
from datamake.project.settings import ProjectConfig
from datamake.project.workspace import Project


def pipeline(rng: random.Random, n: int):
    """(key, deps) of ``n`` assets, each reading up to two earlier ones."""
    keys = [f"a{i}" for i in range(n)]
    return [(k, sorted(rng.sample(keys[:i], min(i, rng.randint(0, 2))))) for i, k in enumerate(keys)]


def definitions(shape, partitions, code):
    out = []
    for key, deps in shape:
        params = ", ".join(["context", *deps])
        body = " + ".join(['context.partition_key', f'"v{code.get(key, "1")}"', *[f'"|" + {d}' for d in deps]])
        namespace = {}
        exec(textwrap.dedent(f"def {key}({params}):\n    return {body}\n"), namespace)
        out.append(asset(namespace[key], code_version=code.get(key, "1"), io_manager="text", partitions=partitions))
    return Definitions(out)


def new_project(folder, shape, partitions, code=None) -> Project:
    config = ProjectConfig(path=os.path.join(folder, "datamake.toml"), definitions="pipeline.py",
                           storage_root=os.path.join(folder, "store"), executor="inprocess")
    return Project(config, definitions(shape, partitions, code or {}))


def age(store_root: str) -> None:
    """Set the mtime of each folder of the store changed in the last seconds back, as if seconds had passed:
    summaries are kept only of folders that changed more than a mtime tick before they were read."""
    now = time.time_ns()
    past = now - 5 * 10**9
    for sub in ("manifests", "artifacts"):
        for folder, _, _ in os.walk(os.path.join(store_root, sub)):
            st = os.stat(folder)
            if st.st_mtime_ns > now - 3 * 10**9:  # changed since the last call
                os.utime(folder, ns=(st.st_atime_ns, past))


def both(project: Project, selection=(), partition=None, now=None):
    """(compact, per-partition) plans, with the store warnings each gave. The compact plan is made twice after
    the store's folders are aged: from the summaries kept before (or built now), then from those kept now."""
    project.store.warnings.clear()
    age(project.store.root)
    compact = gather.status(project, selection, partition=partition, now=now)
    assert compact is not None, "the compact path applies to this scope"
    fast_warnings = sorted(set(project.store.warnings))
    again = gather.status(project, selection, partition=partition, now=now)
    assert [d.to_dict() for d in again.decisions] == [d.to_dict() for d in compact.decisions]
    project.store.warnings.clear()
    full = project.scope(selection, partition=partition, now=now).plan
    return compact, full, fast_warnings, sorted(set(project.store.warnings))


def replace(path: str, data: bytes) -> None:
    """Replace a file as another process would: written under another name, then renamed over it."""
    with open(path + ".new", "wb") as f:
        f.write(data)
    os.replace(path + ".new", path)


def assert_same(project, selection=(), partition=None, now=None):
    compact, full, fast_warnings, warnings = both(project, selection, partition, now)
    assert [d.to_dict() for d in compact.decisions] == [d.to_dict() for d in full.decisions]
    assert compact.stale == full.stale
    assert status_text(compact) == status_text(full) and status_text(compact, True) == status_text(full, True)
    assert json_text(_status_json(compact, ())) == json_text(_status_json(full, ()))  # status --json
    assert fast_warnings == warnings
    return full


@pytest.mark.parametrize("seed,inline", [(seed, False) for seed in range(8)] + [(seed, True) for seed in range(4)])
def test_compact_status_equals_the_per_partition_plan(tmp_path, monkeypatch, seed, inline):
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "2048" if inline else "0")  # small values in their manifest, or files
    rng = random.Random(seed)
    shape = pipeline(rng, rng.randint(2, 5))
    days = rng.randint(3, 6)
    partitions = (DailyPartitions(start="2024-01-29", end=f"2024-02-0{days}") if seed % 2 == 0
                  else StaticPartitions(["eu", "us", "asia"][:rng.randint(2, 3)]))
    project = new_project(str(tmp_path), shape, partitions)
    all_keys = [pk for pk in partitions.keys(None)] if isinstance(partitions, StaticPartitions) else None
    plan = assert_same(project)  # nothing built: every partition never materialized
    all_keys = all_keys or sorted({d.partition for d in plan.decisions})
    for _ in range(rng.randint(1, 3)):  # build a random part of it
        key, pk = rng.choice(shape)[0], rng.choice(all_keys)
        api.make(new_project(str(tmp_path), shape, partitions), [key], partition=pk, executor="inprocess",
                 history=False)
    if rng.random() < 0.5:
        api.make(new_project(str(tmp_path), shape, partitions), executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, partitions))
    store = project.store
    built = [(d.key, d.partition) for d in new_project(str(tmp_path), shape, partitions).scope().plan.decisions
             if not d.stale]
    rng.shuffle(built)
    code = {}
    assert_same(new_project(str(tmp_path), shape, partitions))  # summaries kept: the damage below comes after
    for damage in rng.sample(["code", "lost", "tamper", "unreadable", "gone", "built"], rng.randint(1, 4)):
        if damage == "code":
            code[rng.choice(shape)[0]] = "2"
        elif built and damage == "lost":
            os.unlink(store.manifest_path(node_id(*built.pop())))
        elif built and damage in ("tamper", "gone"):  # new bytes of the same size, or no file
            m = store.read_manifests([node_id(*built.pop())]).popitem()[1]
            if m.inline is not None:
                continue  # no file to tamper with (test_inline_values tampers with inline bytes)
            path = store.artifact_path(m.artifact)
            if damage == "gone":
                os.unlink(path)
            else:
                replace(path, b"#" * m.size)
        elif built and damage == "unreadable":
            replace(store.manifest_path(node_id(*built.pop())), b'{"key": "not a manifest"}')
        elif damage == "built":  # another partition built meanwhile, by another process
            api.make(new_project(str(tmp_path), shape, partitions, code), [rng.choice(shape)[0]],
                     partition=rng.choice(all_keys), executor="inprocess", history=False)
    project = new_project(str(tmp_path), shape, partitions, code)
    assert_same(project)
    if code and rng.random() < 0.7:  # the changed asset alone rebuilt: its dependents' inputs changed
        api.make(project, list(code), only=True, executor="inprocess", history=False)
        project = new_project(str(tmp_path), shape, partitions, code)
        assert_same(project)
    last = shape[-1][0]
    assert_same(project, [last], partition=all_keys[-1])
    assert_same(project, [shape[0][0]], partition=f"{all_keys[0]},{all_keys[-1]}")


def test_a_scope_it_does_not_cover_is_planned_node_by_node(tmp_path):
    daily = DailyPartitions(start="2024-01-01", end="2024-01-05")
    weekly_reader = new_project(str(tmp_path), [("a0", []), ("a1", ["a0"])], daily)
    assert gather.status(weekly_reader, force=True) is None  # --force: every selected node is forced
    assert gather.status(weekly_reader, only=True) is None
    unpartitioned = new_project(str(tmp_path), [("a0", [])], None)
    assert gather.status(unpartitioned) is None
    assert api.status(unpartitioned).decisions[0].reasons[0].code == "never_materialized"


def test_status_of_many_fresh_partitions_prints_ranges(inprocess_project):
    inprocess_project.pipeline('''
        from datamake import asset, DailyPartitions

        daily = DailyPartitions(start="2024-01-01", end="2024-03-01")

        @asset(partitions=daily)
        def raw(context):
            return context.partition_key

        @asset(partitions=daily)
        def clean(raw):
            return raw.upper()
    ''')
    inprocess_project.run("make", "-q", check=True)
    inprocess_project.run("make", "-q", "-B", "--only", "-p", "2024-02-10", "raw", check=True)
    out = inprocess_project.run("status", check=True).stdout
    assert "fresh  raw    2024-01-01…2024-02-29: 60 fresh" in out
    assert "stale  clean  2024-02-10: 1 stale" not in out  # the same value again: nothing changed
    assert out.strip().endswith("0 stale, 120 fresh")
    listed = inprocess_project.json("status")["assets"]
    assert len(listed) == 120 and {a["state"] for a in listed} == {"fresh"}


def test_a_manifest_shape_seen_before_still_has_every_value_checked():
    """Decoding remembers the field sets and types it found well-formed; a bad value of a known shape is still refused."""
    import json

    from datamake.core.manifest import Manifest, decode

    good = json.loads(Manifest("a", "1", "p", "d", "d", 3, "text", inputs=(("b", "v"),), partition="x").to_json())
    assert decode(json.dumps(good))["inputs"] == [["b", "v"]]
    for field, value, problem in (("size", "3", "size is"), ("inputs", [["b", 1]], "inputs holds"),
                                  ("code_parts", {"<self>": 1}, "code_parts holds"), ("checks", [1], "checks holds")):
        with pytest.raises(ValueError, match=problem):
            decode(json.dumps({**good, field: value}))


def test_a_partition_artifact_changed_in_place_is_seen_by_status_verify_and_rebuilt_by_make(inprocess_project, monkeypatch):
    """Folder stats vouch for the summaries ``status`` keeps; ``status --verify`` and ``make`` still stat
    each partition's files."""
    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "0")
    inprocess_project.pipeline('''
        from datamake import asset, StaticPartitions

        @asset(partitions=StaticPartitions(["eu", "us"]))
        def raw(context):
            return "value of " + context.partition_key
    ''')
    inprocess_project.run("make", "-q", check=True)
    store_root = str(inprocess_project.root / ".datamake")
    age(store_root)
    assert inprocess_project.states() == {"raw": "fresh"}  # the summaries are kept now
    project = api.load(str(inprocess_project.root))
    m = project.store.read_manifests([node_id("raw", "us")])[node_id("raw", "us")]
    path = project.store.artifact_path(m.artifact)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # same size, new bytes, same file
        f.write(b"#" * m.size)
    verified = {(a["key"], a["partition"]): a["state"] for a in inprocess_project.json("status", "--verify")["assets"]}
    assert verified == {("raw", "eu"): "fresh", ("raw", "us"): "stale"}  # each partition's files looked at
    built = [a for a in inprocess_project.json("make")["assets"] if a["outcome"] == "built"]
    assert [(a["key"], a["partition"]) for a in built] == [("raw", "us")]
    assert project.store.read_manifests([node_id("raw", "us")])[node_id("raw", "us")].artifact == m.artifact
    with open(path, "rb") as f:
        assert f.read() == b"value of us"


def test_damaged_summaries_are_rebuilt_from_the_manifests(tmp_path):
    import sqlite3

    shape = [("a0", []), ("a1", ["a0"]), ("a2", ["a1"])]
    daily = DailyPartitions(start="2024-01-01", end="2024-01-05")
    api.make(new_project(str(tmp_path), shape, daily), executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, daily))  # the summaries are kept
    db = sqlite3.connect(os.path.join(str(tmp_path), "store", "state.sqlite"))
    with db:
        db.execute("UPDATE partition_columns SET body = 'not json' WHERE key = 'a1'")
        db.execute("UPDATE partition_heads SET head = '{\"format\": 1}' WHERE key = 'a2'")
    db.close()
    os.unlink(new_project(str(tmp_path), shape, daily).store.manifest_path(node_id("a0", "2024-01-02")))
    plan = assert_same(new_project(str(tmp_path), shape, daily))  # a1's columns are needed, and unreadable
    assert [(d.key, d.partition) for d in plan.decisions if d.stale] == [(k, "2024-01-02") for k, _ in shape]


def test_the_days_after_a_build_its_partitions_are_planned_from_the_kept_summaries(tmp_path):
    """Daily partitions without an end: each day adds a partition that no summary holds yet."""
    import datetime

    shape = [("a0", []), ("a1", ["a0"]), ("a2", ["a0", "a1"])]
    now = datetime.datetime.now(datetime.timezone.utc)
    daily = DailyPartitions(start=(now - datetime.timedelta(days=4)).date().isoformat())
    api.make(new_project(str(tmp_path), shape, daily), executor="inprocess", history=False)
    assert not assert_same(new_project(str(tmp_path), shape, daily)).stale  # the summaries are kept
    later = now + datetime.timedelta(days=2)
    plan = assert_same(new_project(str(tmp_path), shape, daily), now=later)
    new_days = sorted({d.partition for d in plan.decisions if d.stale})
    assert len(new_days) == 2 and len(plan.stale) == 6
    assert {r.code for d in plan.decisions for r in d.reasons} == {"never_materialized", "upstream_stale"}
    assert_same(new_project(str(tmp_path), shape, daily), ["a2"], partition=new_days[0], now=later)
    first_day = plan.decisions[0].partition
    api.make(new_project(str(tmp_path), shape, daily), ["a1"], partition=first_day, force=True, only=True,
             executor="inprocess", history=False)  # its folder changed: a1's summary is built again
    assert_same(new_project(str(tmp_path), shape, daily), now=later)
