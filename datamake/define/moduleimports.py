"""Where a module's source file is, and which modules its source imports, found without importing
anything new.

A project module imported inside a function (``def f(): from helpers import g``) counts by its
whole source; what that module imports in turn runs too, so :func:`imported_modules` names the
modules its text imports (at any depth: top level, ``try``/``except ImportError``, inside its
functions), for the code version to follow them as well.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Dict, Iterator, List, Optional, Tuple

from datamake.core.hashing import hash_bytes
from datamake.define.lazymodules import lazy

ast = lazy("ast")  # parsing: only for a module not scanned before

_imports: Dict[Tuple[str, str], Tuple[str, ...]] = {}  # (path, digest of its text) -> modules it imports


def module_file(name: str) -> Optional[str]:
    """The source file of module ``name`` (dotted); a module of a namespace package too."""
    module = sys.modules.get(name)
    if module is not None:
        path = getattr(module, "__file__", None)
        return path if isinstance(path, str) else None
    parent, _, last = name.rpartition(".")
    search = _search_locations(parent) if parent else None
    if parent and search is None:
        return None
    origin = getattr(_find_spec(last, search), "origin", None)
    return origin if isinstance(origin, str) and origin.endswith(".py") else None


def _search_locations(package: str) -> Optional[List[str]]:
    """Where the submodules of ``package`` are (a regular or a namespace package), or None."""
    module = sys.modules.get(package)
    if module is not None:
        path = getattr(module, "__path__", None)
        return list(path) if path is not None else None
    parent, _, last = package.rpartition(".")
    search = _search_locations(parent) if parent else None
    if parent and search is None:
        return None
    locations = getattr(_find_spec(last, search), "submodule_search_locations", None)
    return list(locations) if locations else None


def _find_spec(name: str, search: Optional[List[str]]) -> Optional[importlib.machinery.ModuleSpec]:
    try:
        return importlib.machinery.PathFinder.find_spec(name, search)
    except (ImportError, ValueError):
        return None


def imported_modules(path: str, name: str, source: Optional[bytes] = None) -> Tuple[str, ...]:
    """The absolute names of the modules the source of module ``name`` (file ``path``) imports, and of
    the names ``from X import a`` takes from them (``X.a``: a module when it is one). ``source``: the
    file's bytes as just read; without it, the text the module was imported from."""
    if source is not None:
        text = source.decode("utf-8", "surrogateescape")
    else:
        import linecache  # lazy: only a module scanned afresh (it imports tokenize)

        text = "".join(linecache.getlines(path))  # the snapshot the module was imported from
    key = (path, hash_bytes(text.encode("utf-8", "surrogateescape")))
    found = _imports.get(key)
    if found is None:
        package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
        found = _imports[key] = tuple(sorted(set(_scan(text, package))))
    return found


def _scan(text: str, package: str) -> List[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return scan_imports(tree, package)


def scan_imports(tree: ast.Module, package: str) -> List[str]:
    """What :func:`imported_modules` names, from the parsed module ``tree`` of ``package``."""
    found: List[str] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            except (ImportError, ValueError):
                continue
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of ``body`` and of the blocks nested in it (functions and classes included), in
    no set order: an import is a statement, so the expressions around them need no visit."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        for block in (getattr(node, "body", None), getattr(node, "orelse", None), getattr(node, "finalbody", None)):
            if isinstance(block, list):
                stack.extend(block)
        for clauses in (getattr(node, "handlers", None), getattr(node, "cases", None)):  # except, case
            for clause in clauses or ():
                stack.extend(clause.body)
