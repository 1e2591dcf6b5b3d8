"""What an asset reads without declaring it: the read watch of one attempt.

While the asset function runs, :class:`ReadWatch` hears (through :mod:`datamake.define.openwatch`) the
files its thread opens or checks for, the folders it lists, the SQLite databases it connects to and the commands it
starts, and keeps those that are inputs no declaration covers: project files and data outside the
project, not the store, code, the asset's own outputs and input copies, the sources it depends on, nor
the system's or installed packages' files; and the environment variables project code reads
(:mod:`datamake.define.envwatch`), recorded as ``env:NAME`` with a hash of the value. When the function
returns, :meth:`ReadWatch.finish` adds the files and folders its code names (readers written in C raise
no audit event) and what the memoizing helpers it reaches read for earlier callers
(:mod:`datamake.execution.helperreads`), and gives each its version (:mod:`datamake.storage.reads`) for
the manifest.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from types import MappingProxyType
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from datamake._paths import cache_dir
from datamake.define import entrywatch, openwatch, snapshot
from datamake.define.codenames import code_names, code_strings
from datamake.execution import helperreads
from datamake.execution.context import AssetContext
from datamake.storage import reads as read_files
from datamake.storage.folderio import INPUT_COPY_PREFIX
from datamake.storage.store import Store


_NOW = object()  # a file's stat is taken as the event comes (not replayed from a child)


class _Rare:
    """What few assets have, set at the first use (a trivial asset pays nothing for it)."""

    remote: Any = ()  # network addresses and remote URLs it reached, in order (a dict, at the first)
    _observes = False  # it depends on an observed or remote source: what it fetches is declared
    stale_memos: Sequence[Tuple[str, str]] = ()  # (helper, path): a memo built from older bytes of path
    _pid = 0  # the asset's process, once it forked: another pid is a child, which tells it through a log
    _child_log: Optional[str] = None  # made when the asset forks (childreads)
    unwatched: Optional[str] = None  # the start method of processes it started that no hook watches
    _starting: Optional[str] = None  # the start method of a process being started, until it is prepared
    _opened: Any = _NOW  # a replayed open: the stat the child saw (_NOW: taken as the event comes)
    env: Any = {}  # environment variable -> its version when project code first read it (its own dict, at the first)
    env_set: Any = ()  # variables it set or removed before reading them: its own values
    restored: Any = {}  # name -> version: what results it restored read when made (its own dict, at the first)
    strays: Any = {}  # thread name -> the first file it read for no asset while this one ran (its own dict, at the first)
    away: Any = ()  # kinds of work it handed where no watch follows it (unfollowed; a dict, at the first)
    # what it read, listed, wrote and may read (see ReadWatch._setup_once): empty and read-only until the
    # first event that needs them sets the watch up
    via: Any = MappingProxyType({})
    reads: Any = MappingProxyType({})
    maybe_written: Any = frozenset()
    content_at_open: Any = MappingProxyType({})
    listed: Any = MappingProxyType({})
    trees: Any = MappingProxyType({})
    tree_files: Any = MappingProxyType({})
    _versions: Any = None  # read_files.ReadVersions, at the first folder handed to a reader
    written: Any = frozenset()
    own_dirs: Any = frozenset()
    roots: Tuple[str, ...] = ()
    allowed: Any = ()
    skip_dirs: Any = ()


class ReadWatch(_Rare):
    """Collects what one attempt of an asset function reads without declaring it: files opened for
    reading, folders listed, SQLite databases, the files a command it starts names.

    Declared: a source the asset depends on. Never reported: files under the store, code (``.py``,
    ``.pyc``...), the asset's own output and input copies, what it writes, makes or removes itself,
    and the system's or installed packages' files. Set up at the first event: most assets have none.
    """

    def __init__(self, defs: Any, task: Any, store: Store, context: AssetContext, scratch: Any, fn: Any = None):
        self._setup_args = (defs, task, store)
        self._project_dir = task.project_dir
        self.fn = fn
        self.context = context
        self.scratch = scratch

    def _setup(self) -> None:
        with _SETUP_LOCK:  # (threads the asset started report too)
            if self._setup_args is not None:
                self._setup_once(*self._setup_args)
                self._setup_args = None

    def _setup_once(self, defs: Any, task: Any, store: Store) -> None:
        self.via: Dict[str, set] = {}  # a path read or listed -> the project functions on the stack then
        self.reads: Dict[str, Tuple[str, "read_files.Opened"]] = {}  # path in the project -> (full path, stat at open)
        self.maybe_written: set = set()  # those of ``reads`` a database connection or a command may change
        self.content_at_open: Dict[str, str] = {}  # those of ``maybe_written`` whose bytes decide, not their stat
        self.listed: Dict[str, Tuple[str, Optional[Tuple[str, ...]]]] = {}  # "folder/" -> (full path, names seen)
        self.trees: Dict[str, str] = {}  # "folder/**" -> full path: a folder its code names, every file in it
        self.tree_files: Dict[str, Dict[str, str]] = {}  # "folder/**" handed to a reader -> its files' versions then
        self.written: set = set()
        self.own_dirs: set = set()  # folders it made (os.mkdir, tempfile.mkdtemp) or removed (shutil.rmtree)
        self.allowed: List[str] = []
        for dep in defs.deps.get(task.key, ()):
            src = defs.sources.get(dep)
            url = getattr(src, "url", None)
            if getattr(src, "observe", None) is not None or (url and "://" in url and not url.startswith("file://")):
                self._observes = True
            if url and getattr(src, "partitions", None) is not None:  # a file pattern: any of its partitions
                url = re.sub(r"{[^{}]*}", "*", url)
            if url and ("://" not in url or url.startswith("file://")):
                url = url[len("file://"):] if url.startswith("file://") else url
                self.allowed.append(os.path.abspath(url))  # absolute paths, folders or glob patterns
        for kept in _kept_paths(defs, task.key):  # declared workspace copies: its own and its neighbours'
            self.allowed.append(os.path.abspath(os.path.join(task.project_dir, kept)))
        self.allowed.extend(getattr(self.fn, openwatch.VERSIONED_FILES, ()))  # a command asset's scripts: its code
        self.roots = _roots_of(task.project_dir)
        self.skip_dirs = [store.root] if store.is_local else []

    def saw(self, event: str, args: tuple) -> None:
        """One audit event of the asset's thread (:data:`datamake.define.openwatch.EVENTS`)."""
        if self._child_log is not None and self._pid != os.getpid():  # a child the asset forked: logged
            from datamake.execution import childreads  # (imported when the asset forked)

            childreads.forward(self._child_log, event, args)
            return
        if event in _ENV_EVENTS:
            self._variable(event, args)
            return
        if event in _HANDED:
            self._handed_work(event, args)
            return
        if event == openwatch.STRAY:
            self._stray(*args)
            return
        if event == openwatch.STARTED:  # a fresh interpreter (not forked): watched once it is prepared
            if args and args[0] != "fork":
                self.unwatched, self._starting = self._starting or self.unwatched, args[0]
            return
        if event == openwatch.PREPARED:  # what it is sent to prepare itself: it logs its reads too
            if self._starting is not None and args and isinstance(args[0], dict):
                from datamake.execution import childreads  # lazy: only an asset that starts processes

                args[0][_WATCH_KEY] = childreads.Spawned(self._log(), self._starting)
                self._starting = None
            return
        if event == openwatch.FORK:
            self._log()
            return
        if self._setup_args is not None:
            self._setup()
        if event == openwatch.OPEN:
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            path = _as_text(path)
            if path is None:
                return  # a file descriptor
            if not _opens_for_reading(mode, flags):  # an output of its own: no undeclared input
                self.written.add(os.path.abspath(path))
            elif not _imported(path):
                self._note(path, maybe_written=_opens_for_writing(mode, flags))
        elif event == openwatch.SQLITE:  # the database file is read (rollback journal; a WAL's are not seen)
            self._note(_sqlite_file(args[0] if args else None), maybe_written=True)
        elif event in openwatch.COMMANDS:  # the files a command names: scripts it runs, files it reads (or writes)
            from datamake.define import commandvars  # lazy: only an asset that starts a command

            for name, version in commandvars.read(event, args):  # and the variables it names ($SCALE)
                self._variable(openwatch.ENV, (name, version))
            from datamake.define import commandfiles  # (imported with commandvars)

            for path, what in commandfiles.named(event, args):
                self.command_file(path, what)
        elif event == openwatch.CHECKED:  # whether a file (a folder) is there: the asset read that it is, or is not
            self._checked(*args)
        elif event == openwatch.READ:  # a path or URL handed to a reader that opens it outside Python
            self._handed(args[0] if args else None, *args[1:2])
        elif event == openwatch.CONNECT:  # a network connection: nothing datamake can version
            address = args[1] if len(args) > 1 else None
            if isinstance(address, tuple) and len(address) >= 2:
                self._reached(f"{address[0]}:{address[1]}")
        elif event == openwatch.RENAME:  # a file moved into place (os.replace of a temporary file), or away
            self._moved(*args)
        elif event in _OWN:  # a folder it makes or removes, a file it removes: its own, not inputs
            no_dir_fd = len(args) < 2 or args[-1] in (None, -1)  # -1 from os.mkdir/os.remove, None from rmtree
            path = _as_text(args[0]) if args and no_dir_fd else None
            if path is not None:
                full = os.path.abspath(path)
                if event == openwatch.REMOVE:
                    self.written.add(full)
                elif event == openwatch.RMTREE or not os.path.exists(full):  # (makedirs(exist_ok=True) of data)
                    self.own_dirs.add(full)
        else:  # a listing: os.listdir, os.scandir (glob, os.walk and pathlib list through them)
            path = args[0] if args else None
            self._note("." if path is None else path, listing=True)

    def _moved(self, src: Any, dst: Any, src_dir_fd: Any = None, dst_dir_fd: Any = None) -> None:
        """A file (or folder) the asset moved: what it left and what it made are its own, not inputs (a state
        file it reads and then replaces with a new version, atomically, as one it writes in place)."""
        moved = [os.path.abspath(path) for path, dir_fd in ((src, src_dir_fd), (dst, dst_dir_fd))
                 for path in [_as_text(path)] if path is not None and dir_fd in (None, -1)]
        self.written.update(moved)
        if moved and os.path.isdir(moved[0]):  # a folder moved: every file in it too
            self.own_dirs.update(moved)

    def _variable(self, event: str, args: tuple) -> None:
        """A variable project code read (its first read counts) or set (then what it reads is its own)."""
        name = args[0]
        if "env" not in self.__dict__:
            with _SETUP_LOCK:  # (threads the asset started report too)
                self.__dict__.setdefault("env", {})
                self.__dict__.setdefault("env_set", set())
        if event == openwatch.ENV_SET:
            if name not in self.env:
                self.env_set.add(name)
        elif name not in self.env_set and name not in self.env:
            self.env[name] = args[1]
            if self._setup_args is not None:
                self._setup()
            codes = self.via[read_files.ENV + name] = helperreads.callers(self.roots)  # (a memoizing helper's)
            if helperreads.importing(codes):  # another asset waiting for the module may finish first
                helperreads.remember(codes, read_files.ENV + name, args[1])

    def _handed_work(self, event: str, args: tuple) -> None:
        """Work handed to a process pool (watched in its worker), or where no watch follows it (named)."""
        if event == openwatch.POOLED:
            from datamake.execution import poolreads  # lazy: only an asset that hands work to a pool

            poolreads.hand(args[0], self._log)
            return
        from datamake.execution import unfollowed  # lazy: only an asset that hands work on

        kind = unfollowed.kind(args)
        if kind is not None:
            if not self.away:
                self.away = {}
            self.away[kind] = None

    def _stray(self, thread: str, event: str, args: tuple) -> None:
        """What a thread the asset did not start (at import, or by an earlier asset) read while the asset ran,
        for no asset datamake can tell (:data:`datamake.define.openwatch.STRAY`): a file it opened, a folder it
        listed, a variable... maybe for it (work it put on a queue that thread takes), maybe not. Recorded as
        the asset's read, so editing it makes the asset stale, and the thread named in a warning."""
        if event == openwatch.OPEN:
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            path = _as_text(path)
            if path is None or not _opens_for_reading(mode, flags) or _imported(path):
                return
            args = (path, "r", None)
        known = self._recorded()
        self.saw(event, args)
        if self._recorded() > known:  # data of the project's (not the store's, a system file, a declared source)
            if "strays" not in self.__dict__:
                self.strays = {}
            self.strays.setdefault(thread, _shown_read(event, args))

    def _recorded(self) -> int:
        """How many reads, listings and variables are recorded so far."""
        return len(self.reads) + len(self.listed) + len(self.trees) + len(self.env)

    def add_restored(self, reads: Sequence[Tuple[str, str]]) -> None:
        """Reads ``(name, version)`` that code of the asset made when it ran before, and whose result was
        restored instead of run again (a graph asset's op found in the action cache, its reads current):
        recorded with the asset's own, which win."""
        if not reads:
            return
        if self._setup_args is not None:
            self._setup()
        if "restored" not in self.__dict__:
            self.restored = {}
        for name, version in reads:
            if not self._declared(read_files.full_path(self._project_dir, name)):
                self.restored.setdefault(name, version)

    def _log(self) -> str:
        """The file the processes it starts log their events to, made at the first."""
        if self._child_log is None:
            from datamake.execution import childreads  # lazy: only an asset that starts processes

            self._child_log, self._pid = childreads.new_log(), os.getpid()
        return self._child_log

    def _handed(self, where: Any, access: Any = None) -> None:
        """A path, glob or URL handed to a reader written in C or to fsspec: a file read (``access``: one
        the call may change, :data:`~datamake.define.entrywatch.MAY_WRITE` or ``MAY_TOUCH``; one it writes,
        ``WRITTEN``: its own), every file of a folder (of the folder a pattern starts in), or a remote
        location datamake cannot version."""
        if not isinstance(where, str):
            return
        if access == entrywatch.WRITTEN:
            if "://" not in where:
                self.written.add(os.path.abspath(where))
            return
        protocol, sep, rest = where.partition("://")
        if sep and protocol not in ("file", "local"):  # remote, or in this process (memory://, a cache)
            if protocol not in _IN_PROCESS:
                self._reached(where if rest else protocol + "://")
            return
        where = rest if sep else where
        if any(c in where for c in "*?["):
            base = where[:min(where.index(c) for c in "*?[" if c in where)]
            self.named_folder(os.path.dirname(base) or ".", handed=True)
        elif os.path.isdir(where):
            self.named_folder(where, handed=True)
        else:
            self._note(where, maybe_written=access in (entrywatch.MAY_WRITE, entrywatch.MAY_TOUCH),
                       touched=access == entrywatch.MAY_TOUCH)

    def _reached(self, where: str) -> None:
        if not self.remote:
            self.remote = {}
        self.remote.setdefault(where, None)

    def discard(self) -> None:
        """The attempt failed: nothing is recorded (the forked children's log is removed)."""
        if self._child_log is not None:
            from datamake.execution import childreads

            for _ in childreads.replay(self._child_log):
                pass
            self._child_log = None

    def refresh_memos(self) -> None:
        """Before the function runs: the memos of helpers it reaches that were built from files changed
        since are cleared where they can be (``lru_cache``), or named in a warning."""
        project_dir, versions = self._project_dir, read_files.ReadVersions()
        self.stale_memos = helperreads.refresh(self.fn, _roots_of(project_dir),
                                               lambda name: versions.version(read_files.full_path(project_dir, name)))

    def warnings(self) -> Tuple[Tuple[str, str], ...]:
        """What the asset's value depends on that datamake cannot version, as ``(kind, sentence)``: the
        network addresses and remote URLs it reached (``network``; unless it depends on an observed or
        remote source: what it fetches is declared), processes it started as fresh interpreters
        (``processes``), work handed where no watch follows it (``pool``, ``queue``, ``client``), memos
        built from older bytes of a file that could not be cleared (``memo``)."""
        if not self.remote and not self.stale_memos and self.unwatched is None and not self.away and not self.strays:
            return ()
        key, said = self.context.asset_key, []
        if self.remote and not self._observes:
            where = list(self.remote)
            shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
            said.append(("network",
                f"asset '{key}' reached {shown} over the network, which datamake cannot version: a change "
                f"there does not make '{key}' stale; declare what it fetches with source(\"URL\") or "
                f"source(observe=fn, name=...) (a version such as an ETag or a date) and take it as a parameter, "
                f"or rebuild it with make -B {key} when the remote data changes"))
        if self.unwatched is not None:
            said.append(("processes",
                f"asset '{key}' started processes with multiprocessing's '{self.unwatched}' start method, fresh "
                f"interpreters whose reads datamake cannot see: a file or an environment variable only they "
                f"read does not make '{key}' stale; declare the files they read with source() and pass them in, "
                f"or use the 'fork' start method (multiprocessing.get_context(\"fork\")), whose children's "
                f"reads are recorded"))
        if self.away:
            from datamake.execution import unfollowed

            said.extend(unfollowed.warnings(key, self.away))
        if self.strays:
            said.append(("thread", _stray_warning(key, self.strays)))
        for helper, name in self.stale_memos:
            said.append(("memo",
                f"asset '{key}' got a value that {helper}() keeps in a memo of its own (a module global, dict, "
                f"list or set) from {name} as it was before it changed: its value is built from the old file, "
                f"so '{key}' stays stale; start the process again, or clear that memo when the file changes "
                f"(functools.lru_cache is cleared by datamake)"))
        return tuple(said)

    def _note(self, path: Any, listing: bool = False, maybe_written: bool = False, touched: bool = False) -> None:
        """A file read (``maybe_written``: one a database connection or a command may change; ``touched``:
        one opened to write, whose stat changes even when it is only read, so its bytes are hashed now) or a
        folder listed, unless it is declared, the asset's own, or not data."""
        path = _as_text(path)
        if path is None or _in_rmtree():  # (rmtree lists and opens relative to folder descriptors)
            return  # a file descriptor, an in-memory database
        full = os.path.abspath(path)
        root = self._root_of(full)
        if root is None and (not _outside_data(full) or INPUT_COPY_PREFIX in full):  # (a stored input's copy)
            return
        if self._asset_files(full) or self._declared(full):
            return
        name = full if root is None else os.path.relpath(full, root).replace(os.sep, "/")
        if name.startswith(read_files.ENV):  # a file named env:...: not a variable
            name = "./" + name
        if listing:
            name += read_files.FOLDER  # the project folder itself is "./"
            if name not in self.listed:  # the names as the asset is about to list them
                self.listed[name] = (full, read_files.listing(full))
        elif os.path.isdir(full):
            return
        elif name not in self.reads:  # the file as it is about to be read (the event comes before the open)
            self.reads[name] = (full, read_files.opened_stat(full) if self._opened is _NOW else self._opened)
            if maybe_written:
                self.maybe_written.add(name)
                if touched and self._opened is _NOW:
                    self.content_at_open[name] = read_files.version_read(full, self.reads[name][1])
        elif maybe_written and name not in self.maybe_written:
            if self._opened is not _NOW:
                self._replayed_after_read(name, full)
            else:  # read before, opened now to write too (a counter it then updates in place)
                self.maybe_written.add(name)
                if touched:
                    self.content_at_open[name] = read_files.version_read(full, self.reads[name][1])
        codes = helperreads.callers(self.roots)
        self.via.setdefault(name, set()).update(codes)
        snapshot.note_run_read({filename for filename, _code in codes}, full)
        if helperreads.importing(codes):  # another asset waiting for the module may finish first
            helperreads.remember(codes, name, self._version_now(name, full))

    def _version_now(self, name: str, full: str) -> str:
        """The version of a file or folder the asset is reading now, as :meth:`versions` gives it at the end."""
        if name in self.listed:
            return read_files.listing_version(self.listed[name][1])
        return read_files.version_read(full, self.reads[name][1])

    def _checked(self, path: Any, folder: bool = False) -> None:
        """A file the asset checked for: read (missing when absent). A folder: only one that is not there
        counts, as an empty listing (one that is, the asset lists or reads next)."""
        if not folder:
            self._note(path)
        elif isinstance(path, str) and not os.path.lexists(path):
            self._note(path, listing=True)

    def _replayed_after_read(self, name: str, full: str) -> None:
        """A file the asset read that a child's command (or database connection) also names, replayed
        when the asset returns: whichever came first. Read with another stat than the child's as its
        command started, the asset read what the command wrote: the command's file, not an input
        (unless left as the command found it)."""
        if self._opened != self.reads[name][1]:
            self.reads[name] = (full, self._opened)
            self.maybe_written.add(name)

    def _root_of(self, full: str) -> Optional[str]:
        """The project root ``full`` is (or is under); None outside the project."""
        return full if full in self.roots else next((r for r in self.roots if full.startswith(r + os.sep)), None)

    def _asset_files(self, full: str, holding: bool = False) -> bool:
        """Under the store, the asset's scratch copies or its output (``holding``: or a folder holding one)."""
        for d in (*self.skip_dirs, self.scratch.path, self.context._output_dir):
            d = d and os.path.abspath(d)
            if d and (full == d or full.startswith(d + os.sep) or holding and d.startswith(full + os.sep)):
                return True
        return False

    def command_file(self, path: str, what: str) -> None:
        """A path the line of a command it (or a process it started) started names
        (:func:`datamake.define.commandfiles.named`): a folder, every file in it; a folder a glob pattern
        lists, the names in it; a file, read by the command or rewritten by it (then not an input); an
        absent one, made by it (its own)."""
        from datamake.define import commandfiles  # (imported with the command's event)

        if self._setup_args is not None:
            self._setup()
        if what == commandfiles.FOLDER:
            self.named_folder(path)
        elif what == commandfiles.LISTED:  # the folder a glob pattern lists: the names in it
            self._note(path, listing=True)
        elif what == commandfiles.ABSENT:  # (and a folder it makes there: what it writes in it)
            self.written.add(os.path.abspath(path))
            self.own_dirs.add(os.path.abspath(path))
        else:
            self._note(path, maybe_written=True)

    def named_folder(self, path: str, handed: bool = False) -> None:
        """A folder the asset's code names (``DATA = Path(...) / "data"``): a reader written in C may have
        read any file in it. Unless the asset read, listed or wrote something there itself (then that is
        what counts), every file in it is recorded (``data/**``); not the project folder, nor one holding it.
        A folder ``handed`` to such a reader counts whole even when the asset read or listed it too (it
        reads every file); not when the asset made it or wrote in it (its own files)."""
        full = os.path.abspath(path)
        if self._setup_args is not None:
            self._setup()
        inside = next((r for r in self.roots if full.startswith(r + os.sep)), None)
        if inside is None and (any(r.startswith(os.path.join(full, "")) or r == full for r in self.roots)
                               or not _outside_data(full)):
            return
        if self._asset_files(full, holding=True) or self._declared(full):
            return
        within = os.path.join(full, "")
        seen = () if handed else [*(f for f, _ in self.reads.values()), *(f for f, _ in self.listed.values())]
        if any(f.startswith(within) or f == full for f in [*seen, *self.written]) or handed and self._own(full, True):
            return
        name = (full if inside is None else os.path.relpath(full, inside).replace(os.sep, "/")) + read_files.TREE
        self.trees[name] = full
        if handed and name not in self.tree_files:  # (a file changed after the reader read it: not what it read)
            self.tree_files[name] = _file_versions(self._tree_versions(), full)

    def finish(self) -> Tuple[Tuple[str, str], ...]:
        """After the function returned: the files and folders its code names (for readers written in C),
        then every undeclared read with its version (:meth:`versions`). What the processes it forked
        read is replayed first."""
        if self._child_log is not None:
            from datamake.execution import childreads

            for event, args, stat in childreads.replay(self._child_log):
                self._opened = stat
                try:
                    if event == childreads.COMMAND_FILE:  # a file a child's command line names
                        self.command_file(*args)
                    else:
                        self.saw(event, args)
                finally:
                    del self._opened
            self._child_log = None
        if self._starting is not None:  # never prepared (or started by a child): unwatched
            self.unwatched, self._starting = self._starting, None
        for path in _paths_named_by(self.fn, self._project_dir):
            if os.path.isfile(path):
                if os.path.abspath(path) not in self.written:
                    self.saw(openwatch.OPEN, (path, "r", 0))
            elif os.path.isdir(path):
                self.named_folder(path)
        return self.versions()

    def versions(self) -> Tuple[Tuple[str, str], ...]:
        """Each undeclared file read, with the version of the bytes the asset read from it, and each folder
        listed, with the version of its listing; not a file the asset also wrote (a file of its own, such
        as a counter it keeps, or a SQLite database or a command's file it changed: not an input)."""
        if not (self.reads or self.listed or self.trees or self.env or self.restored or helperreads.remembered):
            return ()  # read nothing, and no helper noted reading anything (most assets): nothing to version
        files = [(name, version) for name, (full, opened) in self.reads.items()
                 for version in [self._read_version(name, full, opened)] if version is not None]
        folders = [(name, read_files.version_listed(full, seen, self.written))
                   for name, (full, seen) in self.listed.items()
                   if not self._own(full, folder=True) and not all(os.path.join(full, n) in self.written
                                                                   for n in seen or ("",))]
        trees = [(name, self._tree_version(name, full)) for name, full in self.trees.items()]
        recorded = dict(files + folders + trees)
        if self.env:  # (most assets read no variable)
            recorded.update((read_files.ENV + name, version) for name, version in self.env.items())
        for name, version in recorded.items():
            helperreads.remember(self.via.get(name, ()), name, version)
        if self._setup_args is not None and helperreads.remembered:
            self._setup()
        # what the helpers it reaches read when they ran for an earlier asset (a memoized value it got)
        noted = helperreads.reached(self.fn, self.roots) if self.roots else {}
        for name, version in [*noted.items(), *self.restored.items()]:
            if name not in recorded and read_files.full_path(self._project_dir, name) not in self.written:
                recorded[name] = version
        return tuple(sorted(recorded.items()))

    def project_writes(self) -> Tuple[str, ...]:
        """The project files the asset wrote, moved or removed (named as its reads are: relative to the
        project), not those under the store or its scratch and output folders: what another asset may read."""
        if not self.written:
            return ()  # (most assets write no file of their own)
        names = set()
        for full in self.written:
            root = self._root_of(full)
            if root is not None and full != root and not self._asset_files(full):
                names.add(os.path.relpath(full, root).replace(os.sep, "/"))
        return tuple(sorted(names))

    def _read_version(self, name: str, full: str, opened: Any) -> Optional[str]:
        """The version of the bytes the asset read from file ``full``; None for a file of its own: one it
        wrote, or one a database connection or a command may change that changed since it was opened (one
        whose bytes were hashed then, :attr:`content_at_open`: whose bytes changed)."""
        if os.path.abspath(full) in self.written or self._own(full, folder=True):
            return None
        if name not in self.maybe_written:
            return read_files.version_read(full, opened)
        now, at_open = read_files.opened_stat(full), self.content_at_open.get(name)
        if now != opened:  # changed during the run: by the asset, unless its bytes are the ones it read
            return at_open if at_open is not None and read_files.version_read(full, now) == at_open else None
        return at_open if at_open is not None else read_files.version_read(full, opened)

    def _tree_version(self, name: str, full: str) -> str:
        """The version of every file under folder ``full``; one no later look matches when a file that was
        in it when the asset handed it to a reader changed since (or went)."""
        versions = self._tree_versions()
        version = versions.version(full + read_files.TREE)
        if any(versions.version(path) != seen for path, seen in self.tree_files.get(name, {}).items()):
            return read_files.MOVED + version
        return version

    def _tree_versions(self) -> "read_files.ReadVersions":
        """File versions kept for this attempt (a file hashed when its folder was handed to a reader is
        not hashed again at the end while its stat holds)."""
        if self._versions is None:
            self._versions = read_files.ReadVersions()
        return self._versions

    def _own(self, full: str, folder: bool = False) -> bool:
        """Under a folder the asset made or removed itself (a scratch folder), or that folder itself."""
        return any(full.startswith(os.path.join(d, "")) or (folder and full == d) for d in self.own_dirs)

    def _declared(self, full: str) -> bool:
        for allowed in self.allowed:
            if full == allowed or full.startswith(allowed.rstrip(os.sep) + os.sep):
                return True
            if any(c in allowed for c in "*?["):
                import fnmatch  # lazy: only a declared pattern

                if fnmatch.fnmatchcase(full, allowed) or full == os.path.dirname(allowed):  # or its folder
                    return True
        real = os.path.realpath(full)
        return real != full and self._declared(real)


