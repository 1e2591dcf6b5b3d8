"""Files a memoizing project helper read, remembered for the life of the process.

A memoizing helper (``@functools.lru_cache def settings(): return json.load(open("settings.json"))``)
opens its file in the first asset that calls it; every later caller in the same process gets the
cached value and opens nothing, yet its value comes from that file all the same. So the read watch
notes, for each undeclared file read or folder listed, the project functions on the stack at that
moment (:func:`callers`), and :func:`remember` keeps the version read against each of them. An asset's
record of what it read then also holds what was noted for the memoizing project functions its code
reaches by name (:func:`reached`), with the version the helper read: if the file changed since, the
asset is stale, as the value the helper handed it is. Reaching such a helper by name is enough (it may
or may not have been called this time): more reads than were made, never fewer.

A helper counts as memoizing when it is reached through a cache wrapper (``functools.lru_cache`` and
``cache``, ``cached_property``, or any wrapper with ``cache_clear``/``cache_info``/``cache``), when its
code assigns a module global (``global _SETTINGS``), or when it fills a dict, list or set of its module
(``_CACHE[key] = ...``, ``_SEEN.append(...)``, ``_CACHE.setdefault(...)``). Functions are told apart by their code object *and* file:
equal code in two projects (the same pipeline copied) is not the same function.
"""
from __future__ import annotations

import functools
import sys
import types
from opcode import opmap
from typing import Any, Callable, Dict, Iterable, List, Set, Tuple

from datamake.define.codenames import code_names

CodeKey = Tuple[str, types.CodeType]  # (file, code): code objects compare equal across files
_by_code: Dict[CodeKey, Dict[str, str]] = {}  # a project function's code -> {path read: version}
# an asset function -> the memoizing project code it reaches, each with the cache wrapper it is reached
# through (None for a memo of its own: a module global, dict, list or set it fills)
_reach: Dict[Any, Tuple[Tuple[CodeKey, Any], ...]] = {}
_LIMIT = 100_000
_by_module: Dict[str, Dict[str, str]] = {}  # a project module's file -> {path read: version} as it was imported
_names: Dict[Any, frozenset] = {}  # an asset function -> the names the project code it reaches reads
_module_names: Dict[str, str] = {}  # a project module's file -> its name in sys.modules
_STORE_GLOBAL = opmap["STORE_GLOBAL"]


def callers(roots: Tuple[str, ...]) -> Set[CodeKey]:
    """The code of the project functions on this thread's stack."""
    found: Set[CodeKey] = set()
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if _in_project(code, roots):
            found.add((code.co_filename, code))
        frame = frame.f_back
    return found


def remember(codes: Iterable[CodeKey], name: str, version: str) -> None:
    """Keep that the functions of ``codes`` read ``name`` (a path in the project) at ``version``; a module's
    own code (it read the file as it was imported) by the module's file too."""
    if len(_by_code) > _LIMIT:
        _by_code.clear()
        _by_module.clear()
    for code in codes:
        _by_code.setdefault(code, {})[name] = version
        if code[1].co_name == "<module>":
            _by_module.setdefault(code[0], {})[name] = version


def importing(codes: Iterable[CodeKey]) -> bool:
    """Whether a project module's own code is among ``codes``: it is being imported (a read made then is
    remembered at once, not when the asset ends: an asset that waited for the import may end first)."""
    return any(code.co_name == "<module>" for _file, code in codes)


# The memos themselves, truthy when any project function was noted reading anything (most processes:
# never); read, not called, by the read watch (twice per asset run)
remembered = _by_code


def reached(fn: Any, roots: Tuple[str, ...]) -> Dict[str, str]:
    """What the memoizing project functions ``fn`` reaches by name were noted to read (``{}`` most of
    the time)."""
    if not _by_code:
        return {}
    out: Dict[str, str] = {}
    for code, _wrapper in _memos(fn, roots):
        out.update(_by_code.get(code, ()))
    if _by_module:
        out.update(_imported_reads(fn, roots))
    return out


