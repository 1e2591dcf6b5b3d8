"""``make`` keeps the partition summaries of the folders it writes into current.

A summary (:mod:`~datamake.bulkstatus.records`) is trusted while its folder of
manifests keeps its stat, so every partition ``make`` commits would otherwise
cost the next ``status`` reading all of that asset's manifests again. After a
run, still holding the store lock, each asset whose partitions this process
committed has its summary extended with them, where that is sound:

- the folder's stat before this process first wrote into it equals the stat
  its kept row vouches for (or there was no folder and is no row): the folder
  then held exactly what the summary says;
- each manifest this process wrote is read back from its file, which must
  still be the file written (same inode), so the summary holds its actual
  fields, and its value is checked as ``status`` checks it;
- the row names the folder's stat now and a digest of the listing it expects
  (each manifest's name and inode): the next command lists the folder once
  and trusts the row only where the listing is exactly that. A manifest
  written, replaced or removed meanwhile by any other process (another or an
  older datamake, ``pull``, ``gc``, a user) changes the listing, or the
  folder's stat afterwards, and the summary is built again from the manifests.

Anything else leaves the row as it was, for the next ``status`` to rebuild.
"""
from __future__ import annotations

import datetime
import os
from typing import Dict, Optional, Sequence

from datamake.bulkstatus.records import Records, _stat_text, columns, in_order, listing_digest, manifest_names
from datamake.bulkstatus.summary import Summary
from datamake.project.workspace import Project


def after_make(project: Project) -> None:
    """Extend the kept summary of each asset whose partition manifests this process committed (best effort)."""
    store = project.store
    writes, store.partition_writes = store.partition_writes, {}
    if not writes or not store.is_local:
        return
    records = Records(store)
    now = datetime.datetime.now(datetime.timezone.utc)
    orders: Dict[int, Sequence[str]] = {}
    for key, (before, inodes) in writes.items():
        a = project.defs.assets.get(key)
        if a is None or a.partitions is None:
            continue
        if id(a.partitions) not in orders:
            try:
                orders[id(a.partitions)] = list(a.partitions.keys(now))
            except Exception:  # the keys cannot be listed now: the next status decides them
                orders[id(a.partitions)] = []
        _extend(records, key, before, inodes, orders[id(a.partitions)])
    records.save()


def _extend(records: Records, key: str, before, inodes: Dict[str, int], order: Sequence[str]) -> None:
    store = records.store
    folder = f"{store.root}/manifests/{key}/@partitions"
    saved = records.saved(key)
    if before is None:  # no folder before: the summary is of this run's manifests alone
        base, snapshot = Summary([], [], [], [], []), None
    elif saved is None or _vouched_stat(saved[0]) != f"{before[0]}:{before[1]}" or saved[2].inos is None:
        return
    else:
        base, snapshot = saved[2], saved[1]
    pks = sorted(inodes)
    texts = []
    for path, pk in zip(store.partition_manifest_paths(key, pks), pks):
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_ino != inodes[pk]:
                    return  # replaced since it was written: not this run's manifest
                texts.append(f.read())
        except OSError:
            return
    mine = columns(store, pks, texts, [inodes[pk] for pk in pks], few=True)
    cells = {pk: (e, ok, art, ino) for pk, e, ok, art, ino in
             zip(base.pks, base.entries, base.intact, base.artifacts, base.inos)}
    cells.update(zip(pks, zip(mine.entries, mine.intact, mine.artifacts, mine.inos)))
    merged = in_order(order, cells)
    summary = Summary(merged, *(list(c) for c in zip(*(cells[pk] for pk in merged)))) if merged else base
    try:
        stat = _stat_text(os.stat(folder))
    except OSError:
        return
    records.keep(key, f"?{stat} {listing_digest(manifest_names(summary))}", summary, snapshot)


def _vouched_stat(text: str) -> Optional[str]:
    """The folder stat a row vouches for: its text, or the stat of a ``?STAT DIGEST`` row."""
    return text[1:].partition(" ")[0] if text.startswith("?") else text
