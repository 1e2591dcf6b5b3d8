"""The paths handed to readers that open files outside Python, reported as audit events.

Readers written in C or C++ (pyarrow's CSV, JSON, Parquet, Feather, ORC and IPC readers, datasets and copies,
``numpy.fromfile``, polars, duckdb, h5py, PyTables, netCDF4, OpenCV's images, videos and storage files,
lxml's ``parse``, SQLite's ``ATTACH``) open their files without
Python's ``open``, so no ``open`` audit event tells the read watch about them; fsspec's remote
filesystems fetch on an event loop of their own thread. Their Python entry points receive the path or
URL, though: :func:`install` replaces each entry point of :data:`ENTRY_POINTS` in its module by a
wrapper that raises the audit event :data:`READ` ``(path,)`` (``(path, MAY_WRITE)`` for a database a
connection may write, ``(path, MAY_TOUCH)`` for a file opened to append, ``(path, WRITTEN)`` for one a
writer makes (``cv2.imwrite``, h5py's mode ``"w"``: the asset's own); for SQL given to duckdb, one
per file its literals and parameters name, :mod:`datamake.define.sqlreads`; for a SQLite connection,
one per database its statements attach) and calls the original, for the modules already imported and,
through an import hook, for those imported later (before the code that imports them can bind the
original with ``from pyarrow.csv import read_csv``). A method of a class that takes no new attributes (a
Cython type's: pyarrow.fs filesystems' ``open_input_file``, lxml's ``XMLSchema(file=...)``) cannot be
wrapped; the read watch does not see what they open (docs/execution.md says so).
Likewise a multiprocessing process started with the ``spawn`` or ``forkserver`` method is a fresh
interpreter that no hook watches: its start raises
:data:`STARTED` ``(start method,)``, and the data it is sent to prepare itself (``multiprocessing.spawn.
get_preparation_data``), :data:`PREPARED` ``(data,)``, where a listener may add what makes the child
watch itself (:mod:`datamake.execution.childreads`); loky, which starts joblib's workers as fresh
interpreters its own way, is sent the same from its ``backend.spawn.get_preparation_data``. A process
started, and a multiprocessing queue made, is marked with the listeners watching the thread that made it (:func:`made_with`). Work handed
to a process pool (``ProcessPoolExecutor.submit``, loky's too, ``Pool.apply_async``, ``map``...) raises
:data:`POOLED` ``([pool, function],)``, where a listener may replace the function by one that watches
the worker (:mod:`datamake.execution.poolreads`); work handed to a Dask or Ray client and an item put
on a multiprocessing queue, :data:`AWAY` ``(name, object)``. A wrapper holds its original as
``__wrapped__`` and in :data:`ORIGINAL`: code versions see the original, so a version is the same with
the watch or without.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from datamake.define import envwatch

READ = "datamake.read"  # (path or URL,): a reader outside Python is handed it
STARTED = "datamake.process"  # (start method,): a multiprocessing process is started
PREPARED = "datamake.prepare"  # (data,): the dict a spawned or forkserver child prepares itself from
POOLED = "datamake.pool"  # ([pool, function],): work handed to a process pool; a listener may replace the function
AWAY = "datamake.away"  # (name, object): work handed to processes no listener follows (a client's method, a queue)
CHECKED = "datamake.checked"  # (path, folder): project code checked whether a file (a folder) is there
ORIGINAL = "__datamake_original__"  # on a wrapper: the function it stands for
# a READ's second argument: a database file a connection opened, which it may write too (as a SQLite database);
# a file opened to read and write, whose modification time the opening changes even when it only reads (h5py's "a");
# a file the call writes (cv2.imwrite, h5py's "w"): the asset's own, not an input
MAY_WRITE, MAY_TOUCH, WRITTEN = "may write", "may touch", "written"
# keyword prefixes of ENTRY_POINTS: "sql:" the SQL text, whose literals and parameters name the files it reads
# (datamake.define.sqlreads); "mode:" a file opened with a mode ("r", "r+", "a": read; "w", "w-", "x": written;
# "r" unless given; a trailing "s", netCDF's shared access, aside); "db:" a database file, read, and written too
# unless read_only=True; "attach:" a SQLite connection, whose ATTACH statements name database files it reads, and
# may write; "flags:" a file OpenCV's FileStorage opens with flags (read with READ, 0; written with WRITE or APPEND;
# neither with MEMORY); "frames:" a video file, or the image sequence a printf pattern names (frames/%04d.png: a
# glob); "out:" a file the call writes
SQL, MODE, DATABASE, ATTACH, FLAGS, FRAMES, OUT = "sql:", "mode:", "db:", "attach:", "flags:", "frames:", "out:"
LOKY = ("loky", "joblib.externals.loky")  # loky, and the copy joblib ships
_POOL_METHODS = ("apply_async", "map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered")

# module -> {entry point: the keyword that names its path (else its first argument)}
ENTRY_POINTS: Dict[str, Dict[str, str]] = {
    "pyarrow.csv": {"read_csv": "input_file", "open_csv": "input_file"},
    "pyarrow.json": {"read_json": "input_file"},
    "pyarrow": {"memory_map": "path", "input_stream": "source"},
    "pyarrow.parquet": {"read_table": "source", "read_metadata": "where", "read_schema": "where",
                        "read_pandas": "source", "ParquetFile.__init__": "source",
                        "ParquetDataset.__init__": "path_or_paths"},
    "pyarrow.feather": {"read_table": "source", "read_feather": "source"},
    "pyarrow.orc": {"read_table": "source"},
    "pyarrow.ipc": {"open_file": "source", "open_stream": "source"},
    "pyarrow.dataset": {"dataset": "source"},
    "pyarrow.fs": {"copy_files": "source"},  # (its filesystems' methods: of Cython types, which take no wrapper)
    "numpy": {"fromfile": "file"},
    "polars": {name: "source" for name in ("read_csv", "read_parquet", "read_ipc", "read_ndjson", "read_json",
                                           "read_avro", "scan_csv", "scan_parquet", "scan_ipc", "scan_ndjson")},
    "duckdb": {"read_csv": "path_or_buffer", "read_json": "path_or_buffer", "read_parquet": "file_glob",
               "from_csv_auto": "path_or_buffer", "from_parquet": "file_glob", "connect": DATABASE + "database",
               **{f"DuckDBPyConnection.{name}": "path_or_buffer"
                  for name in ("read_csv", "read_json", "from_csv_auto")},
               **{f"DuckDBPyConnection.{name}": "file_glob" for name in ("read_parquet", "from_parquet")},
               **{f"{owner}{name}": SQL + "query" for owner in ("", "DuckDBPyConnection.")
                  for name in ("sql", "query", "execute", "executemany", "from_query")}},
    "h5py._hl.files": {"File.__init__": MODE + "name"},  # h5py.File(name, mode="r")
    "tables.file": {"open_file": MODE + "filename"},  # PyTables (pandas.read_hdf, HDFStore)
    "sqlite3": {"connect": ATTACH},  # (the database it connects to: the sqlite3.connect audit event)
    "netCDF4._netCDF4": {"Dataset.__init__": MODE + "filename"},  # (MFDataset opens each file through it)
    "cv2": {"imread": "filename", "imreadmulti": "filename", "imreadanimation": "filename", "imcount": "filename",
            "VideoCapture.__init__": FRAMES + "filename", "VideoCapture.open": FRAMES + "filename",
            "FileStorage.__init__": FLAGS + "filename", "FileStorage.open": FLAGS + "filename",
            **{name: OUT + "filename" for name in ("imwrite", "imwritemulti", "imwriteanimation",
                                                   "VideoWriter.__init__", "VideoWriter.open")}},
    "lxml.etree": {"parse": "source"},  # (lxml.html.parse, objectify.parse and XSLT's sources parse through it)
    "fsspec": {"open": "urlpath", "open_files": "urlpath", "filesystem": "protocol", "url_to_fs": "url"},
    "fsspec.core": {"url_to_fs": "url", "open": "urlpath", "open_files": "urlpath"},
    "multiprocessing.process": {"BaseProcess.start": ""},  # "": the call itself is reported (STARTED)
    "multiprocessing.spawn": {"get_preparation_data": "->"},  # "->": its result is reported (PREPARED)
    # "<-": the function handed to a pool is reported (POOLED); "!": the call is reported (AWAY); "@": the
    # object is marked with the listeners of the thread that made it (made_with)
    "concurrent.futures.process": {"ProcessPoolExecutor.submit": "<-"},
    "concurrent.futures.thread": {"ThreadPoolExecutor.submit": "<-"},  # (its items run on threads it keeps)
    **{f"{loky}.process_executor": {"ProcessPoolExecutor.submit": "<-"} for loky in LOKY},  # joblib's workers
    **{f"{loky}.backend.spawn": {"get_preparation_data": "->"} for loky in LOKY},  # loky's fresh interpreters
    "multiprocessing.pool": {"Pool." + name: "<-" for name in _POOL_METHODS},  # (ThreadPool's too: told apart later)
    "multiprocessing.queues": {f"{queue}.{method}": "!" if method == "put" else "@"
                               for queue in ("Queue", "JoinableQueue", "SimpleQueue")
                               for method in ("__init__", "put")},
    "distributed.client": {"Client.submit": "!", "Client.map": "!", "Client.compute": "!"},
    "ray.remote_function": {"RemoteFunction._remote": "!"},
    # "?": whether a file is there, "?/": a folder, asked by project code (CHECKED): no audit event tells of a stat
    os.path.__name__: {"exists": "?", "isfile": "?", "lexists": "?", "isdir": "?/"},
    "pathlib": {"Path.exists": "?", "Path.is_file": "?", "Path.is_dir": "?/"},
}

_lock = threading.RLock()
_done: Dict[str, bool] = {}  # modules whose entry points were wrapped
_when_imported: Dict[str, Callable[[], None]] = {}  # module -> what to do once the import hook sees it imported
_watchers: Callable[[], Tuple[Any, ...]] = tuple  # the listeners watching this thread now (set by install)
_watching: Callable[[], bool] = bool  # whether listeners watch this thread, none of them running (set by install)
# a multiprocessing process or queue -> the listeners of the thread that made it (not in its __dict__: a
# process is pickled with it for a spawned child)
_made_with: Any = None  # (a weakref.WeakKeyDictionary, made at the first)


def made_with(made: Any) -> Tuple[Any, ...]:
    """The listeners watching the thread that started a multiprocessing process or made a queue."""
    return _made_with.get(made, ()) if _made_with is not None else ()


def install(watchers: Optional[Callable[[], Tuple[Any, ...]]] = None,
            watching: Optional[Callable[[], bool]] = None) -> None:
    """Wrap the entry points of the modules imported so far, and of those imported from now on;
    ``watchers()``: the listeners watching the calling thread (a process started is marked with them);
    ``watching()``: whether any does (a file checked is told to them). Either kept as it was when not given."""
    global _watchers, _watching
    _watchers, _watching = watchers or _watchers, watching or _watching
    with _lock:
        if not (sys.meta_path and isinstance(sys.meta_path[0], _Finder)):  # first: ahead of finders added since
            sys.meta_path[:] = [_Finder(), *(f for f in sys.meta_path if not isinstance(f, _Finder))]
        for name in ENTRY_POINTS:
            module = sys.modules.get(name)
            if module is not None:
                _wrap_module(name, module)
        for name in [name for name in _when_imported if name in sys.modules]:
            _when_imported.pop(name)()


def when_imported(name: str, action: Callable[[], None]) -> None:
    """Call ``action()`` once module ``name`` is imported and :func:`install` was called (at that call if it
    is imported already; else as it is imported, before the code that imports it runs on): a hook that
    patches the module, in place before the project's code uses it."""
    _when_imported[name] = action


