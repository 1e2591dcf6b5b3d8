"""Each partitioned asset's :class:`~datamake.bulkstatus.summary.Summary`, kept in the store's ``state.sqlite``.

The manifest files stay the record; a summary is a machine-local cache of one
asset's folder of partition manifests, rebuilt from them whenever it cannot be
vouched for. It is vouched for by folder stats, not a stat per partition:

- the stat of the folder ``manifests/KEY/@partitions`` when it was read: a
  manifest written (datamake renames each one into place), replaced or
  removed by any process changes the folder, and the summary is rebuilt;
- the stats of the artifact folders (``artifacts/ab/``) taken before its
  artifacts were checked: where one moved (an artifact added, replaced or
  removed in it), the summary's artifacts in that folder are checked again,
  one stat each against the verified-artifact record.

A folder changed less than :data:`~datamake.storage.state.RACY_NS` before it
was seen is not trusted (it could change again within the same mtime tick).

A row names the folder's stat and a digest of its listing (each manifest's
file name and inode): ``STAT LISTING``. ``make`` keeps the summaries of the
folders it writes into current (:mod:`~datamake.bulkstatus.extend`), as a row
``?STAT LISTING`` naming the stat after the run and the listing it expects,
with the partitions it wrote as patches over the columns kept before; the
next command lists the folder once and trusts the row only where the listing
is exactly that.

What folder stats cannot see is a file changed in place (artifacts are
written read-only, and no datamake command edits a manifest in place):
``make`` still checks each of its partitions' files. A table that cannot be
read or written only costs reading the manifests, never trust.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote, unquote

import xxhash

from datamake.bulkstatus.summary import Summary, entry, well_formed
from datamake.core.hashing import hash_value
from datamake.core.manifest import Manifest, decode
from datamake.storage.state import RACY_NS, connect_state
from datamake.storage.store import Store

_SCHEMA = ("CREATE TABLE IF NOT EXISTS partition_heads (key TEXT PRIMARY KEY, folder TEXT, snapshot TEXT,"
           " head TEXT) WITHOUT ROWID")  # small rows: a new snapshot does not rewrite the columns
_SAVE_EVERY = 50_000  # partitions of summaries held before they are written: memory stays flat
_SNAPSHOTS = ("CREATE TABLE IF NOT EXISTS artifact_folders (id TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID;"
              "CREATE TABLE IF NOT EXISTS partition_columns (key TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID;"
              "CREATE TABLE IF NOT EXISTS partition_artifacts (key TEXT, folder TEXT, items TEXT,"
              " PRIMARY KEY (key, folder)) WITHOUT ROWID;"
              "CREATE TABLE IF NOT EXISTS partition_patches (key TEXT, i INTEGER, cell TEXT,"
              " PRIMARY KEY (key, i)) WITHOUT ROWID")  # partitions make wrote since the columns were kept
Patch = Tuple[str, str, str, Dict[str, Any], List[Tuple[int, str]], List[Tuple[int, Optional[Tuple[str, int]],
                                                                              Optional[Tuple[str, int]]]]]


class Record:
    """One asset's summary as a command sees it: its head, and its columns read from the table when needed."""

    __slots__ = ("head", "saved", "_summary", "_load")

    def __init__(self, summary: Optional[Summary], head: Optional[Dict[str, Any]] = None,
                 load: Optional[Callable[[], Summary]] = None):
        self._summary, self._load = summary, load
        self.head: Dict[str, Any] = summary.head if summary is not None else head
        self.saved = summary is None  # taken from the table, no manifest read

    def summary(self) -> Summary:
        if self._summary is None:
            self._summary = self._load()
        return self._summary


