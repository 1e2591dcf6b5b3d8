"""A long-lived project (the daemon) reuses its last planning pass only where nothing moved.

Each test keeps one project loaded the way the daemon keeps it and, after every change made
from outside (a build by another process, a source edit, a deleted artifact or pack of
manifests, an unreadable manifest file, a new day), compares its plan with the plan of a project loaded afresh.
"""
from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamake import api
from datamake.project.holder import keep_loaded

PIPELINE = '''
import os
from datamake import Definitions, asset, source

feed = source("feed.txt")

@asset(deps=[feed])
def raw():
    with open(os.path.join(os.path.dirname(__file__), "feed.txt")) as f:
        return f.read()

@asset
def big(raw):
    return raw * 2000  # kept as an artifact file, not inline in its manifest

@asset
def small(raw):
    return len(raw)

@asset
def joined(big, small):
    return len(big) + small

@asset
def side(small):
    return small + 1
'''

KEYS = ["raw", "big", "small", "joined", "side"]
ACTIONS = ["build", "build_all", "edit_source", "drop_artifact", "drop_pack", "garble_manifest"]


def decisions(project: api.Project, now: dt.datetime = None):
    scope = project.scope((), now=now)
    return [(d.key, d.partition, d.stale, tuple(r.code for r in d.reasons)) for d in scope.plan.decisions]


def fresh_decisions(root: Path, now: dt.datetime = None):
    return decisions(api.load(str(root)), now)


def _apply(root: Path, action: str, rng: random.Random) -> None:
    store = root / ".datamake"
    if action == "build":
        api.make(api.load(str(root)), [rng.choice(KEYS)], executor="inprocess", history=False)
    elif action == "build_all":
        api.make(api.load(str(root)), executor="inprocess", history=False)
    elif action == "edit_source":
        (root / "feed.txt").write_text(f"feed {rng.random()}")
    elif action == "drop_pack":  # the batch of manifests a make committed is lost
        packs = sorted((store / "packs").glob("*.json")) if (store / "packs").exists() else []
        if packs:
            rng.choice(packs).unlink()
    elif action == "garble_manifest":  # a newer manifest file than the packs', unreadable
        path = store / "manifests" / f"{rng.choice(KEYS)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{ not json")
    elif action == "drop_artifact":
        artifacts = sorted(p for p in (store / "artifacts").rglob("*") if p.is_file()) \
            if (store / "artifacts").exists() else []
        if artifacts:
            rng.choice(artifacts).unlink()


@settings(max_examples=15, deadline=None)
@given(steps=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=6), seed=st.integers(0, 2 ** 16))
def test_a_kept_project_plans_what_a_fresh_load_plans_after_any_outside_change(tmp_path_factory, steps, seed):
    root = tmp_path_factory.mktemp("kept")
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "feed.txt").write_text("feed 0")
    rng = random.Random(seed)
    api.make(api.load(str(root)), executor="inprocess", history=False)
    kept = api.load(str(root))
    keep_loaded(kept)
    assert decisions(kept) == fresh_decisions(root)
    assert decisions(kept) == fresh_decisions(root)  # a second pass with nothing moved reuses, and agrees
    for action in steps:
        _apply(root, action, rng)
        assert decisions(kept) == fresh_decisions(root), f"after {action}"


def test_a_pass_with_nothing_moved_reuses_the_plan_and_one_build_is_seen(tmp_path):
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    (tmp_path / "feed.txt").write_text("feed 0")
    api.make(api.load(str(tmp_path)), executor="inprocess", history=False)
    kept = api.load(str(tmp_path))
    keep_loaded(kept)
    first = kept.scope(())
    again = kept.scope(())
    assert again.plan is first.plan and kept.last_pass.reused_facts == len(KEYS)
    assert not any(d.stale for d in again.plan.decisions)

    (tmp_path / "feed.txt").write_text("feed number one")  # the source moved: everything downstream is stale
    stale = {d.key for d in kept.scope(()).plan.decisions if d.stale}
    assert stale == set(KEYS)

    api.make(api.load(str(tmp_path)), ["small"], executor="inprocess", history=False)  # another process builds
    after = {d.key: d.stale for d in kept.scope(()).plan.decisions}
    assert after == {"raw": False, "small": False, "big": True, "joined": True, "side": True}
    assert decisions(kept) == fresh_decisions(tmp_path)


DAILY = '''
from datamake import DailyPartitions, Definitions, asset

@asset(partitions=DailyPartitions(start="2024-03-01"))
def day(context):
    return context.partition_key
'''


def test_a_kept_project_sees_a_new_day_of_a_partitioned_asset(tmp_path):
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(DAILY)
    kept = api.load(str(tmp_path))
    keep_loaded(kept)
    march3 = dt.datetime(2024, 3, 3, 1, tzinfo=dt.timezone.utc)
    march4 = dt.datetime(2024, 3, 4, 1, tzinfo=dt.timezone.utc)
    assert [d.partition for d in kept.scope((), now=march3).plan.decisions] == ["2024-03-01", "2024-03-02"]
    assert [d.partition for d in kept.scope((), now=march4).plan.decisions] == \
        ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert decisions(kept, march4) == fresh_decisions(tmp_path, march4)
