"""Helpers for progress a person can follow: a redraw ticker and the assets' own log lines.

- :class:`Ticker` calls a function every half second on a daemon thread, so
  the live status line keeps counting the seconds of running assets.
- :func:`show_asset_logs` routes what assets log through ``context.log``
  (INFO and above) to a reporter's ``asset_log`` event while a run lasts
  (``make -v``). It works for every executor: threads share the handler,
  forked workers inherit it, and the Dask executor forwards worker records to
  it (see :mod:`datamake.execution.dask_executor`).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Iterator, Optional

ASSET_LOGGER = "datamake.asset"


class Ticker:
    """Calls ``fn()`` every ``interval`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, fn: Callable[[], None], interval: float = 0.5):
        self._fn = fn
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Ticker":
        self._thread = threading.Thread(target=self._loop, name="datamake-progress", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._fn()
            except Exception:  # noqa: BLE001 - a progress line is never worth a crash
                pass

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None


class _ToReporter(logging.Handler):
    """Hands each asset log record to ``reporter.asset_log(key, level, text)``."""

    def __init__(self, reporter):
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        key = record.name[len(ASSET_LOGGER) + 1:] if record.name.startswith(ASSET_LOGGER + ".") else record.name
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string in user code
            text = repr(record.msg)
        try:
            self.reporter.asset_log(key, record.levelname, text)
        except Exception:  # noqa: BLE001
            self.handleError(record)


@contextlib.contextmanager
def show_asset_logs(reporter) -> Iterator[None]:
    """While the block runs, assets' INFO+ log lines go to ``reporter.asset_log``."""
    logger = logging.getLogger(ASSET_LOGGER)
    handler = _ToReporter(reporter)
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
