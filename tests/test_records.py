"""datamake's record classes: dataclasses that behave as ``@dataclass`` made them, yet cost nothing to define."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import pickle
import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from datamake import AssetCheckResult, MaterializeResult, Output
from datamake.core import records
from datamake.core.records import record


def _point(deco, field=field, **options):
    @deco(**options)
    class Point:
        """A point."""
        x: int
        y: "int" = 2
        tags: list = field(default_factory=list, compare=False)
        hidden: int = field(default=0, repr=False)
        n: int = field(default=5, init=False)

        def __post_init__(self):
            object.__setattr__(self, "n", self.x + 1)
    return Point


def _outcomes(cls) -> list:
    """What a user sees of ``cls``: construction, errors, repr, equality, hashing, mutation, helpers."""
    seen = []

    def attempt(fn):
        try:
            seen.append(fn())
        except (TypeError, FrozenInstanceError) as e:
            seen.append((type(e).__name__, str(e).split("__init__()")[-1]))
    a, b, c = cls(1), cls(1, 2, ["t"]), cls(x=3, y=4)
    seen += [repr(a), repr(c), a == b, a == c, a != c, a == 1, a.n, c.n, cls.__doc__]
    attempt(lambda: hash(a) == hash(b))
    attempt(lambda: setattr(a, "x", 9) or a.x)
    attempt(lambda: delattr(a, "y") or "deleted")
    seen += [str(inspect.signature(cls)), [f.name for f in dataclasses.fields(cls)], dataclasses.asdict(b),
             repr(dataclasses.replace(b, y=9)), dataclasses.is_dataclass(cls), repr(copy.deepcopy(b))]
    for args, kwargs in [((), {}), ((1, 2, [], 3, 4), {}), ((1,), {"x": 2}), ((1,), {"zz": 1}), ((1,), {"n": 2})]:
        attempt(lambda: repr(cls(*args, **kwargs)))
    p = cls.__dataclass_params__
    seen += [(p.init, p.repr, p.eq, p.order, p.frozen), cls.__hash__ is None, getattr(cls, "__match_args__", None)]
    return seen


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"eq": False}, {"frozen": True, "eq": False}])
@pytest.mark.parametrize("record_field", [field, records.field], ids=["dataclasses.field", "records.field"])
def test_a_record_behaves_as_the_same_dataclass(options, record_field):
    """Declared with ``dataclasses.field`` (made by dataclasses) or the records' own (made without it)."""
    assert _outcomes(_point(record, record_field, **options)) == _outcomes(_point(dataclass, **options))


def test_an_undocumented_record_is_documented_as_the_same_dataclass():
    def undocumented(deco):
        @deco(frozen=True)
        class Pair:
            left: int
            right: "str" = "r"
        return Pair
    doc = undocumented(dataclass).__doc__
    assert undocumented(record).__doc__ == doc and doc.startswith("Pair(left: ")


@pytest.mark.parametrize("record_field", [field, records.field], ids=["dataclasses.field", "records.field"])
def test_instances_are_the_same_before_and_after_the_record_compiles_its_init(record_field):
    """The first instances are filled by a shared ``__init__``; later ones by a compiled one."""
    point = _point(record, record_field, frozen=True)
    made = [point(i, y=i, tags=[i]) for i in range(records.COMPILE_AFTER + 2)]
    assert point.__init__.__code__.co_filename == "<string>"  # compiled by dataclasses by now
    expected = _point(dataclass, frozen=True)
    for i in (0, records.COMPILE_AFTER - 1, records.COMPILE_AFTER, records.COMPILE_AFTER + 1):
        assert vars(made[i]) == vars(expected(i, y=i, tags=[i]))
        assert list(vars(made[i])) == list(vars(expected(i, y=i, tags=[i])))  # field order


def test_a_dataclass_below_a_frozen_record_works_and_must_be_frozen():
    base = _point(record, frozen=True)

    @dataclass(frozen=True)
    class Labelled(base):
        label: str = "p"
    assert repr(Labelled(1)).endswith("Labelled(x=1, y=2, tags=[], n=2, label='p')")
    assert Labelled(1) == Labelled(1) and hash(Labelled(1)) == hash(Labelled(1))
    with pytest.raises(TypeError, match="non-frozen"):
        @dataclass
        class Loose(base):
            label: str = "p"


def test_public_records_keep_their_documented_behaviour():
    m = MaterializeResult(value=3, metadata={"rows": 3})
    assert m == MaterializeResult(3, {"rows": 3}) and m.value == 3
    assert repr(m).startswith("MaterializeResult(value=3, metadata={'rows': 3}")
    assert dataclasses.replace(m, value=4).value == 4
    with pytest.raises(FrozenInstanceError):
        m.value = 5
    out = Output("v", "2024-06-01")
    assert out == Output(value="v", data_version="2024-06-01") and out != Output("v")
    check = AssetCheckResult(passed=True)
    assert check.passed and "passed=True" in repr(check)
    assert "value" in inspect.signature(MaterializeResult).parameters
    for value in (m, out, check):
        assert pickle.loads(pickle.dumps(value)) == value


def test_make_compiles_no_dataclass_method_at_start_up(tmp_path):
    """A ``make`` defines datamake's record classes without ``exec``: only the ``__init__`` of a
    class it instantiates many times is compiled, once it has made that many instances."""
    (tmp_path / "pipeline.py").write_text("from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n"
                                          "@asset\ndef b(a):\n    return a + 1\n")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    script = textwrap.dedent("""
        import builtins, json, runpy, sys
        eager, lazy = [], []
        real_exec = builtins.exec
        def counting_exec(source, *args):
            if isinstance(source, str) and source.startswith("def __create_fn__"):
                frame, cls, lazily = sys._getframe(1), None, False
                while frame is not None:
                    lazily = lazily or frame.f_code.co_name == "_compiled_init"
                    if frame.f_code.co_name == "_process_class":
                        cls = frame.f_locals["cls"]
                    frame = frame.f_back
                if cls is not None:
                    (lazy if lazily else eager).append(cls.__module__ + "." + cls.__qualname__)
            return real_exec(source, *args)
        builtins.exec = counting_exec
        sys.argv = ["datamake", "make", "--json"]
        try:
            runpy.run_module("datamake", run_name="__main__")
        except SystemExit as e:
            assert not e.code, e.code
        print(json.dumps({"eager": eager, "lazy": lazy}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    compiled = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name in compiled["eager"] if name.startswith("datamake.")] == []
    assert compiled["lazy"] == [], "two assets make too few instances of any record to compile its __init__"
