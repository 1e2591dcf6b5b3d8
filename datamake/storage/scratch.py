"""A consumer's private temporary folder: the copies of ``file`` and ``folder`` inputs it receives.

A consumer may write to the path it is handed; what it does never reaches the store nor other
consumers, and everything here is removed when the consumer ends (a task, an op, a check).
"""
from __future__ import annotations

import os
from typing import Any, List, Optional


class Scratch:
    """Temporary folders for one consumer's input copies, removed by :meth:`cleanup` (or on leaving ``with``)."""

    def __init__(self) -> None:
        self.path: Optional[str] = None  # made on first use: most consumers copy no input
        self._n = 0
        self._adopted: List[str] = []

    def folder(self) -> str:
        """A new empty folder for one copy."""
        if self.path is None:
            import tempfile  # lazy: slow to import, and only a consumer of file inputs copies one

            self.path = tempfile.mkdtemp(prefix="datamake-inputs-")
        self._n += 1
        folder = os.path.join(self.path, str(self._n))
        os.mkdir(folder)
        return folder

    def adopt(self, path: Any) -> Any:
        """Remove ``path`` (a copy made elsewhere) with this scratch; returns it."""
        self._adopted.append(os.fspath(path))
        return path

    @property
    def used(self) -> bool:
        """True when there is something to remove."""
        return self.path is not None or bool(self._adopted)

    def cleanup(self) -> None:
        """Remove every copy (best effort: a consumer may have left a read-only file open on Windows)."""
        if not self.used:
            return
        import shutil  # lazy: see folder()

        for path in (self.path, *self._adopted):
            if path is None:
                continue
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self.path, self._adopted = None, []

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()
