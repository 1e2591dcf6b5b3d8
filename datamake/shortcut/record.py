"""At the end of a ``make`` whose scope ends fresh (store lock held): write the certificate that lets
the same command answer "up to date" without loading the project (see :mod:`datamake.shortcut.check`).

A project gets a certificate only when everything its answer depends on is a file whose stat (or
content) the check can compare: no sources, partitions, checks, workspace paths, remote cache or
warnings, every asset a plain ``@asset`` of a project module, every project module pure (see
:mod:`datamake.shortcut.purity`), and a local store. The files are: the project's modules (with the
digest of the source that was imported), every other module file loaded, the folders on
``sys.path`` and those of the project's modules, ``datamake.toml``, the pins and params files, and in
the store the manifest files, packs and artifacts the planner read (or the folder that shows they
are missing). Each is recorded with its change time (ctime, which no program can set back), and
only when that is older, by a clock tick, than the load of the project, before anything was read:
what the planner read is then what is recorded, and any later change to a file changes its stat.
After a run that built, the store files it wrote under the store lock changed after the load: they
are recorded with the digest of their content, checked against what the run committed, and the
scope is planned again over the run's manifests (:mod:`datamake.shortcut.replan`).
"""
from __future__ import annotations

import json
import os
import sys
import time
from stat import S_ISLNK, S_ISREG
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from datamake._version import __version__
from datamake.core.hashing import hash_bytes, hash_value
from datamake.core.manifest import Manifest
from datamake.core.readnames import ENV_READ
from datamake.core.scope import Scope
from datamake.define import snapshot
from datamake.define.codeversion import IMPORT_PART, parsed_module
from datamake.define.lazymodules import file_of
from datamake.define.assets import AssetDef
from datamake.execution.results import AssetOutcome
from datamake.project import heap
from datamake.project import pins as pins_mod
from datamake.project.workspace import Project
from datamake.shortcut import check, replan
from datamake.shortcut.replan import Ineligible
from datamake.storage.localfiles import atomic_write, read_json_cache, write_json_cache
from datamake.storage.lock import LOCK_NAME
from datamake.storage.state import stat_of


FINE_NS = 20_000_000  # the margin for file systems with fine times: twice the coarsest Linux clock tick


def certify(project: Project, result: Any, output: Dict[str, bool]) -> Optional[str]:
    """Write the certificate of this process's ``make`` command line, at the end of its run with the
    store lock still held (``output``: its ``json``, ``quiet`` and ``verbose`` flags); returns why none
    was written (None: written, or not asked for: a process not started as the ``datamake`` program, or
    ``DATAMAKE_NO_SHORTCUT`` set). Never raises: a make that succeeded stays a success whatever happens."""
    argv = check.launched
    if argv is None or check.disabled():
        return None
    path = check.certificate_path(argv, project.config.path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)  # before the folders are listed: it may be in one
        cert = certificate(project, result, output, argv)
    except Ineligible as exc:
        return str(exc)
    except Exception as exc:  # a bug here must not fail the make: the next one takes the full path
        return f"could not gather the certificate ({type(exc).__name__}: {exc})"
    try:
        atomic_write(path, json.dumps(cert, separators=(",", ":")))
    except OSError as exc:
        return f"could not write the certificate ({exc})"
    return None


