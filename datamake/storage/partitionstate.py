"""What the store knows about partitions: the keys of dynamic partitions, and which partitions have a value.

Dynamic keys live in ``partitions/NAME.json`` under the store root, in the
order they were added: project state like manifests, shared by everyone who
uses the store (a teammate, the daemon, CI). Adding and removing take the
store's ``partitions.lock`` (local stores); on object stores the file is
replaced by one atomic PUT, so two processes adding at the same moment may
each keep only their own keys: add from one place (a sensor) there.
"""
from __future__ import annotations

import json
from typing import Iterable, List, Set

from datamake.core.errors import StoreError
from datamake.core.urlquote import unquote
from datamake.storage.lock import store_lock

LOCK_NAME = "partitions.lock"


def _path(store, name: str) -> str:
    return f"{store.root}/partitions/{name}.json"


def read_dynamic(store, name: str) -> List[str]:
    """The keys of dynamic partitions ``name``, in the order they were added ([] when none was)."""
    path = _path(store, name)
    raw = store.objects.cat_many([path]).get(path)
    if raw is None:
        return []
    try:
        keys = json.loads(raw)["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read the partition keys in {path}: {exc}",
                         hint=f"fix or delete the file, then add the keys again: datamake partitions add {name} KEY...")
    return [str(k) for k in keys]


def _change(store, name: str, keys: Iterable[str], add: bool) -> List[str]:
    from datamake.core.partitions import check_partition_keys  # lazy: a make without partitions skips it

    keys = list(dict.fromkeys(check_partition_keys(keys)))
    with store_lock(store, f"datamake partitions {'add' if add else 'remove'} {name}", name=LOCK_NAME):
        current = read_dynamic(store, name)
        known = set(current)
        changed = [k for k in keys if (k not in known) == add]
        if changed:
            gone = set(changed)
            result = [*current, *changed] if add else [k for k in current if k not in gone]
            store.fs.makedirs(f"{store.root}/partitions", exist_ok=True)
            store.write_small(_path(store, name), json.dumps({"keys": result}, indent=0).encode())
    return changed


def add_dynamic(store, name: str, keys: Iterable[str]) -> List[str]:
    """Add ``keys`` to dynamic partitions ``name``; returns those that were new."""
    return _change(store, name, keys, add=True)


def remove_dynamic(store, name: str, keys: Iterable[str]) -> List[str]:
    """Remove ``keys`` (their values stay in the store until gc); returns those that were there."""
    return _change(store, name, keys, add=False)


def materialized_partitions(store, key: str) -> Set[str]:
    """The partitions of ``key`` that have a current manifest (one listing of its manifest folder)."""
    folder = store.manifest_path(f"{key}[x]").rsplit("/", 1)[0]
    return {unquote(path.rsplit("/", 1)[-1][:-len(".json")]) for path in store.objects.files_under(folder)
            if path.endswith(".json")}
