"""What assets log through ``context.log`` (INFO and above), handed to a reporter's ``asset_log`` event
while a run lasts (``make -v``).

It works for every executor: threads share the handler, forked workers inherit
it, and the Dask executor forwards worker records to it (see
:mod:`datamake.execution.dask_executor`). Kept apart from
:mod:`datamake.execution.progress` so that a run without ``-v`` does not import
:mod:`logging`.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from datamake.execution.progress import ASSET_LOGGER


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
