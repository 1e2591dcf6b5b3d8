"""Automatic code versions: what changes them and what does not."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from datamake.define.codeversion import auto_code_version, changed_parts, fingerprint, normalized_source


def load(folder: Path, source: str, name: str = ""):
    """Import ``source`` as a fresh module from a real file (so inspect can read it)."""
    name = name or f"cv_{uuid.uuid4().hex}"
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def version(tmp_path: Path, source: str, name: str = "f") -> str:
    return auto_code_version(getattr(load(tmp_path, source), name), roots=[str(tmp_path)])


BASE = '''
def f(x):
    y = x + 1
    return y * 2
'''

SAME_MEANING = {
    "comment": '''
def f(x):
    # add one, then double
    y = x + 1  # inline
    return y * 2
''',
    "docstring": '''
def f(x):
    """Add one and double."""
    y = x + 1
    return y * 2
''',
    "formatting": '''
def f( x ):
    y = x+1

    return (
        y*2
    )
''',
}

DIFFERENT_MEANING = {
    "constant": BASE.replace("x + 1", "x + 2"),
    "operator": BASE.replace("y * 2", "y ** 2"),
    "parameter": BASE.replace("def f(x)", "def f(x, z=0)"),
    "extra statement": BASE.replace("return y * 2", "print(y)\n    return y * 2"),
    "string literal": BASE.replace("return y * 2", "return str(y * 2) + 'a'"),
    # A decorator can change what the function does, so it counts (datamake's own do not).
    "decorator": "def deco(fn):\n    return fn\n\n@deco" + BASE,
}


@pytest.mark.parametrize("variant", SAME_MEANING)
def test_cosmetic_edits_keep_the_version(tmp_path, variant):
    assert version(tmp_path, SAME_MEANING[variant]) == version(tmp_path, BASE)


@pytest.mark.parametrize("variant", DIFFERENT_MEANING)
def test_real_edits_change_the_version(tmp_path, variant):
    assert version(tmp_path, DIFFERENT_MEANING[variant]) != version(tmp_path, BASE)


def test_version_is_short_and_stable(tmp_path):
    v = version(tmp_path, BASE)
    assert v == version(tmp_path, BASE)
    assert len(v) == 16 and int(v, 16) >= 0


def test_normalized_source_drops_docstrings_and_decorators():
    a = normalized_source('@x\ndef f():\n    """doc"""\n    return 1\n')
    b = normalized_source("def f():\n    return 1\n")
    assert a == b
    assert "doc" not in a


def test_a_helper_in_the_project_is_part_of_the_version(tmp_path):
    source = '''
def helper(v):
    return v + 1

def f(x):
    return helper(x)
'''
    def fp(text: str, where: str):
        folder = tmp_path / where
        folder.mkdir()
        return fingerprint(load(folder, text, name="pipeline_cv").f, [str(folder)])

    before = fp(source, "v1")
    after = fp(source.replace("v + 1", "v + 2"), "v2")
    assert before.version != after.version
    assert changed_parts(before.parts, after.parts) == ["pipeline_cv.helper"]
    assert fp(source.replace("return v + 1", "return v+1  # same"), "v3").version == before.version


def test_a_module_constant_is_part_of_the_version(tmp_path):
    source = '''
RATE = 0.2

def f(x):
    return x * RATE
'''
    assert version(tmp_path, source) != version(tmp_path, source.replace("0.2", "0.3"))


def test_installed_libraries_are_not_followed(tmp_path):
    fp = fingerprint(load(tmp_path, '''
import json

def f(x):
    return json.dumps(x)
''').f, [str(tmp_path)])
    assert set(fp.parts) == {"<self>"}


def test_closure_constants_of_an_asset_factory_count(tmp_path):
    module = load(tmp_path, '''
def factory(n):
    def f(x):
        return x * n
    return f

double, triple, double_again = factory(2), factory(3), factory(2)
''')
    assert auto_code_version(module.double) != auto_code_version(module.triple)
    assert auto_code_version(module.double) == auto_code_version(module.double_again)


def test_functions_without_source_get_a_deterministic_version():
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)  # noqa: S102
    other: dict = {}
    exec("def f(x):\n    return x + 2\n", other)  # noqa: S102
    assert auto_code_version(namespace["f"]) == auto_code_version(namespace["f"])
    assert auto_code_version(namespace["f"]) != auto_code_version(other["f"])  # constants count
    calls: dict = {}
    exec("def f(x):\n    return g(x)\n", calls)  # noqa: S102
    other_calls: dict = {}
    exec("def f(x):\n    return h(x)\n", other_calls)  # noqa: S102
    assert auto_code_version(calls["f"]) != auto_code_version(other_calls["f"])  # names count
    nested: dict = {}
    exec("def f(x):\n    return (lambda y: y + 1)(x)\n", nested)  # noqa: S102
    nested_again: dict = {}
    exec("def f(x):\n    return (lambda y: y + 1)(x)\n", nested_again)  # noqa: S102
    assert auto_code_version(nested["f"]) == auto_code_version(nested_again["f"])  # no addresses


def test_version_does_not_depend_on_hash_randomization(tmp_path):
    (tmp_path / "mod_sets.py").write_text(textwrap.dedent('''
        TAGS = {"alpha", "beta", "gamma", "delta", "epsilon"}

        def f(x):
            return [t for t in sorted(TAGS) if t in x]
    '''))
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import mod_sets; "
              "from datamake.define.codeversion import auto_code_version; "
              "print(auto_code_version(mod_sets.f, roots=[sys.argv[1]]))")
    outputs = {
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and len(outputs.pop()) == 16


def test_editing_a_helper_makes_its_users_stale_and_status_names_it(project):
    project.pipeline('''
        from datamake import asset

        def tax(v):
            return v * 1.2

        @asset
        def price():
            return tax(10)

        @asset
        def other():
            return 5
    ''')
    project.run("make", check=True)
    path = project.root / "pipeline.py"
    path.write_text(path.read_text().replace("1.2", "1.25"))
    doc = project.json("status")
    by_key = {a["key"]: a for a in doc["assets"]}
    assert by_key["other"]["state"] == "fresh"
    (reason,) = by_key["price"]["reasons"]
    assert reason["code"] == "code_changed" and "tax" in reason["message"]
