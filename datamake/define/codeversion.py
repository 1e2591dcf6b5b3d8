"""Automatic code versions: a hash of an asset function's normalized source and of
everything it reads.

The source is parsed and serialized canonically (no positions, no docstrings,
the same text on every supported Python), so comments, docstrings and
formatting do not change the version. Names the function reads are followed
through its globals: project functions and classes (with their decorators,
closures, defaults and wrapped functions) become *code dependencies*, each
with its own hash, so that editing a helper makes its users stale and ``why``
can name it; data is hashed by its canonical content (see ``valuehash``).
A global that cannot be versioned exactly is named in a warning: sound or loud.
"""
from __future__ import annotations

import builtins
from sys import intern
import functools
import importlib.util
from opcode import opmap
import os
import re
import sys
import types
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from datamake.core.hashing import hash_bytes, hash_value
from datamake.core.records import filled, record
from datamake.define.lazymodules import lazy
from datamake.define import entrywatch
from datamake.define.accessors import registered_accessors
from datamake.define.codenames import ANY_ATTRIBUTE as _ANY_ATTRIBUTE, IMPORT as _IMPORT, code_names
from datamake.define.globalstate import DECIMAL_MODULES, DECIMAL_PART, decimal_context
from datamake.define.snapshot import (definitions_of, generation as snapshot_generation, in_package_folder,
                                      is_under_roots, source_digest)

ast = lazy("ast")  # parsing and disassembly: only for code not analysed before
dis = lazy("dis")
canonical = lazy("datamake.define.canonical")  # the canonical text of source: only for code not analysed before
importeffects = lazy("datamake.define.importeffects")  # a module's import statements: only for a module not seen before

_CACHE_FORMAT = 10  # 3: names read through getattr/hasattr; 4: modules named to import_module; 5: computed ones;
# 6: names handed to a call (``vars(settings)``: ``settings.*``); 7: an entry as one text, decorators kept once,
# a place written with spaces; 8: a line of only blanks in a string kept as it is; 9: an indented function
# parsed as an ``if`` body, not dedented (its multi-line strings kept as they are); a module's import statements
# 10: a relative name given to import_module resolved (``.helpers`` with a literal package)
_CACHE_LIMIT = 200_000

# An analysed definition: (digest without its own decorators, names it reads,
# its decorators as (digest, dotted head, names read)).
Decorator = Tuple[str, str, Tuple[str, ...]]
Entry = Tuple[str, Tuple[str, ...], Tuple[Decorator, ...]]
_normalized_cache: Dict[str, Optional[Entry]] = {}
_from_file: Dict[str, Any] = {}  # entries read from the cache file, converted when first used
_file_decorators: Dict[str, Decorator] = {}  # the file's decorators by digest (read with the file: a few)
_used: Set[str] = set()  # raw keys looked up or analysed since the cache file was read
_cache_dirty = False

_WARNING = "reads {what} {name} of type {type}, which datamake cannot version; give it a code_version= or pin it"


@record(frozen=True)
class CodeFingerprint:
    """An asset's automatic code version, the code dependencies behind it, and what it cannot version."""

    version: str
    parts: Mapping[str, str]  # qualified name -> hash, the function itself under "<self>"
    warnings: Tuple[str, ...] = ()


# -- a definition's analysis ------------------------------------------------------------

IMPORT_PART = _IMPORT  # the part of a project module imported inside a function
_DYNAMIC_IMPORT = ("imports a module by a computed name in {name}, which datamake cannot follow; "
                   "give it a code_version= or pin it")


def _head(expr: ast.AST) -> str:
    """The dotted name a decorator expression calls or is (``asset`` for ``@asset(...)``)."""
    return canonical.dotted(expr.func if isinstance(expr, ast.Call) else expr)


def _entry(nodes: List[ast.AST]) -> Entry:
    """Digest, names and decorators of one definition (several: all of them, conservatively).

    One pass over each tree gives both its canonical text and the names it reads."""
    texts: List[str] = []
    names: Set[str] = set()
    decorators = []
    for node in nodes:
        out: List[str] = []
        canonical.dump(node, out, True, names)
        texts.append("".join(out))
        for dec in getattr(node, "decorator_list", ()):
            read: Set[str] = set()
            out = []
            canonical.dump(dec, out, False, read)
            decorators.append((hash_bytes("".join(out).encode()), _head(dec), tuple(sorted(read))))
    digest = hash_bytes("\n".join(texts).encode())
    return digest, tuple(sorted(names)), tuple(decorators)


_INDENTED = "if 1:\n"  # what an indented text is parsed under: the body of an ``if``


def _parse_alone(source: str) -> Tuple[Any, int]:
    """``source`` parsed on its own: a node whose ``body`` holds its statements, and the line its first
    line has there. An indented text (a nested function's, a method's) is parsed as the body of an
    ``if``, not dedented: dedenting would change the value of a string whose lines it spans (a
    multi-line string re-indented with its function is another value), and that change must count."""
    if source[:1].strip() or not _indented(source):
        return ast.parse(source), 1
    return ast.parse(_INDENTED + source).body[0], 2


_FIRST_TEXT = r"(?m)^[ \t]*\S"  # the start of the first line that is not blank


def _indented(source: str) -> bool:
    """Does the first line of ``source`` that is not blank start with blanks?"""
    first = re.search(_FIRST_TEXT, source)
    return first is not None and first.group()[0] in " \t"


def normalized_source(source: str) -> str:
    """The canonical text of ``source`` with docstrings and its top-level decorators left out."""
    tree, _line = _parse_alone(source)
    return canonical.canonical_dump(ast.Module(body=[_undecorated(s) for s in tree.body], type_ignores=[]))


def _undecorated(stmt: ast.stmt) -> ast.stmt:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        stmt.decorator_list = []
    return stmt


# -- finding a definition's syntax tree --------------------------------------------------

def _arg_names(code: types.CodeType) -> Tuple[str, ...]:
    count = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    return tuple(code.co_varnames[:count])


def _lambda_args(node: ast.Lambda) -> Tuple[str, ...]:
    a = node.args
    names = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return tuple(names)


def _candidates(nodes: Iterable[ast.AST], code: types.CodeType, line: int) -> List[ast.AST]:
    """The definitions among ``nodes`` that compiled to ``code``, which starts at ``line``
    (in source order: the same whichever way they were found)."""
    if code.co_name == "<lambda>":
        args = _arg_names(code)
        found = [n for n in nodes if isinstance(n, ast.Lambda) and n.lineno == line and _lambda_args(n) == args]
        found = _compiled_to(found, code) if len(found) > 1 else found
    else:
        defs = (ast.FunctionDef, ast.AsyncFunctionDef)
        found = [n for n in nodes if isinstance(n, defs) and n.name == code.co_name and _first_line(n) == line]
    return sorted(found, key=lambda n: n.col_offset)


def _compiled_to(lambdas: List[ast.Lambda], code: types.CodeType) -> List[ast.Lambda]:
    """The one lambda among ``lambdas`` (on one line, with the same arguments) that compiles to ``code``'s
    bytecode and constants; all of them when none or several do (one reading names of the function
    around it compiles otherwise on its own): then they count together."""
    basis = _bytecode_basis(code)
    same = [n for n in lambdas if _lambda_basis(n) == basis]
    return same if len(same) == 1 else lambdas


def _lambda_basis(node: ast.Lambda) -> Optional[list]:
    """:func:`_bytecode_basis` of the lambda ``node`` compiled on its own (None when it does not compile so)."""
    try:
        compiled = compile(ast.Expression(body=node), "<lambda>", "eval")
    except (SyntaxError, ValueError, TypeError):
        return None
    return next((_bytecode_basis(c) for c in compiled.co_consts if isinstance(c, types.CodeType)), None)


def _first_line(node: Any) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _raw_key(source: str, code: types.CodeType) -> str:
    """What the analysis of a function's lines is cached under: its name, arguments and raw text; for a
    lambda, its bytecode too (lambdas with the same arguments on one line have the same lines)."""
    key = f"{code.co_name}\0{','.join(_arg_names(code))}\0{source}"
    if code.co_name == "<lambda>":
        key += f"\0{_bytecode_basis(code)!r}"
    return hash_bytes(key.encode())