def original(obj: Any) -> Any:
    """The function a wrapper stands for; anything else as it is."""
    if type(obj).__name__ == "function":
        return obj.__dict__.get(ORIGINAL, obj)
    return obj


def _wrap_module(name: str, module: Any) -> None:
    with _lock:
        if _done.get(name):
            return
        _done[name] = True
        for entry, keyword in ENTRY_POINTS[name].items():
            owner_name, _, attr = entry.rpartition(".")  # a method: "BaseProcess.start"
            owner = module.__dict__.get(owner_name) if owner_name else module
            fn = vars(owner).get(attr) if owner is not None else None
            if callable(fn) and not isinstance(fn, type) and ORIGINAL not in getattr(fn, "__dict__", {}):
                wrapper = _wrapper(fn, keyword, f"{name}.{entry}", bool(owner_name))
                if not owner_name:
                    named_where_installed(wrapper, name, attr)
                try:
                    setattr(owner, attr, wrapper)
                except (TypeError, AttributeError):  # a class of a C extension that takes no new attributes
                    pass


def named_where_installed(wrapper: Any, module: str, name: str) -> None:
    """Name a module-level wrapper by where it stands (``pyarrow.parquet.read_table``), not by where its
    original is defined (``pyarrow.parquet.core``): pickle finds a function by its module and name, and
    refused the wrapper ("not the same object as …"), so ``pool.map(pq.read_table, paths)`` failed."""
    wrapper.__module__, wrapper.__qualname__ = module, name


