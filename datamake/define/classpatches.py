"""Class attributes that the text of the class statement does not account for.

A class is versioned by its source; what is done to it after the class statement is not in that
text: a method replaced or added (``Cls.run = other_fn``, a class decorator of the project, a
``setattr`` loop), a class constant rebound or added (``Cls.RATE = 5``). :func:`unaccounted`
compares the class's attributes with what its body binds, so that those are versioned as well.
Attributes the body accounts for (a literal it still holds, a function or class it defines) are left
out; data the body computes at import (``COLUMNS = json.load(...)``) is not in its text, and counts.
"""
from __future__ import annotations

import ast
import enum
import functools
import types
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Set, Tuple, Union

Binding = Union["Literal", FrozenSet[str]]  # a literal value, or the identifiers of a computed one
Bindings = Dict[str, List[Binding]]


class Literal:
    """A value the class body binds a name to with a literal (``RATE = 3``)."""

    def __init__(self, value: Any):
        self.value = value


def body_bindings(nodes: Iterable[ast.ClassDef]) -> Bindings:
    """The names each class body binds directly, with how (several definitions: all of them)."""
    found: Bindings = {}
    for node in nodes:
        for stmt in node.body:
            _bind_statement(stmt, found)
    return found


def attribute_stores(tree: ast.Module) -> Dict[str, List[str]]:
    """Name -> the attributes a module sets on it (``Cls.RATE = 5``, ``setattr(Cls, "RATE", 5)``),
    found once per module, in its statements only (at any depth: in functions, loops, branches)."""
    found: Dict[str, List[str]] = {}
    todo: List[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, None) or ())
        targets: List[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in ast.walk(target)]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Name) and call.func.id == "setattr" and len(call.args) >= 2:
                name = call.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    targets = [ast.Attribute(value=call.args[0], attr=name.value)]
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                found.setdefault(target.value.id, []).append(target.attr)
    return found


def rebound(bindings: Bindings, name: str) -> bool:
    """Does the class's module set attribute ``name`` outside the class statement?"""
    return _REBOUND in bindings.get(name, ())


def computed(bindings: Bindings, name: str) -> bool:
    """Does the class body compute attribute ``name`` (``COLUMNS = json.load(...)``), and nothing
    outside it set it again?"""
    how = bindings.get(name, ())
    return not rebound(bindings, name) and any(not isinstance(b, Literal) for b in how)


def field_defaults(cls: type) -> Dict[str, Any]:
    """The default values a class's machinery took out of the class body into records of its own (a
    named tuple's, a pydantic model's fields, an attrs class's attributes), by field name."""
    named = getattr(cls, "_field_defaults", None)  # typing.NamedTuple
    found: Dict[str, Any] = dict(named) if isinstance(named, dict) else {}
    fields = getattr(cls, "__pydantic_fields__", None)
    if isinstance(fields, dict):
        found.update({name: getattr(info, "default", None) for name, info in fields.items()})
    for attribute in getattr(cls, "__attrs_attrs__", None) or ():
        found[getattr(attribute, "name", "")] = getattr(attribute, "default", None)
    return found


def add_rebinds(attributes: Iterable[str], found: Bindings) -> None:
    """Mark attributes set on the class outside its statement: what the body binds them to is then no
    longer what they hold."""
    for attr in attributes:
        found.setdefault(attr, []).append(_REBOUND)


def _bind_statement(stmt: ast.stmt, found: Bindings) -> None:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        how = _binding(stmt.value)
        for target in targets:
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(how)
            else:
                _bind_all(target, found)
    elif not isinstance(stmt, ast.AnnAssign):  # ``x: int`` alone binds nothing
        _bind_all(stmt, found)