def certificate(project: Project, result: Any, output: Dict[str, bool], argv: List[str]) -> Dict[str, Any]:
    """The certificate's content; :class:`Ineligible` when the project or the run cannot have one.

    Only a run whose whole scope is fresh at its end has one: it found it so, or every asset in scope
    ended built, restored or skipped and planning again over the manifests the run committed
    (:mod:`datamake.shortcut.replan`) finds nothing stale. Every file must have last
    changed before the project was loaded, when the planner had not read it yet, except the store's
    files this run wrote under the store lock: those are recorded with their content digest."""
    if not result.ok or result.interrupted:
        raise Ineligible("the run failed or was interrupted")
    if any(a.outcome not in ("skipped", "built", "cached") for a in result.assets):
        raise Ineligible("an asset in scope did not end up to date")
    loaded_ns = int(project.loaded_at * 1e9)
    nodes = [a.key for a in result.assets]
    modules, loaded = _eligible_project(project, nodes)
    built = any(a.outcome != "skipped" for a in result.assets)
    facts = _Facts(loaded_ns)
    ours = [project.store.root, check.cache_dir()] + [os.path.join(os.path.dirname(snap.path), "__pycache__") for snap, _ in modules]
    for snap, _ in modules:
        facts.file(snap.path, digest=snap.digest, expected=(snap.size, snap.mtime_ns))
        facts.folder(os.path.dirname(snap.path), ours=ours)
    facts.library_files([s.path for s, _ in modules], loaded)
    for path in _imported_when_run(project, nodes):
        facts.content_file(path)  # not loaded now: its content, as the code version read it
    for folder in {*check._START_PATH, *sys.path}:
        facts.folder(os.path.abspath(folder or "."), may_be_missing=True, ours=ours)
    facts.config_files(project)
    scope = _planned(project, nodes)
    manifests = replan.fresh_after_run(scope, result.manifests) if built else scope.manifests
    facts.store_files(project, manifests, written=built)
    skipped = AssetOutcome("", "skipped").to_dict()  # each node's entry is this one with its key and version
    assets = [{**skipped, "key": n, "data_version": manifests[n].data_version} for n in nodes] \
        if output["json"] or output["verbose"] else []
    return {"key": check.key(argv, project.config.path), "written_ns": time.time_ns(),
            "files": facts.files, "missing": facts.missing, "lock": f"{project.store.root}/{LOCK_NAME}",
            "output": {**output, "count": len(nodes), "assets": assets}}


def _eligible_project(project: Project, nodes: List[str]) -> Tuple[List[Tuple[Any, str]], Dict[str, Any]]:
    """The project's modules (snapshot, source) when the project can have a certificate, and the
    ``lstat`` of every other module file loaded (None: missing), by absolute path."""
    defs = project.defs
    if defs.sources or defs.checks or defs.warnings or project.store.warnings or not project.store.is_local:
        raise Ineligible("the project has sources, checks or warnings, or its store is not a local folder")
    if project.config.cache_remote is not None:
        raise Ineligible("the project has a remote cache")
    if project.code_warnings(nodes):
        raise Ineligible("code versions with warnings")
    modules = snapshot.snapshots()
    names = {snap.module for snap, _ in modules}
    for a in defs.assets.values():
        if type(a) is not AssetDef or a.partitions is not None or a.path is not None or a.fn.__module__ not in names:
            raise Ineligible(f"asset '{a.key}' is not a plain @asset of a project module")
    if not modules:
        raise Ineligible("no project module")
    real_folders: Dict[str, str] = {}
    loaded = _loaded_files({snap.path for snap, _ in modules})
    for path, st in loaded.values():
        if st is not _PROJECT and snapshot.real_under_roots(
                snapshot.real_path(path, real_folders, st is not None and S_ISLNK(st.st_mode), absolute=True)):
            raise Ineligible(f"{path} is a project module imported without a snapshot")
    _check_purity(modules, project.config.path)
    return modules, loaded


_PROJECT = object()  # in :func:`_loaded_files`: a project module's file (its snapshot is recorded instead)


def _loaded_files(project: Iterable[str]) -> Dict[str, Tuple[str, Any]]:
    """Each module file loaded in this process, by its ``__file__``: its absolute path and its ``lstat``
    (None: missing; ``_PROJECT`` for the files in ``project``), each taken once for both the check
    that no project file was imported without a snapshot and the library files recorded."""
    project = set(project)
    files: Dict[str, Tuple[str, Any]] = {}
    stats: Dict[str, Any] = {}  # by absolute path: two names of one file are stated once
    for module in list(sys.modules.values()):
        name = file_of(module)
        if name and name not in files:
            path = os.path.abspath(name)
            st = stats.get(path, stats)
            if st is stats:
                if path in project:
                    st = _PROJECT
                else:
                    try:
                        st = os.lstat(path)
                    except OSError:
                        st = None
                stats[path] = st
            files[name] = (path, st)
    return files


SHARED_PURE = 4096  # the digests of pure module sources kept for every project (the most recent ones)


