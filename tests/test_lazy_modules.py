"""Modules datamake imports lazily (``ast``, ``dis``, ``dataclasses``): run once, whole, whichever threads
read them first."""
import sys
import threading

from datamake.define.lazymodules import file_of, lazy


def _write_gated_module(tmp_path, name):
    """A module that stops half-way through running until the test lets it go on."""
    (tmp_path / f"{name}_gate.py").write_text("import threading\nstarted = threading.Event()\ngo = threading.Event()\n")
    (tmp_path / f"{name}.py").write_text(
        f"import {name}_gate as gate\nfirst = 1\nruns = getattr(gate, 'runs', 0) + 1\ngate.runs = runs\n"
        "gate.started.set()\ngate.go.wait(30)\nsecond = 2\n")


def test_a_thread_reading_a_module_another_thread_is_running_waits_for_it_whole(tmp_path, monkeypatch):
    """The thread executor runs assets side by side: one asset's first read of a lazy module runs it,
    and another's read meanwhile must not see it half-run (it failed with an AttributeError)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_gated_module(tmp_path, "dm_lazy_gated")
    module = lazy("dm_lazy_gated")
    assert file_of(module) is None  # found, not run
    import dm_lazy_gated_gate as gate

    got = {}

    def read(attr):
        try:
            got[attr] = getattr(module, attr)
        except Exception as exc:  # noqa: BLE001 - what the second reader saw is the test's answer
            got[attr] = exc

    first = threading.Thread(target=read, args=("first",))
    first.start()
    assert gate.started.wait(30)  # the first reader is running the module, stopped half-way
    second = threading.Thread(target=read, args=("second",))
    second.start()
    second.join(0.5)  # a half-run module would answer at once, with an AttributeError
    gate.go.set()
    first.join(30)
    second.join(30)
    assert got == {"first": 1, "second": 2}
    assert gate.runs == 1  # run once
    assert file_of(module) == str(tmp_path / "dm_lazy_gated.py")
    assert sys.modules["dm_lazy_gated"] is module


def test_a_module_that_fails_as_it_runs_raises_and_is_forgotten(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "dm_lazy_broken.py").write_text("value = 1\nraise RuntimeError('broken at import')\n")
    module = lazy("dm_lazy_broken")
    try:
        module.value
    except RuntimeError as exc:
        assert "broken at import" in str(exc)
    else:
        raise AssertionError("the module's error was not raised")
    assert "dm_lazy_broken" not in sys.modules


def test_an_already_imported_module_is_handed_back_as_it_is():
    import json

    assert lazy("json") is json