def _analyse(source: str, code: types.CodeType, raw: Optional[str] = None,
             in_module: Callable[[], Optional[List[ast.AST]]] = lambda: None) -> Optional[Entry]:
    """The entry of the function ``code`` whose lines are ``source``, or None when they do not
    parse on their own; cached by the raw text. ``in_module`` may give the definition as its module's
    parse holds it, when that is what parsing ``source`` alone gives (:func:`_module_nodes`)."""
    def analyse() -> Optional[Entry]:
        try:
            nodes = in_module()
            if nodes is None:
                tree, line = _parse_alone(source)
                nodes = _candidates(ast.walk(tree) if code.co_name == "<lambda>" else tree.body[:1], code, line)
            return _entry(nodes) if nodes else None
        except SyntaxError:
            return None

    return _remembered(raw or _raw_key(source, code), analyse)


def _remembered(raw: str, analyse: Callable[[], Optional[Entry]]) -> Optional[Entry]:
    """The entry cached under ``raw``, or the one ``analyse`` gives, cached (and saved with the cache file)."""
    global _cache_dirty
    if raw in _normalized_cache or raw in _from_file:
        entry = _cached(raw)
        if entry is not None or raw in _normalized_cache:
            return entry
    _used.add(raw)
    entry = analyse()
    _normalized_cache[raw] = entry
    _cache_dirty = True
    return entry


class _ModuleSource:
    """A parsed module file, indexed by the first line of its functions and lambdas (once per process)."""

    def __init__(self, lines: List[str], tree: ast.Module, aligned: bool = False):
        self.lines = lines
        self.tree = tree
        self.aligned = aligned  # its lines are the parser's (no other line break than "\n")
        self.classes: Dict[str, Optional[Entry]] = {}
        self.bodies: Dict[str, Bindings] = {}  # a class's qualified name -> what its body binds
        self.stores: Optional[Dict[str, List[str]]] = None  # name -> attributes the module sets on it

    @functools.cached_property
    def by_line(self) -> Dict[int, List[ast.AST]]:
        found: Dict[int, List[ast.AST]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Lambda):
                found.setdefault(node.lineno, []).append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.setdefault(_first_line(node), []).append(node)
        return found

    @functools.cached_property
    def top_level(self) -> Dict[int, ast.AST]:
        """The module's own functions (not nested ones) by their first line."""
        defs = (ast.FunctionDef, ast.AsyncFunctionDef)
        return {_first_line(n): n for n in self.tree.body if isinstance(n, defs)}


_modules: Dict[str, _ModuleSource] = {}


def _module_source(filename: str, namespace: Optional[Mapping[str, Any]]) -> Optional[_ModuleSource]:
    import linecache  # lazy: only source analysed afresh (it imports tokenize)

    lines = linecache.getlines(filename, namespace)
    if not lines:
        return None
    cached = _modules.get(filename)
    if cached is None or cached.lines is not lines:  # linecache hands out the same list until it reloads
        try:
            text = "".join(lines)
            cached = _modules[filename] = _ModuleSource(lines, ast.parse(text), not re.search(_OTHER_BREAKS, text))
        except SyntaxError:
            return None
    return cached


def _module_entry(fn: Any) -> Optional[Entry]:
    """The entry of ``fn`` found in its whole module file, by line and name or arguments."""
    code = fn.__code__
    source = _module_source(code.co_filename, getattr(fn, "__globals__", None))
    if source is None:
        return None
    nodes = _candidates(source.by_line.get(code.co_firstlineno, []), code, code.co_firstlineno)
    return _entry(nodes) if nodes else None


_OTHER_BREAKS = "[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]"  # lines of their own to linecache, not to the parser (as above)
_PARSE_WHOLE_AFTER = 32  # functions of one module analysed one by one before its whole text is parsed once
_analysed_alone: Dict[str, int] = {}  # module file -> functions analysed one by one


def _module_nodes(fn: types.FunctionType, text: str) -> Optional[List[ast.AST]]:
    """``fn``'s definition as the parse of its whole module holds it, where that is exactly what parsing its
    lines ``text`` alone gives (a module-level ``def`` whose lines are ``text``),
    and the module is parsed already or has had many functions analysed one by one: one parse of the whole
    text then costs what parsing the rest one by one would, and the purity check takes the same tree."""
    code = fn.__code__
    if code.co_name == "<lambda>" or not text[:1].strip():
        return None
    filename = code.co_filename
    if filename not in _modules:
        if source_digest(filename) is None:
            return None  # the lines of a snapshot only: what was imported
        count = _analysed_alone[filename] = _analysed_alone.get(filename, 0) + 1
        if count <= _PARSE_WHOLE_AFTER:
            return None
    source = _module_source(filename, fn.__globals__)
    if source is None or not source.aligned:
        return None
    node = source.top_level.get(code.co_firstlineno)
    if node is None or node.name != code.co_name or node.end_lineno != code.co_firstlineno + text.count("\n") - 1:  # type: ignore[attr-defined]
        return None
    return [node]


def parsed_module(path: str, source: str) -> Optional[ast.Module]:
    """The syntax tree of the module file ``path`` if it was parsed whole from exactly ``source`` (else None)."""
    parsed = _modules.get(path)
    return parsed.tree if parsed is not None and "".join(parsed.lines) == source else None


def _class_source(cls: type) -> Optional[_ModuleSource]:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    return _module_source(filename, vars(module)) if filename else None


def _class_entry(cls: type) -> Optional[Entry]:
    """The entry of a class, found in its module file by qualified name."""
    source = _class_source(cls)
    if source is None:
        return None
    if cls.__qualname__ not in source.classes:
        source.classes[cls.__qualname__] = _find_class(source.tree, cls.__qualname__)
    return source.classes[cls.__qualname__]


def _class_bindings(cls: type) -> Bindings:
    """What the body of the class statement binds (see :mod:`~datamake.define.classpatches`)."""
    source = _class_source(cls)
    if source is None:
        return {}
    if cls.__qualname__ not in source.bodies:
        bindings = body_bindings(_class_nodes(source.tree, cls.__qualname__))
        if source.stores is None:
            source.stores = attribute_stores(source.tree)
        add_rebinds(source.stores.get(cls.__name__, ()), bindings)
        source.bodies[cls.__qualname__] = bindings
    return source.bodies[cls.__qualname__]


def _class_nodes(tree: ast.Module, qualname: str) -> List[ast.ClassDef]:
    nodes: List[ast.AST] = [tree]
    for segment in qualname.split("."):
        if segment == "<locals>":
            continue
        nodes = [n for parent in nodes for n in ast.walk(parent)
                 if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == segment
                 and n is not parent]
    return [n for n in nodes if isinstance(n, ast.ClassDef)]  # all of them: the same on every Python


def _method_nodes(cls: type) -> Dict[Tuple[str, int], ast.AST]:
    """The functions in the statement of ``cls`` by name and first line (empty without its source)."""
    source = _class_source(cls)
    if source is None:
        return {}
    defs = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {(sub.name, _first_line(sub)): sub for node in _class_nodes(source.tree, cls.__qualname__)
            for sub in ast.walk(node) if isinstance(sub, defs)}


def _find_class(tree: ast.Module, qualname: str) -> Optional[Entry]:
    nodes: List[ast.AST] = list(_class_nodes(tree, qualname))
    if not nodes:
        return None
    digest, names, decorators = _entry(nodes)
    reads = global_reads(nodes)  # a method's parameter named like a global hides it in that method only
    return digest, tuple(n for n in names if n in reads or not n.isidentifier()), decorators


def _function_text(fn: Any) -> Optional[str]:
    """The function's source lines, found from its code object: much cheaper than
    ``inspect.getsource`` (no tokenizing). From the first line (decorators
    included) to the last line any of its bytecode, nested code included, spans."""
    import linecache  # lazy: only source analysed afresh (it imports tokenize)

    code = fn.__code__
    lines = linecache.getlines(code.co_filename, getattr(fn, "__globals__", None))
    last = _last_line(code)
    first = code.co_firstlineno
    if not lines or last < first or last > len(lines):
        return None
    if not hasattr(code, "co_positions") and code.co_name != "<lambda>":
        last = _block_end(lines, first, last)  # line starts only: take the rest of the indented block
    return "".join(lines[first - 1:last])


