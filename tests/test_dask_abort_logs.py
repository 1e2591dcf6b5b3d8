"""A second Ctrl-C with the Dask executor tears the cluster down at once; what distributed, tornado and
asyncio log about the connections that cuts (with tracebacks, on a loaded machine) is not shown, and
their levels come back afterwards for a process that goes on."""
from __future__ import annotations

import logging

import pytest

pytest.importorskip("distributed")

from datamake.execution import dask_executor  # noqa: E402


def _emit_noise() -> None:
    for name in ("distributed.comm.tcp", "distributed.nanny", "tornado.application", "asyncio"):
        try:
            raise ConnectionResetError("connection cut by the abort")
        except ConnectionResetError:
            logging.getLogger(name).exception("failed while closing")


def test_an_abort_shows_no_traceback_from_the_cluster_and_puts_the_levels_back(capsys):
    handler = logging.StreamHandler()  # stderr, as a user's terminal shows these records
    logging.getLogger().addHandler(handler)
    logging.getLogger("distributed.nanny").setLevel(logging.INFO)
    before = logging.getLogger("distributed").level  # distributed sets its own at import
    try:
        with dask_executor._quiet_abort_logs():
            _emit_noise()
        assert "Traceback" not in capsys.readouterr().err
        assert logging.getLogger("distributed.nanny").level == logging.INFO
        assert logging.getLogger("distributed").level == before
        _emit_noise()  # afterwards the same records are shown again
        err = capsys.readouterr().err
        assert err.count("Traceback") == 4 and "connection cut by the abort" in err
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("distributed.nanny").setLevel(logging.NOTSET)
