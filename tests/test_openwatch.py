"""The one audit hook for opened files and listed folders: listeners per thread, nested, never breaking the code."""
from __future__ import annotations

import os
import threading

from datamake.define import openwatch


def test_nested_listeners_each_see_the_files_their_thread_opens(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    outer, inner = [], []
    openwatch.push(lambda event, args: outer.append(args[0]))
    try:
        openwatch.push(lambda event, args: inner.append(args[0]))
        try:
            data.read_text()
        finally:
            openwatch.pop()
        (tmp_path / "after.txt").write_text("y")
    finally:
        openwatch.pop()
    data.read_text()  # no listener left: nobody is told
    assert [str(p) for p in inner] == [str(data)]
    assert [str(p) for p in outer] == [str(data), str(tmp_path / "after.txt")]


def test_a_listener_that_raises_or_opens_files_itself_breaks_nothing(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    seen = []

    def noisy(event, args):
        seen.append(args[0])
        data.read_text()  # what a listener opens is not reported (no endless recursion)
        raise RuntimeError("a bug in a listener")

    openwatch.push(noisy)
    try:
        assert data.read_text() == "x"
    finally:
        openwatch.pop()
    assert [str(p) for p in seen] == [str(data)]


def test_other_threads_are_not_watched_but_the_threads_a_watched_thread_starts_are_until_it_pops(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    seen = []
    go, done = threading.Event(), threading.Event()

    def started_before():
        go.wait()
        data.read_text()
        done.set()

    other = threading.Thread(target=started_before)  # started by a thread no listener watches
    other.start()
    later = threading.Event()
    openwatch.push(lambda event, args: event == openwatch.OPEN and seen.append(args[0]))
    try:
        go.set()
        done.wait()
        reader = threading.Thread(target=data.read_text)  # started by the watched thread
        reader.start()
        reader.join()
        lingering = threading.Thread(target=lambda: (later.wait(), data.read_text()))
        lingering.start()
    finally:
        openwatch.pop()
    later.set()  # it reads after its watcher stopped: not reported
    lingering.join()
    other.join()
    assert seen == [str(data)]


def test_listings_and_sqlite_databases_are_reported_but_not_the_folders_imports_search(tmp_path):
    import glob
    import importlib
    import sqlite3
    import sys

    (tmp_path / "pkg_for_openwatch").mkdir()
    (tmp_path / "pkg_for_openwatch" / "__init__.py").write_text("")
    (tmp_path / "pkg_for_openwatch" / "mod.py").write_text("X = 1\n")
    seen = []
    sys.path.insert(0, str(tmp_path))
    openwatch.push(lambda event, args: seen.append((event, args[0])))
    try:
        importlib.invalidate_caches()
        importlib.import_module("pkg_for_openwatch.mod")  # lists tmp_path and the package: not reported
        glob.glob(str(tmp_path / "*.txt"))
        sqlite3.connect(str(tmp_path / "x.db")).close()
    finally:
        openwatch.pop()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pkg_for_openwatch.mod", None)
        sys.modules.pop("pkg_for_openwatch", None)
    listed = [(event, str(path)) for event, path in seen if event in (openwatch.LIST, openwatch.SCAN)]
    assert listed == [(openwatch.SCAN, str(tmp_path))]
    assert [(e, os.fsdecode(p)) for e, p in seen if e == openwatch.SQLITE] == [(openwatch.SQLITE, str(tmp_path / "x.db"))]