def _imported_when_run(project: Project, nodes: List[str]) -> List[str]:
    """The files of the project modules the assets import inside their functions, in turn (the
    ``import:`` parts of their code versions): a no-op need not have loaded them."""
    paths = set()
    for key in nodes:
        for part in project.code_version(key).parts:
            if part.startswith(IMPORT_PART):
                from datamake.define.moduleimports import module_file  # lazy: only code importing in a function

                path = module_file(part[len(IMPORT_PART):])
                if path is not None:
                    paths.add(path)
    return sorted(paths)


def _check_purity(modules: List[Tuple[Any, str]], config: str) -> None:
    """:class:`Ineligible` unless every module is pure; verdicts are kept per project by source digest
    (parsing a module of 10,000 assets takes longer than the rest of the certificate). A source found
    pure is pure wherever it lies (its path only names it in a verdict's messages): the digests of pure
    sources are also kept for all projects, so that a fresh copy of a project does not parse them again."""
    folder = os.path.join(check.cache_dir(), "uptodate")
    path = os.path.join(folder, f"purity-{hash_value('purity', config)[:16]}.json")
    known = read_json_cache(path)
    verdicts = {snap.digest: known.get(snap.digest) for snap, _ in modules}
    if not all(isinstance(v, list) for v in verdicts.values()):
        _judge(modules, verdicts, os.path.join(folder, f"purity-shared-{hash_value('purity', __version__)[:16]}.json"))
    if verdicts != known:
        write_json_cache(path, verdicts)  # the verdicts of the project's current modules only
    for snap, _ in modules:
        if verdicts[snap.digest]:
            raise Ineligible(f"project module not pure: {verdicts[snap.digest][0]}")


def _judge(modules: List[Tuple[Any, str]], verdicts: Dict[str, Any], shared_path: str) -> None:
    """Fill in the verdicts not kept for this project: from the pure sources kept for all projects
    (``shared_path``, by this version of datamake), else by reading the source (and keep it there if pure)."""
    shared = read_json_cache(shared_path).get("pure")
    pure = dict.fromkeys(shared if isinstance(shared, list) else ())
    before = len(pure)
    with heap.planning():  # a module's syntax tree is many objects and no cycles: the collector only slows it
        for snap, source in modules:
            if not isinstance(verdicts[snap.digest], list):
                verdicts[snap.digest] = [] if snap.digest in pure else _impurities(snap, source)
                if not verdicts[snap.digest]:
                    pure[snap.digest] = None
    if len(pure) != before:
        write_json_cache(shared_path, {"pure": list(pure)[-SHARED_PURE:]})


def _impurities(snap: Any, source: str) -> List[str]:
    from datamake.shortcut.purity import impurities  # lazy: a module kept as pure (a fresh copy's) is not read

    return impurities(source, snap.path, parsed_module(snap.path, source))


def _planned(project: Project, nodes: List[str]) -> Scope:
    """The scope this run planned. Its manifests are those the planner read: of the scope and of its
    dependencies outside it (``--only``). Each file they came from is recorded with a stat older than
    the load of the project, so what the planner read is what the certificate vouches for."""
    scope = project.made_scope
    if scope is None or set(scope.keys) != set(nodes):
        raise Ineligible("the run planned no scope of its own")
    return scope


