"""What a project module does to the process when it is imported, besides binding names.

``pd.set_option("display.precision", 2)``, ``np.random.seed(0)`` or ``decimal.getcontext().prec = 5``
at the top of a module change what library code computes for every asset, yet bind no name an asset
reads. Such statements are the module's *import statements* here: each top-level expression
statement and each assignment to an attribute or an item of something the module did not bind
itself (``plt.rcParams["figure.dpi"] = 200``; ``Cls.RATE = 2`` counts with ``Cls`` where it is read)
or to one the module bound to what it reached from such a name (``opts = pd.options.display``),
also inside a top-level ``if``/``try``/``with``/loop (the whole statement then, its condition too),
but not under ``if __name__ == "__main__":``, which does not run on import. A string alone (a
docstring) and a call of something imported from datamake (``schedule(...)``) are not among them.
Their canonical text (comments and formatting left out) is one digest per module.
"""
from __future__ import annotations

from typing import List, Set, Tuple

from datamake.core.hashing import hash_bytes
from datamake.define.lazymodules import lazy
from datamake.define.moduleimports import scan_imports

ast = lazy("ast")
canonical = lazy("datamake.define.canonical")


def summary(tree: ast.Module, package: str, wanted: Tuple[str, ...] = ()
            ) -> Tuple[str, Tuple[str, ...], Tuple[Tuple[str, str, Tuple[str, ...]], ...]]:
    """(digest of the import statements of the parsed module ``tree``, and of the definitions of its
    names ``wanted`` (another module's import statements call them), "" when none; the modules it
    imports, as :func:`~datamake.define.moduleimports.imported_modules` names them; ``(module, name,
    ())`` for each name these statements and definitions use that the module imports with ``from module
    import name``, whose definition there counts too)."""
    found = import_statements(tree)
    seeds = [s for s in tree.body if wanted and set(_names_bound_by(s)) & set(wanted)]
    found = found + [s for s in seeds if s not in found]
    if found:
        found = found + _own_definitions_used(tree, found)
    digest = hash_bytes("\n".join(canonical.canonical_dump(s) for s in found).encode()) if found else ""
    return digest, tuple(sorted(set(scan_imports(tree, package)))), \
        _imported_names_used(tree, package, found, wanted) + _inputs_named(found)


FILE, ENV = "<file>", "<environment>"  # the first item of a summary's used entry that names an input


def _inputs_named(found: List[ast.stmt]) -> Tuple[Tuple[str, str, Tuple[str, ...]], ...]:
    """``(FILE, text, ())`` for each short string constant of the statements ``found`` (a path they may
    open: ``int(open("prec.txt").read())``; which ones name a file is decided when versions are made),
    and ``(ENV, name, ())`` for each environment variable they read by a constant name
    (``os.environ[...]``, ``os.getenv(...)``, ``os.environ.get(...)`` with a string literal): what such a setting's
    value comes from."""
    files: Set[str] = set()
    variables: Set[str] = set()
    for stmt in found:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 256 \
                    and "\n" not in node.value:
                files.add(node.value)
            name = _variable_read(node)
            if name is not None:
                variables.add(name)
    return tuple((FILE, text, ()) for text in sorted(files)) + tuple((ENV, name, ()) for name in sorted(variables))


