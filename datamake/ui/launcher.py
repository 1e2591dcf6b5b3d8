"""Runs launched from the page: each one a ``datamake make`` process, as if typed in a terminal.

The process gets ``DATAMAKE_RUN_TAGS={"origin": "ui"}`` so that the event log
marks its run, and its own process group, so that Cancel is exactly Ctrl-C
(SIGINT to the group: running assets finish, nothing half-written is kept).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from datamake.history.tags import ENV_VAR, environment_tags

OUTPUT_LIMIT = 64 * 1024  # the tail of a launch's output shown on the page
UI_TAGS = {"origin": "ui"}


@dataclass
class Launch:
    """One ``datamake make`` process started from the page."""

    id: str
    argv: List[str]
    proc: subprocess.Popen
    log_path: str
    started: float = field(default_factory=time.time)
    cancelled: bool = False

    def to_dict(self) -> Dict[str, Any]:
        code = self.proc.poll()
        return {"id": self.id, "pid": self.proc.pid, "command": " ".join(["datamake", *self.argv[5:]]),
                "started": self.started, "running": code is None, "returncode": code,
                "cancelled": self.cancelled, "output": self.output()}

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(self.log_path) - OUTPUT_LIMIT))
            return f.read().decode("utf-8", "replace")


class Launcher:
    """Starts, lists and cancels the launches of one server."""

    def __init__(self, project_dir: str):
        self.project_dir = os.path.abspath(project_dir)
        self.launches: Dict[str, Launch] = {}
        self._ids = itertools.count(1)
        self._folder = tempfile.mkdtemp(prefix="datamake-ui-")

    def start(self, selection: Sequence[str], force: bool = False, partition: Optional[str] = None) -> Launch:
        """``datamake make [-B] [-p PARTITION] -- SELECTION...`` in a new process group."""
        argv = [sys.executable, "-m", "datamake", "-C", self.project_dir, "make"]
        argv += ["-B"] if force else []
        argv += ["-p", partition] if partition else []
        argv += ["--", *selection]  # a selection is never read as an option
        launch_id = str(next(self._ids))
        log_path = os.path.join(self._folder, f"launch-{launch_id}.log")
        env = {**os.environ, ENV_VAR: json.dumps(_tags()), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.project_dir, env=env, start_new_session=True)
        launch = self.launches[launch_id] = Launch(launch_id, argv, proc, log_path)
        return launch

    def cancel(self, launch: Launch) -> None:
        """Ctrl-C: SIGINT to the launch's process group."""
        if launch.proc.poll() is None:
            launch.cancelled = True
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                os.killpg(launch.proc.pid, signal.SIGINT)

    def close(self, timeout: float = 10.0) -> None:
        """Interrupt what still runs (as Ctrl-C would) and wait for it, at most ``timeout`` seconds."""
        running = [launch for launch in self.launches.values() if launch.proc.poll() is None]
        for launch in running:
            self.cancel(launch)
        deadline = time.monotonic() + timeout
        for launch in running:
            try:
                launch.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # it has just exited
                    os.killpg(launch.proc.pid, signal.SIGKILL)
        shutil.rmtree(self._folder, ignore_errors=True)


def _tags() -> Dict[str, Any]:
    """The run tags of a launch: the server's own ``DATAMAKE_RUN_TAGS`` (a bad one is the user's error,
    as for ``datamake make``) and ``origin: ui``."""
    return {**environment_tags(), **UI_TAGS}
