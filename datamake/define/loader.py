"""Importing the user's definitions module: the one place that runs user code at import time."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from typing import Dict, Iterable, Optional, Tuple

from datamake.define import entrywatch, openwatch, snapshot
from datamake.define.assets import Definitions, definitions_from_module
from datamake.core.errors import ConfigError, DatamakeError, DefinitionsImportError, did_you_mean

_loaded: Dict[Tuple[str, str], Definitions] = {}
# (the project whose definitions were loaded last, how many times project code was forgotten); a new
# tuple only when either changes
_state: Tuple[Optional[Tuple[str, str]], int] = (None, 0)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # datamake/, not define/


def load_definitions(project_dir: str, ref: str, reload_changed: bool = False) -> Definitions:
    """Import ``ref`` (a .py path relative to ``project_dir`` or a dotted module) once per process.

    Project modules are imported through source snapshots (see :mod:`datamake.define.snapshot`), so
    code versions describe the code that was imported. With ``reload_changed`` (a command
    loading the project, not a task of a run already planned), every project module is
    imported afresh when one of them changed on disk since: a long-lived process picks up edits.
    """
    cache_key = (_absolute(project_dir), ref)
    _note_active(cache_key)
    if reload_changed and cache_key in _loaded and snapshot.changed_modules():
        forget_project_code(definition_roots(project_dir, ref))
    if cache_key not in _loaded:
        module = _import(project_dir, ref)
        if isinstance(getattr(module, "__file__", None), str):  # what it sets when imported counts for every asset
            snapshot.note_definitions(project_dir, module.__file__, module.__name__)
        _loaded[cache_key] = definitions_from_module(module)
    snapshot.refresh_linecache()
    return _loaded[cache_key]


def _absolute(path: str) -> str:
    """``os.path.abspath``; remembered for an absolute path (each task of a run asks again), while a
    relative one is resolved anew: the working directory may have changed since."""
    absolute = _absolute_paths.get(path)
    if absolute is None:
        absolute = os.path.abspath(path)
        if os.path.isabs(path):
            _absolute_paths[path] = absolute
    return absolute


_absolute_paths: Dict[str, str] = {}


def forget_project_code(roots: Iterable[str] = ()) -> None:
    """Forget every loaded definitions module and project module (snapshotted, or loaded from a
    file under ``roots``): the next load imports the disk."""
    global _state
    _state = (_state[0], _state[1] + 1)
    _loaded.clear()
    snapshot.forget_all(roots)


def _note_active(key: Tuple[str, str]) -> None:
    """Remember that the project ``key`` is the one loaded last."""
    global _state
    if key != _state[0]:
        _state = (key, _state[1])


def load_state() -> Tuple[Optional[Tuple[str, str]], int]:
    """(load, forgets): ``load`` is (project folder, definitions) of the project loaded last, the one this
    process works for; ``forgets`` counts the times project code was forgotten (what it registered is gone
    with it). The same object until either changes: one identity test tells a caller nothing did."""
    return _state


def definition_roots(project_dir: str, ref: str) -> Tuple[str, ...]:
    """The folders whose modules are the project's own: the project folder and the definitions file's."""
    roots = [os.path.abspath(project_dir)]
    if ref.endswith(".py") or os.sep in ref or "/" in ref:
        roots.append(os.path.dirname(os.path.normpath(os.path.join(roots[0], ref))))
    return tuple(dict.fromkeys(roots))


def remember(project_dir: str, ref: str, defs: Definitions) -> None:
    """Register already-loaded definitions (so in-process workers do not import twice)."""
    key = (os.path.abspath(project_dir), ref)
    _note_active(key)
    _loaded[key] = defs


def _import(project_dir: str, ref: str):
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    snapshot.install([project_dir])
    entrywatch.install()  # before the project imports a reader written in C: its entry points report paths
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
        snapshot.install([folder])
        spec = snapshot.spec_for_file(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            _run_user_code(lambda: spec.loader.exec_module(module), path)
        except BaseException:
            sys.modules.pop(name, None)  # never hand out a half-executed module later
            raise
        return module
    try:
        return _run_user_code(lambda: importlib.import_module(ref), ref)
    except ModuleNotFoundError as exc:
        if exc.name == ref.split(".")[0] or exc.name == ref:
            raise ConfigError(f"[project] definitions = '{ref}': no module named {exc.name!r}",
                              hint="give a .py path relative to datamake.toml (\"shop/assets.py\"), or a module "
                                   "importable from the project folder") from None
        raise


def _run_user_code(fn, where: str):
    before = threading.enumerate()
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
            hint=_keyword_hint(exc) or "fix the error above in your code; datamake itself is fine",
        ) from None
    finally:
        started = [t for t in threading.enumerate() if t not in before]
        if started:  # what they read while an asset runs is not that asset's own: said, see openwatch.STRAY
            openwatch.started_unfollowed(started, _shown(where))


def _shown(where: str) -> str:
    """A definitions file's path as a message shows it: from the working folder when it lies under it."""
    here = os.path.join(os.getcwd(), "")
    return where[len(here):] if where.startswith(here) else where


# Dagster's spelling of a declaration's argument -> datamake's
_DAGSTER_KEYWORDS = {"group_name": "group=", "partitions_def": "partitions=", "io_manager_key": "io_manager=",
                     "required_resource_keys": "a parameter named after each resource",
                     "description": "the function's docstring", "asset_checks": "checks="}


def _keyword_hint(exc: BaseException) -> Optional[str]:
    """For ``@asset(group_name=...)``: the argument of datamake's declaration that was meant, or None."""
    import inspect  # lazy: only for an error
    import re

    match = re.match(r"(\w+)(?:\.__init__)?\(\) got an unexpected keyword argument '(\w+)'", str(exc)) \
        if isinstance(exc, TypeError) else None
    public = sys.modules.get("datamake")  # loaded: the definitions called one of its declarations
    declaration = getattr(public, match.group(1), None) if match else None
    if not callable(declaration):
        return None
    name, keyword = match.groups()
    if keyword in _DAGSTER_KEYWORDS:
        return f"{name}() has no {keyword}= (Dagster's spelling): write {_DAGSTER_KEYWORDS[keyword]}"
    close = did_you_mean(keyword, inspect.signature(declaration).parameters)
    return f"{name}() has no {keyword}=; {close}" if close else None


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` limited to frames outside datamake and importlib."""
    import traceback  # lazy: only for an error

    here = _PACKAGE_DIR
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(here) and "importlib" not in f.filename and not f.filename.startswith("<frozen")
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()