def _block_end(lines: List[str], first: int, last: int) -> int:
    indent = len(lines[first - 1]) - len(lines[first - 1].lstrip())
    while last < len(lines):
        text = lines[last]
        if text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        last += 1
    return last


def _line_ends(code: types.CodeType) -> List[int]:
    if hasattr(code, "co_positions"):  # 3.11+: end lines of every instruction
        return [p[1] or 0 for p in code.co_positions()]
    if hasattr(code, "co_lines"):  # 3.10: line of every instruction
        return [line or 0 for _s, _e, line in code.co_lines()]

    return [line or 0 for _offset, line in dis.findlinestarts(code)]


def _last_line(code: types.CodeType) -> int:
    last = max(_line_ends(code), default=0)
    for const in code.co_consts:
        if type(const) is types.CodeType:
            last = max(last, _last_line(const))
    return last


_global_names = code_names  # names the code (nested code included) may read as globals or attributes


_DYNAMIC_READERS = ("globals", "eval", "exec")


def _reads_any_global(reads: Set[str], namespace: Mapping[str, Any]) -> bool:
    """Does the code call the builtin ``globals``, ``eval`` or ``exec``? A name reached through
    ``globals()["RATE"]`` or an evaluated string is not in the text, so every global may be read."""
    for name in _DYNAMIC_READERS:  # (a loop, not any() over a generator: once per asset of every plan)
        if name in reads and name not in namespace:
            return True
    return False


def _every_global(namespace: Mapping[str, Any]) -> List[str]:
    """The module's own globals, in a stable order (dunder names are the module's machinery)."""
    return sorted(name for name in namespace if not (name.startswith("__") and name.endswith("__")))


def _local_imports(code: types.CodeType) -> List[Tuple[str, int, Tuple[str, ...]]]:
    """The ``import`` statements inside the code (nested code included): (name, level, names imported)."""
    found: List[Tuple[str, int, Tuple[str, ...]]] = []
    raw = code.co_code
    if _IMPORT_NAME in raw and _IMPORT_NAME in raw[::2]:  # opcodes sit at even offsets: most functions import nothing
        consts: List[Any] = []
        for ins in dis.get_instructions(code):
            if ins.opname == "IMPORT_NAME":
                level, fromlist = consts if len(consts) == 2 else (0, None)  # LOAD_CONST level, fromlist
                names = tuple(n for n in (fromlist or ()) if isinstance(n, str) and n != "*")
                found.append((ins.argval, level if isinstance(level, int) else 0, names))
            consts = consts[-1:] + [ins.argval] if ins.opname == "LOAD_CONST" else []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(_local_imports(const))
    return found


_IMPORT_NAME = bytes([opmap["IMPORT_NAME"]])


def _bytecode_basis(code: types.CodeType) -> list:
    """Bytecode, names and constants (nested code objects recursively, never by address)."""
    return [code.co_code.hex(), list(code.co_names), [_const_basis(c) for c in code.co_consts]]


def _const_basis(const: Any) -> Any:
    if isinstance(const, types.CodeType):
        return _bytecode_basis(const)
    if isinstance(const, (tuple, frozenset)):
        items = [_const_basis(c) for c in const]
        return sorted(items, key=repr) if isinstance(const, frozenset) else items
    return canonical.constant(const)


# -- where a function's lines are --------------------------------------------------------

# (Python, digest of the module file's bytes, function name, first line) -> raw-text key of its lines.
# The code of a snapshotted module was compiled from exactly those bytes, so the same place in the
# same bytes is the same text: the lines need not be cut out and hashed again to find the analysis.
_located: Dict[str, str] = {}
_PYTHON = "%d.%d" % sys.version_info[:2]  # the lines of a function are found from its code positions


def _location(code: types.CodeType) -> Optional[str]:
    """Where a function's lines are, by the exact bytes of its module file; None without a snapshot."""
    if code.co_name == "<lambda>":
        return None  # several lambdas may start on one line
    digest = source_digest(code.co_filename)
    # (spaces between: JSON writes them as they are, a NUL as "\\u0000", slower to read back)
    return None if digest is None else f"{_PYTHON} {digest} {code.co_name} {code.co_firstlineno}"


def _source_entry(fn: types.FunctionType, code: types.CodeType) -> Optional[Entry]:
    """The analysis of ``fn``'s own lines (None when they cannot be found or parsed on their own); ``code``
    is its ``__code__``, read once by the caller (each read raises an audit event)."""
    global _cache_dirty
    where = _location(code)
    raw = _located.get(where) if where is not None else None
    entry = _cached(raw) if raw is not None else None
    if entry is not None:
        return entry
    text = _function_text(fn)
    if text is None:
        return None
    raw = _raw_key(text, code)
    entry = _analyse(text, code, raw, lambda: _module_nodes(fn, text))
    if where is not None and _located.get(where) != raw:
        _located[where] = raw
        _cache_dirty = True
    return entry


def _closed_fingerprint(fn: types.FunctionType) -> Optional["CodeFingerprint"]:
    """The fingerprint of a function that reads no global, captures nothing and has only datamake's
    decorators, from its analysis alone (None when any of that is not so: then it is walked, and the
    walk gives what this would have).

    Whether it reads globals is checked now, in its module as imported: the analysis says which names
    it may read, the module says whether any of them is bound. The analysis is the remembered one, or
    made now: a first build's functions are not walked either.
    """
    if fn.__closure__ or fn.__defaults__ or fn.__kwdefaults__ or getattr(fn, "__wrapped__", None) is not None:
        return None
    code = fn.__code__
    if _local_imports(code) or entrywatch.ORIGINAL in fn.__dict__:
        return None  # what it imports when it runs is walked (see Walker._imported); a watched reader's entry point
    try:
        entry = _source_entry(fn, code)
    except Exception:  # noqa: BLE001 - the walk meets it again and says why
        return None
    if entry is None:
        return None
    digest, names, decorators = entry
    namespace = fn.__globals__
    reads = _global_names(code)
    if _reads_docstrings(names) or _reads_any_global(reads, namespace) or registered_accessors(reads):
        return None  # docstrings become a part; globals(), eval or exec: every global is followed; df.clean
    for name in names:
        head = name.partition(".")[0]
        if head in reads and (head in namespace or _injected_builtin(head)) or name.startswith(_IMPORT):
            return None  # a global, or a module imported by name (``__import__("settings")``)
    for _d, head, _n in decorators:
        value = _resolve(head, namespace)
        if value is None or not _is_datamake(value):
            return None
    parts = {"<self>": digest}
    effects = import_effects(code.co_filename, _module_name(fn)) if not code.co_filename.startswith("<") else None
    if effects:
        parts.update(effects)
    return filled(CodeFingerprint, version=_version(parts), parts=parts)


# -- what project modules do when imported ------------------------------------------------

_effects: Dict[str, Tuple[int, Dict[str, str]]] = {}  # module file -> (snapshot generation, its parts)
_project_files: Dict[str, Tuple[int, Optional[str]]] = {}  # module name -> (generation, its file in the project)


def import_effects(filename: str, module: str) -> Mapping[str, str]:
    """A part for the import statements (:mod:`~datamake.define.importeffects`) of module ``module``
    (file ``filename``), of its project's definitions module, and of each project module these import,
    directly or through others: what they set when imported may change what any code of the module
    computes. Empty for most projects."""
    generation = snapshot_generation()
    known = _effects.get(filename)
    if known is not None and known[0] == generation:
        return known[1]
    parts: Dict[str, str] = {}
    seen: Set[str] = set()
    todo = [(module, filename, ()), *((name, path, ()) for path, name in definitions_of(filename))]
    while todo:
        name, path, wanted = todo.pop()
        if (path, wanted) in seen:
            continue
        seen.add((path, wanted))
        summary = _module_summary(path, name, wanted)
        if summary is None:
            continue
        digest, imported, used = summary
        if digest:  # (most modules have none)
            parts[f"<{name}.{wanted[0]}, called at import>" if wanted else f"<top level of {name}>"] = digest
        inputs = [(origin, used_name) for origin, used_name, _none in used
                  if origin in (importeffects.FILE, importeffects.ENV)]
        if inputs and digest:  # (a setting made from a file or a variable read at import)
            parts.update(_setting_inputs(name, path, inputs))
        for origin, used_name, _none in used:  # ``configure()`` after ``from conf import configure``
            if origin in (importeffects.FILE, importeffects.ENV):
                continue
            origin_path = _project_file(origin, generation)
            if origin_path is not None:
                todo.append((origin, origin_path, (used_name,)))
        for other in (name, *imported):  # (its own packages too: importing ``pkg.defs`` runs ``pkg``)
            for package in _with_packages(other):
                other_path = _project_file(package, generation)
                if other_path is not None and (other_path, ()) not in seen:
                    todo.append((package, other_path, ()))
    _effects[filename] = (generation, parts)
    return parts


