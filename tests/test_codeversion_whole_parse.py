"""A module whose functions are analysed by the dozen is parsed whole, once, and its functions read
from that tree (the purity check of the certificate then takes the same tree): the versions are the
ones that parsing each function's lines alone gives, byte for byte."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from datamake.define import codeversion, snapshot
from datamake.define.codeversion import fingerprint
from datamake.shortcut.purity import impurities

# Functions whose lines parsed alone could differ from the module's parse, or be cut short.
TRICKY = '''
@asset
def plain_{i}(up):
    return up + {i}


@asset
def blank_line_in_a_string_{i}(up):
    text = """a
    
b"""
    return up, text


@asset(
    group="g{i}",
)
def decorator_over_lines_{i}(up):
    return up * 2


@asset
def trailing_string_{i}(up):
    x = up
    """not code"""


async def coroutine_{i}(up):
    return f"{{up!r:>10}}" "tail" f""


if True:
    @asset
    def indented_{i}(up):
        return up


@asset
def with_lambda_{i}(up): return (lambda v: v + 1)(up); 


@asset
def nested_{i}(up):
    def inner(v):
        return v - 1
    return inner(up)


class Holder_{i}:
    def method(self, up):
        return up
'''

SEPARATORS = {"plain": "", "form feed": "\f", "line separator in a string": "X = '\u2028'\n"}


def _load(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = snapshot.spec_for_file(name, str(path))
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _functions(module):
    found = []
    for value in vars(module).values():
        fn = getattr(value, "fn", value)
        if callable(fn) and getattr(fn, "__code__", None) is not None and fn.__module__ == module.__name__:
            found.append(fn)
        if isinstance(value, type) and value.__module__ == module.__name__:
            found.append(value.method)
    return sorted(found, key=lambda f: f.__qualname__)


def _versions(module, root, whole_after: int, monkeypatch) -> dict:
    monkeypatch.setattr(codeversion, "_PARSE_WHOLE_AFTER", whole_after)
    for memo in (codeversion._normalized_cache, codeversion._located, codeversion._modules, codeversion._analysed_alone):
        memo.clear()
    return {f.__qualname__: fingerprint(f, [root]).version for f in _functions(module)}


@pytest.mark.parametrize("separator", sorted(SEPARATORS))
def test_the_whole_module_parse_gives_the_versions_of_the_parses_one_by_one(tmp_path, monkeypatch, separator):
    text = "from datamake import asset\n" + SEPARATORS[separator] + "\n".join(TRICKY.format(i=i) for i in range(40))
    name = f"whole_parse_{abs(hash(separator))}"
    module = _load(tmp_path, name, text)
    try:
        alone = _versions(module, str(tmp_path), 10**9, monkeypatch)
        whole = _versions(module, str(tmp_path), 0, monkeypatch)
        assert whole == alone and len(whole) == 40 * 9
        assert list(codeversion._modules) == [module.__file__]
        tree = codeversion.parsed_module(module.__file__, "".join(snapshot._lines[module.__file__]))
        assert tree is not None and impurities(text, "m.py", tree) == impurities(text, "m.py")
    finally:
        sys.modules.pop(name, None)


def test_a_module_is_parsed_whole_once_for_its_import_statements_and_its_functions(tmp_path, monkeypatch):
    """Its import statements need the whole module's parse, even for a module of few functions: that one
    parse serves its functions' analyses too (it used to be parsed whole a second time for them)."""
    import ast

    text = "from datamake import asset\n" + TRICKY.format(i=0)
    module = _load(tmp_path, "few_functions", text)
    whole_parses = []
    parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: (whole_parses.append(source == text), parse(source, *a, **k))[1])
    try:
        _versions(module, str(tmp_path), codeversion._PARSE_WHOLE_AFTER, monkeypatch)
        assert whole_parses.count(True) == 1
        assert "".join(codeversion._modules[module.__file__].lines) == text
    finally:
        sys.modules.pop("few_functions", None)