def _variable_read(node: ast.AST) -> "str | None":
    """The constant name of the environment variable ``node`` reads, if it reads one."""
    if isinstance(node, ast.Subscript) and canonical.dotted(node.value).endswith("environ"):
        key = node.slice
    elif isinstance(node, ast.Call) and node.args and canonical.dotted(node.func).endswith(("getenv", "environ.get")):
        key = node.args[0]
    else:
        return None
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _names_bound_by(stmt: ast.stmt) -> List[str]:
    """The names a top-level ``def``, ``class`` or assignment binds."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [name for target in targets for name in _bound_names(target)]
    return []


def _imported_names_used(tree: ast.Module, package: str, found: List[ast.stmt], wanted: Tuple[str, ...]
                         ) -> Tuple[Tuple[str, str, Tuple[str, ...]], ...]:
    """``(module, name, ())`` for each name the statements ``found`` use, or of ``wanted``, that a
    top-level ``from module import name`` binds (``configure()`` after ``from conf import configure``)."""
    import importlib.util

    origins = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""), package)
            except (ImportError, ValueError):
                continue
            for alias in stmt.names:
                if alias.name != "*":
                    origins[alias.asname or alias.name] = (base, alias.name)
    used = {origins[node.id] for stmt in found for node in ast.walk(stmt)
            if isinstance(node, ast.Name) and node.id in origins}
    used.update(origins[name] for name in wanted if name in origins)  # re-exported: where it is defined
    return tuple((module, name, ()) for module, name in sorted(used))


def import_statements(tree: ast.Module) -> List[ast.stmt]:
    """The top-level statements of ``tree`` that act on the process when it is imported."""
    ours, own = _datamake_names(tree), _defined_names(tree)
    own -= _library_aliases(tree, own)
    return [s for s in tree.body if not _main_guard(s) and _acts(s, ours, own)]


def _own_definitions_used(tree: ast.Module, found: List[ast.stmt]) -> List[ast.stmt]:
    """The top-level statements that bind a name of the module's own which the import statements
    ``found`` use, and those that bind the names these use in turn (``configure()`` with ``def
    configure(): pd.set_option(..., PRECISION)``, and ``PRECISION = 2``), in the module's order: what
    the import statements do depends on them, though no asset may read them."""
    binders: dict = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binders.setdefault(stmt.name, []).append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                for name in _bound_names(target):
                    binders.setdefault(name, []).append(stmt)
    taken = {id(s) for s in found}
    used: List[ast.stmt] = []
    todo = list(found)
    while todo:
        for node in ast.walk(todo.pop()):
            if isinstance(node, ast.Name):
                for stmt in binders.get(node.id, ()):
                    if id(stmt) not in taken:
                        taken.add(id(stmt))
                        used.append(stmt)
                        todo.append(stmt)
    order = {id(s): i for i, s in enumerate(tree.body)}
    return sorted(used, key=lambda s: order[id(s)])


_DEFINITIONS = ("FunctionDef", "AsyncFunctionDef", "ClassDef")
_COMPOUND = ("If", "Try", "TryStar", "With", "AsyncWith", "For", "AsyncFor", "While", "Match")


def _acts(stmt: ast.stmt, ours: Set[str], own: Set[str]) -> bool:
    """Does ``stmt`` (or, for a compound one, a statement in it) act on the process? ``ours``: the names
    bound to datamake; ``own``: those the module binds itself, whose values count where they are read."""
    kind = type(stmt).__name__
    if kind == "Expr":
        value = stmt.value
        if isinstance(value, ast.Constant):
            return False  # a docstring, a string alone
        return not (isinstance(value, ast.Call) and canonical.dotted(value.func).partition(".")[0] in ours)
    if kind in ("Assign", "AugAssign", "AnnAssign", "Delete"):
        targets = stmt.targets if kind in ("Assign", "Delete") else [stmt.target]
        return any(_stores_outside(n, own) for t in targets for n in ast.walk(t))
    if kind in _COMPOUND:
        return any(_acts(inner, ours, own) for inner in _inner_statements(stmt))
    return False


def _stores_outside(target: ast.AST, own: Set[str]) -> bool:
    """Is ``target`` an attribute or an item of something the module did not bind itself (``pd.options``,
    ``decimal.getcontext()``, not ``Cls.RATE`` or ``CONFIG["rate"]``, versioned with their owners)?"""
    if not isinstance(target, (ast.Attribute, ast.Subscript)):
        return False
    root = target
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    return not (isinstance(root, ast.Name) and root.id in own)


def _defined_names(tree: ast.Module) -> Set[str]:
    """The names the module's top level binds by ``def``, ``class`` or an assignment to a name."""
    names: Set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                names.update(_bound_names(target))
    return names


def _library_aliases(tree: ast.Module, own: Set[str]) -> Set[str]:
    """The names of ``own`` that a top-level assignment binds to something reached from what the module
    did not bind itself (``opts = pd.options.display``, ``ctx = decimal.getcontext()``): a store to one
    of their attributes or items (``opts.precision = 2``) acts on the library, as through its name."""
    aliases: Set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            root = stmt.value
            while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                root = root.func if isinstance(root, ast.Call) else root.value
            if isinstance(root, ast.Name) and root.id not in own:
                for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                    aliases.update(_bound_names(target))
    return aliases


def _bound_names(target: ast.AST) -> List[str]:
    """The names an assignment to ``target`` binds (``a, *b = ...``; none for ``pd.options.x = ...``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for item in target.elts for name in _bound_names(item)]
    return []


def _inner_statements(stmt: ast.stmt) -> List[ast.stmt]:
    """The statements directly in a compound statement's blocks (its handlers' and cases' too)."""
    found: List[ast.stmt] = []
    for field in ("body", "orelse", "finalbody"):
        found.extend(getattr(stmt, field, None) or ())
    for block in [*(getattr(stmt, "handlers", None) or ()), *(getattr(stmt, "cases", None) or ())]:
        found.extend(block.body)
    return [s for s in found if type(s).__name__ not in _DEFINITIONS]


def _main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``."""
    test = getattr(stmt, "test", None)
    return (isinstance(stmt, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _datamake_names(tree: ast.Module) -> Set[str]:
    """The names the module's top level binds to datamake or to what it imports from datamake."""
    names: Set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and not stmt.level and (stmt.module or "").split(".")[0] == "datamake":
            names.update(alias.asname or alias.name for alias in stmt.names)
        elif isinstance(stmt, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in stmt.names
                         if alias.name.split(".")[0] == "datamake")
    return names
