"""One audit hook for the files Python code opens or lists, shared by everything in datamake that watches them.

Two parts of datamake note the files opened on a thread while it does something: the snapshot of a
project module notes what the module reads while it is imported (:mod:`datamake.define.snapshot`),
and a running asset's read watch notes the project files it reads, the folders it lists and the
SQLite databases it opens without declaring them (``datamake.execution.tasks``). Each pushes a
listener for its thread and pops it when done. The hook (``sys.addaudithook``, which cannot be
removed) is installed once, at the first listener, and calls every listener of the thread with
``(event, args)`` on each of :data:`EVENTS`: ``open`` ``(file, mode, flags)``, ``os.listdir`` and
``os.scandir`` ``(path,)`` (``None`` for the working folder; ``glob``, ``os.walk`` and pathlib list
through them), ``sqlite3.connect`` ``(database,)``, and the commands started: ``subprocess.Popen``
``(executable, args, cwd, env)``, ``os.system`` ``(command,)``, ``os.posix_spawn`` ``(path, argv, env)``;
and what it makes, removes and moves: ``os.mkdir``, ``shutil.rmtree``, ``os.remove`` ``(path, ...)``, ``os.rename``
(``os.replace``, ``Path.rename``) ``(src, dst, src_dir_fd, dst_dir_fd)``; the path
or URL handed to a reader that opens files outside Python (:mod:`datamake.define.entrywatch`,
installed with the hook) ``(path,)``, a file or folder project code checks for (``os.path.exists``, ``Path.is_dir``...)
``(path, folder)``, ``socket.connect`` ``(socket, address)``, ``os.fork`` ``()``, a multiprocessing process's
start ``(start method,)`` and the data a spawned or forkserver child is sent ``(data,)``, the work handed to a
process pool ``([pool, function],)`` or to processes no listener follows ``(name, object)``; and, from
:mod:`datamake.define.envwatch`, the environment variables project code reads ``(name, version)`` and
sets ``(name,)``. A thread started
while listeners watch a thread is watched by them too, until they are popped. A thread that serves a
queue of the ``queue`` module (``Queue``, ``LifoQueue``, ``PriorityQueue``, their subclasses, ``SimpleQueue``)
and was not started for one asset's own use (started at import, or by an asset and kept for all: a shared
worker) reports what it reads (:data:`FOR_OTHERS`: the files and folders it opens, lists and checks for, the
variables it reads) to the listeners of the threads that put the items it took since it last emptied the
queue, alone (:func:`_install_queue`, :func:`_took`); to every live listener, as :data:`STRAY`, when who put
an item cannot be told. So does a thread no listener follows (started at the project's import, or under
listeners popped since) that reads while listeners watch other threads.
What a listener itself does is not reported,
and a listener that raises is ignored; nor are the folders the import system (and
``importlib.metadata``, ``pkgutil``) lists to find modules and installed packages.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from datamake.define import entrywatch, envwatch, statwatch

Listener = Callable[[str, tuple], None]

OPEN, LIST, SCAN, SQLITE = "open", "os.listdir", "os.scandir", "sqlite3.connect"
POPEN, SYSTEM, SPAWN = "subprocess.Popen", "os.system", "os.posix_spawn"
COMMANDS = (POPEN, SYSTEM, SPAWN)  # a command started
MKDIR, RMTREE, REMOVE = "os.mkdir", "shutil.rmtree", "os.remove"  # (path, ...): folders and files of its own
RENAME = "os.rename"  # (src, dst, src_dir_fd, dst_dir_fd): a file moved (os.replace too): both paths its own
READ, CONNECT = entrywatch.READ, "socket.connect"  # (path or URL,): a reader outside Python; (socket, address)
FORK = "os.fork"  # (): raised in the parent, before it forks (multiprocessing's fork start method)
STARTED = entrywatch.STARTED  # (start method,): a multiprocessing process is started
ENV, ENV_SET = envwatch.READ, envwatch.WRITTEN  # (name, version): a variable project code read; (name,): set
PREPARED = entrywatch.PREPARED  # (data,): what a spawned or forkserver child is sent to prepare itself
POOLED = entrywatch.POOLED  # ([pool, function],): work handed to a process pool (a listener may wrap the function)
AWAY = entrywatch.AWAY  # (name, object): work handed to a Dask or Ray client, an item put on a process queue
CHECKED = entrywatch.CHECKED  # (path, folder): project code checked whether a file (a folder) is there (os.path.exists...)
# (thread name, event, args): a read (one of FOR_OTHERS) on a thread no listener follows (started at the project's
# import, or under listeners popped since), or by a shared worker for items whose putters cannot be told, told to
# every live listener: it may be work one of them handed that thread
STRAY = "datamake.stray_read"
EVENTS = frozenset((OPEN, LIST, SCAN, SQLITE, POPEN, SYSTEM, SPAWN, MKDIR, RMTREE, REMOVE, RENAME, READ, CONNECT, FORK,
                    STARTED, PREPARED, POOLED, AWAY, CHECKED))
_STDLIB = os.path.dirname(os.__file__)
# the import system and the standard modules that search sys.path (importlib.metadata, pkgutil)
_IMPORT_SYSTEM = ("<frozen importlib", os.path.join(_STDLIB, "importlib", ""), os.path.join(_STDLIB, "pkgutil.py"))
CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".pyd", ".so", ".pth")  # files that are code, not data
CARRIED = "__datamake_carried__"  # on a function made by carried()
VERSIONED_FILES = "__datamake_versioned_files__"  # on an asset function: files its code version covers (not reads)

_local = threading.local()  # .listeners: this thread's, innermost last; .busy: a listener is running
_install_lock = threading.RLock()  # (installing the hook installs the queue's when it is imported)
_installed = False
_live: Dict[int, Listener] = {}  # _identity -> each listener pushed and not popped yet, on any thread
# A live object's identity as a number, as id() tells it apart, without the audit event id() raises (which
# this module's own hook would hear: two per asset run)
_identity = object.__hash__
_thread_start = threading.Thread.start
_unfollowed: Any = None  # a weakref.WeakSet of the threads started at the project's import, at the first
PUTTERS = "__datamake_putters__"  # on a queue put on by a watched thread: who put each item (a deque beside them)
# what a thread reads that may be for others: for a shared worker, the listeners of the threads that put the items
# it took; for a thread no listener follows, every live listener (STRAY)
FOR_OTHERS = frozenset((OPEN, LIST, SCAN, SQLITE, READ, CHECKED, ENV))
_serving = False  # whether a shared worker thread took an item a watched thread put (nothing to look up before)
# what a shared worker serves when who put its items cannot be told: every live listener (an item taken from a
# queue that hands out other objects than those put on it, or whose items changed behind its back)
_EVERYONE: Tuple[Listener, ...] = (lambda event, args: None,)
STARTED_UNDER = "datamake_started_under"  # on a thread started while listeners watched: those listeners
IMPORTED_FROM = "datamake_imported_from"  # on a thread started at the project's import: the definitions imported


Opened = Optional[Tuple[int, int, int, int]]  # (size, mtime_ns, inode, ctime_ns) of a file when opened; None: missing


def opened_stat(path: str) -> Opened:
    """What a read file looked like when it was opened (with its change time, which no program can set
    back as ``cp -p`` or ``rsync -t`` set back the modification time of new bytes)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def push(listener: Listener) -> None:
    """Call ``listener(event, args)`` for each of :data:`EVENTS` on this thread until :func:`pop`."""
    _ready()
    listeners: List[Listener] = _local.__dict__.setdefault("listeners", [])
    listeners.append(listener)
    _live[_identity(listener)] = listener


