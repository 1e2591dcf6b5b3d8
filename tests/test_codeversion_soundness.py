"""Automatic code versions are sound or loud ("Never stale, never a lie").

Each shape: a real edit changes the version, a cosmetic one (comment, docstring,
formatting) does not. Modules are written to fresh folders and imported under
one fixed name, so that two variants differ only in what was edited.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from datamake.define.codeversion import fingerprint

MODULE = "pipe_sound"


def load(tmp_path: Path, source: str, folder: Path = None):
    """Import ``source`` as module ``pipe_sound`` from a fresh folder (or ``folder``); returns (module, folder)."""
    if folder is None:
        folder = tmp_path / uuid.uuid4().hex
        folder.mkdir()
    path = folder / f"{MODULE}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module, folder


def fp(tmp_path: Path, source: str, attr: str = "f"):
    module, folder = load(tmp_path, source)
    obj = module
    for part in attr.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return fingerprint(obj, [str(folder)])


def check(tmp_path: Path, base: str, real: str, cosmetic: str = None, attr: str = "f") -> None:
    before = fp(tmp_path, base, attr)
    assert fp(tmp_path, base, attr).version == before.version, "not deterministic"
    assert fp(tmp_path, real, attr).version != before.version, "a real edit left the version unchanged"
    if cosmetic is not None:
        assert fp(tmp_path, cosmetic, attr).version == before.version, "a cosmetic edit changed the version"


# -- 1. wrapped functions -------------------------------------------------------------------

WRAPS = '''
import functools

def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper

@logged
def helper(x):
    return x + 1

@logged
def f(x):
    return helper(x) * 2
'''


def test_a_helper_under_functools_wraps_is_followed(tmp_path):
    check(tmp_path, WRAPS, WRAPS.replace("x + 1", "x + 2"),
          WRAPS.replace("return x + 1", '"""Add one."""\n    return x+1  # one'))


def test_an_asset_under_functools_wraps_is_versioned_by_its_own_body(tmp_path):
    check(tmp_path, WRAPS, WRAPS.replace("helper(x) * 2", "helper(x) * 3"),
          WRAPS.replace("return helper(x) * 2", "return (helper(x)\n            * 2)"))


@pytest.mark.parametrize("cache", ["functools.lru_cache(maxsize=None)", "functools.cache", "functools.lru_cache"])
def test_a_cached_helper_is_followed(tmp_path, cache):
    if cache == "functools.cache" and sys.version_info < (3, 9):
        pytest.skip("functools.cache is 3.9+")
    base = f'''
import functools

@{cache}
def rate(year):
    return 0.2 if year < 2020 else 0.25

def f(year):
    return rate(year)
'''
    check(tmp_path, base, base.replace("0.25", "0.3"), base.replace("def rate(year):", "def rate(year):  # by year"))


CONTEXT_MANAGER = '''
from contextlib import contextmanager

@contextmanager
def scaled():
    yield 2

def f():
    with scaled() as k:
        return k * 3
'''

SINGLE_DISPATCH = '''
from functools import singledispatch

@singledispatch
def process(x):
    return 0

@process.register(int)
def _(x):
    return x + 1

@process.register(str)
def _(x):
    return x * 2

def f():
    return process(3)
'''


def test_a_context_manager_helper_is_followed(tmp_path):
    """``@contextmanager`` wraps the generator in a function of ``contextlib``: its body counts."""
    check(tmp_path, CONTEXT_MANAGER, CONTEXT_MANAGER.replace("yield 2", "yield 5"),
          CONTEXT_MANAGER.replace("yield 2", "yield (2)  # same"))


@pytest.mark.parametrize("edit", [("return 0", "return 9"), ("x + 1", "x + 2"), ("x * 2", "x * 3"),
                                  ("register(str)", "register(bytes)")])
def test_a_singledispatch_helper_and_its_implementations_are_followed(tmp_path, edit):
    check(tmp_path, SINGLE_DISPATCH, SINGLE_DISPATCH.replace(*edit),
          SINGLE_DISPATCH.replace("x + 1", "x+1  # same"))


def test_lru_cache_settings_count(tmp_path):
    base = '''
import functools

@functools.lru_cache(maxsize=None)
def rate(year):
    return 0.2

def f(year):
    return rate(year)
'''
    check(tmp_path, base, base.replace("maxsize=None", "maxsize=1"))


# -- 2. module-level values ------------------------------------------------------------------

VALUES = [
    ("nested dict", '{"a": [1, 2, {"b": (3, None)}]}', '{"a": [1, 2, {"b": (4, None)}]}'),
    ("set of tuples", '{(1, "x"), (2, "y")}', '{(1, "x"), (2, "z")}'),
    ("frozenset in list", '[frozenset({"a", "b"})]', '[frozenset({"a", "c"})]'),
    ("date", "datetime.date(2024, 1, 1)", "datetime.date(2024, 1, 2)"),
    ("datetime tz", "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)",
     "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))"),
    ("time", "[datetime.time(12, 30)]", "[datetime.time(12, 31)]"),
    ("timedelta", "{'window': datetime.timedelta(days=7)}", "{'window': datetime.timedelta(days=8)}"),
    ("decimal precision", "[decimal.Decimal('1.10')]", "[decimal.Decimal('1.1')]"),
    ("fraction", "(fractions.Fraction(1, 3),)", "(fractions.Fraction(1, 4),)"),
    ("regex flags", "re.compile('a+')", "re.compile('a+', re.IGNORECASE)"),
    ("regex pattern", "re.compile('a+')", "re.compile('a*')"),
    ("enum member", "Color.RED", "Color.BLUE"),
    ("path", "pathlib.Path('data') / 'x.csv'", "pathlib.Path('data') / 'y.csv'"),
    ("partial keywords", "functools.partial(scale, k=2)", "functools.partial(scale, k=3)"),
    ("partial args", "functools.partial(scale, 2)", "functools.partial(scale, 3)"),
    ("project instance", "Settings(rate=1)", "Settings(rate=2)"),
    ("project dataclass", "[Point(1, 2)]", "[Point(1, 3)]"),
    ("dict of lambdas", "{'a': lambda x: x + 1}", "{'a': lambda x: x + 2}"),
    ("list of functions", "[scale]", "[other_scale]"),
    ("bytes in tuple", "(b'ab',)", "(b'ac',)"),
    ("complex in list", "[1j]", "[2j]"),
    ("float repr", "[0.1]", "[0.1 + 2e-17]"),
    ("bool vs int", "[True]", "[1]"),
    ("range", "range(3)", "range(4)"),
    ("slice", "[slice(1, 2)]", "[slice(1, 3)]"),
    ("uuid", "uuid.UUID(int=1)", "uuid.UUID(int=2)"),
    ("namespace", "types.SimpleNamespace(a=1)", "types.SimpleNamespace(a=2)"),
    ("bytearray", "bytearray(b'a')", "bytearray(b'b')"),
    ("arrow table", "pa.table({'a': [1, 2]})", "pa.table({'a': [1, 3]})"),
    ("arrow column name", "pa.table({'a': [1, 2]})", "pa.table({'b': [1, 2]})"),
    ("arrow type", "pa.table({'a': pa.array([1, 2], pa.int64())})", "pa.table({'a': pa.array([1, 2], pa.int32())})"),
    ("arrow array", "pa.array(['x', None])", "pa.array(['y', None])"),
    ("arrow schema", "pa.schema([('a', pa.int64())])", "pa.schema([('a', pa.float64())])"),
    ("pandas frame", "pd.DataFrame({'a': [1, 2]})", "pd.DataFrame({'a': [1, 3]})"),
    ("pandas column name", "pd.DataFrame({'a': [1, 2]})", "pd.DataFrame({'b': [1, 2]})"),
    ("pandas dtype", "pd.DataFrame({'a': [1, 2]})", "pd.DataFrame({'a': [1.0, 2.0]})"),
    ("pandas index", "pd.Series([1, 2], index=['x', 'y'])", "pd.Series([1, 2], index=['x', 'z'])"),
]

VALUE_MODULE = '''
import dataclasses, datetime, decimal, enum, fractions, functools, pathlib, re, types, uuid
import pandas as pd, pyarrow as pa

class Color(enum.Enum):
    RED = 1
    BLUE = 2

class Settings:
    def __init__(self, rate):
        self.rate = rate

@dataclasses.dataclass
class Point:
    x: int
    y: int

def scale(x, k=1):
    return x * k

def other_scale(x, k=1):
    return x * k + 0

VALUE = {value}

def f():
    return VALUE
'''


@pytest.mark.parametrize("name,before,after", VALUES, ids=[v[0] for v in VALUES])
def test_module_values_are_versioned_by_content(tmp_path, name, before, after):
    base = VALUE_MODULE.format(value=before)
    check(tmp_path, base, VALUE_MODULE.format(value=after), base.replace("VALUE = ", "# the value\nVALUE =  "))
    assert fp(tmp_path, base).warnings == ()


def test_a_pandas_frame_pandas_cannot_hash_is_named_in_a_warning(tmp_path):
    base = VALUE_MODULE.format(value="pd.DataFrame({'a': [[1, 2], [3]]})")
    result = fp(tmp_path, base)
    assert result.warnings == ("reads global VALUE of type pandas.DataFrame, which datamake cannot version; "
                               "give it a code_version= or pin it",)


def test_editing_a_function_inside_a_container_or_partial_counts(tmp_path):
    base = VALUE_MODULE.format(value="{'s': functools.partial(scale, k=2), 'l': [lambda x: x + 1]}")
    check(tmp_path, base, base.replace("return x * k\n", "return x * k * 2\n", 1))
    check(tmp_path, base, base.replace("x + 1]}", "x - 1]}"))


def test_project_class_of_an_instance_counts(tmp_path):
    base = VALUE_MODULE.format(value="Settings(rate=1)")
    check(tmp_path, base, base.replace("self.rate = rate", "self.rate = rate * 2"))


def test_nested_sets_do_not_depend_on_hash_randomization(tmp_path):
    (tmp_path / "mod_nested_sets.py").write_text(textwrap.dedent('''
        import enum
        TAGS = {"k": [{"alpha", "beta", "gamma", "delta", "epsilon"}, frozenset({("x", 1), ("y", 2), ("z", 3)})]}

        def f(x):
            return [t for t in sorted(TAGS["k"][0]) if t in x]
    '''))
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import mod_nested_sets; "
              "from datamake.define.codeversion import fingerprint; "
              "print(fingerprint(mod_nested_sets.f, [sys.argv[1]]).version)")
    outputs = {
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2", "3", "4")
    }
    assert len(outputs) == 1 and len(outputs.pop()) == 16
    module, folder = load(tmp_path, (tmp_path / "mod_nested_sets.py").read_text())
    edited, other = load(tmp_path, (tmp_path / "mod_nested_sets.py").read_text().replace('"delta"', '"delta2"'))
    assert fingerprint(module.f, [str(folder)]).version != fingerprint(edited.f, [str(other)]).version


# -- 3. factories: closures and defaults ---------------------------------------------------

FACTORY = '''
import functools

def transform(x):
    return x + 1

def scale(x, k):
    return x * k

def make_asset(name, fn):
    def run(x):
        return fn(x)
    run.__name__ = name
    return run

a = make_asset("a", transform)
b = make_asset("b", functools.partial(scale, k=2))
'''


def test_a_function_captured_in_a_closure_counts(tmp_path):
    check(tmp_path, FACTORY, FACTORY.replace("x + 1", "x + 2"), FACTORY.replace("x + 1", "x+1  # plus one"), attr="a")


def test_a_partial_captured_in_a_closure_counts(tmp_path):
    check(tmp_path, FACTORY, FACTORY.replace("k=2", "k=3"), attr="b")
    check(tmp_path, FACTORY, FACTORY.replace("return x * k", "return x * k + 1"), attr="b")


LOOP = '''
fns = []
for n in (1, 2):
    def f(x, n=n, *, m=n * 10):
        return x * n + m
    fns.append(f)
'''


def test_default_values_count(tmp_path):
    assert fp(tmp_path, LOOP, "fns.0").version != fp(tmp_path, LOOP, "fns.1").version
    check(tmp_path, LOOP, LOOP.replace("m=n * 10", "m=n * 11"), attr="fns.0")


# -- 4. assets and sources used directly -----------------------------------------------------

ASSETS = '''
from datamake import asset, source

raw = source("data/raw.txt", load="text")

@asset
def base():
    return 1

@asset
def top():
    return base() + 1

@asset
def downstream(base):
    return base + 1

@asset
def reads_source():
    return raw.url
'''


def test_an_asset_called_directly_is_followed_as_code(tmp_path):
    check(tmp_path, ASSETS, ASSETS.replace("return 1\n", "return 2\n"), attr="top")


def test_an_upstream_asset_received_as_a_parameter_is_not_code(tmp_path):
    before = fp(tmp_path, ASSETS, "downstream")
    assert fp(tmp_path, ASSETS.replace("return 1\n", "return 2\n"), "downstream").version == before.version


def test_a_source_referenced_in_a_body_is_versioned_by_its_description(tmp_path):
    check(tmp_path, ASSETS, ASSETS.replace("data/raw.txt", "data/other.txt"), attr="reads_source")


# -- 5. source that does not parse on its own -----------------------------------------------

LAMBDA = '''
from datamake import asset

def helper(x):
    return x * 2

ASSETS = {
    "double": asset(lambda x: helper(x), name="double"),
    "triple": asset(lambda y: y * 3, name="triple"),
}
double = ASSETS["double"]
'''


def test_a_lambda_asset_follows_its_helpers_and_ignores_formatting(tmp_path):
    check(tmp_path, LAMBDA, LAMBDA.replace("x * 2", "x * 3"),
          LAMBDA.replace("lambda x: helper(x),", "lambda x:  helper( x ) ,"), attr="double.fn")


FACTORY_STRING = '''
def helper(x):
    return x + 1

def factory(k):
    def f(x):
        query = """