def _standing_for(fn: Any) -> Callable[[Any], Any]:
    """Makes a wrapper look like ``fn`` and hold it (:data:`ORIGINAL`): code versions see ``fn``."""
    def stand(wrapper: Any) -> Any:
        wrapper = functools.wraps(fn)(wrapper)
        wrapper.__dict__[ORIGINAL] = fn
        return wrapper

    return stand


standing_for = _standing_for  # (for wrappers made elsewhere: a queue's methods, see openwatch)


def _wrapper(fn: Any, keyword: str, name: str, method: bool = False) -> Any:
    """The wrapper of entry point ``fn`` (``method``: a class's, whose first argument is the instance)."""
    if not keyword:
        @_standing_for(fn)
        def started(process: Any, *args: Any, **kwargs: Any) -> Any:
            sys.audit(STARTED, getattr(process, "_start_method", None) or _default_start_method())
            _mark(process)
            return fn(process, *args, **kwargs)

        return started
    if keyword == "<-":
        @_standing_for(fn)
        def pooled(pool: Any, *args: Any, **kwargs: Any) -> Any:
            box = [pool, args[0] if args else kwargs.get("func")]
            sys.audit(POOLED, box)
            if args:
                args = (box[1], *args[1:])
            elif "func" in kwargs:
                kwargs["func"] = box[1]
            return fn(pool, *args, **kwargs)

        return pooled
    if keyword in ("@", "!"):
        @_standing_for(fn)
        def away(owner: Any, *args: Any, **kwargs: Any) -> Any:
            if keyword == "@":
                _mark(owner)
            else:
                sys.audit(AWAY, name, owner)
            return fn(owner, *args, **kwargs)

        return away
    if keyword in ("?", "?/"):
        folder = keyword == "?/"

        @_standing_for(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if _watching() and args and _asked_by_project(sys._getframe(1), folder):
                _report(args[0], CHECKED, folder)
            return fn(*args, **kwargs)

        return checked
    if keyword == "->":
        @_standing_for(fn)
        def prepared(*args: Any, **kwargs: Any) -> Any:
            data = fn(*args, **kwargs)
            sys.audit(PREPARED, data)
            return data

        return prepared

    if keyword.startswith(SQL):
        return _sql_wrapper(fn, keyword[len(SQL):], method)
    if keyword.startswith((MODE, DATABASE, FLAGS)):
        return _opener_wrapper(fn, keyword, method)
    if keyword == ATTACH:
        return _attach_wrapper(fn)
    frames, written = keyword.startswith(FRAMES), keyword.startswith(OUT)
    keyword = keyword.partition(":")[2] if frames or written else keyword
    access = (WRITTEN,) if written else ()

    @_standing_for(fn)
    def entry_point(*args: Any, **kwargs: Any) -> Any:
        first = 1 if method else 0  # (a method: after the instance)
        where = args[first] if len(args) > first else kwargs.get(keyword)
        if keyword == "protocol" and isinstance(where, str):  # fsspec.filesystem("s3")
            where = where + "://"
        elif frames:
            where = _video_source(where)
        if isinstance(where, (list, tuple)):  # several files (polars, pyarrow datasets)
            for each in where[:1000]:
                _report(each, READ, *access)
        else:
            _report(where, READ, *access)
        return fn(*args, **kwargs)

    return entry_point


def _sql_wrapper(fn: Any, keyword: str, method: bool) -> Any:
    """The wrapper of ``fn(query, parameters)`` (DuckDB's ``sql``, ``execute``...): it reports each file
    the SQL text in argument ``keyword`` (else the first) and its parameters name."""
    @_standing_for(fn)
    def runs_sql(*args: Any, **kwargs: Any) -> Any:
        first = 1 if method else 0  # (a method: after the instance)
        query = args[first] if len(args) > first else kwargs.get(keyword)
        params = args[first + 1] if len(args) > first + 1 else kwargs.get("params", kwargs.get("parameters"))
        if isinstance(query, str):
            from datamake.define import sqlreads  # lazy: only a process that runs SQL through DuckDB

            for path, access in sqlreads.named_files(query, params):
                _report(path, READ, *access)
        return fn(*args, **kwargs)

    return runs_sql


def _opener_wrapper(fn: Any, keyword: str, method: bool) -> Any:
    """The wrapper of a call that opens a file it may also write (:data:`MODE`, :data:`DATABASE`,
    :data:`FLAGS`): it reports the file read, with how the call may change it unless opened read-only;
    :data:`WRITTEN` when the call makes it anew."""
    kind, _, name = keyword.partition(":")
    kind += ":"

    @_standing_for(fn)
    def opens(*args: Any, **kwargs: Any) -> Any:
        first = 1 if method else 0
        where = args[first] if len(args) > first else kwargs.get(name)
        second = args[first + 1] if len(args) > first + 1 else None
        if kind == MODE:
            access = _file_access(kwargs.get("mode", second if isinstance(second, str) else "r"))
            if kwargs.get("memory") is not None:  # netCDF4.Dataset(name, memory=data): read from memory
                access = None
        elif kind == FLAGS:
            access = _storage_access(kwargs.get("flags", second))
        else:
            access = () if kwargs.get("read_only", second) is True else (MAY_WRITE,)
            where = _database_file(where)
        if access is not None:
            _report(where, READ, *access)
        return fn(*args, **kwargs)

    return opens


def _attach_wrapper(fn: Any) -> Any:
    """The wrapper of ``sqlite3.connect``: a connection made while a watch follows the thread reports the
    database file each ``ATTACH 'other.db'`` statement names (through an authorizer, which a connection's
    own ``set_authorizer`` replaces; a file given as a parameter, ``ATTACH ?``, is not told to it)."""
    @_standing_for(fn)
    def connects(*args: Any, **kwargs: Any) -> Any:
        connection = fn(*args, **kwargs)
        if _watching() and hasattr(connection, "set_authorizer"):
            connection.set_authorizer(_report_attached)
        return connection

    return connects


def _report_attached(action: int, file: Any, *_: Any) -> int:
    """A SQLite authorizer that allows everything and reports the file an ATTACH statement opens."""
    if action == 24 and isinstance(file, str) and file not in ("", ":memory:"):  # sqlite3.SQLITE_ATTACH
        try:
            _report(file[len("file:"):].split("?", 1)[0] if file.startswith("file:") else file, READ, MAY_WRITE)
        except Exception:  # noqa: BLE001 - an authorizer that raises denies the statement
            pass
    return 0  # sqlite3.SQLITE_OK


def _file_access(mode: Any) -> Optional[Tuple[str, ...]]:
    """How a file opened with ``mode`` is read: ``()`` read only, ``(MAY_TOUCH,)`` read and maybe
    written, ``(WRITTEN,)`` not read (made anew)."""
    if isinstance(mode, str) and mode.endswith("s"):  # netCDF's shared access ("rs", "as", "r+s", "ws")
        mode = mode[:-1]
    if mode in ("w", "w-", "x"):
        return (WRITTEN,)
    return () if mode == "r" else (MAY_TOUCH,)


def _storage_access(flags: Any) -> Optional[Tuple[str, ...]]:
    """How OpenCV's ``FileStorage`` opened with ``flags`` reads its file: ``()`` read (``READ``, 0, with
    a format flag or none), ``(WRITTEN,)`` written (``WRITE`` 1, ``APPEND`` 2), None neither (``MEMORY``
    4: the text itself, no file)."""
    if not isinstance(flags, int) or flags & 4:
        return None
    return (WRITTEN,) if flags & 3 else ()


def _video_source(where: Any) -> Any:
    """What OpenCV's ``VideoCapture`` reads: a video file, or, for a printf pattern naming an image
    sequence (``frames/%04d.png``), the files it matches (a glob); a camera's index as it is."""
    if isinstance(where, str) and "%" in where:
        import re  # (loaded already in any process that runs OpenCV)

        return re.sub(r"%0?\d*d", "*", where)
    return where


def _database_file(database: Any) -> Any:
    """The file a DuckDB connection opens: None for an in-memory database; a MotherDuck database as a URL
    (remote: named in a warning)."""
    if isinstance(database, str):
        if database == "" or database.startswith(":memory:"):
            return None
        if database.startswith(("md:", "motherduck:")):
            return "md://" + database.partition(":")[2]
    return database


def _asked_by_project(caller: Any, folder: bool) -> bool:
    """Whether project code asks (through the standard library: ``glob.glob(path)``); whether a folder is
    there, only when it asks itself (``shutil.copy`` asks whether its destination is one, to write in it)."""
    if folder and caller.f_code.co_filename.startswith(envwatch.STDLIB):
        return False
    return envwatch.by_project_code(caller)


def _mark(made: Any) -> None:
    global _made_with
    watchers = _watchers()
    if watchers:
        if _made_with is None:
            import weakref  # lazy: only a process or queue made while an asset runs

            _made_with = weakref.WeakKeyDictionary()
        _made_with[made] = watchers


def _default_start_method() -> str:
    """The start method a process of multiprocessing's default context is about to be started with."""
    import multiprocessing  # (imported already: a process is being started)

    return multiprocessing.get_start_method()


def _report(where: Any, event: str = READ, *more: Any) -> None:
    if isinstance(where, (str, bytes, os.PathLike)):
        try:
            sys.audit(event, os.fsdecode(os.fspath(where)), *more)
        except (TypeError, ValueError):
            pass


class _Finder:
    """A meta path entry that finds nothing itself: for a module of :data:`ENTRY_POINTS` (or given to
    :func:`when_imported`), it lets the other finders find it and wraps its entry points (or does what was
    asked) once it has run."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Optional[Any]:
        if (fullname not in ENTRY_POINTS or _done.get(fullname)) and fullname not in _when_imported:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                loader = spec.loader
                if loader is not None and hasattr(loader, "exec_module"):
                    spec.loader = _Loader(loader, fullname)
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass


class _Loader:
    """A module's own loader, then its entry points wrapped."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader, self._name = loader, name

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:  # the module keeps its own loader
                spec.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
        if self._name in ENTRY_POINTS:
            _wrap_module(self._name, module)
        action = _when_imported.pop(self._name, None)
        if action is not None:
            action()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package...
        return getattr(self._loader, name)


def entries() -> Tuple[str, ...]:
    """``module.function`` of each entry point watched (for the documentation)."""
    return tuple(f"{m}.{f}" for m, fns in ENTRY_POINTS.items() for f in fns)
