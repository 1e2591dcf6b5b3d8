"""The canonical text of a syntax tree: the same on every supported Python (3.9 to 3.13), with no
positions and no docstrings, so that comments, docstrings and formatting do not change a code version.

The text is ``Name(field=value;...)`` for each node, fields in their declared order, lists as
``[item,...,]``, constants typed (``int:1``, ``str:"x"``); empty lists and ``None`` fields are left
out, and so are a context (``Load``/``Store``), a string's ``kind`` and type comments. It is pinned
by golden tests: changing it changes every automatic code version.

This runs once for each function analysed for the first time (10,000 of them in a first build of
10,000 assets), so each node class's layout is worked out once (:func:`_layout`) and the walk itself
does no more than read and append.
"""
from __future__ import annotations

from json.encoder import encode_basestring_ascii as _json_string  # json.dumps of a str, as is
from typing import Any, Dict, List, Optional, Set, Tuple

from datamake.define.codenames import ANY_ATTRIBUTE, IMPORT
from datamake.define.lazymodules import lazy

ast = lazy("ast")  # the node classes are _ast's: importing ast itself waits for a parse

_SKIP_FIELDS = frozenset({"ctx", "type_comment", "kind", "type_ignores"})


def is_docstring(stmt: ast.AST) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def constant(value: Any) -> str:
    if isinstance(value, str):
        return "str:" + _json_string(value)
    if isinstance(value, bytes):
        return "bytes:" + value.hex()
    return f"{type(value).__name__}:{value!r}"


def _merge_strings(values: List[ast.AST]) -> List[ast.AST]:
    """An f-string's parts with adjacent literal parts merged and empty ones dropped (as 3.12+ parses them)."""
    out: List[ast.AST] = []
    for v in values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            if not v.value:
                continue
            if out and isinstance(out[-1], ast.Constant) and isinstance(out[-1].value, str):
                out[-1] = ast.Constant(out[-1].value + v.value)
                continue
        out.append(v)
    return out


# A node class's layout: ("Name(", ((field, "field="), ...), owns a docstring, may read a name, an
# f-string). None for a value that is not a node (dumped as a constant).
Layout = Tuple[str, Tuple[Tuple[str, str], ...], bool, bool, bool]
_layouts: Dict[type, Optional[Layout]] = {}
_UNWRAP = ("Index", "ExtSlice")  # Python 3.8's slice wrappers: dumped as what they hold, as 3.9+ parses it
# the node classes dump() tells apart: bound when it meets its first node (importing _ast costs 10 M instructions)
_DOC_OWNERS: Tuple[type, ...] = ()
_READERS: Tuple[type, ...] = ()
_Name: Any = None
_Constant: Any = None
_Load: Any = None
_names: Dict[str, str] = {}  # identifier -> the text of a Name node of it (the most common node)


def _layout(cls: type) -> Optional[Layout]:
    if not issubclass(cls, ast.AST):
        layout = None
    else:
        fields = tuple((f, f + "=") for f in cls._fields if f not in _SKIP_FIELDS)  # type: ignore[attr-defined]
        layout = (cls.__name__ + "(", fields, issubclass(cls, _DOC_OWNERS), issubclass(cls, _READERS),
                  cls is ast.JoinedStr)
    _layouts[cls] = layout
    return layout


def _bind_node_classes() -> None:
    global _DOC_OWNERS, _READERS, _Name, _Constant, _Load
    _DOC_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
    _READERS = (ast.Name, ast.Attribute, ast.Call)
    _Name, _Constant, _Load = ast.Name, ast.Constant, ast.Load