def _bind_all(node: ast.AST, found: Bindings) -> None:
    """Every name ``node`` binds (defs, imports, loop and ``with`` targets): computed."""
    everything: FrozenSet[str] = frozenset(_identifiers(node))
    for sub in _walk_scope(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            opaque = any(not _keeps_name(d) for d in sub.decorator_list)  # what it returns is any function
            found.setdefault(sub.name, []).append(frozenset({sub.name, _ANY} if opaque else {sub.name}))
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            found.setdefault(sub.id, []).append(everything)
        elif isinstance(sub, ast.alias):
            found.setdefault((sub.asname or sub.name).split(".")[0], []).append(frozenset({sub.name.split(".")[-1]}))


# Decorators that keep the function they are given, under its own name (``@property``, ``@x.setter``).
_KEEPING = frozenset({"property", "staticmethod", "classmethod", "cached_property", "abstractmethod",
                      "singledispatchmethod", "setter", "getter", "deleter", "register", "overload", "override",
                      "final"})


def _keeps_name(decorator: ast.expr) -> bool:
    node = decorator.func if isinstance(decorator, ast.Call) else decorator
    last = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return last in _KEEPING


def _walk_scope(node: ast.AST) -> Iterable[ast.AST]:
    """``ast.walk`` that does not enter the bodies of nested functions, classes, lambdas or comprehensions."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if current is node or not isinstance(current, _SCOPES):
            todo.extend(ast.iter_child_nodes(current))


_ANY = "*"  # any function may be what the body binds there
_REBOUND: FrozenSet[str] = frozenset({"<set outside the class statement>"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def global_reads(classes: Iterable[ast.ClassDef]) -> Set[str]:
    """The names the class statements may read as globals: every name read in a class body (which
    looks in the module after its own namespace: ``LIMIT = LIMIT``), and every name read in a function,
    lambda or comprehension of it that neither that scope nor an enclosing function binds (a method's
    parameter or local hides the global of its name in that method only, not in the others)."""
    found: Set[str] = set()
    for node in classes:
        for part in _outer_parts(node):  # decorators, bases, keywords: read in the module (conservatively all)
            found.update(n.id for n in ast.walk(part) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
        _scope_reads(node, frozenset(), found)
    return found


def _scope_reads(scope: ast.AST, enclosing: FrozenSet[str], found: Set[str]) -> None:
    """Add to ``found`` the names ``scope`` (and the scopes in it) may read as globals; ``enclosing``
    are the names the functions around it bind."""
    nodes, nested = _scope_parts(scope)
    if isinstance(scope, ast.ClassDef):
        hidden = enclosing  # a class body's own names do not hide a global, nor reach its methods
    else:
        declared = {n for node in nodes if isinstance(node, ast.Global) for n in node.names}
        hidden = (enclosing | _bound_in(scope, nodes)) - declared
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in hidden:
            found.add(node.id)
    for inner in nested:
        _scope_reads(inner, hidden, found)


def _scope_parts(scope: ast.AST) -> Tuple[List[ast.AST], List[ast.AST]]:
    """The nodes evaluated in ``scope`` itself (with what nested scopes evaluate there: decorators,
    defaults, annotations, bases, a comprehension's first iterable), and the scopes nested in it."""
    nodes: List[ast.AST] = []
    nested: List[ast.AST] = []
    todo = list(_inner_parts(scope))
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, _SCOPES):
            nested.append(node)
            todo.extend(_outer_parts(node))
        else:
            todo.extend(ast.iter_child_nodes(node))
    return nodes, nested


def _outer_parts(scope: ast.AST) -> List[ast.AST]:
    """What a scope's statement or expression evaluates in the scope around it."""
    if isinstance(scope, ast.ClassDef):
        return [*scope.decorator_list, *scope.bases, *scope.keywords]
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        annotations = [a.annotation for a in every if a is not None and a.annotation is not None]
        outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None), *annotations]
        if isinstance(scope, ast.Lambda):
            return outer
        return [*scope.decorator_list, *outer, *([scope.returns] if scope.returns is not None else [])]
    return [scope.generators[0].iter]  # a comprehension  # type: ignore[attr-defined]


def _inner_parts(scope: ast.AST) -> List[ast.AST]:
    """What a scope evaluates in its own namespace."""
    if isinstance(scope, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return list(scope.body)
    if isinstance(scope, ast.Lambda):
        return [scope.body]
    generators = scope.generators  # type: ignore[attr-defined]
    parts = [getattr(scope, f) for f in ("elt", "key", "value") if hasattr(scope, f)]
    for i, generator in enumerate(generators):
        parts += [generator.target, *generator.ifs, *([generator.iter] if i else [])]
    return parts


def _bound_in(scope: ast.AST, nodes: Iterable[ast.AST]) -> Set[str]:
    """The names a function, lambda or comprehension binds: its parameters, and what ``nodes`` (those
    evaluated in it) assign, delete, import, define or catch (``nonlocal`` names: an enclosing one's)."""
    bound: Set[str] = set()
    args = getattr(scope, "args", None)
    if args is not None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        bound.update(a.arg for a in every if a is not None)
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Nonlocal):
            bound.update(node.names)
        else:  # a def or class statement; ``except E as name``; match captures (``case {**rest}``)
            name = getattr(node, "name", None) or getattr(node, "rest", None)
            if isinstance(name, str):
                bound.add(name)
    return bound


