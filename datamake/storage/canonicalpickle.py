"""Pickle with the elements of every set in a canonical order: :class:`~datamake.storage.iomanagers.PickleIO`'s
writer, in a module of its own so that a run that pickles nothing imports neither pickle nor tempfile."""
from __future__ import annotations

import io
import pickle
import shutil
import tempfile
import types
from typing import IO, Any, Set

_SPOOL = 16 << 20


def dump(value: Any, f: IO[bytes]) -> Set[Any]:
    """Pickle ``value`` (protocol 4) into ``f``: equal values give equal bytes, sets included. Returns
    the classes and functions the bytes name (pickle keeps them by reference, not by their code)."""
    # The C pickler first (fast); its bytes are kept only if the value holds no set. Without the
    # EMPTY_SET and FROZENSET opcode bytes anywhere there can be none; with them, look closer.
    with tempfile.SpooledTemporaryFile(_SPOOL) as spool:
        pickler = _NamesSpotter(spool, protocol=4)
        pickler.dump(value)
        spool.seek(0)
        if _may_hold_sets(spool):
            try:
                _SetSpotter(_Discard(), protocol=4).dump(value)
            except _HasSets:
                _CanonicalPickler(f, protocol=4).dump(value)
                return pickler.named
        spool.seek(0)
        shutil.copyfileobj(spool, f, 1 << 20)
    return pickler.named


class _NamesSpotter(pickle.Pickler):
    """The C pickler, noting the classes and functions it writes by name: those of the objects it is
    handed other than plain numbers, strings and containers (which it writes without asking)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.named: Set[Any] = set()

    def reducer_override(self, obj: Any) -> Any:
        self.named.add(obj if isinstance(obj, (type, types.FunctionType)) else type(obj))
        return NotImplemented


def _may_hold_sets(f: IO[bytes]) -> bool:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        if pickle.EMPTY_SET in chunk or pickle.FROZENSET in chunk:
            return True
    return False


class _SetSpotter(pickle.Pickler):
    """Pickles to nowhere, only to learn whether a value holds a set or a frozenset anywhere."""

    def persistent_id(self, obj: Any) -> None:  # called for every object, unlike reducer_override
        kind = type(obj)
        if kind is set or kind is frozenset:
            raise _HasSets
        return None


class _HasSets(Exception):
    pass


class _Discard:
    def write(self, data) -> int:
        return len(data)


class _CanonicalPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickle protocol 4 with the elements of each set and frozenset in a canonical order.

    A set iterates in hash order, and the hash of a str changes with each
    interpreter's hash seed, so plain pickle writes other bytes (another data
    version: no early cutoff) for an equal value on every run. Here elements are
    written ordered by their own canonical pickled bytes, with the standard
    opcodes: plain ``pickle.load`` reads the result. This is the pure-Python
    pickler (the C one cannot be told how to write a set): it serves only
    values that hold sets.
    """

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_set(self, obj: Any) -> None:
        self.write(pickle.EMPTY_SET)
        self.memoize(obj)
        items = sorted(obj, key=_canonical_bytes)
        for i in range(0, len(items), self._BATCHSIZE):
            self.write(pickle.MARK)
            for item in items[i:i + self._BATCHSIZE]:
                self.save(item)
            self.write(pickle.ADDITEMS)

    def save_frozenset(self, obj: Any) -> None:
        self.write(pickle.MARK)
        for item in sorted(obj, key=_canonical_bytes):
            self.save(item)
        if id(obj) in self.memo:  # recursive: drop what was pushed, fetch it from the memo
            self.write(pickle.POP_MARK + self.get(self.memo[id(obj)][0]))
            return
        self.write(pickle.FROZENSET)
        self.memoize(obj)

    dispatch[set] = save_set
    dispatch[frozenset] = save_frozenset


def _canonical_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    _CanonicalPickler(buffer, protocol=4).dump(value)
    return buffer.getvalue()