def _stray_warning(key: str, strays: Dict[str, str]) -> str:
    """The warning for what threads the asset did not start read while it ran (``strays``: thread -> a read)."""
    threads = ", ".join(f"'{thread}' read {what}" for thread, what in list(strays.items())[:3])
    return (f"while asset '{key}' ran, a thread it did not start (at import, or left running by an earlier asset) "
            f"read a file, a folder or an environment variable: {threads}. datamake cannot tell which asset such "
            f"a read is for, so it counts for every asset running then (editing the file makes '{key}' stale); "
            f"read it in the asset, or in a thread it starts, or hand that thread the work through a "
            f"queue.Queue that gives back the items put on it, or declare the file with source() and pass it in")


def _shown_read(event: str, args: tuple) -> str:
    """A read as a warning names it: ``data/x.csv``, ``inbox/`` (a folder listed), ``environment variable X``."""
    if event == openwatch.ENV:
        return f"environment variable {args[0]}"
    path = _as_text(args[0]) if args and args[0] is not None else "."
    if path is None:
        return "a file"
    shown = os.path.relpath(path) if os.path.isabs(path) else path
    return shown.rstrip(os.sep) + "/" if event in (openwatch.LIST, openwatch.SCAN) else shown


def started_by(thread: threading.Thread) -> Optional[str]:
    """What ran when ``thread`` was started: ``asset 'KEY'`` (or ``op 'NAME'``) whose watch it inherited; None
    when it was started while none ran."""
    for listener in thread.__dict__.get(openwatch.STARTED_UNDER, ()):
        watch = getattr(listener, "__self__", None)
        if isinstance(watch, ReadWatch):
            key = watch.context.asset_key
            return f"op '{key[3:].rstrip('/')}'" if key.startswith("op:") else f"asset '{key}'"
    return None


