"""The machine-local cache stays the size of what is in use.

Every folder a project is built in (a fresh clone, a CI checkout, a temporary copy) keeps its code
analyses in the per-user cache, and a folder seen for the first time starts from those of the last
new one. Neither may carry every earlier folder's analyses along, or each new folder would read
more than the one before it.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from .conftest import ProjectDir


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(folder))
    return folder


def _pipeline(prefix: str, count: int) -> str:
    lines = ["from datamake import asset", ""]
    for i in range(count):
        lines += ["@asset", f"def {prefix}{i}():", f"    return {i} * 3 + len({prefix!r})", ""]
    return "\n".join(lines)


def _entries(path) -> int:
    return len(json.loads(path.read_text())["entries"])


def test_a_new_folder_keeps_only_the_analyses_it_uses_not_every_earlier_folders(tmp_path, cache):
    big = ProjectDir(tmp_path / "big")
    big.pipeline(_pipeline("wide", 60))
    big.run("make", check=True)
    seed = cache / "code-seed.json"
    assert _entries(seed) >= 60

    small = ProjectDir(tmp_path / "small")
    small.pipeline(_pipeline("narrow", 3))
    small.run("make", check=True)
    own = [p for p in cache.glob("code-*.json") if p.name != "code-seed.json"]
    sizes = sorted(_entries(p) for p in own)
    assert sizes[0] < 20, f"the small folder's cache holds the big one's analyses too: {sizes}"
    assert _entries(seed) < 20, "the seed of the next new folder grew with every folder before it"

    # Still a speed-up only: the small folder's second look agrees, and a third folder is right.
    assert small.run("status", "--json", check=True).returncode == 0
    third = ProjectDir(tmp_path / "third")
    third.pipeline(_pipeline("narrow", 3).replace("* 3", "* 4"))
    third.run("make", check=True)
    third.pipeline(_pipeline("narrow", 3).replace("* 3", "* 5"))
    out = json.loads(third.run("status", "--json", check=True).stdout)
    assert sorted(a["key"] for a in out["assets"] if a["reasons"]) == ["narrow0", "narrow1", "narrow2"]


def test_only_the_newest_per_folder_caches_are_kept(cache):
    from datamake.storage.localfiles import prune_folder_caches

    (cache / "uptodate").mkdir(parents=True)
    now = time.time()
    for i in range(12):
        for path in (cache / f"code-{i:016x}.json", cache / f"workspace-{i:016x}.json",
                     cache / "uptodate" / f"{i:016x}.json"):
            path.write_text("{}")
            os.utime(path, (now - i * 60, now - i * 60))  # file i is i minutes old
    (cache / "code-seed.json").write_text("{}")
    (cache / "toml-abc.json").write_text("{}")

    assert prune_folder_caches(str(cache), keep=5) == 3 * 7
    assert sorted(p.name for p in cache.glob("code-*.json")) == sorted(["code-seed.json"] + [f"code-{i:016x}.json" for i in range(5)])
    assert len(list(cache.glob("workspace-*.json"))) == 5
    assert len(list((cache / "uptodate").iterdir())) == 5
    assert (cache / "toml-abc.json").exists()


def test_a_seed_that_piled_up_is_cut_to_what_the_next_new_folder_uses(tmp_path, cache):
    """A seed left by an earlier version (every folder's analyses) that holds all a new folder needs is
    still cut down, once, to what that folder used: otherwise every fresh copy would read it all."""
    big, small = ProjectDir(tmp_path / "big"), ProjectDir(tmp_path / "small")
    big.pipeline(_pipeline("wide", 60))
    big.run("make", check=True)
    small.pipeline(_pipeline("narrow", 3))
    small.run("make", check=True)
    caches = [json.loads(p.read_text()) for p in cache.glob("code-*.json") if p.name != "code-seed.json"]
    piled = {part: {k: v for c in caches for k, v in c[part].items()} for part in ("entries", "decorators", "located")}
    seed = cache / "code-seed.json"
    seed.write_text(json.dumps({**caches[0], **piled}))
    assert _entries(seed) >= 63

    copy = ProjectDir(tmp_path / "copy")
    copy.pipeline(_pipeline("narrow", 3))  # the same bytes as small's: every analysis is in the seed
    copy.run("make", check=True)
    assert _entries(seed) < 20, "a fresh copy read, and left, every earlier folder's analyses"
    out = json.loads(copy.run("status", "--json", check=True).stdout)
    assert not [a["key"] for a in out["assets"] if a["reasons"]]


def test_a_cache_file_another_make_removed_while_pruning_sorts_as_oldest(cache):
    """Two makes sharing a cache folder prune it at once: a file listed by one and removed by the other
    before its age is read is taken as the oldest, not a FileNotFoundError failing the make."""
    from datamake import _paths

    cache.mkdir(parents=True, exist_ok=True)
    (cache / "code-0.json").write_text("{}")
    (cache / "code-1.json").write_text("{}")
    with os.scandir(cache) as it:
        listed = sorted(it, key=lambda e: e.name)
    os.remove(listed[0].path)  # the other make was quicker
    assert _paths._written(listed[0]) == float("-inf")
    assert _paths._written(listed[1]) == os.stat(listed[1].path).st_mtime


ENTRIES = [
    None,
    ("d" * 32, (), ()),
    ("d" * 32, ("a1", "os.path.join", "settings.*", "import:pkg.mod"), (("e" * 32, "asset", ("asset",)),)),
    ("d" * 32, ("x",), (("e" * 32, "asset", ("asset",)), ("f" * 32, "dm.asset", ("dm", "dm.asset")),
                        ("0" * 32, "", ()))),
    # names the entry's text cannot hold: kept as a list
    ("d" * 32, ("import:a b", "import:a|b", "import:\t", "import:"), (("e" * 32, "asset", ("asset",)),)),
    ("d" * 32, ("x",), (("1" * 32, "cache", ("import:a b",)),)),
]


@pytest.fixture
def analyses(monkeypatch):
    """The code-version analyses of this process, empty for the test (and put back after it)."""
    from datamake.define import codeversion

    for name in ("_normalized_cache", "_from_file", "_file_decorators", "_located"):
        monkeypatch.setattr(codeversion, name, {})
    monkeypatch.setattr(codeversion, "_used", set())
    monkeypatch.setattr(codeversion, "_cache_dirty", False)
    return codeversion


def _stored(codeversion, entries):
    """``entries`` written as the cache file holds them (through JSON), then read back into a fresh state."""
    codeversion._normalized_cache.update({f"raw{i}": e for i, e in enumerate(entries)})
    codeversion._used.update(f"raw{i}" for i in range(len(entries)))
    codeversion._cache_dirty = True
    saved = json.loads(json.dumps(codeversion.cache_to_save()))
    codeversion._normalized_cache.clear()
    codeversion.load_cache(saved)
    return saved, [codeversion._cached(f"raw{i}") for i in range(len(entries))]


def test_the_analyses_read_back_from_the_cache_file_are_those_written(analyses):
    saved, read = _stored(analyses, ENTRIES)
    assert read == ENTRIES
    assert all(isinstance(saved["entries"][f"raw{i}"], str) for i in (1, 2, 3)), "one text for each"
    assert all(isinstance(saved["entries"][f"raw{i}"], list) for i in (4, 5))


def test_a_cache_file_of_another_shape_is_not_read(analyses):
    codeversion = analyses
    old = {"format": 6, "entries": {"raw0": ["d" * 32, ["x"], [["e" * 32, "asset", ["asset"]]]]}, "located": {}}
    for data in (old, {**old, "format": 7}, {"format": 7, "entries": {"raw0": "d|x|e"}, "decorators": {"e": 3}},
                 {"format": 7, "entries": {"raw0": "d|x|e"}, "decorators": {}}, {"format": 7, "entries": {"raw0": "d|x"},
                                                                                  "decorators": {}}, [], None):
        codeversion.load_cache(data)
        assert codeversion._cached("raw0") is None  # no entry: it is analysed again
