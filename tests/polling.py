"""Waiting for a condition another process brings about: poll with a bounded timeout, never a lucky sleep."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
    """The first truthy value of ``condition()``, polled every 50 ms; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Gate:
    """Where assets of a test project wait until the test releases them, over a loopback socket.

    Checking for a release file would be a read the asset's value depends on (the file missing, then
    there): datamake records it, and the asset would be stale after the run. Pipelines embed
    :data:`Gate.CLIENT` and call ``wait_at_gate(GATE_PORT, name)``; put the port in with :meth:`code`.
    """

    CLIENT = '''
def wait_at_gate(port, name):
    """Wait until the test releases ``name`` (it learns that the asset got here)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(name.encode() + b"\\n")
        if conn.makefile("rb").read(2) != b"go":
            raise TimeoutError("the test never released this asset")
'''

    def __init__(self) -> None:
        import socket
        import threading

        self._events: dict = {}
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def code(self, pipeline: str) -> str:
        """``pipeline`` with the client and this gate's port."""
        return self.CLIENT + pipeline.replace("GATE_PORT", str(self.port))

    def release(self, name: str) -> None:
        """Let every asset waiting (or yet to wait) at ``name`` go on."""
        self._event(name, "open").set()

    def shut(self, name: str) -> None:
        """Make the next asset that reaches ``name`` wait again (and :meth:`arrived` wait for it)."""
        self._event(name, "open").clear()
        self._event(name, "arrived").clear()

    def arrived(self, name: str, timeout: float = 120.0) -> bool:
        """Whether an asset reached ``name`` within ``timeout`` seconds."""
        return self._event(name, "arrived").wait(timeout)

    def close(self) -> None:
        self._server.close()

    def _event(self, name: str, kind: str) -> Any:
        import threading

        with self._lock:
            return self._events.setdefault((name, kind), threading.Event())

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._admit, args=(conn,), daemon=True).start()

    def _admit(self, conn: Any) -> None:
        with conn:
            name = conn.makefile("rb").readline().decode().strip()
            self._event(name, "arrived").set()
            if self._event(name, "open").wait(120):
                conn.sendall(b"go")
