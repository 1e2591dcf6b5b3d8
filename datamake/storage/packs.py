"""Packs: the manifests and action-cache entries of one ``push``, in one object of the remote.

Layout under the remote's root::

    packs/<xxh3-128 of the bytes>.json   {"datamake_pack": 1, "manifests": [...], "actions": [...]}

``manifests`` are current versions, each also the action-cache entry of its
provenance; ``actions`` are action-cache entries only (``gc`` keeps them there
when it merges packs). A push then costs one request per artifact plus one for
the pack, and a fresh checkout reads every current manifest in one GET.

A pack is named by the hash of its bytes: a reader checks it, and a pack that
fails (corrupted, half-written) is reported and never trusted. Packs never
change, so each machine keeps the ones it has read in its cache and asks the
remote only for new ones.

Per-asset objects (``manifests/KEY.json``, ``actions/…``), which earlier
versions and automatic pushes write, are read as before. Of two versions of a
node, the one in the more recently written object is current (the store's
clock: on S3 the server's, as when each push replaced ``manifests/KEY.json``);
on a tie the pack's. Two packs the store dates to the same second (S3 keeps whole
seconds) are ordered by the time their writers recorded in them.
"""
from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from datamake.core.hashing import hash_bytes, record_json
from datamake.core.keys import node_id
from datamake.core.manifest import FORMAT as MANIFEST_FORMAT, Manifest
from datamake.core.records import record
from datamake.storage.localfiles import atomic_write, cache_dir

if TYPE_CHECKING:  # the store reads packs too (localpacks): only its type here
    from datamake.storage.store import Store

FORMAT = 1
FOLDER = "packs"


class CorruptPack(ValueError):
    """A pack whose bytes do not match its name, or that does not decode."""


class NewerPack(CorruptPack):
    """An intact pack that a newer datamake wrote: not readable here, and never deleted from here."""

    def __init__(self, what: str):
        super().__init__(f"written by a newer datamake ({what})")


@record(frozen=True)
class Pack:
    """One pack as read: where it is, when it was written, and its entries."""

    path: str
    modified: float
    manifests: Tuple[Manifest, ...]
    actions: Tuple[Manifest, ...] = ()
    written: float = 0.0  # the writer's clock: orders two packs the store dates to the same second


Texts = Dict[int, Tuple[Any, str]]  # the identity of an entry (_identity) -> (the entry, its JSON text)
# A live object's identity as a number, as id() tells it apart (its address, rotated), without the audit
# event id() raises: the read watch's audit hook, once installed, hears every one (two per entry encoded).
_identity = object.__hash__


def encode(manifests: Iterable[Manifest], actions: Iterable[Manifest] = (), written: Optional[float] = None,
           texts: Optional[Texts] = None) -> bytes:
    """The bytes of a pack holding ``manifests`` (current versions) and ``actions`` (entries only), dated
    ``written`` (the writer's clock; now by default): ``record_json`` of the pack's body.

    ``texts`` remembers the JSON text of each entry encoded: an entry encoded before (a merge of packs
    this process wrote) is not encoded again."""
    known: Texts = {} if texts is None else texts

    def part(entries: Iterable[Any]) -> str:
        return ",".join([_text(entry, known) for entry in entries])

    stamp = record_json(time.time() if written is None else written)
    # the keys in record_json's (sorted) order: the same bytes as encoding the body as one value
    return (f'{{"actions":[{part(actions)}],"datamake_pack":{FORMAT},"manifests":[{part(manifests)}],'
            f'"written":{stamp}}}').encode()


def _text(entry: Any, known: Texts) -> str:
    identity = _identity(entry)
    hit = known.get(identity)
    if hit is not None and hit[0] is entry:
        return hit[1]
    text = record_json(entry) if isinstance(entry, dict) else entry.record_text()
    known[identity] = (entry, text)
    return text


def decode(path: str, raw: bytes, modified: float) -> Pack:
    """Check a pack's bytes against its name and parse it; CorruptPack when either fails."""
    body, written = decode_body(path, raw)
    try:
        return Pack(path, modified, *(tuple(Manifest.from_data(d) for d in body[part])
                                      for part in ("manifests", "actions")), written=written)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _newer_entries(body) or CorruptPack(str(exc)) from None


def _newer_entries(body: Dict[str, List[Any]]) -> Optional[NewerPack]:
    """NewerPack when an entry that does not decode is of a newer manifest format than this datamake's."""
    formats = [e.get("format") for part in body.values() for e in part if type(e) is dict]
    newest = max((f for f in formats if type(f) is int), default=0)
    return NewerPack(f"manifest format {newest}, this one reads {MANIFEST_FORMAT}") if newest > MANIFEST_FORMAT else None


def newer_manifest(raw: bytes) -> bool:
    """Whether the bytes of a manifest that did not decode are of a newer format than this datamake reads."""
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return type(data) is dict and type(data.get("format")) is int and data["format"] > MANIFEST_FORMAT


def decode_body(path: str, raw: bytes) -> Tuple[Dict[str, List[Any]], float]:
    """(its ``manifests`` and ``actions`` as JSON values, when it was written) of a pack whose bytes match
    its name; CorruptPack otherwise. The entries are not checked here: :meth:`Manifest.from_data` does."""
    if hash_bytes(raw) != digest_of(path):
        raise CorruptPack("its bytes do not match its name (corrupted or half-written)")
    try:
        body = json.loads(raw)
        if type(body) is dict and type(body.get("datamake_pack")) is int and body["datamake_pack"] > FORMAT:
            raise NewerPack(f"pack format {body['datamake_pack']}, this one reads {FORMAT}")
        if type(body) is not dict or body.get("datamake_pack") != FORMAT:
            raise ValueError(f"not a datamake pack of format {FORMAT}")
        written = body.get("written", 0.0)
        if type(written) not in (int, float):
            raise ValueError(f"written is {written!r}, expected a number")
        parts = {part: body.get(part, []) for part in ("manifests", "actions")}
        if any(type(entries) is not list for entries in parts.values()):
            raise ValueError("its manifests and actions are not lists")
        return parts, float(written)
    except NewerPack:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise CorruptPack(str(exc)) from None