class Records:
    """Summaries of one store's partitioned assets for one command: read, vouched for, rebuilt, saved."""

    def __init__(self, store: Store):
        self.store = store
        self.db_path = f"{store.root}/state.sqlite"
        self._db: Optional[sqlite3.Connection] = None
        self.folders = _folder_stats(f"{store.root}/artifacts")  # before any artifact is checked
        self.snapshot = hash_value("artifact-folders", self.folders)
        self._known = self._load_heads()
        self._snapshots: Dict[str, Optional[Dict[str, Optional[str]]]] = {}
        self._save: List[Tuple[str, str, str, Summary]] = []  # (key, folder stat text, artifacts snapshot, summary)
        self._touched: List[str] = []  # keys whose saved summary now holds for the current artifact folders
        self._listed: List[Tuple[str, str]] = []  # (text, key): rows kept by make, now vouched for by their stat
        self._forget: List[str] = []  # keys whose rows are dropped
        self._patches: List[Patch] = []
        self._patch_counts: Optional[Dict[str, int]] = None

    def record(self, key: str, order: Sequence[str]) -> Record:
        """The summary of ``key``'s partition manifests, partitions in the order of ``order`` (the asset's
        partition keys), any others after them."""
        folder = f"{self.store.root}/manifests/{key}/@partitions"
        seen = time.time_ns()
        try:
            st = os.stat(folder)
        except OSError:  # no folder: no partition has a manifest
            return Record(Summary([], [], [], []))
        stat = _stat_text(st)
        keep = seen - st.st_mtime_ns > RACY_NS
        known = self._known.get(key)
        text = None  # what a row kept now says of the folder
        if known is not None:
            listed, row_stat, _ = parse_row(known[0])
            text = None if row_stat != stat else self._as_listed(key, folder, stat, known[0], keep) if listed \
                else known[0]
            known = None if text is None else known
        if known is not None:
            if known[1] == self.snapshot and None not in self.folders.values():
                return Record(None, known[2], lambda: self._body(key, known[2]) or self._build(key, folder, order))
            summary = self._checked_again(key, known[1], known[2])
            if summary is True:  # every artifact checked again is intact: the summary stands as it was
                self._touched.append(key)
                return Record(None, known[2], lambda: self._body(key, known[2]) or self._build(key, folder, order))
            if summary is not None:
                self._keep(key, text, summary)
                return Record(summary)
        summary = self._build(key, folder, order)
        if keep:
            self._keep(key, f"{stat} {listing_digest(manifest_names(self.store, key, summary))}", summary)
        return Record(summary)

    def _as_listed(self, key: str, folder: str, stat: str, row: str, keep: bool) -> Optional[str]:
        """For a row ``?STAT LISTING`` kept by ``make``, with the folder at that stat: None unless the folder's
        listing has that digest (its stat the same after listing); else what the row says of the folder now,
        ``STAT LISTING`` where the folder is old enough for its stat alone to vouch for it (the row is updated
        so), else the row as it was."""
        try:
            if listing_digest(_listing(folder, every=True).items()) != parse_row(row)[2] or \
                    _stat_text(os.stat(folder)) != stat:
                return None
        except OSError:
            return None
        if not keep:
            return row
        self._listed.append((row[1:], key))
        return row[1:]

    def keep(self, key: str, text: str, summary: Summary, snapshot: Optional[str] = None) -> None:
        """Save ``summary`` as the row of ``key`` (with :meth:`save`): its folder's stat text ``text``, its
        intact flags checked after the artifact folders had ``snapshot`` (default: as this command found them)."""
        self._keep(key, text, summary, snapshot)

    def _keep(self, key: str, text: str, summary: Summary, snapshot: Optional[str] = None) -> None:
        self._save.append((key, text, snapshot or self.snapshot, summary))
        if sum(len(s.pks) for _, _, _, s in self._save) > _SAVE_EVERY:
            self.save()

    def patch(self, key: str, text: str, snapshot: str, head: Dict[str, Any], cells: List[Tuple[int, str]],
              moves: List[Tuple[int, Optional[Tuple[str, int]], Optional[Tuple[str, int]]]]) -> None:
        """Save (with :meth:`save`) the row of ``key`` with a new ``text`` and ``head``, and the ``(position,
        cell)`` of each partition changed as a patch over its columns; ``moves``: each one's ``(position, old
        artifact, new artifact)``."""
        self._patches.append((key, text, snapshot, head, cells, moves))

    def known(self, key: str) -> Optional[Tuple[str, str, Dict[str, Any]]]:
        """``(row text, artifacts snapshot, head)`` of the row kept for ``key``."""
        return self._known.get(key)

    def patch_count(self, key: str) -> int:
        """How many partitions are kept as patches over the columns of ``key``."""
        if self._patch_counts is None:
            self._patch_counts = dict(self._query("SELECT key, count(*) FROM partition_patches GROUP BY key"))
        return self._patch_counts.get(key, 0)

    def columns_of(self, key: str) -> Optional[Summary]:
        """The columns kept for ``key`` (patches applied), None where they cannot be read."""
        known = self._known.get(key)
        return None if known is None else self._body(key, known[2])

    def forget_others(self, keys) -> None:
        """Drop (with :meth:`save`) the rows of assets not among ``keys`` (assets removed from the project)."""
        self._forget = [k for k in self._known if k not in keys]

    def _checked_again(self, key: str, snapshot: str, head: Dict[str, Any]) -> Union[None, bool, Summary]:
        """The saved summary with its artifacts in folders that moved since its snapshot checked again:
        True when it stands as it was, None when it has to be built again."""
        old = self._snapshot(snapshot)
        if old is None:
            return None
        unmoved = sorted(f for f, s in self.folders.items() if s is not None and old.get(f) == s)
        rows = self._query(f"SELECT items FROM partition_artifacts WHERE key = ? AND folder NOT IN "
                           f"({','.join('?' * len(unmoved))})", (key, *unmoved))
        try:
            again = [(i, h, size) for (items,) in rows for i, h, size in json.loads(items)]
        except (ValueError, TypeError):
            return None
        sizes = self.store.artifact_sizes((h for _, h, _ in again), few=True) if again else {}
        failed = {i for i, h, size in again if sizes.get(h) != size}
        if not failed and "dv" in head:  # all were intact, and still are
            return True
        summary = self._body(key, head)
        if summary is None:
            return None
        intact = list(summary.intact)
        for i, h, size in again:
            intact[i] = i not in failed
        return Summary(summary.pks, summary.entries, intact, summary.artifacts, summary.inos)

    def _build(self, key: str, folder: str, order: Sequence[str]) -> Summary:
        try:
            listing = _listing(folder)
        except OSError:
            listing = {}
        present = {unquote(n[:-5]): ino for n, ino in listing.items()}
        pks = in_order(order, present)
        paths = self.store.partition_manifest_paths(key, pks)
        texts = self.store.manifest_index.read(paths, folder=f"{key}/@partitions")
        return columns(self.store, pks, [texts.get(p) for p in paths], [present[pk] for pk in pks])

    def _body(self, key: str, head: Dict[str, Any]) -> Optional[Summary]:
        rows = self._query("SELECT body FROM partition_columns WHERE key = ?", (key,))
        patches = self._query("SELECT i, cell FROM partition_patches WHERE key = ? ORDER BY i", (key,))
        try:
            base = Summary.from_json(json.loads(rows[0][0])) if rows else Summary([], [], [], [], [])
            if not rows and not patches:
                return None
            cells = [base.pks, base.entries, base.intact, base.artifacts, base.inos]
            for i, cell in patches:
                pk, e, ok, a, ino = json.loads(cell)
                if i == len(base.pks):
                    for column, value in zip(cells, (pk, e, ok, None if a is None else (a[0], a[1]), ino)):
                        column.append(value)
                elif i > len(base.pks) or base.pks[i] != pk:
                    return None
                else:
                    for column, value in zip(cells[1:], (e, ok, None if a is None else (a[0], a[1]), ino)):
                        column[i] = value
            summary = Summary(*cells)
            summary._head = head
            return summary
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):  # damaged: rebuilt from the manifests
            return None

    def save(self) -> None:
        """Keep the summaries built or checked again by this command (best effort: a cache)."""
        self._close()
        if not self._save and not self._touched and not self._listed and not self._forget and not self._patches:
            return
        rows = [(key, text, snapshot, json.dumps(s.head)) for key, text, snapshot, s in self._save]
        bodies = [(key, json.dumps(s.to_json(), separators=(",", ":"))) for key, _, _, s in self._save]
        artifacts = [(key, folder, json.dumps(items)) for key, _, _, s in self._save
                     for folder, items in _by_folder(s).items()]
        keys = [(key,) for key, _, _, _ in self._save]
        touched, self._save, self._touched = [(self.snapshot, key) for key in self._touched], [], []
        listed, forget, self._listed, self._forget = self._listed, [(k,) for k in self._forget], [], []
        patches, self._patches = self._patches, []
        try:
            db = connect_state(self.db_path, _SCHEMA)
            try:
                db.executescript(_SNAPSHOTS)
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO partition_heads VALUES (?, ?, ?, ?)", rows)
                db.executemany("INSERT OR REPLACE INTO partition_columns VALUES (?, ?)", bodies)
                db.executemany("DELETE FROM partition_artifacts WHERE key = ?", keys)
                db.executemany("DELETE FROM partition_patches WHERE key = ?", keys)
                db.executemany("INSERT INTO partition_artifacts VALUES (?, ?, ?)", artifacts)
                db.executemany("UPDATE partition_heads SET snapshot = ? WHERE key = ?", touched)
                db.executemany("UPDATE partition_heads SET folder = ? WHERE key = ?", listed)
                for table in ("partition_heads", "partition_columns", "partition_artifacts", "partition_patches"):
                    db.executemany(f"DELETE FROM {table} WHERE key = ?", forget)
                for patch in patches:
                    _save_patch(db, *patch)
                db.execute("INSERT OR REPLACE INTO artifact_folders VALUES (?, ?)",
                           (self.snapshot, json.dumps(self.folders)))
                db.execute("DELETE FROM artifact_folders WHERE id NOT IN (SELECT snapshot FROM partition_heads)")
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error:  # not kept (a read-only store): the manifests are read again next time
            pass

    def _load_heads(self) -> Dict[str, Tuple[str, str, Dict[str, Any]]]:
        heads = {}
        for key, folder, snapshot, head in self._query("SELECT key, folder, snapshot, head FROM partition_heads"):
            try:
                head = json.loads(head)
            except ValueError:
                continue
            if well_formed(head):  # anything else is rebuilt from the manifests
                heads[key] = (folder, snapshot, head)
        return heads

    def _snapshot(self, snapshot: str) -> Optional[Dict[str, Optional[str]]]:
        if snapshot not in self._snapshots:
            rows = self._query("SELECT body FROM artifact_folders WHERE id = ?", (snapshot,))
            try:
                self._snapshots[snapshot] = json.loads(rows[0][0]) if rows else None
            except ValueError:
                self._snapshots[snapshot] = None
        return self._snapshots[snapshot]

    def _query(self, sql: str, args: tuple = ()) -> list:
        try:
            if self._db is None:
                if not os.path.exists(self.db_path):
                    return []
                self._db = connect_state(self.db_path, _SCHEMA)
                self._db.executescript(_SNAPSHOTS)
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error:  # unreadable: every summary is rebuilt from the manifests
            return []

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def columns(store: Store, pks: List[str], texts: Sequence[Union[None, str, bytes]],
            inos: Optional[List[int]], few: bool = False) -> Summary:
    """The summary of partitions ``pks`` from the text of each one's manifest (None: unreadable), its value
    checked now (:meth:`~datamake.storage.artifacts.ArtifactStore.artifact_sizes`; ``few``: of many)."""
    entries: List[Optional[Dict[str, Any]]] = []
    artifacts: List[Optional[Tuple[str, int]]] = []
    inline: Dict[int, bool] = {}
    for i, text in enumerate(texts):
        m = None
        if text is not None:
            try:
                m = decode(text)
            except ValueError:
                pass  # read again by the planner, which says what is wrong with it
        entries.append(None if m is None else entry(m))
        artifacts.append(None if m is None or m.get("inline") is not None else (m["artifact"], m["size"]))
        if m is not None and m.get("inline") is not None:
            inline[i] = Manifest.from_json(text).inline_intact
    sizes = store.artifact_sizes((a[0] for a in artifacts if a is not None), few=few)
    intact = [inline.get(i, False) if a is None else sizes.get(a[0]) == a[1] for i, a in enumerate(artifacts)]
    return Summary(pks, entries, intact, artifacts, inos)


