"""Reading many small objects of one filesystem at once: batched GETs and HEADs, paged listings,
and a machine-local cache of listed objects that have not changed."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from datamake.core.errors import StoreError
from datamake.core.hashing import hash_value
from datamake.storage.fsio import bulk, content_validator, find_args, plain_get
from datamake.storage.localfiles import cache_dir, read_json_cache, read_whole, write_json_cache


class Objects:
    """Batched reads of the objects of ``fs``; ``url`` names the store in error messages."""

    def __init__(self, fs, url: str, is_local: bool):
        self.fs = fs
        self.url = url
        self.is_local = is_local

    def files_under(self, folder: str) -> Dict[str, Dict[str, Any]]:
        """Every file below ``folder`` with fsspec's details (``size``, a time, an ETag), listed in pages;
        ``{}`` when there is none.

        The one listing of a store folder (manifests, gc, leases, the remote's action list). Paths
        are in the form the store builds them. fsspec's cached listings of the folder are dropped
        after, so the next look asks the store again.
        """
        path, extra = find_args(self.fs, folder)
        try:
            found = self.fs.find(path, detail=True, **extra)
        except FileNotFoundError:
            found = {}
        finally:
            self.forget_listing(folder)
        return {self.strip(p): info for p, info in found.items() if info.get("type", "file") == "file"}

    def cat_listed(self, paths: List[str], prefix: str,
                   listed: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, bytes]:
        """Read many small objects under ``prefix``: one listing, then only what changed since last time.

        The listing says which objects exist and gives each a content
        validator (S3's ETag); bytes read before are kept in a machine-local
        cache keyed by path and validator, so an unchanged object costs no
        request. A no-op ``status`` on a bucket store is then a few listing pages. ``listed``, when
        given, is the caller's own :meth:`files_under` of ``prefix``.
        """
        try:
            listed = self.files_under(prefix) if listed is None else listed
        except Exception as exc:  # noqa: BLE001 - any transport failure
            raise StoreError(f"cannot list {prefix} in the store at {self.url}: {exc}") from None
        cache_file = os.path.join(cache_dir(), "listed", hash_value("listed", self.url, prefix)[:32] + ".json")
        cached = read_json_cache(cache_file)
        out: Dict[str, bytes] = {}
        wanted = [p for p in paths if p in listed]
        missing = []
        for path in wanted:
            validator = content_validator(listed[path])
            entry = cached.get(path)
            if validator and entry and entry[0] == validator:
                out[path] = entry[1].encode("utf-8", "surrogateescape")
            else:
                missing.append(path)
        if missing:
            fetched = self.cat_many(missing)
            out.update(fetched)
            changed = False
            for path, raw in fetched.items():
                validator = content_validator(listed[path])
                if validator:
                    cached[path] = [validator, raw.decode("utf-8", "surrogateescape")]
                    changed = True
            for path in [p for p in cached if p not in listed and p.startswith(prefix)]:
                del cached[path]
                changed = True
            if changed:
                write_json_cache(cache_file, cached)
        return out

    def strip(self, path: str) -> str:
        """A listed path in the form this store builds paths (``bucket/prefix/...``)."""
        return self.fs._strip_protocol(path).rstrip("/")

    def forget_listing(self, prefix: str) -> None:
        """Drop fsspec's cached listings, so that a later existence check asks the store again."""
        try:
            self.fs.invalidate_cache(prefix)
        except Exception:  # noqa: BLE001 - a cache, never worth failing for
            pass

    def cat_many(self, paths: List[str]) -> Dict[str, bytes]:
        """The bytes of each object that exists (one GET each, concurrently, on object stores)."""
        if not paths:
            return {}
        if self.is_local:
            found = {}
            for p in paths:
                try:
                    found[p] = read_whole(p)
                except FileNotFoundError:
                    pass
            return found
        # One GET per path, concurrently (fs.cat on a list would first expand each path: 2 more requests).
        raw = dict(zip(paths, bulk(self.fs, "cat_file", [(p,) for p in paths], **plain_get(self.fs))))
        out = {}
        for p, v in raw.items():
            if isinstance(v, FileNotFoundError):
                continue
            if isinstance(v, BaseException):
                raise StoreError(f"cannot read {p} in the store at {self.url}: {str(v).splitlines()[0][:300]}")
            out[p] = v
        return out

    def sizes(self, paths: List[str]) -> List[Optional[int]]:
        """The size of each object (None where it does not exist): one request each, run concurrently."""
        return [None if info is None else info["size"] for info in self.stats(paths)]

    def stats(self, paths: List[str]) -> List[Optional[Dict[str, Any]]]:
        """``{"size", "validator"}`` of each object (None where it does not exist), concurrently.

        On S3 this is a bare HEAD; ``fs.info`` would add a listing per missing
        object to rule out a directory. ``validator`` is the ETag where the
        backend has one (see :func:`content_validator`).
        """
        if getattr(self.fs, "async_impl", False) and hasattr(self.fs, "_call_s3"):
            results = bulk(self.fs, "call_s3", [("head_object",) for _ in paths],
                           _kwargs=[dict(zip(("Bucket", "Key"), self.fs.split_path(p)[:2])) for p in paths])
        else:
            results = bulk(self.fs, "info", [(p,) for p in paths])
        out: List[Optional[Dict[str, Any]]] = []
        for path, r in zip(paths, results):
            if isinstance(r, FileNotFoundError):
                out.append(None)
            elif isinstance(r, BaseException):
                raise StoreError(f"cannot read {path} in the store at {self.url}: {str(r).splitlines()[0][:300]}")
            else:
                size = r.get("size", r.get("ContentLength"))
                out.append({"size": None if size is None else int(size), "validator": content_validator(r)})
        return out


def modified_time(info: Dict[str, Any]) -> float:
    """When a listed object was last written (the store's clock), or +inf when the backend does not say."""
    for name in ("mtime", "LastModified", "updated", "created"):
        value = info.get(name)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return float("inf")

