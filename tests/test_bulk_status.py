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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where the other process imports datamake and the tests from


def pipeline(rng: random.Random, n: int):
    """(key, deps) of ``n`` assets, each reading up to two earlier ones."""
    keys = [f"a{i}" for i in range(n)]
    return [(k, sorted(rng.sample(keys[:i], min(i, rng.randint(0, 2))))) for i, k in enumerate(keys)]


def definitions(shape, partitions, code, salt=None):
    """Assets ``shape`` whose values hold their partition key, code version and inputs' values, and the text of
    the file ``salt`` where one is named (data that changes without a code change)."""
    out = []
    for key, deps in shape:
        params = ", ".join(["context", *deps])
        body = " + ".join(['context.partition_key', f'"v{code.get(key, "1")}"', *[f'"|" + {d}' for d in deps],
                           *(["open(SALT).read()"] if salt else [])])
        namespace = {"SALT": salt}
        exec(textwrap.dedent(f"def {key}({params}):\n    return {body}\n"), namespace)
        out.append(asset(namespace[key], code_version=code.get(key, "1"), io_manager="text", partitions=partitions))
    return Definitions(out)


def salt_path(folder) -> str:
    """The salt file: in the store's folder, so that reading it is no undeclared read (such a read is
    recorded, and its assets are planned partition by partition)."""
    os.makedirs(os.path.join(str(folder), "store"), exist_ok=True)
    return os.path.join(str(folder), "store", "test.salt")


def new_project(folder, shape, partitions, code=None, salt=False) -> Project:
    config = ProjectConfig(path=os.path.join(folder, "datamake.toml"), definitions="pipeline.py",
                           storage_root=os.path.join(folder, "store"), executor="inprocess")
    return Project(config, definitions(shape, partitions, code or {}, salt_path(folder) if salt else None))


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


def both(project: Project, selection=(), partition=None, now=None, aged=True):
    """(compact, per-partition) plans, with the store warnings each gave. The compact plan is made twice after
    the store's folders are aged (unless ``aged`` is False): from the summaries kept before (or built now),
    then from those kept now."""
    project.store.warnings.clear()
    if aged:
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


def assert_same(project, selection=(), partition=None, now=None, aged=True):
    compact, full, fast_warnings, warnings = both(project, selection, partition, now, aged)
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


OTHER_MAKE = '''
import json, sys
from datamake import api
from datamake.core.partitions import DailyPartitions, StaticPartitions
from tests.test_bulk_status import new_project
folder, shape, kind, arg, code, key, pk, old = json.loads(sys.argv[1])
if old:  # as a datamake from before make kept the summaries: it only writes the manifest files
    import datamake.bulkstatus.extend
    datamake.bulkstatus.extend.after_make = lambda project: None
partitions = DailyPartitions(**arg) if kind == "daily" else StaticPartitions(arg)
api.make(new_project(folder, shape, partitions, code, salt=True), [key], partition=pk, only=True, force=True,
         executor="inprocess", history=False)
'''


def folder_stat(folder: str, key: str):
    try:
        st = os.stat(os.path.join(folder, "store", "manifests", key, "@partitions"))
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino


def rows(folder: str):
    """The folder text of each kept summary (``?...``: kept by make, vouched for by a listing)."""
    import sqlite3

    db = sqlite3.connect(os.path.join(folder, "store", "state.sqlite"))
    try:
        return dict(db.execute("SELECT key, folder FROM partition_heads"))
    except sqlite3.OperationalError:  # no table: no summary kept yet
        return {}
    finally:
        db.close()