def in_order(order: Sequence[str], present) -> List[str]:
    """The partitions ``present`` in the order of ``order`` (the asset's partition keys), any others after them."""
    pks = [pk for pk in order if pk in present]
    return pks + sorted(set(present).difference(pks))


_MASK = (1 << 128) - 1


def listing_digest(names_inodes) -> str:
    """One digest of a folder's manifests as ``(file name, inode)`` pairs, in any order: the sum of a hash of
    each, so that :func:`listing_shifted` updates it for a few files."""
    return listing_shifted(format(0, "032x"), (), names_inodes)


def listing_shifted(digest: str, removed, added) -> str:
    """The :func:`listing_digest` ``digest`` with the pairs ``removed`` taken out and ``added`` put in."""
    h = xxhash.xxh3_128_intdigest
    total = int(digest, 16) - sum(h(f"{n}\x00{i}".encode()) for n, i in removed) + \
        sum(h(f"{n}\x00{i}".encode()) for n, i in added)
    return format(total & _MASK, "032x")


def manifest_names(store: Store, key: str, summary: Summary) -> List[Tuple[str, int]]:
    """The ``(file name, inode)`` of each partition manifest of ``summary`` (its inodes known)."""
    paths = store.partition_manifest_paths(key, summary.pks)
    return [(p[p.rindex("/") + 1:], ino) for p, ino in zip(paths, summary.inos or ())]


