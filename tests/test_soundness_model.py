"""Model test: after any edit, `make` gives what a full rebuild from scratch gives ("never stale, never a lie").

Hypothesis draws a small DAG of assets, each using one shape of indirection
(decorated helper, dict constant, closure factory, default argument, nested
dataclass, cached helper), builds it, applies a real or a cosmetic edit to one
shape and runs `make` again in a fresh process. Every stored value must equal
the value a build in an empty store gives (the oracle), `status` must then say
fresh, and a cosmetic edit must rebuild nothing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

DRIVER = """
import json
from datamake import api

result = api.make(api.load("."), history=False)
project = api.load(".")
print(json.dumps({
    "ok": result.ok,
    "built": sorted(a.key for a in result.assets if a.outcome == "built"),
    "stale": api.status(project).stale,
    "values": {key: api.show(project, key) for key in sorted(project.defs.assets)},
}))
"""


# Each shape: (module-level code, expression using ``v``). {c} is the value a real edit changes;
# {note}, {doc}, {doc8} and {sp} are empty, or a comment, a docstring and a space when reformatted.
TEMPLATES = {
    "decorated": ("def deco_{i}(fn):\n    @functools.wraps(fn)\n    def wrapper(x):\n        return fn(x)\n"
                  "    return wrapper\n\n@deco_{i}\ndef helper_{i}(x):\n    {doc}return x + {c}{note}\n",
                  "helper_{i}(v)"),
    "dict": ('TABLE_{i} = {{{note}\n    "k": [{c}, 1],\n    "s": {set},\n}}\n',
             'v + TABLE_{i}["k"][0] + len(TABLE_{i}["s"])'),
    "closure": ("def make_{i}(k):\n    {doc}def add(x):\n        return x + k{note}\n    return add\n\n"
                "ADD_{i} = make_{i}({sp}{c})\n", "ADD_{i}(v)"),
    "default": ("ADDERS_{i} = []\nfor _n in ({c}, 0):{note}\n    def _f(x, n=_n):\n        {doc8}return x + n\n"
                "    ADDERS_{i}.append(_f)\n", "ADDERS_{i}[0](v)"),
    "dataclass": ("@dataclasses.dataclass\nclass Inner_{i}:\n    {doc}k: int{note}\n\n"
                  "@dataclasses.dataclass\nclass Cfg_{i}:\n    inner: Inner_{i}\n    scale: int = 1\n\n"
                  "CFG_{i} = Cfg_{i}(Inner_{i}({c}))\n", "v + CFG_{i}.inner.k * CFG_{i}.scale"),
    "cached": ("@functools.lru_cache(maxsize=None)\ndef cached_{i}(x):\n    {doc}return x * {c}{note}\n",
               "cached_{i}(v)"),
    "plain": ("", "v + {c}{note}"),
}
SHAPES = tuple(TEMPLATES)


def component(shape: str, i: int, c: int, cosmetic: bool) -> Tuple[str, str]:
    """(module-level code, expression using ``v``) of one shape; ``cosmetic`` reformats it."""
    doc = '"""Documented."""\n' if cosmetic else ""
    fill = {"i": i, "c": c, "note": "  # note" if cosmetic else "", "doc": doc.replace("\n", "\n    "),
            "doc8": doc.replace("\n", "\n        "), "sp": " " if cosmetic else "",
            "set": '{"b", "a"}' if cosmetic else '{"a", "b"}'}
    code, use = TEMPLATES[shape]
    return code.format(**fill), use.format(**fill)


def render(assets: List[Tuple[List[int], str, int]], cosmetic: int = -1) -> str:
    parts = ["import dataclasses\nimport functools\n\nfrom datamake import asset\n"]
    for j, (deps, shape, c) in enumerate(assets):
        code, use = component(shape, j, c, cosmetic == j)
        params = ", ".join(f"a{d}" for d in deps)
        total = " + ".join([f"a{d}" for d in deps] or ["0"])
        parts.append(f"{code}\n@asset\ndef a{j}({params}):\n    v = {total} + {j}\n    return {use}\n")
    return "\n\n".join(parts)


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 4))
    assets = []
    for j in range(n):
        deps = draw(st.lists(st.integers(0, j - 1), unique=True, max_size=2)) if j else []
        assets.append((sorted(deps), draw(st.sampled_from(SHAPES)), draw(st.integers(1, 5))))
    return assets, draw(st.integers(0, n - 1)), draw(st.sampled_from(["real", "cosmetic"]))


def run(folder: Path, source: str) -> dict:
    (folder / "pipeline.py").write_text(source)
    (folder / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    env = {**os.environ, "DATAMAKE_CACHE_DIR": str(folder.parent / "cache")}
    proc = subprocess.run([sys.executable, "-c", DRIVER], cwd=folder, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"], out
    return out


@settings(max_examples=8, deadline=None)
@given(scenarios())
def test_make_after_any_edit_equals_a_rebuild_from_scratch(scenario):
    assets, target, kind = scenario
    edited = list(assets)
    deps, shape, c = edited[target]
    if kind == "real":
        edited[target] = (deps, shape, c + 1)
    with tempfile.TemporaryDirectory() as tmp:
        work, oracle = Path(tmp) / "work", Path(tmp) / "oracle"
        work.mkdir()
        oracle.mkdir()
        run(work, render(assets))
        after = run(work, render(edited, cosmetic=target if kind == "cosmetic" else -1))
        expected = run(oracle, render(edited))
        assert after["values"] == expected["values"], (kind, target, after, expected)
        assert after["stale"] == []
        if kind == "cosmetic":
            assert after["built"] == [], f"a cosmetic edit rebuilt {after['built']}"
        else:
            assert f"a{target}" in after["built"]
