"""What a build does once per asset, kept small without changing what it stores, prints or decides.

Each cut has its test here: the same bytes as the general path where it skips one (a manifest's text,
a number's JSON), the same decisions where it reuses one (the plan's reasons), and that the general
work is not done again for the common case.
"""
from __future__ import annotations

import io
import json
import sqlite3
from enum import IntEnum

import pytest

from datamake import api
from datamake.core.describe import describe_reasons
from datamake.core.hashing import record_json
from datamake.core.manifest import Manifest
from datamake.execution import coordinator
from datamake.storage import iomanagers

BASE = dict(key="a", code_version="c" * 16, provenance="p" * 32, data_version="d" * 32, artifact="f" * 32,
            size=2, io_manager="json")

MANIFESTS = [
    Manifest(**BASE),
    Manifest(**BASE, inputs=(("b", "1" * 32), ("a/c", "2" * 32)), run_id="r1", created=1796225064.2924862,
             seconds=0.001923, code_parts={"<self>": "x" * 32}, inline="Njk="),
    # code parts given out of order, a partition, keys and values outside ASCII
    Manifest(**{**BASE, "key": "sales/ünï"}, partition="2024-01-05", config_hash="h",
             code_parts={"z:helper": "1", "<self>": "2", "b": "3"}),
    Manifest(**BASE, metadata={"rows": 3, "schema": {"b": "int", "a": "str"}}),  # nested: sorted by the encoder
    Manifest(**BASE, checks=({"name": "positive", "passed": True},)),
    Manifest(**BASE, config={"z": 1, "a": [1, 2]}, reads=(("data/x.csv", "v1"),)),
    Manifest(**BASE, created=float("nan"), seconds=float("inf")),
    # strings the encoder escapes, numbers of other types than usual, a missing run id
    Manifest(**{**BASE, "key": 'we"ird\\key\n\x7f\x00'}, run_id=None, created=1796225064, seconds=-0.0,
             inputs=(("x\ty", "é"),), inline="a/b+c=", partition='p"1'),
]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=range(len(MANIFESTS)))
def test_a_manifests_text_is_its_sorted_compact_json(manifest):
    assert manifest.record_text() == record_json(manifest.to_data())
    assert manifest.to_json() == record_json(manifest.to_data()).encode()
    assert Manifest.from_json(manifest.to_json()).to_json() == manifest.to_json()


# fields of other types than a manifest read back has (a parsed one is refused): written as the encoder writes them
ODD_MANIFESTS = [
    Manifest(**{**BASE, "size": True}, created=1e-300, seconds=float("-inf")),
    Manifest(**BASE, config_hash=7, code_parts={"<self>": 3}),
    Manifest(**{**BASE, "io_manager": None}, inputs=(("a", 1),)),
    Manifest(**BASE, inputs=(("a", "b", "c"),)),
]


@pytest.mark.parametrize("manifest", ODD_MANIFESTS, ids=range(len(ODD_MANIFESTS)))
def test_a_manifest_with_odd_fields_is_written_as_the_encoder_writes_it(manifest):
    assert manifest.record_text() == record_json(manifest.to_data())


@pytest.mark.parametrize("manager, content", [("json", "f" * 32), ("my\"io\\é\n", "x"), (None, "f"), ("json", 3)])
def test_a_data_version_is_the_hash_of_its_canonical_parts(manager, content):
    from datamake.core.hashing import data_version_of, hash_value

    assert data_version_of(manager, content) == hash_value("data", manager, content)


class Level(IntEnum):
    HIGH = 3


@pytest.mark.parametrize("value", [0, 7, -12, 10 ** 30, True, False, None, 1.5, Level.HIGH, "é", [1, {"b": 2, "a": 1}]])
def test_the_json_manager_writes_numbers_as_json_does(value):
    out = io.BytesIO()
    iomanagers.get("json").dump(value, out)
    assert out.getvalue() == iomanagers._JSON_VALUE.encode(value).encode()


def test_a_number_too_long_for_text_fails_as_it_did():
    out = io.BytesIO()
    with pytest.raises(iomanagers.ValueTypeError, match="JSON cannot"):
        iomanagers.get("json").dump(10 ** 5000, out)


