"""Whether a project module's top level is *pure*: its globals cannot depend on the environment,
files, the clock or anything else that a certificate does not record.

Code versions hash the *values* of the globals an asset reads, so a module computing a global
from ``os.environ`` or a file could change an asset's version with no edit to any file. A module
is pure when its top-level statements are only imports, ``def``/``class`` (decorators, defaults,
annotations, bases and class bodies pure), assignments of pure expressions to names, docstrings,
``if`` with a pure test around pure statements (``if __name__ == "__main__":`` around anything)
and ``try``/``except ImportError`` around pure statements. A pure expression is built from
literals, names and attributes of names with operators, containers, comprehensions and f-strings,
and calls whose callee is a name imported from ``datamake`` or one of the standard library's
decorators and class helpers below, and calls that compute from the module's own file path and
literals alone (``Path(__file__).parent / "data"``, ``list(range(3))``: see
:mod:`~datamake.shortcut.locations`).

Decorators, metaclasses and ``__init_subclass__``/``__set_name__`` hooks run code at import even
without a call in the text: a decorator must be datamake's, a builtin one (``property``,
``staticmethod``, ``classmethod``) or one of those standard-library names; a module that defines
a class hook or names a metaclass of its own is not pure.
"""
from __future__ import annotations

import re
from itertools import accumulate
from typing import List, Optional, Set, Tuple

from datamake.define.lazymodules import lazy
from datamake.shortcut.locations import Locations, dotted as _dotted

ast = lazy("ast")  # parsing: only for a module not checked before

_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
_DYNAMIC = {"environ", "environb", "argv", "path", "modules", "stdin", "getenv"}  # os.environ, sys.argv...
# Standard-library names that only wrap, register or describe what they are given when run at import.
_TRUSTED = {
    "functools": {"cache", "lru_cache", "cached_property", "wraps", "total_ordering", "singledispatch",
                  "singledispatchmethod"},
    "dataclasses": {"dataclass", "field"},
    "abc": {"ABC", "ABCMeta", "abstractmethod"},
    "typing": {"NamedTuple", "TypedDict", "TypeVar", "overload", "final", "runtime_checkable"},
    "enum": {"Enum", "IntEnum", "Flag", "IntFlag", "unique", "auto"},
}
_BUILTIN_DECORATORS = {"property", "staticmethod", "classmethod"}
_CLASS_HOOKS = {"__init_subclass__", "__set_name__", "__prepare__", "__class_getitem__"}


def impurities(source: str, filename: str = "<module>", tree: Optional[ast.Module] = None) -> List[str]:
    """What makes the module impure, one message per statement ("file:line: why"); [] when pure.
    ``tree``: the module's syntax tree, if ``source`` was parsed already."""
    if tree is None:
        try:
            tree = ast.parse(source, filename)
        except SyntaxError as exc:
            return [f"{filename}: does not parse ({exc.msg})"]
    checker = _Checker(filename, *_imported_names(tree, source), tree)
    checker.statements(tree.body)
    return checker.problems


