"""Golden code versions: the same code has the same version on every supported Python (3.9-3.13)
and at every path, so that a shared cache works across machines.

If a change to datamake's code versioning changes these on purpose, bump the
cache format and update the literals; they must never differ between Pythons.
Imports only ``datamake.define.codeversion`` (no pyarrow, no fsspec).
"""
from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid

import pytest

from datamake.define.codeversion import fingerprint

GOLDEN_SOURCE = '''
import dataclasses
import functools
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
RATES = {"a": [1, 2.5, None], "b": {"nested": (True, b"x", 1j)}, "c": frozenset({"p", "q", "r"})}


def plain(x, y=2, *args, z, **kw):
    """A docstring, left out."""
    total = x + y * 3 - (z // 2) % 5
    return total ** 2, not x, -y, x if y else z, args, kw


def helper(v):
    return v * RATES["a"][1]


def uses_helper(x):
    return helper(x) + helper(x + 1)


def uses_constant():
    return RATES["b"]["nested"], sorted(RATES["c"]), DATA


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 0

    def norm(self):
        return abs(self.x) + abs(self.y)


def uses_dataclass():
    return Point(1, 2).norm()


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@logged
def decorated_helper(x):
    return x - 1


def uses_decorated(x):
    return decorated_helper(x)


def factory(k, fn):
    def made(x):
        return fn(x) * k
    return made


closure = factory(3, helper)
lam = lambda a, b=1: (a + b, helper(a))  # noqa: E731
multiline_lam = lambda a: (  # noqa: E731
    a + 1,
    helper(a),
)


def string_factory(k):
    def made(x):
        query = """
select 1
"""
        return helper(x) + k, query
    return made


col0 = string_factory(2)


def fstrings(x, width=8):
    return f"{x}", f"a{x!r:>10}b", f"{x=}", f"{x:{width}.2f}", f"""{x}
two""", rf"\\d{x}", "plain" f"{x}" "tail"


def slices(a):
    return a[1], a[1:2], a[::3], a[1:2, ::3], a[..., 0], a[-1:]


def comprehensions(xs):
    return ([x * 2 for x in xs if x], {x: x for x in xs}, {x for x in xs}, list(x for x in xs),
            [y for x in xs for y in x])


def walrus(xs):
    if (n := len(xs)) > 2:
        return n
    return [y for x in xs if (y := x + 1)]


def trying(path):
    try:
        value = int(path)
    except (ValueError, TypeError) as exc:
        raise RuntimeError("bad") from exc
    except Exception:
        return None
    else:
        return value
    finally:
        pass


class Model:
    """A class with methods."""

    scale = 2

    def __init__(self, k):
        self.k = k

    @property
    def doubled(self):
        return self.k * self.scale

    @staticmethod
    def make(k=1):
        return Model(k)

    async def fetch(self, *, retries=3):
        async with self.lock:
            return [x async for x in self.source()]

    def run(self, x):
        global RATES
        with open(x) as f, open(x) as g:
            del f
        for i in range(3):
            while i:
                break
            else:
                continue
        assert x, "message"
        lambda: (yield)
        return {**RATES, "k": self.k}, [*range(2)], x @ x if x else x is not None


def uses_class(x):
    return Model.make(x).run(x)


import collections as _collections
import datetime as _datetime
import operator as _operator
import string as _string
import typing as _typing


class Queue(_collections.deque):
    pass


LIBRARY_VALUES = (_operator.itemgetter(1), _string.Template("$a"), _datetime.timezone(_datetime.timedelta(hours=1)),
                  Queue([1]), _typing.Literal["a"], _typing.Dict[str, _typing.List[int]], _typing.Optional[str])


class Patched:
    RATE = 1


Patched.RATE = 2
Patched.scaled = helper


def uses_library_values():
    return LIBRARY_VALUES, Patched.RATE, Patched().scaled()


import abc as _abc
import enum as _enum


class Level(_enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(_enum.Flag):
    R = 1
    W = 2
    X = 4


class Base(_abc.ABC):
    limit: _typing.ClassVar[int] = 3

    @_abc.abstractmethod
    def run(self):
        ...


READ_WRITE = Perm.R | Perm.W


def uses_standard_library(parts):
    return os.path.join(*parts), os.path.basename(parts[0]), Level.HIGH, READ_WRITE, Base.limit
'''

GOLDEN = {
    "plain": "3b8634b6bca280f2",
    "uses_helper": "fa91077fee63a6a8",
    "uses_constant": "503642d99633320f",
    "Point": "110a15ed07379c48",
    "uses_dataclass": "a146dd4715bfd423",
    "decorated_helper": "1fa219361d9c12db",
    "uses_decorated": "b1489d6d2fd43864",
    "closure": "1b65df361a068c80",
    "lam": "38d4308ca1c0ae00",
    "multiline_lam": "87b3fa1840e85448",
    "col0": "46800494b91dd41a",
    "fstrings": "41abf3a7f0f8fa80",
    "slices": "6e8faa870b4cc8e6",
    "comprehensions": "c1a364403efca660",
    "walrus": "91d756006bbdaa29",
    "trying": "eb54995a6dc83b51",
    "Model": "c7f855d3e35c772d",
    "uses_class": "515fa5d78d032893",
    "uses_library_values": "26e9b1018f8fc829",
    "uses_standard_library": "2390a0b06e3d14ef",
}


@pytest.fixture(scope="module")
def golden_module(tmp_path_factory):
    root = tmp_path_factory.mktemp(f"golden-{uuid.uuid4().hex[:8]}")  # a different path on every run
    path = root / "golden_mod.py"
    path.write_text(textwrap.dedent(GOLDEN_SOURCE))
    spec = importlib.util.spec_from_file_location("golden_mod", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["golden_mod"] = module
    spec.loader.exec_module(module)
    yield module, str(root)
    sys.modules.pop("golden_mod", None)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_code_versions(golden_module, name):
    module, root = golden_module
    result = fingerprint(getattr(module, name), [root])
    assert result.warnings == ()
    assert result.version == GOLDEN[name], f"{name}: {result.version} (Python {sys.version.split()[0]})"