def defaults_are_literals(args: ast.arguments, defaults: Tuple[Any, ...], kwdefaults: Dict[str, Any]) -> bool:
    """Is each default value the literal its parameter's text writes (of the same type)?"""
    written = [*zip(args.defaults, defaults)]
    written += [(node, kwdefaults.get(a.arg)) for a, node in zip(args.kwonlyargs, args.kw_defaults) if node is not None]
    if len(written) != len(defaults) + len(kwdefaults):
        return False
    for node, value in written:
        how = _binding(node)
        try:
            if not isinstance(how, Literal) or type(how.value) is not type(value) or how.value != value:
                return False
        except Exception:  # noqa: BLE001 - a user type's == may fail
            return False
    return True


def _binding(value: ast.expr) -> Binding:
    try:
        return Literal(ast.literal_eval(value))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return frozenset(_identifiers(value))


def _identifiers(node: ast.AST) -> Iterable[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def functions_of(value: Any) -> List[types.FunctionType]:
    """The functions behind a method-like attribute (a function, static or class method, property,
    ``functools.cached_property``); [] for anything else."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    if isinstance(value, functools.cached_property):
        value = value.func
    if isinstance(value, functools.singledispatchmethod):  # with what was registered, here or later
        registered = value.dispatcher.registry.values()  # type: ignore[attr-defined]
        return [f for f in registered if isinstance(f, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


def unaccounted(cls: type, bindings: Bindings, is_project: Callable[[Any], bool]) -> List[Tuple[str, Any]]:
    """The attributes of ``cls`` (name, value) that its body does not account for: functions of the
    project defined elsewhere and not named where the body binds that attribute, and public data
    attributes the body computes, binds to another literal, or does not bind (unless a library's
    metaclass, whose machinery they are, made the class)."""
    out = []
    prefixes = (cls.__qualname__, cls.__name__, _DATACLASS_MADE)
    own = {f"{prefix}.{suffix}" for prefix in prefixes for suffix in ("<lambda>", *vars(cls))}
    plain = type(cls).__module__.split(".")[0] in _PLAIN_METACLASSES or is_project(type(cls))
    for name, value in vars(cls).items():
        functions = functions_of(value)
        if functions:
            foreign = [f for f in functions if f.__qualname__ not in own and is_project(f)]
            if any(not _named_in(f.__name__, bindings.get(name, ())) for f in foreign):
                out.append((name, value))
        elif not (name.startswith("__") and name.endswith("__")) and not accessor(value):
            if not _data_accounted(cls, name, value, bindings, plain):
                out.append((name, value))
    return out


_DATACLASS_MADE = "__create_fn__.<locals>"  # what @dataclass names the methods it makes, before Python 3.11
_PLAIN_METACLASSES = ("builtins", "abc", "enum", "typing", "collections")  # type, ABCMeta, EnumMeta...


def _named_in(name: str, bindings: Iterable[Binding]) -> bool:
    return any(not isinstance(b, Literal) and (name in b or _ANY in b) for b in bindings)


def _data_accounted(cls: type, name: str, value: Any, bindings: Bindings, plain: bool) -> bool:
    if name not in bindings:
        return name.startswith("_") or not plain  # a named tuple's _fields, an enum's maps, a model's config
    if isinstance(value, enum.Enum) and type(value) is cls:
        value = value.value  # an enum member: its value is what the body wrote
    set_again = rebound(bindings, name)
    for how in bindings[name]:
        if not isinstance(how, Literal):
            if set_again:
                continue  # a computed value set again elsewhere: the body's text does not say which
            # computed in the body: code (a nested class, a def) is in its text; data may come from
            # a file or anything else read at import (``COLUMNS = json.load(...)``): it counts by content
            return isinstance(value, _CODE)
        try:
            if type(how.value) is type(value) and how.value == value:
                return True
        except Exception:  # noqa: BLE001 - a user type's == may fail
            continue
    return False


_CODE = (type, types.FunctionType, types.ModuleType)


def accessor(value: Any) -> bool:
    """A field accessor made for a class (a named tuple's, a slot's): its name is the content."""
    kept = (property, types.FunctionType)
    return hasattr(type(value), "__get__") and not callable(value) and not isinstance(value, kept)
