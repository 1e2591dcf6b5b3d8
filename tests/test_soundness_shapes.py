"""Code shapes a data engineer writes, each driven through real ``datamake`` processes: after an edit
that changes what an asset computes, ``status`` says it is stale and ``make`` (the up-to-date
shortcut on) rebuilds it; after a cosmetic edit of the same places, nothing is stale.

Each test puts several shapes in one project (one asset each) and edits all of them at once: an
asset is stale only on account of its own edit, so every asset is checked while the project is made
only once.
"""
from __future__ import annotations

import decimal
import json
from typing import Dict, List, Tuple

import pytest

Edit = Tuple[str, str, str]  # file, old text, new text


def _apply(project, edits: List[Edit]) -> None:
    for relpath, old, new in edits:
        path = project.root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new))


def _stale(project) -> List[str]:
    proc = project.run("status", "--json", env={"DATAMAKE_NO_SHORTCUT": "1"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc.get("warnings", []) == []  # versioned exactly, not named in a warning
    return sorted(a["key"] for a in doc["assets"] if a["state"] == "stale")


def assert_sound(project, files: Dict[str, str], real: List[Edit], cosmetic: List[Edit]) -> None:
    """Make ``files``; a cosmetic edit leaves every asset fresh (and ``make`` builds nothing); the real
    edits make every asset stale, and ``make`` rebuilds each of them."""
    for relpath, text in files.items():
        project.write(relpath, text)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    keys = sorted(project.outcomes())
    assert set(project.outcomes().values()) == {"skipped"}  # the shortcut's certificate is written
    _apply(project, cosmetic)
    assert _stale(project) == []
    assert set(project.outcomes().values()) == {"skipped"}
    _apply(project, real)
    assert _stale(project) == keys
    assert project.outcomes() == {key: "built" for key in keys}


def test_project_modules_imported_inside_a_function_are_followed_to_what_they_import(project):
    """``from helpers import f`` inside the asset runs helpers, and whatever helpers imports (also
    through ``importlib.import_module("helpers")``); a module of a namespace package is found too."""
    project.write("pipeline.py", """
        import importlib

        from datamake import asset

        @asset
        def local():
            from helpers import f
            return f(1)

        @asset
        def named():
            return importlib.import_module("helpers").f(2)

        @asset
        def namespace_package():
            from nspkg.util import g
            return g(1)
    """)
    files = {
        "helpers.py": "from deep import g\n\ndef f(x):\n    return g(x)\n",
        "deep.py": "def g(x):\n    return x + 1\n",
        "nspkg/util.py": "def g(x):\n    return x + 1\n",  # no __init__.py: a namespace package
    }
    assert_sound(project, files,
                 real=[("deep.py", "x + 1", "x + 2"), ("nspkg/util.py", "x + 1", "x + 3")],
                 cosmetic=[])


CLASS_PATCHES = """
import functools

from datamake import asset
import registry

class Cleaner:
    def run(self, x):
        return x.strip()

def shout(self, x):
    return x.strip().upper()

Cleaner.run = shout          # replaced after the class statement
CLEANER = Cleaner()

class Limits:
    RATE = 3

Limits.RATE = 5              # rebound after the class statement
setattr(Limits, "CAP", 10)   # added after it

class Steps:
    pass

for name, fn in [("double", lambda x: x * 2)]:
    setattr(Steps, name, staticmethod(fn))

@asset
def replaced_method():
    return CLEANER.run(" a ")

@asset
def rebound_constant():
    return Limits.RATE

@asset
def added_constant():
    return Limits.CAP

@asset
def added_method():
    return Steps.double(2)

@asset
def registered_elsewhere():
    return sorted(registry.Registry.names)

def scale(x, k):
    return x * k

class Ops:
    step = functools.partial(scale, k=2)

Ops.step = functools.partial(scale, k=3)   # a computed value set again

@asset
def rebound_partial():
    return Ops.step(2)
"""

REGISTRY = """
class Registry:
    names = []

def register(name):
    Registry.names.append(name)
"""


def test_what_is_done_to_a_class_after_its_statement_counts(project):
    """A method replaced, a class constant rebound or added, a method set in a loop, a class list
    filled by another module at import: none of it is in the class's text, all of it is versioned."""
    files = {"pipeline.py": CLASS_PATCHES, "registry.py": REGISTRY,
             "plugins.py": "import registry\nregistry.register('a')\n"}
    files["pipeline.py"] = files["pipeline.py"].replace("import registry\n", "import registry\nimport plugins\n")
    assert_sound(project, files,
                 real=[("pipeline.py", ".upper()", ".lower()"), ("pipeline.py", "RATE = 5", "RATE = 6"),
                       ("pipeline.py", '"CAP", 10', '"CAP", 11'), ("pipeline.py", "x * 2", "x * 3"),
                       ("plugins.py", "register('a')", "register('b')"), ("pipeline.py", "k=3)", "k=4)")],
                 cosmetic=[("pipeline.py", "return x.strip().upper()", "return x.strip().upper()  # loud"),
                           ("pipeline.py", "# rebound after", "# set again after")])


LIBRARY_VALUES = """
import collections
import datetime
import operator
import string
import typing

from datamake import asset

Status = typing.Literal["open", "closed"]
BY_SECOND = operator.itemgetter(1)
GREETING = string.Template("hello $name")
OFFSET = datetime.timezone(datetime.timedelta(hours=1))

class Window(collections.deque):
    pass

LAST = Window([1, 2], maxlen=3)

@asset
def literal_alias():
    return [s for s in ["open", "closed", "new"] if s in typing.get_args(Status)]

@asset
def sort_key():
    return sorted([(1, "b"), (2, "a")], key=BY_SECOND)

@asset
def template():
    return GREETING.substitute(name="x")

@asset
def time_zone():
    return datetime.datetime(2024, 1, 1, tzinfo=OFFSET).isoformat()

@asset
def deque_subclass():
    return list(LAST)
"""


def test_typing_forms_and_standard_library_values_are_versioned_by_their_content(project):
    """``Literal[...]`` read with ``get_args``, ``operator.itemgetter``, ``string.Template``, a fixed
    time zone and a project subclass of ``deque`` (whose items are no attributes) count by what they
    hold: an edit makes their readers stale, with no warning."""
    assert_sound(project, {"pipeline.py": LIBRARY_VALUES},
                 real=[("pipeline.py", '"closed"]', '"new"]'), ("pipeline.py", "itemgetter(1)", "itemgetter(0)"),
                       ("pipeline.py", "hello $name", "bye $name"), ("pipeline.py", "hours=1", "hours=2"),
                       ("pipeline.py", "[1, 2], maxlen=3", "[1, 3], maxlen=3")],
                 cosmetic=[("pipeline.py", 'Template("hello $name")', 'Template(  "hello $name"  )  # greeting')])


def _encoded(value) -> str:
    from datamake.define.valuehash import Encoder

    return Encoder(lambda obj, path: None).encode(value, "X")


def test_numpy_dtypes_and_arrow_types_and_fields_are_versioned_by_content():
    np = pytest.importorskip("numpy")
    pa = pytest.importorskip("pyarrow")
    kinds = [np.dtype("int32"), np.dtype("int64"), np.dtype([("a", "<i4")]), np.dtype([("b", "<i4")]),
             pa.int32(), pa.int64(), pa.list_(pa.string()), pa.field("a", pa.int32()), pa.field("a", pa.int32(), nullable=False)]
    texts = [_encoded(kind) for kind in kinds]
    assert len(set(texts)) == len(kinds)
    assert texts == [_encoded(kind) for kind in kinds]  # the same every time


DOCSTRINGS = '''
import inspect

from datamake import asset

def query():
    """select 1"""

class Report:
    """Totals"""

    def title(self):
        """Weekly"""
        return self.title.__doc__

REPORT = Report()

def scaled(x):
    """Scale by two."""
    return x * 2

@asset
def sql():
    return query.__doc__

@asset
def heading():
    return inspect.getdoc(Report)

@asset
def method_doc():
    return REPORT.title()

@asset
def own_doc():
    """own text"""
    return own_doc.__doc__

@asset
def plain():
    return scaled(2)
'''


def test_a_docstring_that_code_reads_counts(project):
    """Docstrings are left out of code versions, unless the code reads one (``f.__doc__``,
    ``inspect.getdoc``): then the docstrings of what it follows count. Elsewhere a docstring edit stays
    cosmetic."""
    files = {"pipeline.py": DOCSTRINGS}
    assert_sound(project, files,
                 real=[("pipeline.py", "select 1", "select 2"), ("pipeline.py", '"""Totals"""', '"""Sums"""'),
                       ("pipeline.py", "Weekly", "Daily"), ("pipeline.py", "own text", "other text"),
                       ("pipeline.py", "x * 2", "x * 3")],
                 cosmetic=[("pipeline.py", "Scale by two.", "Double it."),
                           ("pipeline.py", "return query.__doc__", "return query.__doc__  # the query")])


def test_a_name_a_project_module_puts_into_builtins_is_followed(project):
    """``builtins.RATE = 3`` (or a helper function put there) is read like a global: an edit to it
    makes its readers stale."""
    files = {
        "setup_names.py": "import builtins\n\ndef _scale(x):\n    return x * 2\n\n"
                          "builtins.PROJECT_RATE = 3\nbuiltins.project_scale = _scale\n",
        "pipeline.py": "import setup_names\nfrom datamake import asset\n\n"
                       "@asset\ndef rate():\n    return PROJECT_RATE + 1\n\n"
                       "@asset\ndef scaled():\n    return project_scale(2)\n",
    }
    assert_sound(project, files,
                 real=[("setup_names.py", "PROJECT_RATE = 3", "PROJECT_RATE = 4"), ("setup_names.py", "x * 2", "x * 3")],
                 cosmetic=[("setup_names.py", "return x * 2", "return x * 2  # twice")])


CONFIG_CALLABLE = """
import dataclasses
from typing import Callable

from datamake import asset

def normalize(x):
    return x + 1

class Sentinel:
    pass

@dataclasses.dataclass
class Settings:
    fn: Callable = normalize
    marker: object = Sentinel()

@asset(config=Settings)
def configured(config):
    return config.fn(1)
"""


def test_a_config_holding_a_function_is_fresh_after_make_and_stale_after_the_function_changes(project):
    """A config field whose default is a function (or an object with no content of its own) hashes
    the same in every process, so the asset is fresh after ``make``; the function's code counts."""
    assert_sound(project, {"pipeline.py": CONFIG_CALLABLE},
                 real=[("pipeline.py", "x + 1", "x + 2")],
                 cosmetic=[("pipeline.py", "return x + 1", "return x + 1  # one more")])


SUBCLASSED_VALUES = """
import datetime
import decimal
import fractions
import pathlib

from datamake import asset

class Money(decimal.Decimal):
    def fmt(self):
        return "$" + str(self)

class Day(datetime.date):
    def label(self):
        return self.isoformat()

class Ratio(fractions.Fraction):
    def pct(self):
        return float(self) * 100

class TablePath(type(pathlib.PurePosixPath())):
    def table(self):
        return self.stem

PRICE = Money("1.5")
START = Day(2024, 1, 1)
SHARE = Ratio(1, 4)
ORDERS = TablePath("data/orders.csv")

@asset
def price():
    return PRICE.fmt()

@asset
def start():
    return START.label()

@asset
def share():
    return SHARE.pct()

@asset
def table():
    return ORDERS.table()
"""


def test_a_value_of_a_project_subclass_of_decimal_date_fraction_or_path_counts_with_its_class(project):
    """``PRICE = Money("1.5")`` where ``Money(Decimal)`` has methods of its own: an edit to a method
    makes its readers stale (the value alone was hashed before)."""
    assert_sound(project, {"pipeline.py": SUBCLASSED_VALUES},
                 real=[("pipeline.py", '"$" + str(self)', '"EUR " + str(self)'),
                       ("pipeline.py", "self.isoformat()", 'self.strftime("%d/%m")'),
                       ("pipeline.py", "* 100", "* 1000"), ("pipeline.py", "self.stem", "self.suffix")],
                 cosmetic=[("pipeline.py", "return self.stem", "return self.stem  # the name")])


DECIMAL_CONTEXT = """
import decimal

from datamake import asset

decimal.getcontext().prec = 6

@asset
def seventh():
    return str(decimal.Decimal(1) / decimal.Decimal(7))
"""


def test_the_decimal_context_set_at_import_counts_for_assets_that_use_decimal(project):
    """``decimal.getcontext().prec = 6`` binds no name, yet changes what ``Decimal`` computes."""
    assert_sound(project, {"pipeline.py": DECIMAL_CONTEXT},
                 real=[("pipeline.py", "(6)", "(8)")],
                 cosmetic=[("pipeline.py", "prec = 6", "prec = (6)  # digits")])


def _third():
    return decimal.Decimal(1) / decimal.Decimal(3)


def test_python_s_default_decimal_context_adds_nothing_to_a_version():
    from datamake.define.codeversion import fingerprint

    assert "<decimal context>" not in fingerprint(_third).parts
    with decimal.localcontext() as context:
        context.prec = 5
        assert "<decimal context>" in fingerprint(_third).parts


LATE_ATTACHMENTS = """
import functools

from datamake import asset

def scale(x):
    return x * scale.factor

scale.factor = 3              # an attribute of the function, read by it

class Parser:
    @functools.singledispatchmethod
    def parse(self, x):
        return "any"

    @property
    def label(self):
        return "one"

def _parse_int(self, x):
    return "int"

def _label(self):
    return "two"

Parser.parse.register(int, _parse_int)   # registered after the class statement
Parser.label = property(_label)          # a property replaced after it

@asset
def scaled():
    return scale(2)

@asset
def parsed():
    return Parser().parse(3)

@asset
def labelled():
    return Parser().label
"""


def test_function_attributes_and_what_is_registered_or_replaced_after_a_class_count(project):
    assert_sound(project, {"pipeline.py": LATE_ATTACHMENTS},
                 real=[("pipeline.py", "scale.factor = 3", "scale.factor = 4"), ('pipeline.py', 'return "int"', 'return "INT"'),
                       ("pipeline.py", 'return "two"', 'return "three"')],
                 cosmetic=[("pipeline.py", "# registered after", "# added after")])


def test_an_object_set_on_a_class_outside_its_statement_that_has_no_content_is_named_in_a_warning(project):
    project.pipeline("""
        import sqlite3
        from datamake import asset

        class Db:
            pass

        Db.CONN = sqlite3.connect(":memory:")

        @asset
        def one():
            return Db.CONN.execute("select 1").fetchone()[0]
    """)
    proc = project.run("status", "--json")
    assert json.loads(proc.stdout)["warnings"] == [
        "asset one reads class attribute pipeline.Db.CONN of type sqlite3.Connection, which datamake cannot "
        "version; give it a code_version= or pin it"]


def test_a_module_imported_inside_a_function_is_read_afresh_for_what_it_imports(tmp_path, monkeypatch):
    """In a long-lived process, a helper module that a function imports when it runs (not imported
    yet) is read as it is now: an import added to it is followed at once."""
    import importlib.util
    import sys

    from datamake.define.codeversion import fingerprint

    (tmp_path / "pipe_fresh.py").write_text("def f():\n    from fresh_helpers import g\n    return g()\n")
    (tmp_path / "fresh_helpers.py").write_text("from fresh_a import g\n")
    (tmp_path / "fresh_a.py").write_text("def g():\n    return 1\n")
    (tmp_path / "fresh_b.py").write_text("def g():\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("pipe_fresh", tmp_path / "pipe_fresh.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "import:fresh_a" in fingerprint(module.f, [str(tmp_path)]).parts
    (tmp_path / "fresh_helpers.py").write_text("from fresh_b import g\n")
    parts = fingerprint(module.f, [str(tmp_path)]).parts
    assert "import:fresh_b" in parts and "import:fresh_a" not in parts
    assert "fresh_helpers" not in sys.modules


def test_a_project_module_read_whole_counts_by_all_its_globals(project):
    """``vars(settings)["RATE"]``, ``settings.__dict__["RATE"]`` or a module handed to a library call
    (``operator.attrgetter("RATE")(settings)``) may read any of its globals: all of them count."""
    files = {
        "settings.py": "RATE = 1\nLIMIT = 5\n",
        "pipeline.py": """
            import operator

            import settings
            from datamake import asset

            @asset
            def through_vars():
                return vars(settings)["RATE"]

            @asset
            def through_dict():
                return settings.__dict__["LIMIT"]

            @asset
            def handed_over():
                return operator.attrgetter("RATE")(settings)
        """,
    }
    assert_sound(project, files, real=[("settings.py", "RATE = 1", "RATE = 2")],
                 cosmetic=[("settings.py", "RATE = 1", "RATE = 1  # per day")])


def test_the_shortcut_sees_an_edit_to_a_module_imported_inside_a_function(project):
    """A no-op ``make`` need not import a module that an asset imports only when it runs; the
    certificate it writes still holds that module's content (and that of what it imports), so an
    edit sends the next ``make`` down the full path, which rebuilds."""
    from tests.test_shortcut import certify, env_of, shortcut_answers

    project.write("pipeline.py", """
        from datamake import asset

        @asset
        def local():
            from helpers import f
            return f(1)
    """)
    project.write("helpers.py", "from deep import g\n\ndef f(x):\n    return g(x)\n")
    project.write("deep.py", "def g(x):\n    return x + 1\n")
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    assert project.run("make", env=env_of(project)).returncode == 0
    certify([project])  # a no-op that did not import helpers or deep wrote the certificate
    _apply(project, [("deep.py", "x + 1", "x + 2")])
    answered, proc = shortcut_answers(project)
    assert not answered and "1 built" in proc.stdout + proc.stderr
