"""The entry points of readers that open files outside Python report the path they are handed, whether
their module was imported before the watch was installed or after (and bound by a from-import)."""
from __future__ import annotations

import importlib
import pickle
import sys

import pytest

from datamake.define import entrywatch, openwatch
from datamake.define.codeversion import auto_code_version


@pytest.fixture
def reader_module(tmp_path, monkeypatch):
    """A module ``dm_fake_reader`` whose ``read(source)`` stands for a reader written in C."""
    (tmp_path / "dm_fake_reader.py").write_text("def read(source, n=1):\n    return n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(entrywatch.ENTRY_POINTS, "dm_fake_reader", {"read": "source"})
    yield "dm_fake_reader"
    sys.modules.pop("dm_fake_reader", None)
    entrywatch._done.pop("dm_fake_reader", None)


def _reported(call) -> list:
    seen = []
    openwatch.push(lambda event, args: event == openwatch.READ and seen.append(args[0]))
    try:
        call()
    finally:
        openwatch.pop()
    return seen


def test_a_module_imported_after_the_watch_is_wrapped_before_a_from_import_binds_its_reader(reader_module, tmp_path):
    entrywatch.install()
    namespace: dict = {}
    exec(f"from {reader_module} import read", namespace)  # the import runs the module, then binds
    read = namespace["read"]
    module = sys.modules[reader_module]
    assert read is module.read and entrywatch.original(read) is not read
    assert type(module.__loader__).__name__ == "SourceFileLoader"  # the module keeps its own loader
    assert _reported(lambda: read(tmp_path / "a.bin")) == [str(tmp_path / "a.bin")]
    assert _reported(lambda: read(source="b.bin", n=2)) == ["b.bin"]
    assert _reported(lambda: read(["c.bin", "d.bin"])) == ["c.bin", "d.bin"]
    assert _reported(lambda: read(123)) == []  # not a path: a buffer, a file object
    assert read("x", n=3) == 3


def test_a_module_imported_before_the_watch_is_wrapped_when_it_is_installed(reader_module, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, entrywatch._Finder)])
    module = importlib.import_module(reader_module)  # no import hook yet
    original = module.read
    assert entrywatch.original(original) is original
    entrywatch.install()
    assert entrywatch.original(module.read) is original
    assert _reported(lambda: module.read("e.bin")) == ["e.bin"]
    entrywatch.install()  # once: not wrapped twice
    assert entrywatch.original(module.read) is original



def test_a_wrapped_reader_pickles_as_the_reader_it_stands_for(reader_module, tmp_path):
    """Defined elsewhere than where it stands (``pyarrow.parquet.read_table`` is ``pyarrow.parquet.core``'s),
    a reader handed to a process pool must pickle by the name it is reached by, to its wrapper here."""
    (tmp_path / "dm_fake_impl.py").write_text("def read(source, n=1):\n    return n\n")
    (tmp_path / "dm_fake_reader.py").write_text("from dm_fake_impl import read\n")
    try:
        module = importlib.import_module(reader_module)
        assert entrywatch.original(module.read) is not module.read  # wrapped
        assert pickle.loads(pickle.dumps(module.read)) is module.read
    finally:
        sys.modules.pop("dm_fake_impl", None)

def test_a_wrapped_reader_counts_in_a_code_version_as_the_reader_itself(reader_module, tmp_path):
    module = importlib.import_module(reader_module)
    entrywatch.install()
    (tmp_path / "dm_fake_pipeline.py").write_text("def load():\n    return read('data/t.bin')\n")
    pipeline = importlib.import_module("dm_fake_pipeline")
    try:
        pipeline.read = module.read
        wrapped = auto_code_version(pipeline.load, [str(tmp_path)])
        pipeline.read = entrywatch.original(module.read)
        assert auto_code_version(pipeline.load, [str(tmp_path)]) == wrapped
    finally:
        sys.modules.pop("dm_fake_pipeline", None)


def test_an_import_hook_added_after_the_watch_does_not_hide_a_reader_module(reader_module, tmp_path, monkeypatch):
    """Another meta path hook put first later (a plugin, an editable install's finder) that finds the
    reader's module itself: the next watch's start puts the entry-point watch back in front."""
    import importlib.machinery

    entrywatch.install()

    class Claims:
        def find_spec(self, name, path=None, target=None):
            return importlib.machinery.PathFinder.find_spec(name, [str(tmp_path)]) if name == reader_module else None

    monkeypatch.setattr(sys, "meta_path", [Claims(), *sys.meta_path])
    entrywatch.install()
    module = importlib.import_module(reader_module)
    assert entrywatch.original(module.read) is not module.read
    assert _reported(lambda: module.read("f.bin")) == ["f.bin"]