select 1
"""
        label = f"""
{k}"""
        return helper(x) + k, query, label
    return f

f = factory(1)
'''


def test_a_function_with_a_column_zero_string_follows_its_helpers(tmp_path):
    check(tmp_path, FACTORY_STRING, FACTORY_STRING.replace("x + 1", "x + 2"),
          FACTORY_STRING.replace("return helper(x) + k", "# comment\n        return helper(x)+k"))
    check(tmp_path, FACTORY_STRING, FACTORY_STRING.replace("select 1", "select 2"))


# -- 6. decorators ---------------------------------------------------------------------------

DECORATED = '''
from dataclasses import dataclass
from datamake import asset

@dataclass
class Row:
    a: int

def helper():
    @dataclass
    class Inner:
        b: int
    return Inner(1) == Inner(1)

@asset
def f():
    return Row(1) == Row(1), helper()
'''


def test_a_decorator_on_a_project_class_counts(tmp_path):
    check(tmp_path, DECORATED, DECORATED.replace("@dataclass\nclass Row", "@dataclass(eq=False)\nclass Row"),
          attr="f.fn")


def test_a_decorator_on_a_nested_class_in_a_helper_counts(tmp_path):
    check(tmp_path, DECORATED, DECORATED.replace("    @dataclass\n", "    @dataclass(eq=False)\n"), attr="f.fn")


def test_datamake_decorator_arguments_are_not_part_of_the_code_version(tmp_path):
    before = fp(tmp_path, DECORATED, "f.fn")
    assert fp(tmp_path, DECORATED.replace("@asset\n", '@asset(group="g")\n'), "f.fn").version == before.version


def test_a_user_decorator_on_the_asset_function_counts(tmp_path):
    base = '''
def scaled(k):
    def deco(fn):
        fn.k = k
        return fn
    return deco

@scaled(2)
def f(x):
    return x * f.k
'''
    check(tmp_path, base, base.replace("@scaled(2)", "@scaled(3)"), base.replace("@scaled(2)", "@scaled( 2 )  # k"))
    check(tmp_path, base, base.replace("fn.k = k", "fn.k = k + 1"))


# -- 6b. names reached by a computed lookup ---------------------------------------------------

DYNAMIC = '''
RATE = 2
UNUSED = "x"

def helper(x):
    return x + 1

def f():
    return {body}
'''


@pytest.mark.parametrize("body", [
    'globals()["RATE"]',
    'globals()["RA" + "TE"]',
    'eval("RATE * 3")',
    'helper(eval("RATE"))',
])
def test_a_global_read_through_globals_or_eval_counts(tmp_path, body):
    """The name is not in the text: every global of the module counts, so an edit to any of them
    makes the asset stale (a cosmetic edit still does not)."""
    base = DYNAMIC.format(body=body)
    check(tmp_path, base, base.replace("RATE = 2", "RATE = 5"), base.replace("RATE = 2", "RATE = (2)  # same"))
    check(tmp_path, base, base.replace("return x + 1", "return x + 2"))
    check(tmp_path, base, base.replace('UNUSED = "x"', 'UNUSED = "y"'))


def test_a_function_that_names_its_globals_does_not_depend_on_the_others(tmp_path):
    base = DYNAMIC.format(body="RATE")
    before = fp(tmp_path, base)
    assert fp(tmp_path, base.replace('UNUSED = "x"', 'UNUSED = "y"')).version == before.version
    assert "UNUSED" not in before.parts


def test_a_local_named_globals_is_not_the_builtin(tmp_path):
    base = DYNAMIC.format(body="globals()").replace("RATE = 2", "RATE = 2\n\ndef globals():\n    return {}")
    before = fp(tmp_path, base)
    assert fp(tmp_path, base.replace('UNUSED = "x"', 'UNUSED = "y"')).version == before.version


SETTINGS = """
RATE = 2
LABEL = "x"