def pop() -> None:
    """Stop the listener this thread pushed last (in the threads it started too)."""
    _live.pop(_identity(_local.listeners.pop()), None)


def alone(listener: Listener) -> List[Listener]:
    """Call only ``listener`` on this thread until :func:`back` (a pool worker running one item for an
    asset: not the listeners it inherited, which may be another asset's); the listeners it had."""
    _ready()
    previous = getattr(_local, "listeners", None) or []
    _local.listeners = [listener]
    _live[_identity(listener)] = listener
    return previous


def back(previous: List[Listener]) -> None:
    """Give this thread back the listeners :func:`alone` replaced."""
    for listener in _local.listeners:
        _live.pop(_identity(listener), None)
    _local.listeners = previous


def carried(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, to run on another thread with the listeners watching this one: work handed to a pool of
    threads started at import or by an earlier asset, whose threads no listener of this one watches."""
    listeners = _watchers()
    if not listeners:
        return fn

    def run_carried(*args: Any, **kwargs: Any) -> Any:
        previous = getattr(_local, "listeners", None)
        _local.listeners = list(listeners)
        try:
            return fn(*args, **kwargs)
        finally:
            _local.listeners = previous if previous is not None else []

    run_carried.__dict__[CARRIED] = True
    return run_carried


def _start_watched(thread: threading.Thread) -> None:
    """``Thread.start``: a thread started while listeners watch this one is watched by them as long as
    they are (a pool's workers reading files for an asset)."""
    listeners = getattr(_local, "listeners", None)
    if listeners and not getattr(_local, "busy", False):
        inherited, run = tuple(listeners), thread.run

        def run_watched() -> None:
            _local.listeners = list(inherited)
            try:
                run()
            finally:
                _local.listeners = []

        thread.run = run_watched  # type: ignore[method-assign]
        thread.__dict__[STARTED_UNDER] = inherited
    _thread_start(thread)


def started_unfollowed(threads: List[threading.Thread], where: str = "") -> None:
    """``threads`` were started where no listener follows them (while the definitions ``where`` were
    imported): a file one of them opens while listeners watch other threads is told to those (:data:`STRAY`)."""
    global _unfollowed
    if _unfollowed is None:
        import weakref

        _unfollowed = weakref.WeakSet()
    _unfollowed.update(threads)
    for thread in threads:
        thread.__dict__.setdefault(IMPORTED_FROM, where)


def import_threads() -> List[threading.Thread]:
    """The threads started while the project was imported that still run (none: nothing is enumerated)."""
    if _unfollowed is None:
        return []
    return [thread for thread in list(_unfollowed) if thread.is_alive()]


def _stray(event: str, args: tuple) -> None:
    """A read (one of :data:`FOR_OTHERS`) on a thread no live listener follows, or by a shared worker for
    items whose putters cannot be told: told to every live listener (:data:`STRAY`), if the thread was
    started at import or under listeners popped since."""
    thread = threading.current_thread()
    if not _outside_watches(thread):
        return  # (datamake's own threads: a coordinator, an executor's workers between assets)
    _tell_live(tuple(_live.values()), STRAY, (thread.name, event, args))


def _outside_watches(thread: threading.Thread) -> bool:
    """Whether ``thread`` was started where no listener follows it for good: at the project's import, or
    under listeners (an asset's) that may be popped while it runs on."""
    return STARTED_UNDER in thread.__dict__ or (_unfollowed is not None and thread in _unfollowed)


def _ready() -> None:
    """Install the hooks a watch needs: once, and the queue's once ``queue`` is imported (a process that
    never imports it does not import it here; one that imports it later hooks it then, see the end of
    this module)."""
    if not _installed:
        _install()
    if not _queue_hooked and "queue" in sys.modules:
        _install_queue()


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_on_audit)  # for the life of the process; idle on threads without listeners
            entrywatch.install(_watchers, _watching)
            envwatch.install(_watching, _tell)
            statwatch.install(_watching)
            threading.Thread.start = _start_watched  # type: ignore[method-assign]
            _installed = True


def _watchers() -> Tuple[Listener, ...]:
    """The listeners watching this thread now (a process started here is marked with them)."""
    return tuple(listener for listener in getattr(_local, "listeners", None) or () if _identity(listener) in _live)


def made_elsewhere(made: object) -> bool:
    """Whether a multiprocessing process or queue was started or made where none of this thread's
    listeners watched (before the asset ran, by an earlier one)."""
    made_with = entrywatch.made_with(made)
    return not any(listener in made_with for listener in getattr(_local, "listeners", None) or ())


def _on_audit(event: str, args: tuple) -> None:
    if event not in EVENTS or not _live:
        return
    here = _local.__dict__  # (no AttributeError raised and caught per event on a thread without listeners)
    if here.get("busy"):
        return
    if not here.get("listeners") and (event not in FOR_OTHERS or not _outside_watches(threading.current_thread())):
        return  # datamake's own threads (a coordinator, an executor's workers between assets)
    if event != OPEN and sys._getframe(1).f_code.co_filename.startswith(_IMPORT_SYSTEM):
        return  # the import system searching for modules or distributions: code, not data
    _tell(event, args)


def _watching() -> bool:
    """Whether what this thread reads is told to listeners (none of which is running): its own, or, while
    listeners watch other threads, those it may work for (see :func:`_tell`)."""
    here = _local.__dict__
    if here.get("busy"):
        return False
    return bool(here.get("listeners")) or bool(_live) and _outside_watches(threading.current_thread())


def _tell(event: str, args: tuple) -> None:
    """Tell one event of this thread (``args``: as for :data:`EVENTS`, or :data:`ENV`...) to whom it is for:
    the listeners of the queue items a shared worker serves, else the thread's own live listeners, else (a
    read on a thread no live listener follows) every live listener, as a :data:`STRAY`."""
    here = _local.__dict__
    serving = here.get("serving") if _serving and event in FOR_OTHERS else None
    if serving is _EVERYONE:
        _stray(event, args)
        return
    if serving and _tell_live(serving, event, args):
        return
    listeners = here.get("listeners")
    if listeners and _tell_live(tuple(listeners), event, args):
        return
    if event in FOR_OTHERS and _live:  # a thread that outlived the listeners it was started under, or none
        _stray(event, args)


def _tell_live(listeners: Tuple[Listener, ...], event: str, args: tuple) -> bool:
    """Call each of ``listeners`` still live with one event; whether any was."""
    told = False
    _local.busy = True  # what a listener opens or lists is not what the watched code read
    try:
        for listener in listeners:
            if _identity(listener) not in _live:  # inherited by a thread its watcher started, and popped since
                continue
            told = True
            try:
                listener(event, args)
            except Exception:  # noqa: BLE001 - noting a read must never break the code that opened the file
                pass
    finally:
        _local.busy = False
    return told


_queue_hooked = False
QUEUE_NOTES = "__datamake_queue_notes__"  # on a wrapped _put or _get: the class whose pair it is
UNTOLD = "__datamake_untold__"  # on the wrapped get of a queue class with its own put or get


def _install_queue() -> None:
    """Note who puts each item on a queue of the ``queue`` module, so that a shared worker thread taking it
    works for them: ``Queue``, ``LifoQueue`` and ``PriorityQueue`` (their ``_put`` and ``_get`` wrapped), their
    subclasses that store items their own way (their ``_put`` and ``_get`` wrapped too, now or when defined),
    and ``SimpleQueue`` (written in C: replaced in the module, and in ``_queue``, by a subclass that notes
    them); a subclass with its own ``put`` or ``get`` (past ``_put`` and ``_get``) tells no one, so a shared
    worker taking from it works for every live listener. Done before the
    project's code runs: as its loading starts, or as the module is imported if that is later
    (:func:`datamake.define.entrywatch.when_imported`); else when a watch starts. A queue made before has its
    class wrapped all the same, and only items put before go unrecorded; a ``SimpleQueue`` made before is
    not followed."""
    global _queue_hooked
    with _install_lock:
        if _queue_hooked:
            return
        import queue

        _note_putters(queue.Queue, "popleft")
        _note_putters(queue.LifoQueue, "pop")
        _note_putters_by_item(queue.PriorityQueue)
        for subclass in _subclasses(queue.Queue):
            _note_subclass(subclass)
        queue.Queue.__init_subclass__ = classmethod(_queue_subclassed)  # type: ignore[assignment]
        written_in_c = sys.modules.get("_queue")
        noting = queue.SimpleQueue = _noting_simple_queue(queue.SimpleQueue)  # type: ignore[misc]
        if getattr(written_in_c, "SimpleQueue", None) is noting.__base__:  # (made from _queue itself)
            written_in_c.SimpleQueue = noting  # type: ignore[union-attr]
        _queue_hooked = True


def _subclasses(cls: type) -> List[type]:
    """Every subclass of ``cls``, parents first."""
    found: List[type] = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found


def _queue_subclassed(cls: type, **kwargs: Any) -> None:
    """``Queue.__init_subclass__``: a subclass defined once the queue is hooked is noted as well."""
    import queue  # (imported: it is being subclassed)

    super(queue.Queue, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
    _note_subclass(cls)


def _note_subclass(cls: Any) -> None:
    """A ``Queue`` subclass whose ``_put`` or ``_get`` is its own (or a mixin's): both wrapped in it, noting
    who put each item by the item's identity (the order it keeps is its own). One whose ``put`` or ``get`` is
    its own and calls no ``super()``: its ``get`` wrapped, telling no one (:func:`_note_untold_takes`)."""
    import queue  # (imported: its subclass is being noted)

    notes = cls._put.__dict__.get(QUEUE_NOTES)
    if notes is None or notes is not cls._get.__dict__.get(QUEUE_NOTES):
        _note_putters_by_item(cls)
    if (_past_queue(cls.put, queue.Queue.put) or _past_queue(cls.get, queue.Queue.get)) \
            and UNTOLD not in cls.get.__dict__:
        _note_untold_takes(cls)


def _past_queue(method: Any, own: Any) -> bool:
    """Whether a queue class's ``put`` or ``get`` may store or hand out items past ``_put`` and ``_get``: it
    is not ``Queue``'s (``own``), and calls no ``super()``."""
    code = getattr(method, "__code__", None)
    return method is not own and (code is None or "super" not in code.co_names)


def _note_untold_takes(cls: Any) -> None:
    """Wrap ``cls.get`` of a queue with its own ``put`` or ``get``, which may store and hand out items past
    ``_put`` and ``_get``: who put an item taken from it cannot be told, so a shared worker taking one while
    listeners watch works for every live listener (:data:`_EVERYONE`)."""
    get = cls.get

    def _queue_get_untold(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = get(self, *args, **kwargs)
        if _live:
            _took(_EVERYONE, drained=True)
        return item

    wrapper = entrywatch.standing_for(get)(_queue_get_untold)
    wrapper.__dict__[UNTOLD] = True
    cls.get = wrapper


def _noted(cls: Any, put: Any, get: Any) -> None:
    """Set ``put`` and ``get``, the wrappers of ``cls._put`` and ``cls._get``, marked as its pair; code
    versions see the functions they wrap."""
    for name, wrapper in (("_put", put), ("_get", get)):
        wrapper = entrywatch.standing_for(getattr(cls, name))(wrapper)
        wrapper.__dict__[QUEUE_NOTES] = cls
        setattr(cls, name, wrapper)


def _putters_record(queue: Any, new: Any) -> Tuple[Any, Tuple[Any, ...]]:
    """(the queue's record of who put each item, or None; the listeners the calling thread puts under).
    The record is made by ``new(queue)`` at the first item a watched thread puts."""
    putters = queue.__dict__.get(PUTTERS)
    watchers = _putters() if _live else ()
    if putters is None and watchers:
        putters = queue.__dict__.setdefault(PUTTERS, new(queue))
    return putters, watchers


def _items_deque(queue: Any) -> Any:
    """A record for a queue whose items are taken from one end: one entry per item already in it."""
    import collections

    return collections.deque([()] * len(queue.queue))


def _note_putters(cls: Any, take: str) -> None:
    """Wrap ``cls._put`` and ``cls._get``: a deque of the listeners each item was put under, beside the
    items (once a watched thread puts one), taken from the same end as the items are (``take``). Called by
    a subclass's own ``_put`` or ``_get``, they only call what they wrap (the subclass's note the item)."""
    put, get = cls._put, cls._get

    def _queue_put(self: Any, item: Any) -> None:
        if type(self)._put is not _queue_put:
            return put(self, item)
        putters, watchers = _putters_record(self, _items_deque)
        put(self, item)
        if putters is not None:
            putters.append(watchers)

    def _queue_get(self: Any) -> Any:
        item = get(self)
        if type(self)._get is not _queue_get:
            return item
        putters = self.__dict__.get(PUTTERS)
        if putters is not None:
            watchers = getattr(putters, take)() if putters else ()
            if len(putters) != len(self.queue):  # items added or taken behind the queue's back: no telling
                del self.__dict__[PUTTERS]
                watchers = _EVERYONE
            _took(watchers, drained=not self.queue)
        elif _local.__dict__.get("serving") is not None:
            _took((), drained=not self.queue)
        return item

    _noted(cls, _queue_put, _queue_get)


class _ByItem(dict):
    """Who put each item on a queue whose order is its own, by the item's identity: the item (kept, so that
    no other object takes its identity while it is in the queue), then the listeners of each put of it (the
    same object put twice: both's)."""

    __slots__ = ("unknown",)

    def __init__(self, unknown: int) -> None:
        super().__init__()
        self.unknown = unknown  # items in the queue when the record was made, put by no one known


def _note_putters_by_item(cls: Any) -> None:
    """Wrap ``cls._put`` and ``cls._get`` of a queue whose order is its own (``PriorityQueue``, a subclass
    that stores items its own way): who put each item, by the item's identity."""
    put, get = cls._put, cls._get

    def _queue_put(self: Any, item: Any) -> None:
        if type(self)._put is _queue_put:
            _put_item(self, item, self._qsize)
        put(self, item)

    def _queue_get(self: Any) -> Any:
        item = get(self)
        if type(self)._get is _queue_get:
            _took_item(self, item, self._qsize)
        return item

    _noted(cls, _queue_put, _queue_get)


def _put_item(queue: Any, item: Any, size: Callable[[], int]) -> None:
    """Note who puts ``item`` (before it is put: a worker may take it at once), once a watched thread puts
    one; ``size()``: how many items the queue holds."""
    putters, watchers = _putters_record(queue, lambda _queue: _ByItem(size()))
    if putters is not None:
        putters.setdefault(_identity(item), [item]).append(watchers)


def _took_item(queue: Any, item: Any, size: Callable[[], int]) -> None:
    """This thread took ``item`` from a queue noted by :func:`_put_item`: it works for who put it; for
    every live listener when it is no object put (a queue that hands out copies), unless it may be one of
    the items put before the record was made."""
    putters = queue.__dict__.get(PUTTERS)
    if putters is None:
        if _local.__dict__.get("serving") is not None:
            _took((), drained=not size())
        return
    under = putters.get(_identity(item))
    if under is not None and under[0] is item:
        watchers = tuple(dict.fromkeys(listener for each in under[1:] for listener in each))
        if len(under) > 2:
            under.pop()
        else:
            putters.pop(_identity(item), None)
    elif putters.unknown > 0:
        putters.unknown -= 1
        watchers = ()
    else:
        watchers = _EVERYONE
        if len(putters) > size():  # it holds the objects put, not these: forgotten (each take is anyone's)
            putters.clear()
    _took(watchers, drained=not size())


def _noting_simple_queue(base: Any) -> Any:
    """``queue.SimpleQueue`` (written in C: its methods cannot be wrapped) as a subclass of it whose ``put``
    and ``get`` note who put each item, by the item's identity."""

    class SimpleQueue(base):  # type: ignore[misc, valid-type]
        __doc__ = base.__doc__

        def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
            if _live or PUTTERS in self.__dict__:
                _put_item(self, item, self.qsize)
            base.put(self, item, block, timeout)

        def put_nowait(self, item: Any) -> None:
            self.put(item, False)

        def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
            item = base.get(self, block, timeout)
            if PUTTERS in self.__dict__ or _local.__dict__.get("serving") is not None:
                _took_item(self, item, self.qsize)
            return item

        def get_nowait(self) -> Any:
            return self.get(False)

    SimpleQueue.__module__, SimpleQueue.__qualname__ = base.__module__, base.__qualname__
    return SimpleQueue


def _putters() -> Tuple[Listener, ...]:
    """The live listeners an item put on a queue from this thread is for: its own and those it serves."""
    here = _local.__dict__  # (no AttributeError raised and caught per put on a thread without listeners)
    if here.get("busy"):
        return ()
    listeners, serving = here.get("listeners") or (), here.get("serving") or ()
    return tuple(listener for listener in (*listeners, *serving) if _identity(listener) in _live)


def _took(watchers: Tuple[Listener, ...], drained: bool) -> None:
    """This thread took an item from a queue, put by threads ``watchers`` watched (:data:`_EVERYONE`: who
    cannot be told): a shared worker (one started at import or by an asset) works for them, and for those
    of the items it took before as long as it has not emptied the queue (it may gather several items and
    then work on them)."""
    thread = threading.current_thread()
    if not _outside_watches(thread):
        return  # an asset's own thread (one taking a reply), datamake's own threads
    before = _local.__dict__.get("serving")
    if before is not None and not getattr(_local, "drained", True):
        if before is _EVERYONE or watchers is _EVERYONE:
            watchers = _EVERYONE
        else:
            watchers = tuple(dict.fromkeys((*before, *watchers)))
    global _serving
    _serving = True
    _local.serving = watchers or None
    _local.drained = drained


entrywatch.when_imported("queue", _install_queue)  # (a queue.SimpleQueue made at the project's import is noted)
