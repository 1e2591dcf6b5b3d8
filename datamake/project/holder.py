"""The project a long-lived process works on (the daemon, the web UI): loaded once, loaded again when
its files change, so edits are picked up without a restart."""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator, Optional

from datamake.core.errors import DatamakeError
from datamake.project.lastpass import LastPass
from datamake.project.workspace import Project

RETRY_SECONDS = 1.0  # a project that failed to load is tried again at most this often


def keep_loaded(project: Project) -> None:
    """Ready ``project`` for a long-lived process that plans it again and again: no frozen heap, the
    manifests it parses and its last planning pass kept (what has not moved is not planned again)."""
    project.one_shot = False
    project.store.keep_parsed_manifests()
    project.last_pass = LastPass()


class ProjectHolder:
    """``with holder.use() as project:`` the current project, one user at a time.

    When loading fails (a definitions module that raises, a bad ``datamake.toml``)
    the error is kept (:attr:`error`) and raised to every user until the files are
    fixed: the process keeps running and recovers without a restart. Each project
    freshly loaded is kept the long-lived way (:func:`keep_loaded`), then given to ``prepare``.
    """

    def __init__(self, directory: str, prepare: Optional[Callable[[Project], None]] = None,
                 project: Optional[Project] = None):
        self.directory = directory
        self.error: Optional[DatamakeError] = None
        self._prepare = prepare
        self._project: Optional[Project] = None
        self._loaded_at = 0.0
        self._tried_at = -RETRY_SECONDS
        self._lock = threading.RLock()
        self.generation = 0  # grows each time the project is loaded afresh
        if project is not None:  # already loaded by the caller
            self._adopt(project)

    @contextlib.contextmanager
    def use(self) -> Iterator[Project]:
        with self._lock:
            yield self.current()

    def current(self) -> Project:
        """The project as its files are now: the one loaded, or a fresh load when they changed."""
        with self._lock:
            if self._project is not None and not self._project.changed_since(self._loaded_at):
                return self._project
            if self.error is not None and time.monotonic() - self._tried_at < RETRY_SECONDS:
                raise self.error
            self._tried_at = time.monotonic()
            try:
                project = Project.load(self.directory)
            except DatamakeError as exc:
                self._project, self.error = None, exc
                raise
            self._adopt(project)
            return project

    def _adopt(self, project: Project) -> None:
        keep_loaded(project)
        if self._prepare is not None:
            self._prepare(project)
        self._project, self.error, self._loaded_at = project, None, project.loaded_at
        self.generation += 1


__all__ = ["ProjectHolder", "RETRY_SECONDS", "keep_loaded"]