class _Facts:
    """The files of a certificate, grouped by folder, and the paths that must stay missing."""

    def __init__(self, before_ns: int):
        self.before_ns = before_ns  # every file recorded must have last changed before this (less a margin)
        self.started_ns = time.time_ns()  # before any stat is taken (a file the run wrote is racy against it)
        self.files: Dict[str, List[list]] = {}
        self.missing: List[str] = []
        self._seen: set = set()

    def file(self, path: str, digest: Optional[str] = None, expected: Optional[Tuple[int, int]] = None,
             may_be_missing: bool = False, written: Optional[Callable[[os.stat_result], str]] = None,
             racy_too: bool = True, known: Optional[os.stat_result] = None) -> None:
        """Record ``path``'s stat (its content digest too, if given: a changed stat then compares content).
        ``written``: a store file this run may have written under the store lock; when it changed after
        the load, it is recorded with the digest ``written(stat)`` returns (:class:`Ineligible` if its
        content is not what the run committed) instead (see :meth:`_written` for ``racy_too``).
        ``known``: its stat, taken already in this run."""
        self._file(os.path.abspath(path), digest, expected, may_be_missing, written, racy_too, known)

    def _file(self, path: str, digest: Optional[str] = None, expected: Optional[Tuple[int, int]] = None,
              may_be_missing: bool = False, written: Optional[Callable[[os.stat_result], str]] = None,
              racy_too: bool = True, known: Optional[os.stat_result] = None) -> None:
        """:meth:`file` of an absolute, normalized ``path``."""
        if path in self._seen:
            return
        self._seen.add(path)
        try:
            st = known if known is not None else os.stat(path)
        except OSError:
            if not may_be_missing:
                raise Ineligible(f"{path} is gone") from None
            self._absent(path)
            return
        if self._recent(st):
            if written is None:
                raise Ineligible(f"{path} changed while (or just before) the project was loaded or planned")
            return self._written(path, st, written(st), racy_too)
        if expected is not None and (st.st_size, st.st_mtime_ns) != expected:
            raise Ineligible(f"{path} changed since it was imported")
        self._add(path, st, digest)

    def _recent(self, st: os.stat_result) -> bool:
        """Whether a file changed too late to be known unchanged since it was read. A file system whose
        times are whole milliseconds (or coarser) may keep one time for changes up to seconds apart; the
        others' times move at every clock tick (at most 10 ms on Linux)."""
        return st.st_ctime_ns >= self.before_ns - _margin(st)

    def _written(self, path: str, st: os.stat_result, digest: str, racy_too: bool = True) -> None:
        """Record a store file (or folder: an ``ls:`` digest) changed after the load, by this run: its
        stat cannot show that the planner read what is there now, its content can. A file keeps its size
        and modification time too (``=``). One whose change time is within a clock tick of now may change
        again without a trace in its stat: its content is compared at every check (``!``; ``racy_too``
        False: compared only when the stat moved, as the full path does for artifacts)."""
        racy = racy_too and st.st_ctime_ns >= self.started_ns - _margin(st)
        self._add(path, st, ("!" if racy else "" if digest.startswith("ls:") else "=") + digest)

    def _add(self, path: str, st: os.stat_result, digest: Optional[str]) -> None:
        folder, name = os.path.split(path)
        self.files.setdefault(folder, []).append([name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, digest])

    def folder(self, path: str, may_be_missing: bool = False, ours: Iterable[str] = (), written: bool = False) -> None:
        """Record a folder's stat: a file added to or removed from it changes it. ``ours``: paths this
        process may have created in it (the store, bytecode): a folder changed by those alone is recorded
        with its listing, which the check compares when the folder's stat moved. ``written``: a folder of
        the store this run may have changed under the store lock: recorded with its listing."""
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if written and st is not None and self._recent(st) and path not in self._seen:
            self._seen.add(path)
            return self._written(path, st, check.listing_digest(path) or "")
        if st is None or not ours or not self._recent(st) or path in self._seen:
            self.file(path, may_be_missing=may_be_missing)
            return
        self._seen.add(path)
        ours = {os.path.abspath(p) for p in ours}
        for entry in os.scandir(path):
            if entry.path not in ours and self._recent(entry.stat(follow_symlinks=False)):
                raise Ineligible(f"{entry.path} appeared while the project was loaded")
        self._add(path, st, check.listing_digest(path))

    def _absent(self, path: str, with_folder: bool = True) -> None:
        """``path`` is missing: record it, and (``with_folder``) the stat of the nearest folder above it
        that exists: a path removed while the project was loaded changed that folder."""
        top = path
        while not os.path.exists(os.path.dirname(top)) and os.path.dirname(top) != top:
            top = os.path.dirname(top)
        self.missing.append(top)
        if with_folder:
            self.folder(os.path.dirname(top))

    def content_file(self, path: str) -> None:
        """A config file: its stat and its content digest, or that it is missing."""
        self.file(path, digest=check.file_digest(path), may_be_missing=True)

    def library_files(self, project_paths: Iterable[str], loaded: Dict[str, Tuple[str, Any]]) -> None:
        """Every other module file loaded in this process (installed packages, datamake, the standard
        library); ``loaded``: the absolute path and ``lstat`` of those known already (:func:`_loaded_files`)."""
        own = set(project_paths)
        for module in list(sys.modules.values()):
            name = file_of(module)
            if not name:
                continue
            path, st = loaded.get(name) or (os.path.abspath(name), None)  # (loaded since: stated here)
            if st is _PROJECT or path in own:
                continue
            if st is not None and S_ISREG(st.st_mode):  # a regular file, no link: its stat is the lstat
                self._file(path, known=st)
            elif os.path.isfile(path):
                self._file(path)

    def config_files(self, project: Project) -> None:
        self.content_file(project.config.path)
        self.content_file(pins_mod.pins_path(project.directory))
        if project.config.params_file:
            self.content_file(os.path.join(project.directory, project.config.params_file))

    def store_files(self, project: Project, manifests: Dict[str, Any], written: bool = False) -> None:
        """The manifest files (or the folder that shows they are missing), packs and artifacts the
        planner read (``manifests``: what it read, by node; ``written``: what the store holds after this
        run, which wrote some of those files)."""
        store = project.store
        # The store's own folder changes at every command (its SQLite files come and go): not recorded.
        folder = f"{store.root}/manifests"
        if os.path.isdir(folder):
            self.folder(folder, written=written)
            for node in manifests:
                path = store.manifest_path(node)
                if os.path.dirname(path) != folder:
                    self.folder(os.path.dirname(path), may_be_missing=True)
                self.file(path, may_be_missing=True, written=_manifest_file(path, manifests[node]) if written else None)
        else:
            self._absent(folder, with_folder=False)
        packs = f"{store.root}/packs"
        if os.path.isdir(packs):
            self.folder(packs, written=written)
            for name in os.listdir(packs):
                self.file(os.path.join(packs, name), written=_pack_file(os.path.join(packs, name)) if written else None)
        else:
            self._absent(packs, with_folder=False)
        for node, m in manifests.items():
            if m is None:
                raise Ineligible(f"{node} has no manifest")
            if m.reads and not _only_variables(m.reads):
                raise Ineligible(f"{node} read files it does not declare (their content decides its state)")
            if m.inline is None:
                path = store.artifact_path(m.artifact)
                self.file(path, written=_artifact_file(store, path, m.artifact) if written else None, racy_too=False)


