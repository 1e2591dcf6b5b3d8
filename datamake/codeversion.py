"""Automatic code versions: a hash of an asset function's normalized source.

The source is parsed and docstrings and decorators are dropped before the
syntax tree is hashed, so comments, docstrings and formatting do not change
the version. Simple constants captured in a closure (asset factories) are part
of the version; other captured objects are not.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable, Dict, Optional, Tuple

from .hashing import hash_bytes, hash_value

_SIMPLE = (int, float, str, bytes, bool, type(None))
_cache: Dict[Tuple[Any, ...], str] = {}


def _strip(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = child.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                child.body = body[1:] or [ast.Pass()]
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            child.decorator_list = []
    return node


def normalized_source(source: str) -> str:
    """The canonical dump of ``source`` with docstrings and decorators removed."""
    tree = ast.parse(textwrap.dedent(source))
    return ast.dump(_strip(tree), annotate_fields=False, include_attributes=False)


def _function_source(fn: Callable[..., Any]) -> Optional[str]:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return None


def _closure_constants(fn: Callable[..., Any]) -> list:
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    names = code.co_freevars if code else ()
    values = []
    for name, cell in zip(names, cells):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, _SIMPLE):
            values.append([name, repr(value)])
    return values


def auto_code_version(fn: Callable[..., Any]) -> str:
    """A short, stable version string for ``fn``'s logic."""
    source = _function_source(fn)
    closure = _closure_constants(fn)
    if source is None:  # built in a REPL or from C: fall back to bytecode
        code = getattr(fn, "__code__", None)
        basis = ["bytecode", code.co_code.hex() if code else repr(fn), repr(code.co_consts) if code else ""]
    else:
        raw = hash_bytes(source.encode())
        cached = _cache.get((raw,))
        if cached is None:
            try:
                cached = hash_bytes(normalized_source(source).encode())
            except SyntaxError:  # a lambda or odd source: hash the text itself
                cached = raw
            _cache[(raw,)] = cached
        basis = ["ast", cached]
    return hash_value("code", basis, closure)[:16]