@pytest.mark.parametrize("seed", range(8))
def test_status_after_makes_of_some_partitions_equals_the_per_partition_plan(tmp_path, monkeypatch, seed):
    """``make`` extends the summaries it can vouch for with the partitions it commits; makes by another process,
    by this datamake or by one that keeps no summaries (a manifest file per partition), come in between."""
    import json
    import subprocess
    import sys

    monkeypatch.setenv("DATAMAKE_INLINE_LIMIT", "2048" if seed % 3 == 2 else "0")
    rng = random.Random(seed)
    folder = str(tmp_path)
    shape = pipeline(rng, rng.randint(2, 4))
    if seed % 2 == 0:
        kind, arg = "daily", {"start": "2024-01-29", "end": f"2024-02-0{rng.randint(3, 6)}"}
        partitions = DailyPartitions(**arg)
    else:
        kind, arg = "static", ["eu", "us", "asia"]
        partitions = StaticPartitions(arg)
    all_keys = list(partitions.keys(None)) if kind == "static" else None
    code: dict = {}
    salt = salt_path(folder)
    with open(salt, "w") as f:
        f.write("")
    if rng.random() < 0.5:  # everything built, summaries kept; else the makes below start from nothing
        api.make(new_project(folder, shape, partitions, salt=True), executor="inprocess", history=False)
        assert_same(new_project(folder, shape, partitions, salt=True))
    all_keys = all_keys or sorted({d.partition for d in new_project(folder, shape, partitions, salt=True).scope().plan.decisions})
    for _ in range(3):
        current = set()  # assets whose folder only this datamake wrote into since the last status
        old = set()
        for _ in range(rng.randint(1, 3)):
            who, key = rng.choice(["here", "here", "other", "old"]), rng.choice(shape)[0]
            if rng.random() < 0.4:  # another code version (a new value, or one built before)
                code[key] = rng.choice(["1", "2", "3"])
            elif rng.random() < 0.6:  # other data, the same code: new values where the partitions were alike
                with open(salt, "w") as f:
                    f.write(rng.choice(["", "x", "y"]))
            pk = rng.choice(all_keys) if rng.random() < 0.8 else f"{all_keys[0]},{all_keys[-1]}"
            before = folder_stat(folder, key)
            if who == "here":
                api.make(new_project(folder, shape, partitions, code, salt=True), [key], partition=pk, only=True, force=True,
                         executor="inprocess", history=False)
            else:
                env = {**os.environ, "DATAMAKE_BATCH_COMMITS": "0", "PYTHONPATH": REPO}
                subprocess.run([sys.executable, "-c", OTHER_MAKE,
                                json.dumps([folder, shape, kind, arg, code, key, pk, who == "old"])],
                               check=True, env=env, cwd=REPO)
            if folder_stat(folder, key) != before:  # it wrote partitions (an upstream partition missing: none)
                (old if who == "old" else current).add(key)
        kept = rows(folder)
        for key in current - old:
            assert kept[key].startswith("?"), f"make kept the summary of {key} current"
        assert_rows_hold(new_project(folder, shape, partitions, code, salt=True), current - old)
        if rng.random() < 0.5:  # an edit not built yet: what the manifests record is compared with it
            code[rng.choice(shape)[0]] = rng.choice(["1", "2", "3"])
        project = new_project(folder, shape, partitions, code, salt=True)
        assert_same(project, aged=False)  # from the summaries make kept, checked by listing their folders
        assert_same(project)  # the folders' stats moved: the summaries are built again
        if rng.random() < 0.5:  # everything brought up to date, by this process
            api.make(new_project(folder, shape, partitions, code, salt=True), executor="inprocess", history=False)
            assert_same(new_project(folder, shape, partitions, code, salt=True), aged=False)


def test_a_summary_kept_by_make_is_trusted_by_its_folder_stat_once_listed(tmp_path, monkeypatch):
    """The first status after a make lists the folder; once the folder is old enough, its stat alone vouches."""
    from datamake.bulkstatus import records

    shape = [("a0", []), ("a1", ["a0"])]
    daily = DailyPartitions(start="2024-01-01", end="2024-01-06")
    api.make(new_project(str(tmp_path), shape, daily), ["a0", "a1"], partition="2024-01-01...2024-01-04",
             executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, daily))
    api.make(new_project(str(tmp_path), shape, daily), executor="inprocess", history=False)  # the last day
    assert all(text.startswith("?") for text in rows(str(tmp_path)).values())
    assert patches(str(tmp_path)) == 2  # the new day of each asset, over the columns kept before
    monkeypatch.setattr(records, "RACY_NS", -1)  # as if seconds had passed since the make
    plan = assert_same(new_project(str(tmp_path), shape, daily), aged=False)
    assert not plan.stale and len(plan.decisions) == 10
    assert not any(text.startswith("?") for text in rows(str(tmp_path)).values())
    assert patches(str(tmp_path)) == 2  # the listing was as make said: nothing built again
    store = new_project(str(tmp_path), shape, daily).store
    os.unlink(store.manifest_path(node_id("a0", "2024-01-05")))  # the folder moves: built again
    plan = assert_same(new_project(str(tmp_path), shape, daily), aged=False)
    assert [(d.key, d.partition) for d in plan.decisions if d.stale] == [("a0", "2024-01-05"), ("a1", "2024-01-05")]


def assert_rows_hold(project: Project, keys) -> None:
    """The rows make kept for ``keys`` say what a summary built from the manifests would: the same head, and
    the listing digest of the folder as it is."""
    from datamake.bulkstatus import records
    from datamake.bulkstatus.summary import Summary

    kept = records.Records(project.store)
    for key in keys:
        text, _, head = kept.known(key)
        s = kept.columns_of(key)
        assert head == Summary(s.pks, s.entries, s.intact, s.artifacts, s.inos).head
        folder = os.path.join(project.store.root, "manifests", key, "@partitions")
        assert records.parse_row(text)[2] == records.listing_digest(records._listing(folder).items())
        built = kept._build(key, folder, s.pks)
        assert (built.pks, built.entries, built.inos) == (s.pks, s.entries, s.inos)


def patches(folder: str) -> int:
    import sqlite3

    db = sqlite3.connect(os.path.join(folder, "store", "state.sqlite"))
    try:
        return db.execute("SELECT count(*) FROM partition_patches").fetchone()[0]
    finally:
        db.close()


