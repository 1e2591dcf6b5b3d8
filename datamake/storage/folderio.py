"""A folder the asset (or its command) wrote, stored as one deterministic tar archive.

Entries are sorted, with times, owners and permission bits other than the
executable bit left out, so an equal folder gives equal bytes (an equal data
version: early cutoff). Downstream assets receive the path of an extracted copy.
"""
from __future__ import annotations

import os
from typing import IO, Any, Iterator, Tuple

INPUT_COPY_PREFIX = "datamake-input-"  # the temporary copy of a stored file or folder handed to an asset


class FolderIO:
    """A local folder ↔ a tar archive of its files."""

    name = "folder"
    stores = "the path of a folder the asset wrote"

    def handles(self, value: Any) -> bool:
        return False  # chosen for a folder written at context.output_path, or by name

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, os.PathLike)) and os.path.isdir(value)

    def dump(self, value: Any, f: IO[bytes]) -> None:
        import tarfile  # lazy: only a folder asset needs it, and every command's start-up loads this module

        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel, full in _entries(os.fspath(value)):
                info = tar.gettarinfo(full, arcname=rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.pax_headers = {}
                if info.isdir():
                    info.mode = 0o755
                    tar.addfile(info)
                elif info.isfile():
                    info.mode = 0o755 if info.mode & 0o100 else 0o644
                    with open(full, "rb") as src:
                        tar.addfile(info, src)

    def load(self, f: IO[bytes]) -> Any:
        import tempfile  # lazy: a no-op reads no folder

        target = tempfile.mkdtemp(prefix=INPUT_COPY_PREFIX)
        extract(f, target)
        return target


def extract(f: IO[bytes], target: str) -> None:
    """Unpack an archive written by :class:`FolderIO` into the folder ``target``."""
    import tarfile  # lazy: see FolderIO.dump

    with tarfile.open(fileobj=f, mode="r|") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.12 without the backport: refuse paths leaving the folder
            for member in tar:
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    raise ValueError(f"unsafe path in archive: {member.name}")
                tar.extract(member, target)


def _entries(root: str) -> Iterator[Tuple[str, str]]:
    """(relative path, full path) of every folder and file under ``root``, sorted."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        if rel != ".":
            yield rel.replace(os.sep, "/"), folder
        for name in sorted(files):
            full = os.path.join(folder, name)
            yield (name if rel == "." else f"{rel}/{name}").replace(os.sep, "/"), full


def replace_tree(source: str, target: str) -> None:
    """Make ``target`` a copy of the folder ``source`` (written beside it, then swapped in)."""
    import shutil
    import tempfile  # lazy: only a run that places a folder copies one

    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".datamake-", dir=parent)
    try:
        shutil.copytree(source, os.path.join(staging, "new"))
        if os.path.isdir(target) and not os.path.islink(target):
            os.rename(target, os.path.join(staging, "old"))
        elif os.path.lexists(target):
            os.unlink(target)
        os.rename(os.path.join(staging, "new"), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