def parse_row(text: str) -> Tuple[bool, str, str]:
    """``(to be listed, folder stat, listing digest)`` of a row's folder text."""
    listed = text.startswith("?")
    stat, _, listing = text[1 if listed else 0:].partition(" ")
    return listed, stat, listing


def _save_patch(db: sqlite3.Connection, key: str, text: str, snapshot: str, head: Dict[str, Any],
                cells: List[Tuple[int, str]], moves) -> None:
    db.execute("INSERT OR REPLACE INTO partition_heads VALUES (?, ?, ?, ?)", (key, text, snapshot, json.dumps(head)))
    db.executemany("INSERT OR REPLACE INTO partition_patches VALUES (?, ?, ?)", [(key, i, c) for i, c in cells])
    moved = {i for i, _, _ in moves}
    for folder in sorted({a[0][:2] for _, *pair in moves for a in pair if a is not None}):
        row = db.execute("SELECT items FROM partition_artifacts WHERE key = ? AND folder = ?", (key, folder)).fetchone()
        items = [it for it in (json.loads(row[0]) if row else []) if it[0] not in moved]
        items += [(i, a[0], a[1]) for i, _, a in moves if a is not None and a[0][:2] == folder]
        db.execute("INSERT OR REPLACE INTO partition_artifacts VALUES (?, ?, ?)", (key, folder, json.dumps(items)))