def test_a_daily_make_with_new_data_shifts_the_summaries(tmp_path):
    """The same code, another value for one day of each asset: the rows are updated without reading the
    columns, and the next status sees the new data versions (and what they make stale)."""
    shape = [("a0", []), ("a1", ["a0"]), ("a2", ["a1"])]
    daily = DailyPartitions(start="2024-01-01", end="2024-01-06")
    salt = salt_path(tmp_path)
    with open(salt, "w") as f:
        f.write("")
    api.make(new_project(str(tmp_path), shape, daily, salt=True), executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, daily, salt=True))
    with open(salt, "w") as f:
        f.write("new data")
    api.make(new_project(str(tmp_path), shape, daily, salt=True), ["a0", "a1"], partition="2024-01-03", force=True,
             executor="inprocess", history=False)
    assert patches(str(tmp_path)) == 2
    assert_rows_hold(new_project(str(tmp_path), shape, daily, salt=True), ["a0", "a1"])
    plan = assert_same(new_project(str(tmp_path), shape, daily, salt=True), aged=False)
    assert [(d.key, d.partition) for d in plan.decisions if d.stale] == [("a2", "2024-01-03")]
    api.make(new_project(str(tmp_path), shape, daily, salt=True), ["a0"], partition="2024-01-05", force=True,
             only=True, executor="inprocess", history=False)
    plan = assert_same(new_project(str(tmp_path), shape, daily, salt=True), aged=False)
    assert [(d.key, d.partition) for d in plan.decisions if d.stale] == [
        ("a1", "2024-01-05"), ("a2", "2024-01-03"), ("a2", "2024-01-05")]


def test_a_make_that_finds_another_writer_in_the_folder_keeps_no_summary(tmp_path):
    """A manifest replaced behind make's back, before it wrote into the folder, is not vouched for."""
    shape = [("a0", [])]
    daily = DailyPartitions(start="2024-01-01", end="2024-01-04")
    api.make(new_project(str(tmp_path), shape, daily), executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, daily))
    store = new_project(str(tmp_path), shape, daily).store
    path = store.manifest_path(node_id("a0", "2024-01-01"))
    with open(path, "rb") as f:
        data = f.read()
    replace(path, data.replace(b'"code_version":"', b'"code_version":"x'))  # now stale (another code version)
    api.make(new_project(str(tmp_path), shape, daily), ["a0"], partition="2024-01-02", force=True, only=True,
             executor="inprocess", history=False)
    assert not rows(str(tmp_path))["a0"].startswith("?")
    plan = assert_same(new_project(str(tmp_path), shape, daily), aged=False)
    assert [(d.key, d.partition) for d in plan.decisions if d.stale] == [("a0", "2024-01-01")]


def test_summaries_of_assets_removed_from_the_project_are_dropped(tmp_path):
    shape = [("a0", []), ("a1", ["a0"])]
    daily = DailyPartitions(start="2024-01-01", end="2024-01-03")
    api.make(new_project(str(tmp_path), shape, daily), executor="inprocess", history=False)
    assert_same(new_project(str(tmp_path), shape, daily))
    assert set(rows(str(tmp_path))) == {"a0", "a1"}
    assert_same(new_project(str(tmp_path), shape[:1], daily))
    assert set(rows(str(tmp_path))) == {"a0"}


def test_a_manifest_replaced_while_make_writes_the_folder_is_seen(tmp_path):
    """Another process replaces a manifest after make's first write into the folder, before its last: the
    summary make kept does not list that file, and the next status builds it again from the manifests."""
    import dataclasses

    from datamake.core.manifest import Manifest

    daily = DailyPartitions(start="2024-01-01", end="2024-01-05")
    store_root = os.path.join(str(tmp_path), "store")
    calls = []

    def a0(context):
        calls.append(context.partition_key)
        if len(calls) == 4:  # the second partition of the second make: the first one is committed
            path = os.path.join(store_root, "manifests", "a0", "@partitions", "2024-01-01.json")
            with open(path, "rb") as f:
                m = Manifest.from_json(f.read())
            replace(path, dataclasses.replace(m, code_version="another").to_json())
        return context.partition_key

    def project():
        config = ProjectConfig(path=os.path.join(str(tmp_path), "datamake.toml"), definitions="pipeline.py",
                               storage_root=store_root, executor="inprocess")
        return Project(config, Definitions([asset(a0, code_version="1", io_manager="text", partitions=daily)]))

    api.make(project(), partition="2024-01-01...2024-01-02", history=False)
    assert_same(project())
    api.make(project(), partition="2024-01-03...2024-01-04", history=False)
    assert rows(str(tmp_path))["a0"].startswith("?")  # make did not see the other writer
    plan = assert_same(project(), aged=False)
    assert [d.partition for d in plan.decisions if d.stale] == ["2024-01-01"]
