"""``make`` keeps the partition summaries of the folders it writes into current.

A summary (:mod:`~datamake.bulkstatus.records`) is trusted while its folder of
manifests keeps its stat, so every partition ``make`` commits would otherwise
cost the next ``status`` reading all of that asset's manifests again. After a
run, still holding the store lock, each asset whose partitions this process
committed has its summary extended with them, where that is sound:

- the folder's stat before this process first wrote into it equals the stat
  its kept row vouches for (or there was no folder): the folder then held
  exactly what the summary says;
- each manifest this process wrote is read back from its file, which must
  still be the file written (same inode), so the summary holds its actual
  fields, and its value is checked as ``status`` checks it;
- the row names the folder's stat now and the digest of the listing it
  expects (each manifest's name and inode): the next command lists the
  folder once and trusts the row only where the listing is exactly that. A
  manifest written, replaced or removed meanwhile by any other process
  (another or an older datamake, ``pull``, ``gc``, a user) changes the
  listing, or the folder's stat afterwards, and the summary is built again.

Where the asset's partitions were all built alike and the ones written are
too (a daily run), the row is updated from the manifests each one replaced
(read before it was replaced) without reading the asset's columns: its
digests shifted, the partitions written kept as patches. Otherwise the
columns are read and merged. Anything else leaves the row as it was, for the
next ``status`` to rebuild.
"""
from __future__ import annotations

import datetime
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from datamake.bulkstatus.records import (Records, _stat_text, columns, in_order, listing_digest, listing_shifted,
                                         manifest_names, parse_row)
from datamake.bulkstatus.summary import Summary, digest, entry, extended_head
from datamake.core.manifest import decode
from datamake.project.workspace import Project


def after_make(project: Project) -> None:
    """Extend the kept summary of each asset whose partition manifests this process committed (best effort)."""
    store = project.store
    writes, store.partition_writes = store.partition_writes, {}
    if not writes or not store.is_local:
        return
    records = Records(store)
    now = datetime.datetime.now(datetime.timezone.utc)
    orders: Dict[int, _Order] = {}
    for key, (before, written) in writes.items():
        a = project.defs.assets.get(key)
        if a is None or a.partitions is None:
            continue
        if id(a.partitions) not in orders:
            try:
                orders[id(a.partitions)] = _Order(list(a.partitions.keys(now)))
            except Exception:  # the keys cannot be listed now: the next status decides them
                orders[id(a.partitions)] = _Order([])
        _extend(records, key, before, written, orders[id(a.partitions)])
    records.save()


class _Order:
    """An asset's partition keys, with each one's position and the digests of their first ``n``."""

    def __init__(self, keys: List[str]):
        self.keys = keys
        self.position = {pk: i for i, pk in enumerate(keys)}
        self._digests: Dict[int, str] = {}

    def digest(self, n: int) -> str:
        if n not in self._digests:
            self._digests[n] = digest(self.keys[:n])
        return self._digests[n]


def _extend(records: Records, key: str, before, written: Dict[str, Tuple[int, Any]], order: _Order) -> None:
    store = records.store
    folder = f"{store.root}/manifests/{key}/@partitions"
    known = records.known(key)
    if before is not None and (known is None or parse_row(known[0])[1] != f"{before[0]}:{before[1]}"):
        return  # the row did not vouch for the folder as this run found it
    pks = sorted(written)
    mine = _read_back(store, key, pks, [written[pk][0] for pk in pks])
    if mine is None:
        return
    try:
        stat = _stat_text(os.stat(folder))
    except OSError:
        return
    if known is not None and _shifted(records, key, stat, known, pks, written, mine, order):
        return
    base = Summary([], [], [], [], []) if before is None else records.columns_of(key)
    if base is None or base.inos is None:
        return
    cells = dict(zip(base.pks, zip(base.entries, base.intact, base.artifacts, base.inos)))
    cells.update(zip(pks, zip(mine.entries, mine.intact, mine.artifacts, mine.inos)))
    merged = in_order(order.keys, cells)
    summary = Summary(merged, *(list(c) for c in zip(*(cells[pk] for pk in merged)))) if merged else base
    records.keep(key, f"?{stat} {listing_digest(manifest_names(store, key, summary))}", summary,
                 None if before is None else known[1])


def _read_back(store, key: str, pks: List[str], inodes: List[int]) -> Optional[Summary]:
    """The summary of the manifests this run wrote, read from their files (None: one was replaced since)."""
    texts = []
    for path, ino in zip(store.partition_manifest_paths(key, pks), inodes):
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_ino != ino:
                    return None
                texts.append(f.read())
        except OSError:
            return None
    return columns(store, pks, texts, inodes, few=True)


def _shifted(records: Records, key: str, stat: str, known, pks: Sequence[str], written, mine: Summary,
             order: _Order) -> bool:
    """Update the row of ``key`` without reading its columns, where its partitions are the first of the
    asset's keys, all alike, and the ones written are too; False where that does not apply."""
    _, _, listing = parse_row(known[0])
    head = known[2]
    n = head["n"]
    if "dv" not in head or order.digest(n) != head["pks"] or records.patch_count(key) + len(pks) > max(64, n // 8):
        return False  # (past a few patches, the columns are merged and written again)
    changes, removed, moves = [], [], []
    names = [p[p.rindex("/") + 1:] for p in records.store.partition_manifest_paths(key, pks)]
    for pk, name, e, ok, artifact in zip(pks, names, mine.entries, mine.intact, mine.artifacts):
        i, (_, old) = order.position.get(pk), written[pk]
        if i is None or e is None or old is False or (old is None) != (i >= n):
            return False
        old_entry, old_artifact = None, None
        if old is not None:
            try:
                m = decode(old[1])
            except ValueError:
                return False
            old_entry = entry(m)
            old_artifact = None if m.get("inline") is not None else (m["artifact"], m["size"])
            removed.append((name, old[0]))
        changes.append((i, pk, old_entry, e, ok))
        moves.append((i, old_artifact, artifact))
    new_head = extended_head(head, changes)
    if new_head is None:
        return False
    inos = dict(zip(pks, mine.inos))
    text = f"?{stat} {listing_shifted(listing, removed, [(name, inos[pk]) for name, pk in zip(names, pks)])}"
    cells = [(i, json.dumps([pk, e, ok, a, inos[pk]], separators=(",", ":")))
             for (i, pk, _, e, ok), (_, _, a) in zip(changes, moves)]
    records.patch(key, text, known[1], new_head, cells, moves)
    return True
