"""The project a long-lived server shows: loaded once, loaded again when its files change."""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator, Optional

from datamake import api
from datamake.core.errors import DatamakeError

RETRY_SECONDS = 1.0  # a project that failed to load is tried again at most this often


class ProjectHolder:
    """``with holder.use() as project:`` the current project, one request at a time.

    When loading fails (a definitions module that raises, a bad ``datamake.toml``)
    the error is kept and raised to every request until the files are fixed: the
    server keeps running and recovers without a restart.
    """

    def __init__(self, directory: str):
        self.directory = directory
        self.error: Optional[DatamakeError] = None
        self._project = None
        self._loaded_at = 0.0
        self._tried_at = -RETRY_SECONDS
        self._lock = threading.RLock()
        self.generation = 0  # grows each time the project is loaded afresh

    @contextlib.contextmanager
    def use(self) -> Iterator["api.Project"]:
        with self._lock:
            yield self._current()

    def _current(self):
        if self._project is not None and not api.changed(self._project, self._loaded_at):
            return self._project
        if self.error is not None and time.monotonic() - self._tried_at < RETRY_SECONDS:
            raise self.error
        self._tried_at, started = time.monotonic(), time.time()
        try:
            self._project = api.load(self.directory)
        except DatamakeError as exc:
            self._project, self.error = None, exc
            raise
        self.error, self._loaded_at = None, started
        self.generation += 1
        return self._project

    def warm(self) -> Optional[DatamakeError]:
        """Load the project and plan it once (so the first page is quick); the load error, or None."""
        try:
            with self.use() as project:
                api.ls(project)
                api.status(project)
                return None
        except DatamakeError as exc:
            return exc
