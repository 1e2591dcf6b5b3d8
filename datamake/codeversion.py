"""Automatic code versions: a hash of an asset function's normalized source and of the
project code it uses.

The source is parsed and docstrings and decorators are dropped before the
syntax tree is hashed, so comments, docstrings and formatting do not change
the version. Names the function uses are followed through its globals: helper
functions and classes defined in project files (not in installed packages)
and simple constants become *code dependencies*, each with its own hash, so
that editing a helper makes its users stale and ``why`` can name it.
"""
from __future__ import annotations

import ast
import inspect
import json
import linecache
import os
import sys
import sysconfig
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from .hashing import hash_bytes, hash_value

_SIMPLE = (int, float, str, bytes, bool, type(None), complex)
_normalized_cache: Dict[str, Tuple[str, Tuple[str, ...]]] = {}
_cache_dirty = False
_CACHE_FORMAT = 1
_CACHE_LIMIT = 200_000
_MAX_CONSTANT_REPR = 10_000


@dataclass(frozen=True)
class CodeFingerprint:
    """An asset's automatic code version and the code dependencies behind it."""

    version: str
    parts: Mapping[str, str]  # qualified name -> hash, the function itself under "<self>"


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


def _used_names(tree: ast.AST) -> Tuple[str, ...]:
    """Global-looking names and dotted attribute chains (``mod.helper``) read in ``tree``."""
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain = []
            current: ast.AST = node
            while isinstance(current, ast.Attribute):
                chain.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name):
                chain.append(current.id)
                names.add(".".join(reversed(chain)))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
    return tuple(sorted(names))


def normalized_source(source: str) -> str:
    """The canonical dump of ``source`` with docstrings and decorators removed."""
    tree = ast.parse(textwrap.dedent(source))
    return ast.dump(_strip(tree), annotate_fields=False, include_attributes=False)


def _analyse(source: str, strict: bool = False) -> Tuple[str, Tuple[str, ...]]:
    """(hash of the normalized source, names it uses), cached by the raw text.

    With ``strict`` a SyntaxError propagates instead of falling back to the raw text.
    """
    global _cache_dirty
    raw = hash_bytes(source.encode())
    cached = _normalized_cache.get(raw)
    if cached is None:
        try:
            tree = _strip(ast.parse(textwrap.dedent(source)))
            cached = (hash_bytes(ast.dump(tree, annotate_fields=False, include_attributes=False).encode()),
                      _used_names(tree))
        except SyntaxError:  # a lambda inside an expression: hash the text itself
            if strict:
                raise
            cached = (raw, ())
        _normalized_cache[raw] = cached
        _cache_dirty = True
    return cached