def _imported_reads(fn: Any, roots: Tuple[str, ...]) -> Dict[str, str]:
    """What the project modules that ``fn``'s code (or a project function it reaches) names read while they
    were imported: a module imported in a function (``import helpers`` in the asset) is imported by the
    first asset that runs it, and keeps what it read for every later one, which opens nothing."""
    names = _names.get(fn)
    if names is None:
        if len(_names) > _LIMIT:
            _names.clear()
        names = _names[fn] = frozenset(n for f in reachable_functions(fn, roots) for n in code_names(f.__code__))
    out: Dict[str, str] = {}
    for file, reads in _by_module.items():
        module = _module_names.get(file) or _module_name(file)
        if module and (module in names or module.rpartition(".")[2] in names):
            out.update(reads)
    return out


def _module_name(file: str) -> str:
    """The name of the imported module whose file is ``file`` (kept once found; "" while none is)."""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == file:
            _module_names[file] = name
            return name
    return ""


def refresh(fn: Any, roots: Tuple[str, ...], current: Callable[[str], str]) -> List[Tuple[str, str]]:
    """Before ``fn`` runs in a process where helpers it reaches memoized values read from files that
    changed since (``current(path)``: a path's version now): clear the caches that can be cleared
    (``lru_cache``, ``cache``), so the helper reads the file again. The ``(helper, path)`` of the memos
    that cannot be cleared (a module global, dict, list or set of its own): the value ``fn`` gets from
    them is built from the old file."""
    if not _by_code:
        return []
    kept: List[Tuple[str, str]] = []
    for code, wrapper in _memos(fn, roots):
        noted = _by_code.get(code)
        moved = [name for name, version in (noted or {}).items() if current(name) != version]
        if not moved:
            continue
        clear = _static(wrapper, "cache_clear") if wrapper is not None else None
        if callable(clear):
            wrapper.cache_clear()
            _by_code.pop(code, None)
        else:
            kept.extend((getattr(code[1], "co_qualname", code[1].co_name), name) for name in moved)
    return kept


def _memos(fn: Any, roots: Tuple[str, ...]) -> Tuple[Tuple[CodeKey, Any], ...]:
    """The memoizing project functions ``fn`` reaches, each with the cache wrapper it is reached through."""
    found = _reach.get(fn)
    if found is None:
        if len(_reach) > _LIMIT:
            _reach.clear()
        found = _reach[fn] = tuple(((f.__code__.co_filename, f.__code__), memo) for f, memo in _walk(fn, roots)
                                   if memo is not None or _assigns_a_global(f.__code__) or _fills_a_global(f))
    return found


def _in_project(code: types.CodeType, roots: Tuple[str, ...]) -> bool:
    return any(code.co_filename.startswith(root) for root in roots)


def reachable_functions(fn: Any, roots: Tuple[str, ...]) -> List[types.FunctionType]:
    """The project functions reachable from ``fn`` (itself first) through the names their code reads
    (globals, attributes of the modules and classes they name), the functions they wrap and their closures."""
    return [f for f, _memo in _walk(fn, roots)]