def _only_variables(reads: Any) -> bool:
    """Whether the undeclared reads are all environment variables the certificate's key covers (its digest
    of the whole environment; not the shell's bookkeeping it leaves out)."""
    return all(path.startswith(ENV_READ) and path[len(ENV_READ):] not in check.VOLATILE_ENV for path, _ in reads)


def _margin(st: os.stat_result) -> int:
    """How long after a change a file's times may still show the same values: a file system whose
    times are whole milliseconds (or coarser) may keep one time for changes up to seconds apart; the
    others' times move at every clock tick (at most 10 ms on Linux)."""
    return check.RACY_NS if st.st_ctime_ns % 1_000_000 == 0 else FINE_NS


def _artifact_file(store: Any, path: str, content_hash: str) -> Callable[[os.stat_result], str]:
    """An artifact is named by the digest of its bytes; one this run wrote must have the stat recorded
    when it was written: the full path's check compares that stat (hashing the bytes only when it
    moved), and so does the certificate's."""
    def digest(st: os.stat_result) -> str:
        if not store.state.matches(content_hash, stat_of(st)):
            raise Ineligible(f"{path} changed since it was written")
        return content_hash
    return digest


def _pack_file(path: str) -> Callable[[os.stat_result], str]:
    """A pack is named by the digest of its bytes: any other content is not what its writer wrote."""
    def digest(st: os.stat_result) -> str:
        found = check.file_digest(path)
        if found is None or os.path.basename(path) != f"{found}.json":
            raise Ineligible(f"{path} does not hold the bytes it is named after")
        return found
    return digest


def _manifest_file(path: str, manifest: Any) -> Callable[[os.stat_result], str]:
    """A manifest file must hold the manifest planned again after the run."""
    def digest(st: os.stat_result) -> str:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            same = manifest is not None and Manifest.from_json(raw) == manifest
        except (OSError, ValueError):
            same = False
        if not same:
            raise Ineligible(f"{path} is not the manifest the run committed")
        return hash_bytes(raw)
    return digest
