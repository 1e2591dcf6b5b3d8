"""Which top-level expressions are deterministic functions of the module's own file path and literals.

``DATA = Path(__file__).parent / "data"``, ``HERE = os.path.dirname(os.path.abspath(__file__))`` and
``SIZES = list(range(3))`` compute a global from nothing but the module's location and its text. A
certificate records both (the module's path through the project file, the folder and ``sys.path`` it
was found in; its text by digest), so such a global cannot change unseen. Accepted: literals,
``__file__``, names assigned such an expression once at the module's top level, operators,
containers, comprehensions, f-strings, subscripts, the pure properties of a path (``parent``,
``name``...), and calls of the functions and methods below whose result depends on their arguments
alone. Anything that looks at the file system (``resolve()``, ``realpath``, ``exists``,
``read_text()``, ``glob``), the clock or the environment is not, and a module that rebinds one of the
names used (``range = ...``, ``from helpers import *``) gets none of this.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, FrozenSet, Optional

from datamake.define.lazymodules import lazy

ast = lazy("ast")  # parsing: only for a module not checked before

_PATHS = {f"pathlib.{n}" for n in ("Path", "PurePath", "PurePosixPath", "PureWindowsPath", "PosixPath", "WindowsPath")}
_OS_PATH = {f"{m}.{n}" for m in ("os.path", "posixpath")
            for n in ("dirname", "basename", "join", "split", "splitext", "normpath", "abspath")}
_BUILTINS = {f"builtins.{n}" for n in ("range", "len", "str", "int", "float", "bool", "tuple", "list", "dict", "set",
                                        "frozenset", "sorted", "reversed", "enumerate", "zip", "min", "max", "sum",
                                        "abs", "round")}
FUNCTIONS = _PATHS | _OS_PATH | _BUILTINS | {"os.fspath"}
# Methods of paths and strings that compute from their receiver and arguments only (no file system).
METHODS = {"joinpath", "with_name", "with_suffix", "with_stem", "as_posix", "relative_to", "format", "join", "split",
           "rsplit", "strip", "lstrip", "rstrip", "replace", "upper", "lower", "startswith", "endswith", "zfill"}
PROPERTIES = {"parent", "parents", "name", "stem", "suffix", "suffixes", "parts", "anchor", "drive", "root"}
_MODULES = {"os", "os.path", "posixpath", "pathlib", "builtins"}


def dotted(node: ast.expr) -> str:
    """``a.b.c`` for a chain of attributes of a name ('' for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""

class Locations:
    """The deterministic expressions of one module (see the module's docstring)."""

    def __init__(self, tree: ast.Module):
        counts: Counter = Counter()
        self.star = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                counts[node.id] += 1
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                counts[node.name] += 1
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.star = self.star or any(a.name == "*" for a in node.names)
                counts.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                counts.update({n: 2 for n in node.names})  # bound from a function: not a constant
        self.counts = counts
        self.names: Dict[str, str] = {}  # local name -> the module or function it was imported as, bound once
        for s in tree.body:
            for alias in getattr(s, "names", ()) if isinstance(s, (ast.Import, ast.ImportFrom)) else ():
                full = _imported(s, alias)
                if full is not None and counts[(alias.asname or alias.name).split(".")[0]] == 1:
                    self.names[(alias.asname or alias.name).split(".")[0]] = full
        self.constants: set = set()
        for s in tree.body:  # in order: a constant may be made of those above it
            target = s.targets[0] if isinstance(s, ast.Assign) and len(s.targets) == 1 else \
                s.target if isinstance(s, ast.AnnAssign) and s.value is not None else None
            if isinstance(target, ast.Name) and counts[target.id] == 1 and self.determined(s.value):  # type: ignore
                self.constants.add(target.id)

    def canonical(self, node: ast.expr) -> str:
        """``os.path.join`` for ``join``, ``osp.join`` or ``os.path.join`` as this module binds them ('' if unknown)."""
        name, dot, rest = dotted(node).partition(".")
        if not name:
            return ""
        if name in self.names:
            head = self.names[name]
        elif self.counts[name] == 0:
            head = f"builtins.{name}"
        else:
            return ""
        return head + dot + rest

    def determined(self, node: Optional[ast.expr], local: FrozenSet[str] = frozenset()) -> bool:
        """Whether ``node``'s value is a function of the module's file path and literals alone."""
        if self.star:
            return False
        ok = lambda n: n is None or self.determined(n, local)  # noqa: E731
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return node.id in local or node.id in self.constants or (node.id == "__file__" and self.counts[node.id] == 0)
        if isinstance(node, ast.BinOp):
            return ok(node.left) and ok(node.right)
        if isinstance(node, ast.UnaryOp):
            return ok(node.operand)
        if isinstance(node, (ast.BoolOp, ast.Tuple, ast.List, ast.Set)):
            return all(map(ok, node.values if isinstance(node, ast.BoolOp) else node.elts))
        if isinstance(node, ast.Compare):
            return ok(node.left) and all(map(ok, node.comparators))
        if isinstance(node, ast.IfExp):
            return ok(node.test) and ok(node.body) and ok(node.orelse)
        if isinstance(node, ast.Dict):
            return all(map(ok, node.keys)) and all(map(ok, node.values))
        if isinstance(node, ast.JoinedStr):
            return all(map(ok, node.values))
        if isinstance(node, ast.FormattedValue):
            return ok(node.value) and ok(node.format_spec)
        if isinstance(node, ast.Starred):
            return ok(node.value)
        if isinstance(node, ast.Subscript):
            return ok(node.value) and ok(node.slice)
        if isinstance(node, ast.Slice):
            return ok(node.lower) and ok(node.upper) and ok(node.step)
        if isinstance(node, ast.Index):  # Python 3.8's subscript wrapper
            return ok(node.value)  # type: ignore[attr-defined]
        if isinstance(node, ast.Attribute):
            return node.attr in PROPERTIES and ok(node.value)
        if isinstance(node, ast.Call):
            return self._call(node, local)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node, local)
        return False

    def _call(self, node: ast.Call, local: FrozenSet[str]) -> bool:
        func = node.func
        if self.canonical(func) in FUNCTIONS:
            pass
        elif not (isinstance(func, ast.Attribute) and func.attr in METHODS and self.determined(func.value, local)):
            return False
        return all(self.determined(a, local) for a in node.args) and \
            all(self.determined(k.value, local) for k in node.keywords)

    def _comprehension(self, node: ast.expr, local: FrozenSet[str]) -> bool:
        for gen in node.generators:  # type: ignore[attr-defined]
            if gen.is_async or not self.determined(gen.iter, local):
                return False
            parts = [n for n in ast.walk(gen.target) if isinstance(n, ast.expr)]
            if not all(isinstance(n, (ast.Name, ast.Tuple, ast.List)) for n in parts):
                return False  # (an attribute or subscript target assigns to something else)
            local = local | {n.id for n in parts if isinstance(n, ast.Name)}
            if not all(self.determined(c, local) for c in gen.ifs):
                return False
        if isinstance(node, ast.DictComp):
            return self.determined(node.key, local) and self.determined(node.value, local)
        return self.determined(node.elt, local)  # type: ignore[attr-defined]


def _imported(s: ast.stmt, alias: ast.alias) -> Optional[str]:
    """The module or function an import binds to its local name, when it is one of those used here."""
    if isinstance(s, ast.ImportFrom):
        full = f"{s.module}.{alias.name}"
        known = s.level == 0 and (s.module in _MODULES or full in FUNCTIONS or full in _MODULES)
        return full if known else None
    if alias.asname:
        return alias.name if alias.name in _MODULES else None
    head = alias.name.split(".")[0]
    return head if head in _MODULES else None
