"""The one audit hook for opened files: listeners per thread, nested, never breaking the code that opens."""
from __future__ import annotations

import threading

from datamake.define import openwatch


def test_nested_listeners_each_see_the_files_their_thread_opens(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    outer, inner = [], []
    openwatch.push(lambda args: outer.append(args[0]))
    try:
        openwatch.push(lambda args: inner.append(args[0]))
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

    def noisy(args):
        seen.append(args[0])
        data.read_text()  # what a listener opens is not reported (no endless recursion)
        raise RuntimeError("a bug in a listener")

    openwatch.push(noisy)
    try:
        assert data.read_text() == "x"
    finally:
        openwatch.pop()
    assert [str(p) for p in seen] == [str(data)]


def test_other_threads_are_not_watched(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    seen = []
    openwatch.push(lambda args: seen.append(args[0]))
    try:
        reader = threading.Thread(target=data.read_text)
        reader.start()
        reader.join()
    finally:
        openwatch.pop()
    assert seen == []