def _listing(folder: str, every: bool = False) -> Dict[str, int]:
    """The inode of each file in ``folder`` whose name a partition maps to (``every``: each ``.json`` file, a
    listing that equals the manifests' only where nothing else is there); raises OSError without the folder."""
    with os.scandir(folder) as entries:
        listed = {e.name: e.inode() for e in entries if e.name.endswith(".json")}
    return listed if every else {n: ino for n, ino in listed.items() if quote(unquote(n[:-5]), safe="") + ".json" == n}


def _by_folder(summary: Summary) -> Dict[str, List[Tuple[int, str, int]]]:
    """The summary's artifacts as ``(index, hash, size)`` by the folder ``Store.artifact_path`` puts each in."""
    out: Dict[str, List[Tuple[int, str, int]]] = {}
    for i, a in enumerate(summary.artifacts):
        if a is not None:
            out.setdefault(a[0][:2], []).append((i, a[0], a[1]))
    return out


def _stat_text(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_ino}"


def _folder_stats(root: str) -> Dict[str, Optional[str]]:
    """The stat of each artifact folder (None for one changed too recently to vouch for anything)."""
    now = time.time_ns()
    stats: Dict[str, Optional[str]] = {}
    try:
        names = os.listdir(root)
    except OSError:
        return stats
    for name in names:
        try:
            st = os.stat(f"{root}/{name}")
        except OSError:
            continue
        stats[name] = _stat_text(st) if now - st.st_mtime_ns > RACY_NS else None
    return stats