_SETUP_LOCK = threading.Lock()
_WATCH_KEY = "datamake_watch"  # in a spawned child's preparation data (which ignores keys it does not know)
_IN_PROCESS = ("memory", "cached", "simplecache", "filecache", "blockcache", "zip", "tar", "reference")
_OWN = (openwatch.MKDIR, openwatch.RMTREE, openwatch.REMOVE)
_ENV_EVENTS = (openwatch.ENV, openwatch.ENV_SET)
_HANDED = (openwatch.POOLED, openwatch.AWAY)


def _in_rmtree() -> bool:
    """Whether ``shutil.rmtree`` is what lists and opens (relative to folder descriptors): never inputs."""
    frame = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            return False
        if frame.f_code.co_name.startswith(("_rmtree", "rmtree")) and frame.f_code.co_filename.endswith("shutil.py"):
            return True
        frame = frame.f_back
    return False


def _file_versions(versions: "read_files.ReadVersions", folder: str) -> Dict[str, str]:
    """The version of each file under ``folder``."""
    return {os.path.join(top, n): versions.version(os.path.join(top, n)) for top, _, names in os.walk(folder)
            for n in names}


def _as_text(path: Any) -> Optional[str]:
    """An audit event's path as text; None for a file descriptor or anything else."""
    return os.fsdecode(os.fspath(path)) if isinstance(path, (str, bytes, os.PathLike)) else None