def test_the_json_manager_makes_no_encoder_per_number(monkeypatch):
    made = []
    real = json.encoder.c_make_encoder
    monkeypatch.setattr(json.encoder, "c_make_encoder", lambda *a: made.append(1) or real(*a))
    for value in (1, 2, None, True):
        iomanagers.get("json").dump(value, io.BytesIO())
    assert made == []


PIPELINE = """\
from datamake import asset

@asset
def a():
    return 1

@asset
def b():
    return 2

@asset
def c(a, b):
    return a + b
"""


def _events(root) -> list:
    with sqlite3.connect(root / ".datamake" / "history.sqlite") as conn:
        return conn.execute("SELECT kind, asset, message FROM events WHERE kind = 'started' ORDER BY asset").fetchall()


@pytest.mark.parametrize("force", [False, True])
def test_an_asset_with_no_input_is_decided_once_and_started_for_the_planned_reasons(tmp_path, monkeypatch, force):
    """A first build (every asset never materialized) and a forced one: a and b, which have no input,
    start for the reasons the plan gave them, without deciding again; c is decided once its inputs are."""
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    if force:
        api.make(api.load(str(tmp_path)), [], executor="inprocess", history=False)  # values for -B to replace
    expected = {d.key: describe_reasons(d.reasons) for d in api.status(api.load(str(tmp_path)), force=force).decisions}
    decided = []
    real = coordinator.decide
    monkeypatch.setattr(coordinator, "decide", lambda facts, *rest: decided.append(facts.key) or real(facts, *rest))
    result = api.make(api.load(str(tmp_path)), [], executor="inprocess", force=force)
    assert [a.outcome for a in result.assets] == ["built"] * 3
    assert decided == ["c"]
    started = {asset: message for _kind, asset, message in _events(tmp_path)}
    assert set(started) == {"a", "b", "c"}
    assert started["a"] == expected["a"] == ("forced" if force else "never_materialized")
    assert started["b"] == expected["b"]


def test_a_fresh_build_of_independent_assets_starts_each_for_never_materialized(tmp_path):
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    result = api.make(api.load(str(tmp_path)), [], executor="inprocess")
    assert [a.outcome for a in result.assets] == ["built"] * 3
    started = {asset: message for _kind, asset, message in _events(tmp_path)}
    assert started == {"a": "never_materialized", "b": "never_materialized", "c": "never_materialized"}


@pytest.mark.parametrize("value", [3, 2.5, True, None, "text", b"raw", [1], {"a": 1}, Level.HIGH])
def test_the_manager_chosen_for_a_value_is_the_first_that_handles_it(value):
    first = next(iomanagers._REGISTRY[n] for n in iomanagers._ORDER if iomanagers._REGISTRY[n].handles(value))
    assert iomanagers.choose(value) is first


def test_a_registered_manager_is_still_tried_first(monkeypatch):
    class Ints:
        name = "ints"

        def handles(self, value):
            return type(value) is int

    monkeypatch.setattr(iomanagers, "_REGISTRY", dict(iomanagers._REGISTRY))
    monkeypatch.setattr(iomanagers, "_ORDER", list(iomanagers._ORDER))
    monkeypatch.setattr(iomanagers, "_only_built_in", iomanagers._only_built_in)
    monkeypatch.setattr(iomanagers, "_BASE", list(iomanagers._BASE))
    iomanagers.register(Ints())
    assert iomanagers.choose(3).name == "ints"
    assert iomanagers.choose(None).name == "json"


def test_real_paths_resolved_folder_by_folder_are_the_real_paths(tmp_path):
    """The certificate resolves the folder of every loaded module file from its parent's: the same
    answer as ``os.path.realpath`` through links to folders, relative links, links to files, and
    paths that do not exist."""
    import os
    import sys

    from datamake.define.snapshot import real_path

    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "x.py").write_text("")
    os.symlink(tmp_path / "a" / "b", tmp_path / "link")
    os.symlink("../../a", tmp_path / "a" / "b" / "up")
    os.symlink(tmp_path / "a" / "b" / "c" / "x.py", tmp_path / "a" / "y.py")
    paths = [str(tmp_path / p) for p in ("link/c/x.py", "a/b/up/b/c/x.py", "a/b/up/b/up/b/c/x.py", "a/y.py",
                                         "missing/z.py", "link/missing/q.py")]
    paths += [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
    folders: dict = {}
    assert [real_path(p, folders) for p in paths] == [os.path.realpath(p) for p in paths]