def _imported_names(tree: ast.Module, source: str = "") -> Tuple[Set[str], Set[str]]:
    """Names bound by ``import datamake`` / ``from datamake[...] import ...``, and the dotted names
    (``lru_cache``, ``functools.lru_cache``) of the trusted standard-library helpers imported. A name
    the module also binds otherwise (``asset = my_wrapper``, ``def dataclass(...)``, another import),
    anywhere in it, is trusted in neither.

    Given the module's ``source``, only the parts whose text could change that answer are walked:
    every import is in a top-level statement whose text holds "import", and a statement can bind a name
    only if its text holds it. So the statements with "import" give every imported name, and of the
    others only those holding one of those names are walked, and decorators (``@asset`` names it)."""
    names: Set[str] = set()
    trusted: Set[str] = set()
    rebound: Set[str] = set()
    starts = _line_starts(source)
    if starts is None:
        _note_bindings(tree, names, trusted, rebound)
    else:
        rest = []
        for stmt in tree.body:
            if source.find("import", starts[stmt.lineno - 1], starts[stmt.end_lineno]) >= 0:  # type: ignore[index]
                _note_bindings(stmt, names, trusted, rebound)
            else:
                rest.append(stmt)
        wanted = names | {t.split(".")[0] for t in trusted}
        holds = re.compile("|".join(map(re.escape, sorted(wanted)))).search if wanted else None
        for stmt in rest if holds else ():
            for decorator in getattr(stmt, "decorator_list", ()):
                if decorator.__class__ is not ast.Name:  # @asset binds nothing
                    _note_bindings(decorator, names, trusted, rebound)
            if holds(source, starts[stmt.lineno - 1], starts[stmt.end_lineno]):  # type: ignore[index, misc]
                _note_bindings(stmt, names, trusted, rebound)
    return names - rebound, {t for t in trusted if t.split(".")[0] not in rebound}


def _line_starts(source: str) -> Optional[List[int]]:
    """Where each line of ``source`` begins, as the parser counts lines (1 is at [0]; one more after the
    last); None where text search could miss a name: other line ends than "\\n", or non-ASCII text
    (an identifier is read NFKC-normalized, so ``ａsset`` binds ``asset``)."""
    if not source or "\r" in source or not source.isascii():
        return None
    return [0, *accumulate(len(line) + 1 for line in source.split("\n"))]