def dump(node: Any, out: List[str], top: bool = False, names: Optional[Set[str]] = None) -> None:
    """Append the canonical text of ``node``; ``top`` leaves out its own decorators. With ``names``,
    also add to it the names the dumped nodes read (:func:`note_read`), in the same pass."""
    cls = node.__class__
    if cls is _Name:
        ident = node.id
        if names is not None and node.ctx.__class__ is _Load:
            names.add(ident)
        try:
            out.append(_names[ident])
        except KeyError:
            out.append(_names.setdefault(ident, f"Name(id={constant(ident)};)"))
        return
    if cls is _Constant:
        value = node.value
        out.append("Constant()" if value is None else f"Constant(value={constant(value)};)")
        return
    try:
        layout = _layouts[cls]
    except KeyError:
        if _Name is None:
            _bind_node_classes()
            return dump(node, out, top, names)
        layout = _layout(cls)
    if layout is None:
        if cls is list:
            out.append("[")
            for item in node:
                dump(item, out, False, names)
                out.append(",")
            out.append("]")
        else:
            out.append(constant(node))
        return
    head, fields, doc_owner, reader, joined = layout
    if not fields:
        out.append(head + ")")
        return
    if head[:-1] in _UNWRAP:  # Python 3.8 only
        return dump(node.value if head == "Index(" else ast.Tuple(elts=node.dims), out, False, names)
    if reader and names is not None:
        note_read(node, names)
    out.append(head)
    for field, label in fields:
        value = getattr(node, field, None)
        if value is None:
            continue
        if value.__class__ is list:
            if joined:
                value = _merge_strings(value)
            if not value or (top and field == "decorator_list"):
                continue
            if doc_owner and field == "body" and is_docstring(value[0]):
                value = value[1:] or [ast.Pass()]
            out.append(label + "[")
            for item in value:
                dump(item, out, False, names)
                out.append(",")
            out.append("];")
        else:
            out.append(label)
            dump(value, out, False, names)
            out.append(";")
    out.append(")")


def note_read(node: ast.AST, names: Set[str]) -> None:
    """Add the name or dotted attribute chain ``node`` reads, if it is one. ``getattr(settings,
    "RATE")`` (or ``hasattr``) reads ``settings.RATE``; with a computed name, ``settings.*``: any
    attribute (:meth:`codeversion._Walker._follow` then follows every global of a project module)."""
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        chain = dotted(node)
        if chain:
            names.add(chain)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        names.add(node.id)
    elif isinstance(node, ast.Call) and node.args:
        called, first = dotted(node.func), node.args[0]
        if called in ATTRIBUTE_READERS and len(node.args) >= 2:
            owner, attr = dotted(first), node.args[1]
            if owner:
                literal = isinstance(attr, ast.Constant) and isinstance(attr.value, str)
                names.add(f"{owner}.{attr.value if literal else ANY_ATTRIBUTE}")  # type: ignore[union-attr]
        elif called in IMPORTERS or called.endswith(".import_module"):
            names.add(IMPORT + _imported_name(node))
        else:  # vars(settings), attrgetter("RATE")(settings): a module handed to a call may be read whole
            for arg in node.args:
                passed = dotted(arg)
                if passed:
                    names.add(f"{passed}.{ANY_ATTRIBUTE}")


def _imported_name(call: ast.Call) -> str:
    """The module ``import_module(...)`` is given: a literal name; a relative one (``".helpers"``) resolved
    against a literal package, or kept relative when the package is ``__package__`` (the walk resolves it
    against the function's own); ANY_ATTRIBUTE when computed."""
    first = call.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return ANY_ATTRIBUTE
    if not first.value.startswith("."):
        return first.value
    package = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "package"), None)
    if isinstance(package, ast.Name) and package.id == "__package__":
        return first.value
    if isinstance(package, ast.Constant) and isinstance(package.value, str):
        return resolved_import(first.value, package.value) or ANY_ATTRIBUTE
    return ANY_ATTRIBUTE


def resolved_import(name: str, package: Any) -> Optional[str]:
    """``pkg.helpers`` for ``.helpers`` in package ``pkg``; None when it cannot be resolved."""
    import importlib.util  # lazy: only a relative import_module

    try:
        return importlib.util.resolve_name(name, package) if isinstance(package, str) and package else None
    except (ImportError, ValueError):
        return None


ATTRIBUTE_READERS = ("getattr", "hasattr")
IMPORTERS = ("import_module", "__import__")  # importlib.import_module("settings"): an import


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or an attribute chain on a name; "" for anything else."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    chain.append(node.id)
    return ".".join(reversed(chain))


def canonical_dump(node: ast.AST, top: bool = False) -> str:
    """A text of ``node`` that is the same on Python 3.9 to 3.13 (positions and docstrings left out)."""
    out: List[str] = []
    dump(node, out, top)
    return "".join(out)