def _setting_inputs(module: str, path: str, inputs: List[Tuple[str, str]]) -> Dict[str, str]:
    """Parts for what the import statements of ``module`` (file ``path``) may read: each file one of their
    strings names (relative to the module's folder or the working folder, which is the project's), by its
    bytes, and each environment variable they read by name, by its value (or as unset)."""
    parts: Dict[str, str] = {}
    for kind, text in inputs:
        if kind == importeffects.ENV:
            value = os.environ.get(text)
            parts[f"<environment variable {text}, read at import by {module}>"] = \
                hash_value("import-env", "unset" if value is None else value)[:16]
            continue
        for candidate in (text, os.path.join(os.path.dirname(path), text)):
            if os.path.isfile(candidate):
                try:
                    with open(candidate, "rb") as f:
                        data = f.read()
                except OSError:
                    break
                parts[f"<file {text}, read at import by {module}>"] = hash_bytes(data)[:16]
                break
    return parts


def _with_packages(module: str) -> List[str]:
    """``a.b.c``, ``a.b`` and ``a``: importing a module runs its packages first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _project_file(module: str, generation: int) -> Optional[str]:
    """The file of ``module`` when it is one of the project's (None for another, or none)."""
    known = _project_files.get(module)
    if known is None or known[0] != generation:
        path = _loaded_file(module)
        known = _project_files[module] = (generation, path if path and is_under_roots(path) else None)
    return known[1]


def _loaded_file(module: str) -> Optional[str]:
    """The file of ``module``, looked for only under a package that is not loaded from a file outside
    the project (``numpy.linalg``, ``datamake.asset``: not searched for)."""
    loaded = sys.modules.get(module) or sys.modules.get(module.partition(".")[0])
    path = getattr(loaded, "__file__", None)
    if loaded is not None and (loaded.__name__ == module or isinstance(path, str) and not is_under_roots(path)):
        return path if isinstance(path, str) else None
    from datamake.define.moduleimports import module_file  # lazy: only a project module not imported

    return module_file(module)


def _module_summary(path: str, module: str, wanted: Tuple[str, ...] = ()) -> Optional[Entry]:
    """(digest of the import statements of the module file ``path``, the modules it imports, ()), as
    imported (else as on disk); remembered by its text, as analyses are."""
    digest, source = source_digest(path), None
    if digest is None:  # not imported through a snapshot: the file as it is now
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            return None
        digest = hash_bytes(source)
    package = module if os.path.basename(path) == "__init__.py" else module.rpartition(".")[0]

    def analyse() -> Optional[Entry]:
        if source is None:  # imported: parsed once, here or for its functions' analyses, and kept for both
            imported = _module_source(path, None)
            return importeffects.summary(imported.tree, package, wanted) if imported is not None else None
        text = source.decode("utf-8", "surrogateescape")
        try:
            tree = parsed_module(path, text) or ast.parse(text)
        except (SyntaxError, ValueError):
            return None
        return importeffects.summary(tree, package, wanted)

    # (3: with the definitions they use, of the module's own names and of names it imports; 4: the files and
    # environment variables they may read)
    key = f"import statements 4\0{package}\0{digest}" + "".join(f"\0{name}" for name in wanted)
    return _remembered(hash_bytes(key.encode()), analyse)


# -- the persistent cache -----------------------------------------------------------------

def load_cache(data: Any) -> None:
    """Take normalized-source hashes computed by earlier runs (a pure speed-up), as read from the cache file.

    What another file left unread is dropped (the analyses already made stay in memory), and which
    entries are used is counted from here on: see :func:`cache_to_save`."""
    global _cache_dirty
    _from_file.clear()
    _file_decorators.clear()
    _used.clear()
    try:
        if data.get("format") == _CACHE_FORMAT:  # (another format, older or newer: not read, written anew)
            entries, decorators = data["entries"], data["decorators"]
            if isinstance(entries, dict) and isinstance(decorators, dict):
                _file_decorators.update({d: (d, head, tuple(map(intern, names)))
                                         for d, (head, names) in decorators.items()})
                _from_file.update(entries)
            # each place kept as it is, the new ones added in the file's order (not a loop of setdefault)
            _located.update({**data.get("located", {}), **_located})
    except (AttributeError, ValueError, KeyError, TypeError):  # of another shape: not used
        pass
    _cache_dirty = False


def _cached(raw: str) -> Optional[Entry]:
    """The cached analysis under ``raw`` (None when there is none, or it is None); one read from
    the cache file is converted here, when first used, not all of them when the file is read."""
    if raw not in _normalized_cache and raw in _from_file:
        try:
            _normalized_cache[raw] = _entry_from_json(_from_file.pop(raw))
        except (ValueError, TypeError, KeyError, AttributeError):  # of another shape: analysed again
            return None
    _used.add(raw)
    return _normalized_cache.get(raw)


# An entry in the cache file: None, or the text "digest|name name|decorator-digest decorator-digest", each
# decorator's head and names kept once under its digest (the same text has the same analysis). An entry
# with a name that the text cannot hold (a space or "|": ``import_module("a b")``) is kept as a list,
# [digest, [name, ...], [[decorator digest, head, [name, ...]], ...]].
_FIELDS = "|"


def _entry_from_json(entry: Any) -> Optional[Entry]:
    """An entry as the cache file holds it, in the form the analysis gives (names interned, as the
    code's own are). ValueError, TypeError, KeyError or AttributeError for one of another shape."""
    if entry is None:
        return None
    if entry.__class__ is str:
        digest, names, decorators = entry.split(_FIELDS)
        return digest, tuple(map(intern, names.split())), tuple([_file_decorators[d] for d in decorators.split()])
    digest, names, decorators = entry
    return digest, tuple(map(intern, names)), tuple([(d, h, tuple(map(intern, n))) for d, h, n in decorators])


def _names_fit(names: Iterable[str]) -> bool:
    """Whether ``names`` can be written in an entry's text (and read back from it the same)."""
    for name in names:
        if _FIELDS in name or name.split() != [name]:
            return False
    return True


def _entry_to_json(entry: Optional[Entry], decorators: Dict[str, Any]) -> Any:
    """``entry`` as the cache file holds it, its decorators added to ``decorators``."""
    if entry is None:
        return None
    digest, names, decs = entry
    if not _names_fit(names) or not all(_names_fit(n) for _d, _h, n in decs):
        return [digest, list(names), [[d, h, list(n)] for d, h, n in decs]]
    for d, h, n in decs:
        decorators[d] = [h, list(n)]
    return f"{digest}{_FIELDS}{' '.join(names)}{_FIELDS}{' '.join([d for d, _h, _n in decs])}"


def _unread_entries() -> Dict[str, Optional[Entry]]:
    """The entries of the cache file not used in this run, converted (any of another shape left out)."""
    unread = {}
    for raw, stored in _from_file.items():
        try:
            unread[raw] = _entry_from_json(stored)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return unread


def cache_to_save(keep_unused: bool = True) -> Optional[Dict[str, Any]]:
    """What to write back to the cache file, once, if this run added to it (else None): the entries
    used since the file was read, and with ``keep_unused`` those of the file that were not. A folder
    seeded from another folder's entries passes False, so that it keeps only what it uses: the
    entries of every folder seen before would otherwise pile up in each new one; it is written, once,
    even with nothing added when most of what it was seeded with went unused (a seed that had piled up)."""
    global _cache_dirty
    if not _cache_dirty and (keep_unused or not _from_file):
        return None  # nothing added, and nothing left unread (most runs): the entries used are not gathered
    used = {raw: _normalized_cache[raw] for raw in _used if raw in _normalized_cache}
    if not _cache_dirty and len(_from_file) <= len(used):
        return None
    _cache_dirty = False
    if not keep_unused:
        _from_file.clear()  # not carried on: and once written, not written again
    kept = list(({**_unread_entries(), **used} if keep_unused else used).items())[-_CACHE_LIMIT:]
    decorators: Dict[str, Any] = {}
    entries = {raw: _entry_to_json(entry, decorators) for raw, entry in kept}
    located = {where: raw for where, raw in list(_located.items())[-_CACHE_LIMIT:] if raw in entries}
    return {"format": _CACHE_FORMAT, "entries": entries, "decorators": decorators, "located": located}