def _imported(path: str) -> bool:
    """A file opened by imports: a module (code, versioned as such), or an entry of ``sys.path`` that
    ``importlib.metadata`` tries as a zip (``__editable__...__path_hook__``: no file at all)."""
    return path.endswith(snapshot.CODE_SUFFIXES) or path in sys.path


def _opens_for_writing(mode: Any, flags: Any) -> bool:
    """An ``open`` event that reads and may write as well (``r+``, ``a+``, ``O_RDWR``): the file is an input
    only if the asset left it as it found it (a counter or a log it updates in place is its own)."""
    if isinstance(mode, str):
        return "+" in mode
    return isinstance(flags, int) and flags & os.O_ACCMODE == os.O_RDWR


def _opens_for_reading(mode: Any, flags: Any) -> bool:
    """An ``open`` event that reads what was there: not a write-only open, nor one that creates or
    truncates (``w+``, ``x+``, ``O_TRUNC``, ``O_CREAT|O_EXCL``: what it reads back, the asset wrote)."""
    if isinstance(mode, str):
        return "r" in mode or ("a" in mode and "+" in mode)
    return not (isinstance(flags, int) and (flags & os.O_ACCMODE == os.O_WRONLY
                                            or flags & os.O_TRUNC or flags & os.O_CREAT and flags & os.O_EXCL))


