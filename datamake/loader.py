"""Importing the user's definitions module: the one place that runs user code at import time."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from typing import Dict, Tuple

from .definitions import Definitions, definitions_from_module
from .errors import ConfigError, DatamakeError, DefinitionsImportError

_loaded: Dict[Tuple[str, str], Definitions] = {}


def load_definitions(project_dir: str, ref: str) -> Definitions:
    """Import ``ref`` (a .py path relative to ``project_dir`` or a dotted module) once per process."""
    cache_key = (os.path.abspath(project_dir), ref)
    if cache_key not in _loaded:
        _loaded[cache_key] = definitions_from_module(_import(project_dir, ref))
    return _loaded[cache_key]


def remember(project_dir: str, ref: str, defs: Definitions) -> None:
    """Register already-loaded definitions (so in-process workers do not import twice)."""
    _loaded[(os.path.abspath(project_dir), ref)] = defs


def _import(project_dir: str, ref: str):
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    if ref.endswith(".py") or os.sep in ref or "/" in ref:
        path = os.path.normpath(os.path.join(project_dir, ref))
        if not os.path.isfile(path):
            raise ConfigError(
                f"[project] definitions = '{ref}': no such file {path}",
                hint="point it at the .py file that defines your assets, relative to datamake.toml",
            )
        name = os.path.splitext(os.path.basename(path))[0]
        existing = sys.modules.get(name)
        if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
            return existing
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        _hash_checked_bytecode(path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        _run_user_code(lambda: spec.loader.exec_module(module), path)
        return module
    try:
        return _run_user_code(lambda: importlib.import_module(ref), ref)
    except ModuleNotFoundError as exc:
        if exc.name == ref.split(".")[0] or exc.name == ref:
            raise ConfigError(f"[project] definitions = '{ref}': no module named {exc.name!r}") from None
        raise


def _hash_checked_bytecode(path: str) -> None:
    """Make Python check the cached .pyc of ``path`` against the source's hash, not its mtime.

    A timestamp .pyc goes unnoticed stale when the file is edited within the
    same second without changing its size; datamake would then record the new
    code version with a value computed by the old code. A hash-checked .pyc,
    once written, stays hash-checked (the import system rewrites it so).
    """
    if sys.dont_write_bytecode:
        return
    import py_compile

    cached = importlib.util.cache_from_source(path)
    try:
        with open(cached, "rb") as f:
            if int.from_bytes(f.read(8)[4:8], "little") == 0b11:  # hash-based, check_source
                return
    except OSError:
        pass
    try:
        py_compile.compile(path, cfile=cached, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except (py_compile.PyCompileError, OSError):
        pass  # a syntax error is reported by the import itself; a read-only folder just has no cache


def _run_user_code(fn, where: str):
    try:
        return fn()
    except DatamakeError:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, ModuleNotFoundError) and "/" not in where and not where.endswith(".py"):
            raise
        raise DefinitionsImportError(
            f"importing the definitions in {where} failed:\n{format_user_traceback(exc)}",
            hint="fix the error above in your code; datamake itself is fine",
        ) from None


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` limited to frames outside datamake and importlib."""
    here = os.path.dirname(os.path.abspath(__file__))
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(here) and "importlib" not in f.filename and not f.filename.startswith("<frozen")
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()