def unit():
    return 1
"""

GETATTR = """
import pipe_settings

def f(name="RATE"):
    return {body}
"""


def fp_beside_settings(tmp_path: Path, source: str, settings: str = SETTINGS):
    """The fingerprint of ``f`` of a module that imports a project module ``pipe_settings``."""
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    (folder / "pipe_settings.py").write_text(textwrap.dedent(settings))
    sys.modules.pop("pipe_settings", None)
    sys.path.insert(0, str(folder))
    try:
        module, _ = load(tmp_path, source, folder)
        return fingerprint(module.f, [str(folder)])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("pipe_settings", None)


@pytest.mark.parametrize("body", [
    'getattr(pipe_settings, "RATE")',
    'getattr(pipe_settings, "RATE", 0)',
    'pipe_settings.RATE if hasattr(pipe_settings, "RATE") else 0',
])
def test_an_attribute_read_through_getattr_with_a_literal_name_counts(tmp_path, body):
    source = GETATTR.format(body=body)
    before = fp_beside_settings(tmp_path, source)
    assert "pipe_settings.RATE" in before.parts
    assert fp_beside_settings(tmp_path, source, SETTINGS.replace("RATE = 2", "RATE = 5")).version != before.version
    assert fp_beside_settings(tmp_path, source, SETTINGS.replace('LABEL = "x"', 'LABEL = "y"')).version == before.version


@pytest.mark.parametrize("body", ['importlib.import_module("pipe_settings").RATE',
                                  '__import__("pipe_settings").RATE'])
def test_a_project_module_named_to_import_module_counts_by_its_source(tmp_path, body):
    source = "import importlib\n" + GETATTR.format(body=body).replace("import pipe_settings\n", "")
    before = fp_beside_settings(tmp_path, source)
    assert "import:pipe_settings" in before.parts
    assert fp_beside_settings(tmp_path, source, SETTINGS.replace("RATE = 2", "RATE = 5")).version != before.version


@pytest.mark.parametrize("body", ["importlib.import_module(name).RATE", "__import__(name).RATE"])
def test_a_module_imported_by_a_computed_name_is_named_in_a_warning(tmp_path, body):
    source = "import importlib\n" + GETATTR.format(body=body).replace("import pipe_settings\n", "")
    result = fp_beside_settings(tmp_path, source)
    assert result.warnings == ("imports a module by a computed name in its own body, which datamake cannot "
                               "follow; give it a code_version= or pin it",)


def test_a_function_named_like_an_importer_is_not_one(tmp_path):
    source = GETATTR.format(body="my_import_module(name)").replace(
        "import pipe_settings\n", "def my_import_module(name):\n    return name\n")
    assert fp_beside_settings(tmp_path, source).warnings == ()


def test_an_attribute_read_through_getattr_with_a_computed_name_follows_every_global(tmp_path):
    source = GETATTR.format(body="getattr(pipe_settings, name)")
    before = fp_beside_settings(tmp_path, source)
    for edit in (("RATE = 2", "RATE = 5"), ('LABEL = "x"', 'LABEL = "y"'), ("return 1", "return 2")):
        assert fp_beside_settings(tmp_path, source, SETTINGS.replace(*edit)).version != before.version, edit
    cosmetic = SETTINGS.replace("RATE = 2", "RATE = (2)  # same")
    assert fp_beside_settings(tmp_path, source, cosmetic).version == before.version


# -- 7. loud, never silent -------------------------------------------------------------------

def test_an_unversionable_global_is_named_in_a_warning(tmp_path):
    base = '''
import json, os, sqlite3

CONN = sqlite3.connect(":memory:")

def helper():
    return CONN.execute("select 1").fetchone()

def f():
    return helper(), json.dumps(os.sep)
'''
    result = fp(tmp_path, base)
    assert result.warnings == (
        "reads global CONN of type sqlite3.Connection, which datamake cannot version; "
        "give it a code_version= or pin it",
    )
    assert "CONN" in result.parts  # by type at least
    assert fp(tmp_path, base.replace('sqlite3.connect(":memory:")', "open(__file__)")).version != result.version


def test_an_unversionable_value_inside_a_container_is_named(tmp_path):
    base = '''
import threading
SETTINGS = {"lock": threading.Lock(), "n": 1}

def f():
    return SETTINGS["n"]
'''
    (warning,) = fp(tmp_path, base).warnings
    assert warning.startswith("reads global SETTINGS of type _thread.")


def test_versionable_code_and_installed_libraries_give_no_warning(tmp_path):
    base = VALUE_MODULE.format(value="{'a': scale, 'p': pathlib.Path('x'), 'c': Color.RED}")
    base += "\nimport json, logging\nlog = logging.getLogger('pipe')\n\ndef g():\n"
    base += "    log.info('g')\n    return json.dumps(f()), re.compile, Point(1, 2), dataclasses.asdict\n"
    assert fp(tmp_path, base, "g").warnings == ()


def test_compiled_functions_of_installed_packages_give_no_warning(tmp_path):
    source = (
        "import pyarrow as pa\nfrom pyarrow import csv\n\n"
        "def load(path):\n    return csv.read_csv(path).cast(pa.schema([('x', pa.float64())])), pa.table\n"
    )
    assert fp(tmp_path, source, "load").warnings == ()


# -- 8. callable assets ----------------------------------------------------------------------

CALLABLES = '''
import functools

def scale(x, k):
    return x * k

class Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return x * self.k

class Job:
    rate = 2

    def run(self, x):
        return x * self.rate

partial_asset = functools.partial(scale, k=2)
instance_asset = Scaler(2)
cached_asset = functools.lru_cache(maxsize=None)(scale)
'''


@pytest.mark.parametrize("attr,edit", [
    ("partial_asset", ("k=2)", "k=3)")),
    ("partial_asset", ("return x * k", "return x * k + 1")),
    ("instance_asset", ("Scaler(2)", "Scaler(3)")),
    ("instance_asset", ("return x * self.k", "return x * self.k + 1")),
    ("Job", ("rate = 2", "rate = 3")),
    ("Job", ("return x * self.rate", "return x + self.rate")),
    ("cached_asset", ("return x * k", "return x * k + 1")),
])
def test_callable_assets_have_a_real_version(tmp_path, attr, edit):
    check(tmp_path, CALLABLES, CALLABLES.replace(*edit), attr=attr)


def test_callable_assets_have_the_same_version_in_every_process(tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "callables_mod.py").write_text(CALLABLES)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import callables_mod as m; "
              "from datamake.define.codeversion import fingerprint; "
              "print(*[fingerprint(getattr(m, a), [sys.argv[1]]).version "
              "for a in ('partial_asset', 'instance_asset', 'Job', 'cached_asset')])")
    outputs = {
        subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


# -- 9. portable versions -------------------------------------------------------------------

PATHS = '''
import os
import pathlib

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
HERE = pathlib.Path(__file__).parent / "raw"

def f():
    return DATA, HERE
'''


def test_the_project_path_never_enters_a_version(tmp_path):
    check(tmp_path, PATHS, PATHS.replace('"data"', '"data2"'))


def test_two_checkouts_at_different_paths_have_the_same_versions(project, tmp_path):
    project.pipeline('''
        import os
        from datamake import asset

        DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

        @asset
        def where():
            return DATA.endswith("data")
    ''')
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(project.root, other)
    first = {a["key"]: a["code_version"] for a in project.json("ls")["assets"]}
    proc = subprocess.run([sys.executable, "-m", "datamake", "ls", "--json"], cwd=other, capture_output=True,
                          text=True, check=True)
    second = {a["key"]: a["code_version"] for a in json.loads(proc.stdout)["assets"]}
    assert first == second


def test_classes_made_by_a_call_are_versioned_by_their_attributes(tmp_path):
    base = '''
import collections, enum

Pair = collections.namedtuple("Pair", "a b", defaults=(0,))
Mode = enum.Enum("Mode", "FAST SLOW")
VALUE = [Pair(1), Mode.FAST]

def f():
    return VALUE
'''
    check(tmp_path, base, base.replace('"a b"', '"a c"'))
    check(tmp_path, base, base.replace("defaults=(0,)", "defaults=(1,)"))
    check(tmp_path, base, base.replace("Mode.FAST]", "Mode.SLOW]"))
    assert fp(tmp_path, base).warnings == ()


def test_numpy_arrays_and_scalars_are_versioned_by_content(tmp_path):
    pytest.importorskip("numpy")
    base = '''
import numpy as np

WEIGHTS = {"w": np.arange(6, dtype="float64").reshape(2, 3), "s": np.int64(3)}

def f(x):
    return x @ WEIGHTS["w"] * WEIGHTS["s"], np.log(x)
'''
    check(tmp_path, base, base.replace("np.arange(6", "np.arange(1, 7"))
    check(tmp_path, base, base.replace("reshape(2, 3)", "reshape(3, 2)"))
    check(tmp_path, base, base.replace("np.int64(3)", "np.int64(4)"))
    assert fp(tmp_path, base).warnings == ()


def test_callable_assets_are_fresh_on_the_next_run_and_stale_after_an_edit(project):
    source = '''
        import functools
        from datamake import asset

        def scale(k):
            return 10 * k

        class Offset:
            def __init__(self, n):
                self.n = n

            def __call__(self):
                return self.n + 1

        scaled = asset(functools.partial(scale, k=2), name="scaled")
        offset = asset(Offset(3), name="offset")
    '''
    project.pipeline(source)
    assert project.outcomes() == {"scaled": "built", "offset": "built"}
    assert project.states() == {"scaled": "fresh", "offset": "fresh"}
    project.pipeline(source.replace("Offset(3)", "Offset(4)").replace("10 * k", "11 * k"))
    assert project.outcomes() == {"scaled": "built", "offset": "built"}
    assert project.run("show", "offset", check=True).stdout.strip() == "5"


LOCAL_IMPORTS = """
from datamake import asset