# -- where code lives -------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _installed_roots() -> Tuple[str, ...]:
    """Where the interpreter's and installed packages' code lies (sysconfig: read when first needed)."""
    import sysconfig  # lazy: it loads the interpreter's build data, which a no-op rarely needs

    return tuple(
        os.path.realpath(p) + os.sep
        for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        if p
    )


def _installed(real: str) -> bool:
    return real.startswith(_installed_roots()) or in_package_folder(real)


def is_project_file(path: Optional[str], roots: Iterable[str]) -> bool:
    """True for a file under one of ``roots`` that is not part of an installed package."""
    return bool(path) and _is_project_file(path, tuple(roots))


@functools.lru_cache(maxsize=4096)
def _is_project_file(path: str, roots: Tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    if _installed(real):
        return False
    return any(real.startswith(os.path.realpath(r) + os.sep) for r in roots)


def _module_name(obj: Any) -> str:
    return getattr(obj, "__module__", None) or ""


def _is_datamake(obj: Any) -> bool:
    name = obj.__name__ if isinstance(obj, types.ModuleType) else _module_name(obj)
    if not isinstance(name, str):
        return False
    return name == "datamake" or name.startswith("datamake.")


def _class_name(cls: Any) -> str:
    """``module.Qualname`` of a class (a singledispatch registry's key)."""
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"


def _file_of(value: Any) -> Optional[str]:
    code = getattr(value, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(_module_name(value))
    return getattr(module, "__file__", None)


# -- following what a function reads ------------------------------------------------------

def _bind_walk_helpers() -> None:
    """Bind what only the walk uses (hashing values, what a class statement binds): a run whose
    functions are all closed, each versioned from its analysis alone, does not import it."""
    global Bindings, accessor, add_rebinds, attribute_stores, body_bindings, computed, defaults_are_literals
    global field_defaults, functions_of, global_reads, rebound, unaccounted, Encoder, Unversionable, root_variants
    global type_name, typing_form
    from datamake.define.classpatches import (Bindings, accessor, add_rebinds, attribute_stores, body_bindings,
                                              computed, defaults_are_literals, field_defaults, functions_of,
                                              global_reads, rebound, unaccounted)
    from datamake.define.valuehash import Encoder, Unversionable, root_variants, type_name, typing_form


class _Walker:
    """Follows what a callable reads to project code and data, recording a hash for each."""

    def __init__(self, roots: Iterable[str], root: Any):
        if "type_name" not in globals():
            _bind_walk_helpers()
        self.roots = tuple(roots)
        self.root = root
        self.parts: Dict[str, str] = {}
        self.warnings: List[str] = []
        self.done: Dict[int, str] = {}
        self.keep: List[Any] = []  # objects whose id is memoized stay alive
        self.home: Optional[str] = None  # the asset's own module: its names are not qualified
        self._encoder: Optional[Encoder] = None
        self.reads_docstrings = False  # some code it follows reads a __doc__: docstrings are data then
        self.modules: Set[str] = set()  # the modules imported by the code followed, looked at once each
        self.effects_seen: Set[str] = set()  # the module files whose import statements were added

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(self.code, root_variants(self.roots))
        return self._encoder

    @functools.cached_property
    def root_file(self) -> Optional[str]:
        return _file_of(_unwrap(self.root))

    def docstrings(self) -> str:
        """The docstrings of the project functions and classes followed (for code that reads ``__doc__``)."""
        followed = [obj for obj in self.keep if isinstance(obj, (types.FunctionType, type)) and self._where(obj) == "project"]
        methods = [f for cls in followed if isinstance(cls, type) for v in vars(cls).values() for f in functions_of(v)]
        found = {(_label_of(obj), obj.__doc__) for obj in followed + methods if isinstance(obj.__doc__, str)}
        return hash_value("docstrings", [list(item) for item in sorted(found)])

    def warn(self, what: str, name: str, type_: str) -> None:
        self._say(_WARNING.format(what=what, name=name, type=type_))

    def _say(self, sentence: str) -> None:
        if sentence not in self.warnings:
            self.warnings.append(sentence)

    def _where(self, obj: Any) -> str:
        """'project', 'installed' (not followed, not warned about) or 'outside'."""
        if obj is self.root:
            return "project"
        if _is_datamake(obj):
            return "installed"
        path = _file_of(obj)
        if not path:
            return "installed"  # builtins, C extensions
        if path.startswith("<frozen "):
            return "installed"  # a frozen standard-library module's code (posixpath, os, abc on 3.11+)
        if path.startswith("<"):
            return "project"  # exec'd code: versioned by its bytecode
        if not os.path.isabs(path):
            return "installed"  # a compiled extension's recorded source name (Cython: "pyarrow/_csv.pyx")
        if path == self.root_file or is_project_file(path, self.roots):
            return "project"
        return "installed" if _installed(os.path.realpath(path)) else "outside"

    def code(self, obj: Any, path: str) -> Optional[str]:
        """A digest for code (functions, classes, callables, project instances), or None for data."""
        key = id(obj)
        if key in self.done:
            return self.done[key]
        self.keep.append(obj)
        self.done[key] = f"cycle:{type_name(obj)}"  # a reference back to code being hashed
        digest = self._code(obj, path)
        if digest is None:
            del self.done[key]
        else:
            self.done[key] = digest
        return digest

    def _code(self, obj: Any, path: str) -> Optional[str]:
        if type(obj) is types.FunctionType:
            if entrywatch.ORIGINAL in obj.__dict__:  # a watched reader's entry point: the reader itself
                return self.code(obj.__dict__[entrywatch.ORIGINAL], path)
            if hasattr(obj, "__wrapped__") and self._where(obj) != "project":
                return self._installed_wrapper(obj, path)
            return self._named(obj, path, self._function)
        kind = type(obj).__name__
        if _is_datamake(type(obj)):
            if kind == "AssetDef":
                return self.code(obj.fn, path)
            if kind in ("OpDef", "GraphDef"):  # an op's code, config class and pin; a graph's body
                config = getattr(obj, "config", None)
                return hash_value(kind, self.code(obj.fn, path), getattr(obj, "code_version", None),
                                  None if config is None else self.code(config, f"{path}.config"))
            if kind == "SourceDef":
                return self._source_def(obj, path)
            partitions = sys.modules.get("datamake.core.partitions")  # (not loaded: no definition exists)
            if partitions is not None and isinstance(obj, partitions.PartitionsDefinition):
                return hash_value("partitions", partitions.definition_text(obj))  # read by the code itself: its keys count
            return f"datamake:{kind}"
        if isinstance(obj, (staticmethod, classmethod)):
            return self.code(obj.__func__, path)
        if isinstance(obj, types.MethodType):
            return hash_value("method", self.code(obj.__func__, path), self.encoder.encode(obj.__self__, path))
        if isinstance(obj, types.FunctionType):
            return self._named(obj, path, self._function)
        if isinstance(obj, type):
            return self._named(obj, path, self._class)
        if isinstance(obj, types.BuiltinFunctionType):
            owner = obj.__self__
            if owner is None or isinstance(owner, types.ModuleType):
                return f"ext:{_module_name(obj)}.{obj.__qualname__}"
            return hash_value("bound", obj.__qualname__, self.encoder.encode(owner, path))
        made_from = _MADE_FROM.get((type(obj).__module__, type(obj).__qualname__))
        if made_from is not None:  # before __wrapped__: a dask Delayed makes up any attribute asked for
            return hash_value("made from", type_name(obj),
                              self._encode_or_warn(getattr(obj, made_from), f"{path}.{made_from}", "wrapped"))
        if hasattr(obj, "__wrapped__") and not isinstance(obj, types.ModuleType):
            return self._wrapper(obj, path)
        if callable(obj) and isinstance(getattr(obj, "__name__", None), str) and self._where(obj) == "installed":
            return self._installed_callable(obj, path)  # e.g. a Cython function of an installed package
        where = self._where(type(obj))
        if where == "project" and not isinstance(obj, types.ModuleType):
            return hash_value("instance", self.code(type(obj), path), self.encoder.state(obj, path))
        if where == "installed" and callable(obj) and isinstance(getattr(obj, "__name__", None), str):
            held = self._held_code(obj, path)  # ``toolz.curry(f)``: f
            return f"ext:{type_name(obj)}.{obj.__name__}" if not held else \
                hash_value("holds", type_name(obj), held)  # an installed function-like object (a ufunc)
        return self._importable(obj)

    def _held_code(self, obj: Any, path: str) -> List[str]:
        """The project functions (bare, or in a ``functools.partial``) that an installed function-like
        object keeps among its attributes and calls (``toolz.curry(f)`` keeps ``partial(f)``)."""
        held = []
        for name, value in sorted((getattr(obj, "__dict__", None) or {}).items()):
            func = value.func if isinstance(value, functools.partial) else value
            if isinstance(func, types.FunctionType) and self._where(func) == "project":
                held.append(f"{name}={self._encode_or_warn(value, f'{path}.{name}', 'attribute')}")
        return held

    def _installed_callable(self, obj: Any, path: str) -> Optional[str]:
        """A function-like object of an installed package, by its name; one that calls the function it
        was made from (``np.vectorize(f)``) by that function; None for one made from a function with no
        name to import it by (``np.frompyfunc(f, 1, 1)``, which does not give the function back: named
        in a warning)."""
        pyfunc = getattr(obj, "pyfunc", None)  # numpy.vectorize
        if isinstance(pyfunc, types.FunctionType):
            settings = [getattr(obj, "otypes", None), getattr(obj, "signature", None), getattr(obj, "excluded", None)]
            return hash_value("vectorized", type_name(obj), self.code(pyfunc, f"{path}.pyfunc"),
                              self.encoder.encode(settings, path))
        if not _module_name(obj):
            return None
        held = self._held_code(obj, path)
        return f"ext:{_module_name(obj)}.{obj.__name__}" if not held else hash_value("holds", type_name(obj), held)

    def _named(self, obj: Any, path: str, how: Callable[[Any, str], str]) -> str:
        where = self._where(obj)
        qualname = getattr(obj, "__qualname__", "?")
        if where != "project":
            if where == "outside":
                self.warn("global", path, f"{type(obj).__name__} from outside the project")
            return f"ext:{_module_name(obj)}.{qualname}"
        if obj is self.root:
            label = "<self>"
        elif "<" in qualname:
            label = path
        else:
            label = f"{_module_name(obj)}.{qualname}"
        digest = how(obj, label)
        self.parts.setdefault(label, digest)
        self._import_effects(obj)
        return digest

    def _import_effects(self, obj: Any) -> None:
        """What the module of project code ``obj``, and the project modules it imports, set when imported."""
        path = _file_of(obj)
        if path and not path.startswith("<") and path not in self.effects_seen:
            self.effects_seen.add(path)
            self.parts.update(import_effects(path, _module_name(obj)))

    def _importable(self, obj: Any) -> Optional[str]:
        """Installed code reachable by its own qualified name (a ufunc, a typing form): by name."""
        module, qualname = _module_name(obj), getattr(obj, "__qualname__", None)
        if qualname is None and module == "typing":
            qualname = getattr(obj, "_name", None)  # typing.ClassVar on Python 3.9 and 3.10: no __qualname__
        if not isinstance(qualname, str) or not module or _is_datamake(obj):
            return None
        target: Any = sys.modules.get(module)
        for attr in qualname.split("."):
            target = getattr(target, attr, None)
        return f"ext:{module}.{qualname}" if target is obj else None

    def _wrapper(self, obj: Any, path: str) -> str:
        """``lru_cache`` and other wrappers of a function: the wrapped function and the settings."""
        settings = obj.cache_parameters() if hasattr(obj, "cache_parameters") else {}
        inner = self.code(obj.__wrapped__, f"{path}.__wrapped__")
        return hash_value("wrapped", type_name(obj), inner, self.encoder.encode(dict(sorted(settings.items())), path))

    def _installed_wrapper(self, obj: types.FunctionType, path: str) -> str:
        """A function made by an installed decorator around project code (``@contextmanager``,
        ``@singledispatch`` and its registered implementations, a library's ``functools.wraps``
        wrapper): the wrapped function (whose own decorator text holds the decorator's arguments)."""
        inner = [self.code(obj.__wrapped__, f"{path}.__wrapped__")]
        registry = getattr(obj, "registry", None)
        if callable(getattr(obj, "dispatch", None)) and hasattr(registry, "items"):  # singledispatch
            for name, impl in sorted(((_class_name(cls), impl) for cls, impl in registry.items()), key=lambda item: item[0]):
                if impl is not obj.__wrapped__:
                    inner.append(f"{name}:{self.code(impl, f'{path}.registry')}")
        digest = hash_value("wrapper", inner)
        self.parts.setdefault(path, digest)
        return digest

    def _source_def(self, src: Any, path: str) -> str:
        described = [src.key, src.url, src.load, src.observe, dict(src.storage_options)]
        return hash_value("source", self.encoder.encode(described, path))

    def _function(self, fn: types.FunctionType, label: str) -> str:
        code = fn.__code__
        entry = _source_entry(fn, code)
        if entry is None:
            entry = _module_entry(fn)
        namespace = fn.__globals__
        reads = _global_names(code)
        self._accessors(reads)
        if entry is None:  # no source at all (exec'd): the bytecode and the globals it names
            self._imported(code, namespace)
            for name in _every_global(namespace) if _reads_any_global(reads, namespace) else sorted(reads):
                self._follow(name, namespace)
            return hash_value("bytecode", _bytecode_basis(code), self._captured(fn, label))
        digest, names, decorators = entry
        self.reads_docstrings = self.reads_docstrings or _reads_docstrings(names)
        self._imported(code, namespace)
        kept = [d for d in decorators if not self._is_datamake_decorator(d[1], namespace)]
        if _reads_any_global(reads, namespace):
            reads = set(_every_global(namespace)) | reads
            names = sorted(set(names) | reads)
        for name in names:
            if name.split(".", 1)[0] in reads:
                self._follow(name, namespace)
            elif name.startswith(_IMPORT):  # importlib.import_module("settings")
                self._import_named(name, label, reads, namespace)
        for _d, _h, dec_names in kept:
            for name in dec_names:
                self._follow(name, namespace)
        captured = self._captured(fn, label)
        if not kept and not captured:
            return digest
        return hash_value("fn", digest, [d[0] for d in kept], captured)

    def _accessors(self, reads: Set[str]) -> None:
        """The classes registered as pandas accessors under a name the code reads (``df.clean.total()``:
        the class registered as ``clean``), which no name in the code leads to."""
        for name, cls in registered_accessors(reads):
            self.code(cls, f"<accessor {name}>")

    def _import_named(self, name: str, label: str, reads: Iterable[str] = (),
                      reader: Mapping[str, Any] = types.MappingProxyType({})) -> None:
        """``importlib.import_module("settings")`` (or ``__import__``) read as ``import:settings``: the
        module's part, and what the code (which reads ``reads``, in module ``reader``) reads from it;
        with a computed name (``import:*``), which module no one knows: a warning."""
        module = name[len(_IMPORT):]
        if module.startswith("."):  # import_module(".helpers", __package__): the reader's package
            module = canonical.resolved_import(module, reader.get("__package__")) or _ANY_ATTRIBUTE
        if module == _ANY_ATTRIBUTE:
            self._say(_DYNAMIC_IMPORT.format(name="its own body" if label == "<self>" else label))
        else:
            self._module_part(module)
            self._values_read_from(module, reads, reader)

    def _captured(self, fn: types.FunctionType, label: str) -> List[str]:
        """Closure cells, defaults and the wrapped function, canonically encoded."""
        out = []
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                out.append(f"{name}=<empty>")
                continue
            out.append(f"{name}={self._encode_or_warn(value, f'{label}.{name}', 'closure variable')}")
        if fn.__defaults__:
            out.append("defaults=" + self._encode_or_warn(fn.__defaults__, f"{label}.__defaults__", "default"))
        if fn.__kwdefaults__:
            kw = dict(sorted(fn.__kwdefaults__.items()))
            out.append("kwdefaults=" + self._encode_or_warn(kw, f"{label}.__kwdefaults__", "default"))
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            out.append("wrapped=" + self._encode_or_warn(wrapped, f"{label}.__wrapped__", "wrapped"))
        return out

    def _class(self, cls: type, label: str) -> str:
        entry = _class_entry(cls)
        module = sys.modules.get(cls.__module__)
        namespace = vars(module) if module else {}
        bases = [self.code(b, f"{label}.__base__") for b in cls.__mro__[1:] if b is not object and not _helper_base(b)]
        if entry is None:  # made by a call (namedtuple, Enum("E", ...)): its attributes
            attrs = {k: v for k, v in vars(cls).items() if not (k.startswith("__") and k.endswith("__"))
                     and not accessor(v)}
            return hash_value("class?", cls.__qualname__, bases, self._encode_or_warn(attrs, label, "class"))
        digest, names, decorators = entry
        self.reads_docstrings = self.reads_docstrings or _reads_docstrings(names)
        if _reads_any_global(set(names), namespace):  # globals(), eval or exec in a method: any global
            names = (*names, *_every_global(namespace))
        for name in names:
            if name.startswith(_IMPORT):
                self._import_named(name, label, (), namespace)
            else:
                self._follow(name, namespace)
        for value in vars(cls).values():  # ``import plugins`` in a method runs plugins too
            for method in functions_of(value):
                self._imported(method.__code__, method.__globals__)
                self._accessors(_global_names(method.__code__))
        for _d, _h, dec_names in decorators:
            for name in dec_names:
                self._follow(name, namespace)
        patched = self._beyond_text(cls, label, getattr(module, "__file__", None))
        if patched:
            return hash_value("class", digest, [d[0] for d in decorators], bases, patched)
        return hash_value("class", digest, [d[0] for d in decorators], bases)

    def _beyond_text(self, cls: type, label: str, filename: Optional[str]) -> List[str]:
        """What the class statement's text does not show: attributes set or computed, what its methods
        capture, and the same of each class nested in it (``Config.Paths.COLS = json.load(...)``)."""
        out = self._patched(cls, label) + self._methods_captured(cls, label, filename)
        for name, value in vars(cls).items():
            if isinstance(value, type) and value.__qualname__ == f"{cls.__qualname__}.{name}":
                inner = self._beyond_text(value, f"{label}.{name}", filename)
                if inner:
                    out.append(f"{name}:[{','.join(inner)}]")
        return out

    def _methods_captured(self, cls: type, label: str, filename: Optional[str]) -> List[str]:
        """What the methods the class statement defines hold besides their text: closure cells (a class
        made in a factory: ``make_cleaner(5)``), default values computed at import (``cols=load()``;
        a literal default is in the text already)."""
        out = []
        prefix = f"{cls.__qualname__}."
        nodes: Optional[Dict[Tuple[str, int], ast.AST]] = None
        for name, value in vars(cls).items():
            for method in functions_of(value):
                code = method.__code__
                if not method.__qualname__.startswith(prefix) or code.co_filename != filename:
                    continue  # made elsewhere (by @dataclass, or set on the class: see _patched)
                closes = any(n != "__class__" for n in code.co_freevars)  # (``super()`` closes over the class)
                if not closes and not method.__defaults__ and not method.__kwdefaults__:
                    continue  # most methods
                if not closes:
                    nodes = _method_nodes(cls) if nodes is None else nodes
                    node = nodes.get((method.__name__, code.co_firstlineno))
                    if node is not None and defaults_are_literals(node.args, method.__defaults__ or (),
                                                                  method.__kwdefaults__ or {}):
                        continue
                captured = self._captured(method, f"{label}.{name}")
                if captured:
                    out.append(f"{name}:{';'.join(captured)}")
        return out

    def _patched(self, cls: type, label: str) -> List[str]:
        """The attributes set on the class after its statement (``Cls.run = other_fn``, ``Cls.RATE = 5``),
        which its source does not show."""
        out = []
        bindings = _class_bindings(cls)
        for name, value in unaccounted(cls, bindings, lambda f: self._where(f) == "project"):
            functions = functions_of(value)
            if functions:
                text = ",".join(self.code(f, f"{label}.{name}") or "" for f in functions)
            elif rebound(bindings, name):  # Cls.CONN = connect(...) in the project's text: sound or loud
                text = self._encode_or_warn(value, f"{label}.{name}", "class attribute")
            else:
                try:
                    text = self.encoder.encode(value, f"{label}.{name}")
                except Exception:  # noqa: BLE001 - what a library's class machinery sets: left out, as before
                    continue
                if computed(bindings, name):  # COLUMNS = json.load(...) in the body: named when it changes
                    self.parts[f"{label}.{name}"] = hash_value("const", text)
                    continue
            out.append(f"{name}={text}")
        self._taken_defaults(cls, label, bindings)
        return out

    def _taken_defaults(self, cls: type, label: str, bindings: Bindings) -> None:
        """Computed defaults that a library's class machinery took out of the class (a pydantic model's
        ``cols: list = json.load(...)``, an attrs class's): a part each, by content, as on a plain class."""
        names = [n for n in bindings if computed(bindings, n) and (n not in vars(cls) or accessor(vars(cls)[n]))]
        if not names:
            return  # most classes
        defaults = field_defaults(cls)
        for name in names:
            if name in defaults:
                try:
                    text = self.encoder.encode(defaults[name], f"{label}.{name}")
                except Exception:  # noqa: BLE001 - the library's marker for "no default", a factory: in the text
                    continue
                self.parts[f"{label}.{name}"] = hash_value("const", text)

    def _is_datamake_decorator(self, head: str, namespace: Mapping[str, Any]) -> bool:
        value = _resolve(head, namespace)
        return value is not None and _is_datamake(value)

    def _encode_or_warn(self, value: Any, name: str, what: str) -> str:
        try:
            return self.encoder.encode(value, name)
        except Unversionable as exc:
            self.warn(what, name, exc.type_name)
            return f"unversionable:{exc.type_name}"
        except Exception:  # noqa: BLE001 - user objects may fail in any way while being read
            self.warn(what, name, type_name(value))
            return f"unversionable:{type_name(value)}"

    def _imported(self, code: types.CodeType, namespace: Mapping[str, Any]) -> None:
        """A project module imported inside the function (``import helpers``, ``from .util import f``)
        is code it runs: each is a part, the digest of the module's whole source."""
        package = namespace.get("__package__") or ""
        for name, level, names in _local_imports(code):
            try:
                full = importlib.util.resolve_name("." * level + name, package) if level else name
            except (ImportError, ValueError):
                continue
            for module in (full, *(f"{full}.{n}" for n in names)):
                self._module_part(module)
                self._values_read_from(module, _global_names(code), namespace)

    def _values_read_from(self, module: str, reads: Iterable[str], reader: Mapping[str, Any]) -> None:
        """What code reads from a project module it imports when it runs (``lookup.TABLE``, ``from lookup
        import TABLE``, under any alias), when that module is imported already: followed as its globals,
        so that data its import computed (``TABLE = json.load(...)``), which its source does not show,
        counts by content (an import that runs again is watched reading the file instead)."""
        loaded = sys.modules.get(module)
        if loaded is None or not is_project_file(getattr(loaded, "__file__", None), self.roots):
            return
        namespace = vars(loaded)
        for name in sorted(reads):
            if name in namespace and not (name.startswith("__") and name.endswith("__")):
                if self.home is None:
                    self.home = reader.get("__name__")  # labelled by their module, as read from the reader's
                self._follow(name, namespace)

    def _module_part(self, module: str) -> None:
        """A project module the code imports: a part, the digest of the module's whole source; and
        so, in turn, each project module its source imports (what it runs is in those)."""
        from datamake.define.moduleimports import imported_modules, module_file  # lazy: only code that imports

        if module in self.modules:
            return
        self.modules.add(module)
        package = module.rpartition(".")[0]
        if package:  # importing pkg.sub runs pkg/__init__.py first
            self._module_part(package)
        path = module_file(module)
        if path is None or not is_project_file(path, self.roots):
            return
        digest, source = source_digest(path), None
        if digest is None:  # not imported (yet): the file as it is now
            try:
                with open(path, "rb") as f:
                    source = f.read()
            except OSError:
                return
            digest = hash_bytes(source)
        self.parts[f"{_IMPORT}{module}"] = hash_value("module source", digest)
        for name in imported_modules(path, module, source):
            self._module_part(name)

    def _follow(self, dotted: str, namespace: Mapping[str, Any]) -> None:
        head, *rest = dotted.split(".")
        if head not in namespace:
            if not _injected_builtin(head):
                return  # a local, a builtin, or a parameter
            namespace = vars(builtins)  # ``builtins.RATE = 3`` by a project module: read like a global
        value = namespace[head]
        module = namespace.get("__name__")
        if self.home is None:
            self.home = module
        label = head if module == self.home else f"{module}.{head}"
        for attr in rest:
            if attr == _ANY_ATTRIBUTE:  # getattr(module, computed name): any of its globals
                self._follow_every_global(value)
                return
            if attr == "__dict__" and isinstance(value, types.ModuleType):  # settings.__dict__["RATE"]
                self._follow_every_global(value)
                return
            if not isinstance(value, types.ModuleType) or not hasattr(value, attr):
                if isinstance(value, types.FunctionType) and attr in vars(value) and attr != "__wrapped__":
                    self._record(f"{label}.{attr}", vars(value)[attr])  # helper.factor = 3: the function's data
                break
            value = getattr(value, attr)
            label = f"{label}.{attr}"
        self._record(label, value)

    def _follow_every_global(self, module: Any) -> None:
        """Every global of a project module that code reads by a computed name."""
        if not isinstance(module, types.ModuleType) or not is_project_file(getattr(module, "__file__", None), self.roots):
            return  # an object's attributes are in its encoding; an installed module is its package's
        namespace = vars(module)
        for name in _every_global(namespace):
            self._follow(name, namespace)

    def _record(self, label: str, value: Any) -> None:
        if label in self.parts or isinstance(value, types.ModuleType):
            return
        if any(value is env for env in _ENVIRONMENT):  # read at run time: each variable is versioned then (envwatch)
            return
        if _module_name(value) in DECIMAL_MODULES and DECIMAL_PART not in self.parts:
            context = decimal_context()  # decimal.getcontext().prec = 6 at import changes what Decimal computes
            if context is not None:
                self.parts[DECIMAL_PART] = context
        if isinstance(value, (types.FunctionType, type)) and typing_form(value) is None:  # list[int] is a type on 3.9
            try:
                self.code(value, label)  # records its own part under its qualified name
            except Exception:  # noqa: BLE001 - planning must go on; the warning says why
                self.warn("global", label, type_name(value))
                self.parts[label] = hash_value("unversionable", type_name(value))
            return
        text = self._encode_or_warn(value, label, "global")
        if text.startswith(("code:ext:", "code:datamake:")):
            return  # installed code: covered by track_packages=
        big = len(text) >= 10_000
        self.parts[label] = hash_value("const#", hash_bytes(text.encode())) if big else hash_value("const", text)


# Installed wrappers that call (or hold) what they were made from, by the attribute that keeps it:
# ``joblib.Memory(None).cache(f)`` calls ``f``; ``dask.delayed(f)`` calls ``f`` when computed.
_MADE_FROM = {("joblib.memory", "NotMemorizedFunc"): "func", ("dask.delayed", "DelayedLeaf"): "_obj"}
_ENVIRONMENT = tuple(getattr(os, name) for name in ("environ", "environb") if hasattr(os, name))
_BUILTIN_CONSTANTS = ("None", "True", "False", "Ellipsis", "NotImplemented")
_BUILTIN_MODULES = ("builtins", "_sitebuiltins", "io", "_io")  # len, int, ValueError; help, exit; open


def _injected_builtin(name: str) -> bool:
    """Is ``name`` a builtin that code set or replaced (``builtins.RATE = 3``, ``builtins._ = gettext``)?"""
    value = vars(builtins).get(name, _BUILTIN_CONSTANTS)
    if value is _BUILTIN_CONSTANTS or name in _BUILTIN_CONSTANTS or name.startswith("__"):
        return False
    return getattr(value, "__module__", None) not in _BUILTIN_MODULES


def _helper_base(cls: type) -> bool:
    """A base class that only some Pythons put in a class's MRO (``enum.ReprEnum``, 3.11+, under
    ``IntEnum``): left out, so that the same class has the same version on every Python."""
    return cls.__module__ == "enum" and cls.__name__ == "ReprEnum"


def _reads_docstrings(names: Iterable[str]) -> bool:
    """Does code that reads these names read a docstring (``query.__doc__``, ``inspect.getdoc(query)``)?"""
    for name in names:  # (a loop, not any() over a generator: once per asset of every plan)
        if name.endswith(_DOC_READERS) and name.rpartition(".")[2] in _DOC_READERS:
            return True
    return False


_DOC_READERS = ("__doc__", "getdoc")


def _label_of(obj: Any) -> str:
    return f"{_module_name(obj)}.{getattr(obj, '__qualname__', '?')}"


def _resolve(dotted: str, namespace: Mapping[str, Any]) -> Any:
    if "." not in dotted:  # most: a plain name (``asset``)
        return namespace.get(dotted) if dotted else None
    head, *rest = dotted.split(".")
    value = namespace.get(head)
    for attr in rest:
        value = getattr(value, attr, None)
    return value


def _unwrap(fn: Any) -> Any:
    for _ in range(100):
        if type(fn).__name__ == "AssetDef" and _is_datamake(type(fn)):
            fn = fn.fn
        elif isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        else:
            break
    return fn


def fingerprint(fn: Callable[..., Any], roots: Iterable[str] = (), packages: Iterable[str] = ()) -> CodeFingerprint:
    """The automatic code version of ``fn`` (any callable) and its code dependencies.

    ``roots`` are the project folders whose code is followed; ``packages`` are
    installed distributions whose versions the user opted in to.
    """
    if type(fn) is types.FunctionType and not packages:  # most assets: source alone, walked before
        closed = _closed_fingerprint(fn)
        if closed is not None:
            return closed
    walker = _Walker(roots, fn)
    if isinstance(fn, types.FunctionType):  # the common case, directly
        try:
            walker.code(fn, "<self>")
        except Exception:  # noqa: BLE001 - planning goes on; the warning says why
            walker.warn("callable", "<self>", type_name(fn))
            walker.parts["<self>"] = hash_value("bytecode", _bytecode_basis(fn.__code__))
    if "<self>" not in walker.parts:
        text = walker._encode_or_warn(fn, "<self>", "callable")
        if "<self>" not in walker.parts:
            walker.parts["<self>"] = hash_value("callable", text)
    parts = dict(walker.parts)
    if walker.reads_docstrings:
        parts["<docstrings>"] = walker.docstrings()
    for package in packages:
        parts[f"package:{package}"] = _package_version(package)
    return CodeFingerprint(_version(parts), parts, tuple(sorted(walker.warnings)))


def _version(parts: Mapping[str, str]) -> str:
    # A flat, unambiguous encoding (names and hashes hold no NUL or newline) is
    # cheaper than canonical JSON, and this runs for every asset on every plan.
    if len(parts) == 1:  # most functions: their own text alone (the same text, without sorting)
        (name, digest), = parts.items()
        return hash_bytes(f"code\0{name}\0{digest}".encode())[:16]
    text = "code\0" + "\n".join(f"{name}\0{digest}" for name, digest in sorted(parts.items()))
    return hash_bytes(text.encode())[:16]


def auto_code_version(fn: Callable[..., Any], roots: Iterable[str] = ()) -> str:
    """A short, stable version string for ``fn``'s logic (see :func:`fingerprint`)."""
    return fingerprint(fn, roots).version


def _package_version(package: str) -> str:
    from importlib import metadata  # lazy: slow to import; only tracked packages need it

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not-installed"


def changed_parts(recorded: Mapping[str, str], current: Mapping[str, str]) -> List[str]:
    """Names of code dependencies that were added, removed or changed."""
    names = set(recorded) | set(current)
    return sorted(n for n in names if recorded.get(n) != current.get(n))