def _function_text(fn: Callable[..., Any]) -> Optional[str]:
    """The function's source lines, found from its code object: much cheaper than
    ``inspect.getsource`` (no tokenizing). From the first line (decorators
    included) to the last line any of its bytecode, nested code included, spans."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename, getattr(fn, "__globals__", None))
    last = _last_line(code)
    first = code.co_firstlineno
    if not lines or last < first or last > len(lines):
        return None
    return "".join(lines[first - 1:last])


def _last_line(code: types.CodeType) -> int:
    last = 0
    for _start, end, _c0, _c1 in code.co_positions():
        if end is not None and end > last:
            last = end
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, _last_line(const))
    return last


def load_cache(path: str) -> None:
    """Load normalized-source hashes computed by earlier runs (a pure speed-up)."""
    global _cache_dirty
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format") == _CACHE_FORMAT:
            for raw, (digest, names) in data["entries"].items():
                _normalized_cache.setdefault(raw, (digest, tuple(names)))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    _cache_dirty = False


def save_cache(path: str) -> None:
    """Write the cache back if this run added to it (atomically; losing a race only costs speed)."""
    global _cache_dirty
    if not _cache_dirty:
        return
    entries = dict(list(_normalized_cache.items())[-_CACHE_LIMIT:])
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"format": _CACHE_FORMAT, "entries": {k: [d, list(n)] for k, (d, n) in entries.items()}}, f)
        os.replace(tmp, path)
        _cache_dirty = False
    except OSError:
        pass


def _source(obj: Any) -> Optional[str]:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


_INSTALLED = tuple(
    os.path.realpath(p) + os.sep
    for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


def is_project_file(path: Optional[str], roots: Iterable[str]) -> bool:
    """True for a file under one of ``roots`` that is not part of an installed package."""
    if not path:
        return False
    real = os.path.realpath(path)
    if real.startswith(_INSTALLED) or "site-packages" in real or "dist-packages" in real:
        return False
    return any(real.startswith(os.path.realpath(r) + os.sep) for r in roots)


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
        constant = _constant_repr(value)
        if constant is not None:
            values.append([name, constant])
    return values


def _constant_repr(value: Any) -> Optional[str]:
    """A stable text for simple constants (numbers, strings, and containers of them), else None."""
    if isinstance(value, _SIMPLE):
        text = repr(value)
    elif isinstance(value, (tuple, list, frozenset, set)) and all(isinstance(v, _SIMPLE) for v in value):
        items = sorted(map(repr, value)) if isinstance(value, (set, frozenset)) else list(map(repr, value))
        text = f"{type(value).__name__}({', '.join(items)})"
    elif isinstance(value, dict) and all(isinstance(k, _SIMPLE) and isinstance(v, _SIMPLE) for k, v in value.items()):
        text = "dict(" + ", ".join(f"{k!r}: {v!r}" for k, v in value.items()) + ")"
    else:
        return None
    return text if len(text) <= _MAX_CONSTANT_REPR else hash_bytes(text.encode())


class _Walker:
    """Follows the names a function reads to project-local helpers and constants."""

    def __init__(self, roots: Iterable[str]):
        self.roots = tuple(roots)
        self.parts: Dict[str, str] = {}
        self.visiting: Set[int] = set()
        self.home: Optional[str] = None  # the asset's own module: its names are not qualified

    def function(self, fn: Callable[..., Any], label: str) -> None:
        if id(fn) in self.visiting:
            return
        self.visiting.add(id(fn))
        source = _function_text(fn)
        if source is not None:
            try:
                _analyse(source, strict=True)
            except SyntaxError:  # the lines found do not parse on their own: ask inspect
                source = None
        if source is None:
            source = _source(fn)
        if source is None:
            code = getattr(fn, "__code__", None)
            self.parts[label] = hash_value("bytecode", _bytecode_basis(code) if code else repr(fn))
            return
        digest, names = _analyse(source)
        closure = _closure_constants(fn)
        self.parts[label] = hash_value("fn", digest, closure) if closure else digest
        namespace = getattr(fn, "__globals__", {})
        for name in names:
            self._follow(name, namespace)

    def _follow(self, dotted: str, namespace: Mapping[str, Any]) -> None:
        head, *rest = dotted.split(".")
        if head not in namespace:
            return  # a local, a builtin, or a parameter
        value = namespace[head]
        module = namespace.get("__name__")
        if self.home is None:
            self.home = module
        label = head if module == self.home else f"{module}.{head}"
        for attr in rest:
            if not isinstance(value, types.ModuleType):
                break
            if not hasattr(value, attr):
                break
            value = getattr(value, attr)
            label = f"{label}.{attr}"
        self._record(label, value)

    def _record(self, label: str, value: Any) -> None:
        if label in self.parts:
            return
        if isinstance(value, types.ModuleType):
            return  # only the attributes actually used count
        if _is_asset(value):
            return  # another asset: covered by its data version
        constant = _constant_repr(value)
        if constant is not None:
            self.parts[label] = hash_value("const", constant)
            return
        if isinstance(value, (types.FunctionType, type)) and is_project_file(_file_of(value), self.roots):
            qualified = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', label)}"
            if isinstance(value, type):
                source = _source(value)
                if source is not None and qualified not in self.parts:
                    digest, names = _analyse(source)
                    self.parts[qualified] = digest
                    module = sys.modules.get(value.__module__)
                    for name in names:
                        self._follow(name, vars(module) if module else {})
            else:
                self.function(value, qualified)


def _bytecode_basis(code: types.CodeType) -> list:
    """Bytecode, names and constants (nested code objects recursively, never by address)."""
    consts = [_bytecode_basis(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return [code.co_code.hex(), list(code.co_names), consts]


def _is_asset(value: Any) -> bool:
    return type(value).__name__ in ("AssetDef", "SourceDef") and type(value).__module__.startswith("datamake")


def _file_of(value: Any) -> Optional[str]:
    code = getattr(value, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(getattr(value, "__module__", "") or "")
    return getattr(module, "__file__", None)


def fingerprint(fn: Callable[..., Any], roots: Iterable[str] = (), packages: Iterable[str] = ()) -> CodeFingerprint:
    """The automatic code version of ``fn`` and its code dependencies.

    ``roots`` are the project folders whose code is followed; ``packages`` are
    installed distributions whose versions the user opted in to.
    """
    walker = _Walker(roots)
    walker.function(fn, "<self>")
    parts = dict(walker.parts)
    for package in packages:
        parts[f"package:{package}"] = _package_version(package)
    # A flat, unambiguous encoding (names and hashes hold no NUL or newline) is
    # cheaper than canonical JSON, and this runs for every asset on every plan.
    text = "code\0" + "\n".join(f"{name}\0{digest}" for name, digest in sorted(parts.items()))
    return CodeFingerprint(hash_bytes(text.encode())[:16], parts)


def auto_code_version(fn: Callable[..., Any], roots: Iterable[str] = ()) -> str:
    """A short, stable version string for ``fn``'s logic (see :func:`fingerprint`)."""
    return fingerprint(fn, roots).version


def _package_version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not-installed"


def changed_parts(recorded: Mapping[str, str], current: Mapping[str, str]) -> List[str]:
    """Names of code dependencies that were added, removed or changed."""
    names = set(recorded) | set(current)
    return sorted(n for n in names if recorded.get(n) != current.get(n))
