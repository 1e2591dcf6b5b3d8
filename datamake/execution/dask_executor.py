"""The Dask executor: assets run as tasks on a ``dask.distributed`` cluster.

Only :func:`~datamake.execution.tasks.run_task` runs on the workers. It loads
its inputs from the store and writes its artifact there, and sends back a small
:class:`~datamake.execution.results.TaskResult`; values never travel through
the scheduler. Planning, early cutoff, the action cache and manifests stay
with datamake's coordinator in the calling process.

Configuration (``datamake.toml``)::

    [execution]
    executor = "dask"
    address = "tcp://scheduler:8786"   # omit to start a LocalCluster of `jobs` worker processes
    jobs = 8

Requirements for a remote cluster: every worker can import ``datamake`` and
reach the project directory at the same path (to import the definitions) and
the store URL (a local folder only works for workers on this machine; use an
object store otherwise). Dask is an optional extra: ``pip install
'datamake[dask]'``; nothing else in datamake imports it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import threading
import uuid
from typing import Any, Dict, Iterator, Optional, Set, Tuple

from datamake.core.errors import DatamakeError
from datamake.execution.tasks import AssetTask, run_task
from datamake.define import loader

ASSET_LOGGER = "datamake.asset"


def _check_installed() -> None:
    """Fail early, without the cost of importing it, when dask.distributed is missing."""
    if importlib.util.find_spec("distributed") is None:
        raise DatamakeError(
            "executor 'dask' needs dask.distributed, which is not installed",
            hint="install it: pip install 'datamake[dask]'",
        )


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start local workers with Ctrl-C ignored: a terminal sends it to the whole process group,
    and the coordinator, not the workers, decides what an interrupt means. (Workers
    inherit SIG_IGN across exec; a Ctrl-C pressed while the cluster starts is lost.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DaskExecutor:
    """Runs tasks on a Dask cluster: the one at ``address``, or a LocalCluster of ``jobs`` processes.

    Nothing starts or connects until the first task: a run with nothing to
    build costs no cluster. ``capacity`` is ``jobs`` for a local cluster; for
    a remote one it becomes the larger of ``jobs`` and the cluster's thread
    count once connected.
    """

    name = "dask"
    shares_memory = False

    def __init__(self, jobs: int = 1, address: Optional[str] = None):
        _check_installed()
        self._jobs = max(1, jobs)
        self._address = address
        self.capacity = self._jobs
        self._client = None
        self._cluster = None
        self._closed = False
        self._futures: Dict[str, Any] = {}
        self._prepared: Set[Tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _start(self):
        """The client, connecting or starting the local cluster on first use."""
        if self._client is not None:
            return self._client
        import distributed  # lazy: dask is optional and slow to import

        if self._address:
            self._client = self._connect(distributed, self._address)
            self.capacity = max(self._jobs, sum(self._client.nthreads().values()))
        else:
            with _sigint_ignored():
                self._cluster = distributed.LocalCluster(
                    n_workers=self._jobs, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
            self._client = distributed.Client(self._cluster, set_as_default=False)
        if logging.getLogger(ASSET_LOGGER).getEffectiveLevel() <= logging.INFO:
            self._client.forward_logging(ASSET_LOGGER)  # context.log lines come back here (-v)
        return self._client

    @staticmethod
    def _connect(distributed, address: str):
        try:
            _probe(address)  # fail at once when nothing listens, instead of retrying for the whole timeout
            return distributed.Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DatamakeError(
                f"cannot reach the Dask scheduler at {address}: {exc}",
                hint="start it (`dask scheduler`), fix [execution] address, or remove it to use a local cluster",
            ) from None

    def submit(self, task: AssetTask, run=run_task) -> cf.Future:
        """Run ``task`` on the cluster; the returned future holds its TaskResult."""
        if self._closed:
            raise RuntimeError("the Dask executor is shut down")
        client = self._start()
        self._prepare(task)
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        key = f"datamake-{task.key}-{uuid.uuid4().hex[:12]}"
        remote = client.submit(run, task, key=key, pure=False, retries=0)
        with self._lock:
            self._futures[key] = remote
        remote.add_done_callback(lambda done: self._settle(key, done, future))
        return future

    def _settle(self, key: str, remote, future: cf.Future) -> None:
        with self._lock:
            self._futures.pop(key, None)
        try:
            if remote.status == "finished":
                future.set_result(remote.result())
            elif remote.status == "cancelled":
                future.set_exception(cf.CancelledError())
            else:
                future.set_exception(remote.exception() or RuntimeError(f"task ended as {remote.status}"))
        except BaseException as exc:  # noqa: BLE001 - a lost connection, a KilledWorker...
            if not future.done():
                future.set_exception(exc)

    def _prepare(self, task: AssetTask) -> None:
        """Before a project's first task: make long-lived workers re-import its definitions."""
        ref = (task.project_dir, task.definitions)
        if self._cluster is not None or ref in self._prepared:
            return
        self._prepared.add(ref)
        self._client.run(_forget_definitions, *ref)

    def shutdown(self, cancel: bool = False) -> None:
        """Close the client (and the local cluster); with ``cancel``, abandon running tasks now."""
        self._closed = True
        client, self._client = self._client, None
        if client is None:
            return
        with self._lock:
            pending = list(self._futures.values())
        with _quiet_abort_logs() if cancel else contextlib.nullcontext():
            if cancel:
                if pending:
                    with contextlib.suppress(Exception):
                        client.cancel(pending, force=True)
                if self._cluster is not None:
                    self._kill_local_workers()
            with contextlib.suppress(Exception):
                client.close(timeout=5)
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=5)
                self._cluster = None

    def _kill_local_workers(self) -> None:
        """End local worker processes at once: what they were writing lies in tmp/ only."""
        for nanny in list(getattr(self._cluster, "workers", {}).values()):
            pid = getattr(getattr(nanny, "process", None), "pid", None)
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


# What reports, with a traceback, the connections an abort cuts: "worker died", a closed comm, a callback
# or task that failed on the way out. The user asked to stop now; none of it is news to them.
_ABORT_NOISE = ("distributed", "tornado", "asyncio")


@contextlib.contextmanager
def _quiet_abort_logs() -> Iterator[None]:
    """Silence the loggers of :data:`_ABORT_NOISE` (and their children) while an abort tears the cluster
    down; their levels are put back after, for a process that goes on (the API, the daemon)."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _ABORT_NOISE]
    loggers = [logging.getLogger(n) for n in {*names, *_ABORT_NOISE}]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _probe(address: str) -> None:
    """For ``tcp://host:port``: raise OSError when the port refuses connections."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rstrip("/").rpartition(":")
    if host and port.isdigit():
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass


def _forget_definitions(project_dir: str, ref: str) -> None:
    """On a worker: forget the definitions and every project module, so the next task imports the disk."""
    loader.forget_project_code(loader.definition_roots(project_dir, ref))
