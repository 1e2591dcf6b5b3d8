"""A real S3 API on loopback for the tests: moto's server, started once per session.

``s3_server`` runs moto's WSGI application in a thread on a free 127.0.0.1
port and counts the requests it serves, so that tests can assert how many
round trips a command costs. ``s3_bucket`` gives each test a fresh bucket and
the ``[cache.storage_options]`` / ``[storage.storage_options]`` that reach it.
``moto_process`` starts a separate ``moto_server`` process that a test may
kill to take the remote down mid-run.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Set, Tuple

import pytest

CREDENTIALS = {"key": "testing", "secret": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    """A moto S3 server in this process; ``requests`` logs (method, path, query) of each request."""

    endpoint: str
    requests: List[Tuple[str, str, str]] = field(default_factory=list)
    read_only: Set[str] = field(default_factory=set)  # buckets whose writes are denied, as by a bucket policy
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fs: object = None

    def options(self) -> Dict[str, object]:
        """s3fs storage options for this server."""
        return {"endpoint_url": self.endpoint, **CREDENTIALS}

    def toml_options(self) -> str:
        return f'endpoint_url = "{self.endpoint}"\nkey = "testing"\nsecret = "testing"\n'

    def count(self, bucket: str) -> int:
        """Requests served so far that touched ``bucket``."""
        with self._lock:
            return sum(1 for _m, path, _q in self.requests if path.lstrip("/").split("/", 1)[0] == bucket)

    def requests_for(self, bucket: str) -> List[Tuple[str, str, str]]:
        with self._lock:
            return [r for r in self.requests if r[1].lstrip("/").split("/", 1)[0] == bucket]

    def filesystem(self):
        """The tests' own s3fs client of this server, made once (a new client costs ~0.3 s of CPU): it
        caches no listing, so it sees every change at once, and it is not the instance datamake's
        stores get from fsspec."""
        import s3fs

        with self._lock:
            if self._fs is None:
                self._fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True,
                                             use_listings_cache=False, **CREDENTIALS)
            return self._fs


_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                  b'<Message>Access Denied</Message><RequestId>0</RequestId></Error>')


def _counting(app, server: S3Server):
    def wrapped(environ, start_response):
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        with server._lock:
            server.requests.append((method, path, environ.get("QUERY_STRING", "")))
            denied = method not in ("GET", "HEAD") and path.lstrip("/").split("/", 1)[0] in server.read_only
        if denied:  # what S3 answers a write that the bucket's policy denies
            start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                             ("Content-Length", str(len(_ACCESS_DENIED)))])
            return [_ACCESS_DENIED]
        return app(environ, start_response)

    return wrapped


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1, in a thread, for the whole test session."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    port = free_port()
    server = S3Server(endpoint=f"http://127.0.0.1:{port}")
    app = _counting(DomainDispatcherApplication(create_backend_app), server)
    httpd = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    thread.join(timeout=10)


@dataclass
class Bucket:
    name: str
    server: S3Server

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def requests(self) -> int:
        return self.server.count(self.name)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Bucket:
    """A fresh, empty bucket on the session's server."""
    name = "dm-" + uuid.uuid4().hex[:12]
    s3_server.filesystem().mkdir(name)
    return Bucket(name, s3_server)


@dataclass
class MotoProcess:
    """A ``moto_server`` child process: a remote that a test can take down."""

    endpoint: str
    proc: subprocess.Popen

    def toml_options(self) -> str:
        return f'endpoint_url = "{self.endpoint}"\nkey = "testing"\nsecret = "testing"\n'

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True,
                                 use_listings_cache=False, **CREDENTIALS)


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # polling for readiness, not for a result
    raise RuntimeError("moto_server did not start listening")


@pytest.fixture
def moto_process() -> Iterator[MotoProcess]:
    """A moto S3 server in its own process (pid in ``.proc.pid``), stopped after the test."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        yield MotoProcess(f"http://127.0.0.1:{port}", proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
