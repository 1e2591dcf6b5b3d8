"""Hashing: xxHash3-128 over canonical encodings and over byte streams.

Every hash datamake records is built here, from a *tagged* structure whose
first element names what is hashed, encoded as canonical JSON (sorted keys, no
whitespace), so that it does not depend on dict order or Python version.
"""
from __future__ import annotations

import json
from typing import IO, Any, Iterable

import xxhash

from datamake.core.textout import one_shot

CHUNK_SIZE = 1 << 20


def hash_bytes(data: bytes) -> str:
    """Hex xxh3-128 digest of ``data``."""
    return xxhash.xxh3_128_hexdigest(data)


# One encoder each, made once: json.dumps with any option builds a new JSONEncoder per call (same bytes).
_CANONICAL = one_shot(json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True))
_RECORD = one_shot(json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str))
_RECORD_ORDERED = one_shot(json.JSONEncoder(separators=(",", ":"), default=str))
# A string as the record and canonical encoders write it (json's own function, ensure_ascii: the same
# escapes); TypeError for anything else.
json_string = json.encoder.encode_basestring_ascii


def canonical(value: Any) -> bytes:
    """The canonical byte encoding of a JSON-compatible value."""
    return _CANONICAL(value).encode()


def record_json(value: Any) -> str:
    """Compact JSON with sorted keys, ``str()`` of what JSON cannot hold: how manifests, packs and
    event-log fields are written."""
    return _RECORD(value)


def record_json_ordered(value: Any) -> str:
    """:func:`record_json` of a value whose every mapping has its keys in sorted order already."""
    return _RECORD_ORDERED(value)


def hash_value(tag: str, *parts: Any) -> str:
    """Hash a tagged structure: ``hash_value("provenance", key, ...)``."""
    return xxhash.xxh3_128_hexdigest(_CANONICAL([tag, *parts]).encode())  # hash_bytes(canonical(...)), inline


def data_version_of(io_manager: str, content_hash: str) -> str:
    """The data version of stored bytes: their content hash, qualified by the IO manager that
    reads them back, so that ``1`` (json) and ``"1"`` (text) are different values.

    ``hash_value("data", io_manager, content_hash)``, its canonical text written directly (one per built
    asset: the encoder's set-up costs more than the text), with json's own escaping of each string."""
    try:
        text = f'["data",{json_string(io_manager)},{json_string(content_hash)}]'
    except TypeError:  # not two strings: the encoder writes them
        return hash_value("data", io_manager, content_hash)
    return xxhash.xxh3_128_hexdigest(text.encode())


def hash_chunks(chunks: Iterable[bytes]) -> str:
    """Hash an iterable of byte chunks without joining them."""
    hasher = xxhash.xxh3_128()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_file(fileobj: IO[bytes]) -> str:
    """Hash an open binary file, streaming it in 1 MiB chunks."""
    return hash_chunks(iter(lambda: fileobj.read(CHUNK_SIZE), b""))


class HashingWriter:
    """A write-only binary file wrapper that hashes and counts what passes through.

    IO managers write into it; the artifact's data version is ``hexdigest()``
    once they are done, without reading the file back.
    """

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._hasher = xxhash.xxh3_128()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._hasher.update(view)
        self.size += len(view)
        self._raw.write(view)
        return len(view)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    # pyarrow and pickle probe for these on file-like objects.
    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:  # the owner closes the raw file
        pass
