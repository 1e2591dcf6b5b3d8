"""fsspec access shared by the store, the remote cache and source observation.

Opening a URL, running many requests at once, and the per-backend request
options that keep memory flat and round trips few.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from datamake.core.errors import StoreError

_BULK_BATCH = 64  # requests in flight at once in bulk operations on object stores
_UPLOAD_CHUNK = 8 << 20  # multipart part size: bounds memory per upload, whatever the file size
_UPLOAD_CONCURRENCY = 4
_DOWNLOAD_CHUNK = 8 << 20
_DOWNLOAD_CONCURRENCY = 4


def filesystem(url: str, storage_options: Optional[Mapping[str, Any]] = None):
    """``(fs, path)`` for a URL, with an install hint when its backend is missing."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(scheme, scheme)
        raise StoreError(
            f"no filesystem for '{scheme}://' URLs ({exc})",
            hint=f"install it: pip install 'datamake[{extra}]'",
        ) from None
    except ValueError as exc:
        raise StoreError(f"cannot open store URL '{url}': {exc}") from None
    _quiet_abandoned_requests(fs)
    return fs, path


def local_root(url: str, storage_options: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The root path fsspec's ``LocalFileSystem`` would give an absolute POSIX folder path, without
    importing fsspec; None for anything else (a URL, a chained URL, options, another OS)."""
    if storage_options or os.sep != "/" or not url.startswith("/") or "::" in url or "://" in url:
        return None
    return url.rstrip("/")  # what fsspec makes of it: the path as given, trailing slashes stripped


def _quiet_abandoned_requests(fs) -> None:
    """On an async filesystem's event loop, drop the "Task exception was never retrieved" traceback
    of a request whose connection died (a remote that went away mid-run): the call that started it
    has already failed, and datamake reports that in one line."""
    loop = getattr(fs, "loop", None) if getattr(fs, "async_impl", False) else None
    if loop is None or getattr(loop, "_datamake_quiet", False):
        return

    def handler(loop, context) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) or type(exc).__module__.startswith("aiohttp"):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._datamake_quiet = True


def protocols(fs) -> Tuple[str, ...]:
    """The protocol names a filesystem answers to (fsspec gives a string or a tuple)."""
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def is_local(fs) -> bool:
    return "file" in protocols(fs) or "local" in protocols(fs)


def _is_s3(fs) -> bool:
    return "s3" in protocols(fs) or "s3a" in protocols(fs)


def find_args(fs, folder: str) -> Tuple[str, Dict[str, Any]]:
    """``fs.find`` arguments that list ``folder``: on S3 as a key prefix under its parent, one request
    even when nothing is there (s3fs would otherwise ask twice more whether ``folder`` is a file)."""
    folder = folder.rstrip("/")
    if _is_s3(fs) and "/" in folder:
        parent, name = folder.rsplit("/", 1)
        return parent, {"prefix": name + "/"}
    return folder, {}


def bulk(fs, method: str, calls: Sequence[Tuple[Any, ...]], batch: int = _BULK_BATCH, **kwargs: Any) -> List[Any]:
    """Run ``fs.<method>(*args, **kwargs)`` for each args tuple concurrently; results or exceptions, in order.

    On async filesystems (s3fs, gcsfs) the calls run as coroutines on the
    filesystem's own event loop, ``batch`` at a time; elsewhere in a small
    thread pool. Exceptions are returned in place, not raised.
    """
    if not calls:
        return []
    if getattr(fs, "async_impl", False) and hasattr(fs, "_" + method):
        from fsspec.asyn import sync  # fsspec is imported where it is used (import-time budget)

        per_call = kwargs.pop("_kwargs", None) or [{}] * len(calls)
        coros = [getattr(fs, "_" + method)(*args, **kwargs, **extra) for args, extra in zip(calls, per_call)]
        return sync(fs.loop, _gather_bounded, coros, batch)
    from concurrent.futures import ThreadPoolExecutor  # only for bulk calls on synchronous filesystems

    kwargs.pop("_kwargs", None)

    def one(args):
        try:
            return getattr(fs, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned to the caller, like the async branch
            return exc

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        return list(pool.map(one, calls))


async def _gather_bounded(coros: List[Any], limit: int) -> List[Any]:
    """Await ``coros`` with at most ``limit`` in flight; results or exceptions, in order."""
    import asyncio  # runs on the filesystem's event loop, only for async filesystems

    gate = asyncio.Semaphore(limit)

    async def one(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


def upload_options(fs) -> Dict[str, Any]:
    """Keyword arguments for ``put_file`` that keep an upload's memory bounded (s3fs multipart)."""
    if _is_s3(fs):
        return {"chunksize": _UPLOAD_CHUNK, "max_concurrency": _UPLOAD_CONCURRENCY}
    return {}


def download_options(fs) -> Dict[str, Any]:
    """Bounded ranged downloads for s3fs: memory stays flat in artifact size."""
    if _is_s3(fs):
        return {"chunksize": _DOWNLOAD_CHUNK, "max_concurrency": _DOWNLOAD_CONCURRENCY}
    return {}


def plain_get(fs) -> Dict[str, Any]:
    """``cat_file`` keyword arguments for one bare GET (s3fs otherwise HEADs first, to split large reads)."""
    from datamake.core.compat import accepts_keyword  # lazy: only a remote store

    return {"max_concurrency": 1} if hasattr(fs, "_call_s3") and accepts_keyword(fs._cat_file, "max_concurrency") else {}


def content_validator(info: Mapping[str, Any]) -> Optional[str]:
    """A listing entry's content validator (changes whenever the bytes change), if the backend has one."""
    for field_name in ("ETag", "etag", "md5Hash", "generation"):
        value = info.get(field_name)
        if value:
            return f"{field_name}:{value}"
    return None