@asset
def plain():
    import helpers
    return helpers.VALUE

@asset
def from_module():
    from pkg.util import scale
    return scale(2)

@asset
def submodule():
    from pkg import util
    return util.scale(3)

@asset
def installed():
    import json
    return json.dumps([1])
"""


def test_a_project_module_imported_inside_an_asset_is_part_of_its_code(project):
    """``import helpers`` inside the function runs helpers' code: editing it makes the asset stale
    (and only the assets that import it); an installed module imported the same way is not followed."""
    project.pipeline(LOCAL_IMPORTS)
    project.write("helpers.py", "VALUE = 1\n")
    project.write("pkg/__init__.py", "")
    project.write("pkg/util.py", "def scale(x):\n    return 2 * x\n")
    project.run("make", check=True)

    def stale():
        return sorted(a["key"] for a in project.json("status")["assets"] if a["state"] == "stale")

    assert stale() == []
    project.write("helpers.py", "VALUE = 2\n")
    assert stale() == ["plain"]
    project.run("make", check=True)
    project.write("pkg/util.py", "def scale(x):\n    return 3 * x\n")
    assert stale() == ["from_module", "submodule"]
    reasons = project.json("status")["assets"]
    why = {a["key"]: a["reasons"][0]["message"] for a in reasons if a["state"] == "stale"}
    assert "import:pkg.util" in why["from_module"]


def test_decimals_and_fractions_are_versioned_by_their_value_without_datamake_importing_their_modules():
    """datamake does not import decimal or fractions (start-up time); a global holding one is still
    versioned by its exact value, also when only the C module _decimal was imported."""
    code = ("import sys\nfrom datamake.define.valuehash import Encoder\n"
            "assert 'decimal' not in sys.modules and 'fractions' not in sys.modules\n"
            "import _decimal, fractions\n"
            "print(Encoder(lambda v, p: None).encode([_decimal.Decimal('1.50'), fractions.Fraction(3, 4)], 'x'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "list(decimal.Decimal:1.50,fractions.Fraction:3/4)"
