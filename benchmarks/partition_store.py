"""A store with every partition of a chain of daily-partitioned assets built, written in bulk.

``datamake make`` over a million partitions takes long; this writes the same
store state in bulk: for each partition the artifact (its mtime set back and
its stat recorded in ``state.sqlite``, as ``Store.write_artifact`` does), the
action-cache entry and the current manifest hard-linked to it (as
``Store.commit`` does), with the manifest ``make`` would record, without running
the functions, the executor or the event log. Each file is written in place,
not through a temporary name: nothing else uses the store meanwhile.
``datamake status`` then reads a real store.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import textwrap
from pathlib import Path

START = dt.date(2021, 1, 1)


def chain_pipeline(assets: int, days: int) -> str:
    """A chain ``step0 .. step{assets-1}`` of daily assets over ``days`` days; each partition has its own value."""
    end = START + dt.timedelta(days=days)
    head = textwrap.dedent(f'''
        from datamake import asset, DailyPartitions

        daily = DailyPartitions(start="{START}", end="{end}")

        @asset(partitions=daily)
        def step0(context):
            return context.partition_key
        ''')
    return head + "".join(f'''
@asset(partitions=daily)
def step{i}(step{i - 1}):
    return step{i - 1} + "/{i}"
''' for i in range(1, assets))


def write_project(root: Path, assets: int, days: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.py").write_text(chain_pipeline(assets, days))
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')


def build_in_bulk(root: Path) -> int:
    """Record every partition of the project at ``root`` as built; returns how many were written."""
    from datamake import api
    from datamake.core.hashing import data_version_of, hash_bytes
    from datamake.core.keys import node_id
    from datamake.core.manifest import Manifest
    from datamake.core.planner import provenance
    from datamake.storage import iomanagers

    project = api.load(str(root))
    store = project.store
    now = dt.datetime.now(dt.timezone.utc)
    values: dict = {}  # partition key -> (value, data version) of the previous asset
    written = 0
    for key in project.graph.ordered(project.defs.assets):
        a = project.defs.assets[key]
        cv = project.code_version(key)
        _config, config_hash = project.asset_config(key)
        deps = project.graph.deps[key]
        nxt = {}
        for pk in a.partitions.keys(now):
            if deps:
                upstream, up_version = values[pk]
                value, inputs = f"{upstream}/{key[4:]}", {node_id(deps[0], pk): up_version}
            else:
                value, inputs = pk, {}
            manager = iomanagers.choose(value)
            buf = io.BytesIO()
            manager.dump(value, buf)
            data = buf.getvalue()
            artifact, size = hash_bytes(data), len(data)
            _write_artifact(store, artifact, data)
            version = data_version_of(manager.name, artifact)
            _commit(store, Manifest(
                key=key, code_version=cv.value, provenance=provenance(key, cv.value, inputs, config_hash, pk),
                data_version=version, artifact=artifact, size=size, io_manager=manager.name,
                inputs=tuple(sorted(inputs.items())), config_hash=config_hash, partition=pk, run_id="bulk",
                created=0.0, seconds=0.0, code_parts=dict(cv.parts)))
            nxt[pk] = (value, version)
            written += 1
        values = nxt
    store.save_state()
    return written


def _write(path: str, data: bytes) -> os.stat_result:
    try:
        f = open(path, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, "wb")
    with f:
        f.write(data)
        f.flush()
        return os.fstat(f.fileno())


def _write_artifact(store, artifact: str, data: bytes) -> None:
    from datamake.storage.state import MTIME_BACKDATE_NS

    path = store.artifact_path(artifact)
    st = _write(path, data)
    mtime = st.st_mtime_ns - MTIME_BACKDATE_NS
    os.utime(path, ns=(st.st_atime_ns, mtime))
    store.state.record(artifact, (st.st_size, mtime, st.st_ino))


def _commit(store, manifest) -> None:
    from datamake.core.keys import node_id

    action = store.action_path(manifest.provenance)
    current = store.manifest_path(node_id(manifest.key, manifest.partition))
    _write(action, manifest.to_json())
    try:
        os.link(action, current)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(current), exist_ok=True)
        os.link(action, current)