def _note_bindings(tree: ast.AST, names: Set[str], trusted: Set[str], rebound: Set[str]) -> None:
    """Add what ``tree`` imports from datamake or trusts, and every name it binds, to the three sets."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            rebound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            rebound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            rebound.update((a.asname or a.name).split(".")[0] for a in node.names
                           if not _trusted_import(node, a))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "datamake":
            names.update(a.asname or a.name for a in node.names if a.name != "*")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in _TRUSTED:
            trusted.update(a.asname or a.name for a in node.names if a.name in _TRUSTED[node.module])
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "datamake")
            for a in node.names:
                if a.name in _TRUSTED:
                    trusted.update(f"{a.asname or a.name}.{attr}" for attr in _TRUSTED[a.name])


def _trusted_import(node: ast.stmt, alias: ast.alias) -> bool:
    """Whether an import binds datamake or a trusted standard-library module or helper."""
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return node.level == 0 and (module.split(".")[0] == "datamake" or alias.name in _TRUSTED.get(module, ()))
    return alias.name.split(".")[0] == "datamake" or alias.name in _TRUSTED


class _Checker:
    def __init__(self, filename: str, datamake_names: Set[str], trusted: Set[str], tree: ast.Module):
        self.filename = filename
        self.datamake = datamake_names
        self.trusted = trusted
        self.tree = tree
        self._locations: Optional[Locations] = None
        self.problems: List[str] = []

    @property
    def locations(self) -> Locations:
        """The module's deterministic expressions, worked out on first need (most modules have none)."""
        if self._locations is None:
            self._locations = Locations(self.tree)
        return self._locations

    def fail(self, node: ast.AST, why: str) -> None:
        self.problems.append(f"{self.filename}:{getattr(node, 'lineno', 0)}: {why}")

    def statements(self, body: List[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, s: ast.stmt) -> None:
        if isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)):
            return
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return  # a docstring
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if s.name in _CLASS_HOOKS:
                self.fail(s, f"defines {s.name}, which runs when a class is made at import")
            self.decorators(s)
            self.expressions(s, [*s.decorator_list, *s.args.defaults, *[d for d in s.args.kw_defaults if d],
                                 *_annotations(s)])
        elif isinstance(s, ast.ClassDef):
            self.decorators(s)
            for k in s.keywords:
                if k.arg == "metaclass" and not self.trusted_callee(k.value):
                    self.fail(s, f"makes its class with the metaclass {_describe(k.value)} at import")
            self.expressions(s, [*s.decorator_list, *s.bases, *[k.value for k in s.keywords]])
            self.statements(s.body)
        elif isinstance(s, (ast.Assign, ast.AnnAssign)):
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            if not all(_plain_target(t) for t in targets):
                self.fail(s, "assigns to something other than a name")
            self.expressions(s, [s.value] if s.value is not None else [])
        elif isinstance(s, ast.If):
            if _is_main_guard(s.test):
                self.statements(s.orelse)
                return
            self.expressions(s, [s.test])
            self.statements(s.body)
            self.statements(s.orelse)
        elif isinstance(s, ast.Try) and all(_catches_import_error(h) for h in s.handlers) and s.handlers:
            for part in (s.body, *[h.body for h in s.handlers], s.orelse, s.finalbody):
                self.statements(part)
        else:
            self.fail(s, f"runs a {type(s).__name__.lower()} statement at import")

    def expressions(self, owner: ast.AST, nodes: List[ast.expr]) -> None:
        for node in nodes:
            why = self.impure(node)
            if why:
                self.fail(owner, why)

    def decorators(self, s: ast.stmt) -> None:
        """A decorator runs at import: it must be datamake's, a builtin one or a trusted one."""
        for d in s.decorator_list:  # type: ignore[attr-defined]
            func = d.func if isinstance(d, ast.Call) else d
            if not (self.trusted_callee(func) or (isinstance(func, ast.Name) and func.id in _BUILTIN_DECORATORS)):
                self.fail(s, f"runs the decorator {_describe(func)} at import")

    def impure(self, node: ast.expr) -> str:
        """Why ``node`` is not a pure expression ('' when it is). A call that computes from the module's
        file path and literals alone (:mod:`~datamake.shortcut.locations`) is pure, arguments included."""
        leaves, comprehensions = (ast.Name, ast.Constant), (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
        todo = [node]
        while todo:
            sub = todo.pop()
            if sub.__class__ in leaves:
                continue  # a name or a literal (a decorator, most defaults): nothing below it
            if isinstance(sub, ast.Call) and self.trusted_callee(sub.func):
                pass
            elif isinstance(sub, ast.Call) or isinstance(sub, comprehensions) and _calls(sub):
                if self.locations.determined(sub):
                    continue
                if isinstance(sub, ast.Call):
                    return f"calls {_describe(sub.func)} at import"
            if isinstance(sub, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
                return f"uses {type(sub).__name__.lower()} at import"
            if isinstance(sub, ast.Attribute) and sub.attr in _DYNAMIC:
                return f"reads {_describe(sub)} at import"
            todo.extend(reversed(list(ast.iter_child_nodes(sub))))
        return ""

    def trusted_callee(self, func: ast.expr) -> bool:
        """A name (or attribute) imported from datamake, or a trusted standard-library helper."""
        if _dotted(func) in self.trusted:
            return True
        while isinstance(func, ast.Attribute):
            func = func.value
        return isinstance(func, ast.Name) and func.id in self.datamake


def _calls(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _annotations(f: ast.AST) -> List[ast.expr]:
    args = f.args  # type: ignore[attr-defined]
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *[a for a in (args.vararg, args.kwarg) if a]]
    found = [a.annotation for a in every if a.annotation is not None]
    return found + ([f.returns] if f.returns is not None else [])  # type: ignore[attr-defined]


def _plain_target(t: ast.expr) -> bool:
    if isinstance(t, ast.Name):
        return True
    if isinstance(t, ast.Starred):
        return _plain_target(t.value)
    return isinstance(t, (ast.Tuple, ast.List)) and all(_plain_target(e) for e in t.elts)


def _is_main_guard(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _catches_import_error(h: ast.ExceptHandler) -> bool:
    kinds = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
    return all(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds)


def _describe(node: ast.expr) -> str:
    try:
        return ast.unparse(node)
    except AttributeError:  # Python 3.8 has no unparse; 3.9+ does
        return type(node).__name__