def _walk(fn: Any, roots: Tuple[str, ...]) -> List[Tuple[types.FunctionType, Any]]:
    """:func:`reachable_functions`, each with the cache wrapper it was reached through (None when not).
    Objects are looked at statically (``inspect.getattr_static``): no user ``__getattr__`` or property runs."""
    seen: Dict[int, Tuple[types.FunctionType, Any]] = {}
    visited: Dict[int, Any] = {}  # id -> the object (kept alive while walking, so no id is reused)
    todo: List[Tuple[Any, Any]] = [(fn, None)]
    while todo:
        current, memo = todo.pop()
        if current is None or id(current) in visited or not _followed(current):
            continue
        visited[id(current)] = current
        for wrapped in _inner(current):
            todo.append((wrapped, memo if memo is not None else current if _caches(current) else None))
        code = current.__code__ if isinstance(current, types.FunctionType) else None
        if not isinstance(code, types.CodeType) or not _in_project(code, roots):
            if isinstance(current, type):
                todo.extend((f, None) for f in _class_functions(current))
            continue
        seen[id(current)] = (current, memo)
        names = code_names(code)
        namespace = current.__globals__
        for cell in current.__closure__ or ():
            try:
                todo.append((cell.cell_contents, None))
            except ValueError:
                pass
        for name in names:
            value = namespace.get(name)
            if isinstance(value, types.ModuleType):  # helpers.settings: a project module's attribute of each name
                if _in_project_file(getattr(value, "__file__", None), roots):
                    todo.extend((vars(value).get(other), None) for other in names)
            elif value is not None:
                todo.append((value, None))
    return list(seen.values())


def _followed(value: Any) -> bool:
    """A function, a class, or a wrapper around one (never an arbitrary instance)."""
    return isinstance(value, (types.FunctionType, type, types.MethodType, functools.partial, staticmethod,
                              classmethod, property, functools.cached_property)) or _caches(value)


def _inner(value: Any) -> List[Any]:
    """The functions a wrapper holds: ``__wrapped__`` (functools.wraps, lru_cache), a partial's or a
    cached_property's ``func``, a method's or staticmethod's ``__func__``."""
    found = [_static(value, "__wrapped__")]
    if isinstance(value, (functools.partial, functools.cached_property)):
        found.append(value.func)
    elif isinstance(value, (types.MethodType, staticmethod, classmethod)):
        found.append(value.__func__)
    return [f for f in found if f is not None and _followed(f)]


def _static(value: Any, name: str) -> Any:
    import inspect  # only a build that follows a helper's reads
    try:
        return inspect.getattr_static(value, name, None)
    except Exception:  # noqa: BLE001 - a strange object: not followed
        return None


def _in_project_file(path: Any, roots: Tuple[str, ...]) -> bool:
    return isinstance(path, str) and any(path.startswith(root) for root in roots)


def _caches(wrapper: Any) -> bool:
    """A wrapper that keeps what the function returned (lru_cache, cache, cached_property, cachetools)."""
    if isinstance(wrapper, functools.cached_property):
        return True
    if not callable(wrapper) or isinstance(wrapper, type):
        return False
    return any(_static(wrapper, name) is not None for name in ("cache_info", "cache_clear", "cache"))


def _assigns_a_global(code: types.CodeType) -> bool:
    """The code (nested code included) rebinds a module global (``global _SETTINGS; _SETTINGS = ...``)."""
    return _uses_op(code, _STORE_GLOBAL)


def _uses_op(code: types.CodeType, opcode: int) -> bool:
    """Whether ``code`` or code nested in it has an instruction ``opcode``."""
    if any(op == opcode for op in code.co_code[::2]):
        return True
    return any(_uses_op(c, opcode) for c in code.co_consts if isinstance(c, types.CodeType))


_STORE_SUBSCR = opmap["STORE_SUBSCR"]
_FILLS = frozenset(("setdefault", "update", "append", "extend", "add", "insert", "__setitem__"))


def _fills_a_global(fn: types.FunctionType) -> bool:
    """The function keeps values in a dict, list or set of its module (``_CACHE[key] = ...``,
    ``_SEEN.append(...)``, ``_CACHE.setdefault(...)``): a memo table."""
    namespace = fn.__globals__
    names = code_names(fn.__code__)
    if not any(isinstance(namespace.get(name), (dict, list, set)) for name in names):
        return False
    return bool(_FILLS.intersection(names)) or _uses_op(fn.__code__, _STORE_SUBSCR)


def _class_functions(cls: type) -> List[Any]:
    out: List[Any] = []
    for value in vars(cls).values():
        out.append(value.fget if isinstance(value, property) else value)  # the rest: followed as wrappers
    return out
