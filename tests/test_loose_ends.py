"""Partitions, status and manifests probed as a user would: dynamic keys, sources named to status,
manifests of a newer datamake, and the window arithmetic of time mappings."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings, strategies as st

from datamake import api
from datamake.core.partitions import TimeWindowMapping, TimeWindowPartitions, _shift, _WidenedWindows


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


DYNAMIC = """
    from datamake import DynamicPartitions, asset

    files = DynamicPartitions("files")

    @asset(partitions=files, io_manager="json")
    def lines(context):
        return context.partition_key

    @asset(io_manager="json")
    def total(lines):
        return list(lines)
"""


def shown(project, key):
    proc = project.run("show", key)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# -- dynamic partitions ------------------------------------------------------------------------

def test_a_dynamic_key_removed_and_added_again_leaves_what_a_total_receives_as_it_was(project):
    project.pipeline(DYNAMIC)
    project.run("partitions", "add", "files", "b", "a", "c", check=True)
    project.run("make", check=True)
    project.run("partitions", "remove", "files", "b", check=True)
    project.run("partitions", "add", "files", "b", check=True)
    assert project.states()["total"] == "fresh"  # the same keys, the same inputs
    kept = shown(project, "total")
    project.run("make", "-B", "total", check=True)  # what the function receives now
    assert shown(project, "total") == kept == '["a", "b", "c"]'
    # the keys are kept, and listed, in the order they were added
    assert project.json("partitions", "list") == {"partitions": {"files": ["a", "c", "b"]}}


def test_removing_a_dynamic_key_that_is_not_there_is_an_error_and_removes_nothing(project):
    project.pipeline(DYNAMIC)
    project.run("partitions", "add", "files", "alpha", "beta", check=True)
    proc = project.run("partitions", "remove", "files", "alpha", "betta")
    assert proc.returncode == 2
    assert "'betta'" in proc.stderr and "did you mean 'beta'?" in proc.stderr
    assert "datamake partitions list files" in proc.stderr
    assert project.json("partitions", "list") == {"partitions": {"files": ["alpha", "beta"]}}


# -- manifests of a newer datamake ---------------------------------------------------------------

PLAIN = """
    from datamake import asset

    @asset
    def big():
        return "x" * 100_000

    @asset
    def small(big):
        return len(big)
"""


def write_newer_manifest(project, key: str) -> str:
    """Rewrite ``key``'s current manifest as a datamake of the next manifest format would: every field known."""
    store = api.load(str(project.root)).store
    data = store.read_manifests([key])[key].to_data()
    data["format"] += 1
    path = store.manifest_path(key)
    store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def test_a_manifest_of_a_newer_format_is_not_trusted_and_not_deleted(project):
    project.pipeline(PLAIN)
    project.run("make", check=True)
    path = write_newer_manifest(project, "big")
    proc = project.run("status", "--json")
    assert proc.returncode == 0
    states = {a["key"]: a["state"] for a in json.loads(proc.stdout)["assets"]}
    assert states["big"] == "stale"
    assert "newer datamake" in proc.stderr and "upgrade datamake" in proc.stderr
    gc = project.run("gc", "--older-than", "0")
    assert "newer datamake" in gc.stderr and "nothing deleted" in gc.stderr
    with open(path) as f:
        assert json.load(f)["key"] == "big"


# -- status of a source ------------------------------------------------------------------------

SOURCES = """
    from datamake import DailyPartitions, asset, source

    daily = DailyPartitions(start="2024-01-01", end="2024-01-04")
    raw = source("raw.txt", load="text")
    landing = source("landing/{date}.csv", partitions=daily, load="text")

    @asset
    def shout(raw):
        return raw.upper()
"""


def test_status_of_a_source_says_what_is_observed_of_it(project):
    project.pipeline(SOURCES)
    project.write("raw.txt", "hello\n")
    project.write("landing/2024-01-01.csv", "1\n")
    project.write("landing/2024-01-02.csv", "2\n")
    text = project.run("status", "raw", check=True).stdout
    assert "source raw  " in text and "raw.txt: version " in text
    assert "0 stale, 0 fresh; raw is a source: observed, never built" in text
    assert "datamake status raw+" in text
    partitioned = project.run("status", "landing", check=True).stdout.splitlines()
    assert partitioned[:2] == ["source landing  2024-01-01…2024-01-02: 2 with a file",
                               "source landing  2024-01-03: 1 without a file"]
    listed = project.json("status", "landing")
    assert listed["assets"] == []  # the contracted list holds assets, each fresh or stale
    assert [(s["key"], s["partition"], s["version"] is not None) for s in listed["sources"]] == [
        ("landing", "2024-01-01", True), ("landing", "2024-01-02", True), ("landing", "2024-01-03", False)]
    # a selection with an asset in it plans as before, with no sources row
    assert "sources" not in project.json("status", "shout")


# -- the window arithmetic of a TimeWindowMapping --------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@settings(max_examples=60, deadline=None)
@given(unit=st.sampled_from(["hour", "day", "week", "month"]), zone=st.sampled_from(ZONES),
       start=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2026, 12, 31)),
       length=st.integers(1, 120), start_offset=st.integers(-30, 3), end_offset=st.integers(-3, 30))
def test_widened_windows_are_those_stepping_from_each_key_gives(unit, zone, start, length, start_offset, end_offset):
    """The look-up among a definition's windows gives the bounds that stepping window by window
    from the key gives, across DST changes (a 30-minute one in Lord Howe) and at both ends of the range."""
    step = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(days=7),
            "month": dt.timedelta(days=31)}[unit]
    first = start.strftime("%Y-%m-%d-%H:00") if unit == "hour" else start.strftime("%Y-%m-%d")
    last = (start + step * length).strftime("%Y-%m-%d")
    pdef = TimeWindowPartitions(unit, first, last, zone, "t")
    wider = TimeWindowPartitions(unit, (start - step * 3).strftime("%Y-%m-%d"),
                                 (start + step * (length + 3)).strftime("%Y-%m-%d"), zone, "t")
    mapping = TimeWindowMapping(start_offset=start_offset, end_offset=end_offset)
    widened = _WidenedWindows(pdef, None, mapping)
    utc = dt.timezone.utc
    for key in wider.keys(None):  # the definition's keys, and some before and after it
        stepped = (_shift(pdef, key, start_offset)[0].astimezone(utc), _shift(pdef, key, end_offset)[1].astimezone(utc))
        assert widened.bounds(key) == stepped, key