_SOFTWARE: Optional[Tuple[str, ...]] = None  # folders (with a trailing separator) of software, not data


def _outside_data(full: str) -> bool:
    """A file or folder outside the project that may be data (``/mnt/data/orders.csv``), not the system's,
    an installed package's or a tool's own (``/usr``, ``/etc``, the interpreter's prefixes, ``~/.cache``,
    datamake's own cache folder wherever ``DATAMAKE_CACHE_DIR`` puts it...);
    nor the home folder or the root themselves (a library looking around)."""
    global _SOFTWARE
    home = os.path.expanduser("~")
    if _SOFTWARE is None:
        import site

        system = ("usr", "lib", "lib64", "bin", "sbin", "etc", "proc", "sys", "dev", "run", "var", "snap")
        _SOFTWARE = tuple({os.path.join(os.path.abspath(p), "") for p in [
            sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages(),
            os.path.join(home, "."), cache_dir(), *(os.sep + d for d in system)]})
    return full not in (home, os.sep) and not full.startswith(_SOFTWARE)


def _sqlite_file(database: Any) -> Optional[str]:
    """The file a ``sqlite3.connect(database)`` opens; ``None`` for an in-memory database."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    if not isinstance(database, (str, os.PathLike)):
        return None
    database = os.fspath(database)
    if database.startswith("file:"):  # a URI: file:path?mode=ro
        database = database[len("file:"):].split("?", 1)[0]
    return None if database in ("", ":memory:") else database


def _kept_paths(defs: Any, key: str) -> List[str]:
    """The workspace paths (``@asset(path=...)``) of the asset, of its upstream assets and of its
    direct dependents (a multi-asset's outputs): files a command asset reads by declaration."""
    near = defs.__dict__.get("_kept_paths")
    if near is None:  # built once per definitions, at the first asset that opens a file
        near = {}
        for k, a in defs.assets.items():
            if getattr(a, "path", None):
                for other in (k, *defs.deps.get(k, ())):  # the asset itself and what it reads from
                    near.setdefault(other, []).append(a.path)
        defs.__dict__["_kept_paths"] = near
    upstream = [getattr(defs.assets.get(dep), "path", None) for dep in defs.deps.get(key, ())]
    return [*near.get(key, ()), *(p for p in upstream if p)]


_named_paths: Dict[Any, Tuple[str, ...]] = {}


def _paths_named_by(fn: Any, project_dir: str) -> Tuple[str, ...]:
    """Strings and paths the function's code, and the project helpers it reaches, name without receiving
    them: the globals they use, their closures, defaults and string constants that look like paths.
    Readers written in C (pyarrow's) open files without any audit event; a module-level ``DATA =
    Path(...)`` constant or a literal ``"data/t.parquet"`` is how they are usually given a file or folder."""
    fn = getattr(fn, "__wrapped__", fn)
    cached = _named_paths.get(fn)
    if cached is not None:
        return cached
    code = getattr(fn, "__code__", None)
    if code is not None and not (code.co_names or fn.__closure__ or fn.__defaults__
                                 or any(isinstance(c, (str, type(code))) for c in code.co_consts)):
        _named_paths[fn] = ()  # names nothing at all (a generated pipeline's trivial assets)
        return ()
    values: List[Any] = []
    for current in helperreads.reachable_functions(fn, _roots_of(project_dir)) or [fn]:
        code = getattr(current, "__code__", None)
        namespace = getattr(current, "__globals__", {}) or {}
        if code is not None:
            values += [namespace[n] for n in code_names(code)
                       if n in namespace and _names_a_path(n, namespace[n])]
            values += [c for c in code_strings(code) if "/" in c or "." in c.strip(".")]
        values += [cell.cell_contents for cell in (getattr(current, "__closure__", None) or ()) if _has_contents(cell)]
        values += list(getattr(current, "__defaults__", None) or ())
    found = []
    for value in values:
        if isinstance(value, os.PathLike) or (isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value):
            try:
                found.append(os.fsdecode(os.fspath(value)))
            except (TypeError, ValueError):
                pass
    if len(_named_paths) > 100_000:
        _named_paths.clear()
    _named_paths[fn] = result = tuple(dict.fromkeys(found))
    return result


def _names_a_path(name: str, value: Any) -> bool:
    """A global holding a string or a path (not a module's own ``__file__``, ``__name__``...)."""
    return isinstance(value, (str, os.PathLike)) and not (name.startswith("__") and name.endswith("__"))


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class Watched(NamedTuple):
    """What a read watch needs of work that is not an asset's task (an op, checks run on a kept value)."""

    key: str  # an asset's key gives the watch that asset's declared sources
    project_dir: str


def start(defs: Any, task: Any, store: Store, scratch: Any, context: AssetContext, fn: Any) -> Optional[ReadWatch]:
    """A read watch for one attempt of ``task`` (an AssetTask or :class:`Watched`; None for a task run
    outside a project folder) running ``fn`` (the asset's function, an op's; None: code of no function
    whose names count, such as checks); the caller pushes its :meth:`ReadWatch.saw` with
    :func:`datamake.define.openwatch.push` around the function."""
    if not task.project_dir:
        return None
    watch = ReadWatch(defs, task, store, context, scratch, fn)
    if helperreads.remembered:  # a process that ran helpers which read files: memos of them
        watch.refresh_memos()
    return watch


_project_roots: Dict[str, Tuple[str, ...]] = {}


def _roots_of(project_dir: str) -> Tuple[str, ...]:
    """The project folder, as given and with symbolic links resolved (once per project folder: resolving
    links costs a few system calls)."""
    roots = _project_roots.get(project_dir)
    if roots is None:
        full = os.path.abspath(project_dir)
        roots = _project_roots[project_dir] = tuple(dict.fromkeys([full, os.path.realpath(full)]))
    return roots