def digest_of(path: str) -> str:
    name = os.path.basename(path)
    return name[: -len(".json")] if name.endswith(".json") else name


def pack_path(root: str, raw: bytes) -> str:
    """Where the pack of bytes ``raw`` lives in the store at ``root``: named by their hash."""
    return f"{root}/{FOLDER}/{hash_bytes(raw)}.json"


def write(store: Store, manifests: Sequence[Manifest], actions: Sequence[Manifest] = ()) -> str:
    """Write a pack to ``store`` in one request (a remote's is kept in this machine's cache too); returns its path."""
    raw = encode(manifests, actions)
    path = pack_path(store.root, raw)
    store.write_small(path, raw)
    if not store.is_local:
        _cache_put(path, raw)
    return path


def read_all(store: Store, on_corrupt: Callable[[str, CorruptPack], None]) -> List[Pack]:
    """Every good pack of ``store``, oldest first: one listing, then a GET for each pack not cached here.

    ``on_corrupt(path, exc)`` is told of each pack that fails its check (:class:`NewerPack`: one a newer
    datamake wrote); it is left out. A local
    store's packs are read where they are: the machine's cache holds only remote stores' packs.
    """
    listed = store.objects.files_under(f"{store.root}/{FOLDER}")
    cached = not store.is_local
    raws = {p: _cache_get(p) if cached else None for p in listed}
    raws.update(store.objects.cat_many([p for p, raw in raws.items() if raw is None]))
    packs = []
    for path, info in listed.items():
        raw = raws.get(path)
        if raw is None:  # deleted since the listing (gc merged it): its entries are in a newer pack
            continue
        try:
            packs.append(decode(path, raw, _modified_time(info)))
        except CorruptPack as exc:
            on_corrupt(path, exc)
            continue
        if cached:
            _cache_put(path, raw)
    # S3 dates objects to the second: two pushes within one second are ordered by their writers' clocks
    return sorted(packs, key=lambda p: (p.modified, p.written, p.path))


class RemoteView:
    """What a remote store holds for each node and provenance: its packs and its per-asset objects."""

    def __init__(self, store: Store, packs: List[Pack], legacy: Dict[str, Dict[str, Any]]):
        self.store = store
        self.packs = packs
        self.legacy = legacy  # the listing of manifests/ (per-asset objects)
        self.newest: Dict[str, Tuple[Manifest, float]] = {}  # node -> its newest version in a pack
        self.actions: Dict[str, Manifest] = {}  # provenance -> entry, from packs
        self.unreadable: set = set()  # nodes whose manifest object could not be read (newer, or damaged)
        for pack in packs:
            self.add(pack)

    @classmethod
    def load(cls, store: Store, on_corrupt: Callable[[str, str], None]) -> "RemoteView":
        """Read the packs and list the per-asset manifests (two listings, a GET per uncached pack)."""
        packs = read_all(store, on_corrupt)
        return cls(store, packs, store.objects.files_under(f"{store.root}/manifests"))

    def add(self, pack: Pack) -> None:
        """Take in a pack (read, or just written): later packs win."""
        for m in pack.actions:
            self.actions[m.provenance] = m
        for m in pack.manifests:
            self.actions[m.provenance] = m
            self.newest[node_id(m.key, m.partition)] = (m, pack.modified)

    def current(self, nodes: Iterable[str], instead: str = "the asset will be rebuilt") -> Dict[str, Optional[Manifest]]:
        """The remote's current manifest of each node (None where it has none); a manifest object that
        cannot be read is warned about, ending with what happens ``instead``, and its node goes to
        :attr:`unreadable`."""
        out: Dict[str, Optional[Manifest]] = {}
        from_objects: Dict[str, str] = {}
        for node in nodes:
            packed = self.newest.get(node)
            path = self.store.manifest_path(node)
            info = self.legacy.get(path)
            if info is not None and (packed is None or _modified_time(info) > packed[1]):
                from_objects[path] = node
            out[node] = packed[0] if packed is not None else None
        if from_objects:
            found = self.store.objects.cat_listed(list(from_objects), f"{self.store.root}/manifests", self.legacy)
            for path, node in from_objects.items():
                raw = found.get(path)
                manifest = None if raw is None else self.store._parse_manifest(path, raw, instead)
                if manifest is not None:
                    out[node] = manifest
                elif raw is not None:
                    self.unreadable.add(node)
        return out


def _cache_path(path: str) -> str:
    return os.path.join(cache_dir(), FOLDER, digest_of(path) + ".json")


def _cache_get(path: str) -> Optional[bytes]:
    """A pack's bytes from this machine's cache, if there and intact."""
    try:
        with open(_cache_path(path), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw if hash_bytes(raw) == digest_of(path) else None


def _cache_put(path: str, raw: bytes) -> None:
    target = _cache_path(path)
    if not os.path.exists(target):
        try:
            atomic_write(target, raw)
        except OSError:  # a cache that cannot be written is simply not kept
            pass


def _modified_time(info: Dict[str, Any]) -> float:
    from datamake.storage.objects import modified_time  # lazy: only a store that lists its packs reads them

    return modified_time(info)
