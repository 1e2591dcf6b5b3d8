"""Starting queued runs as separate processes, and noticing when they end.

Each run is ``datamake -C PROJECT ARGS`` (``make SELECTION`` or ``run JOB``) through the
:mod:`~datamake.automation.runtime.child` entry point, with ``DATAMAKE_RUN_TAGS`` set so that
``datamake log`` shows where it came from. Its output goes to a log file per run under the
daemon's folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional

from datamake.automation.runtime.state import State
from datamake.history.tags import ENV_VAR, environment_tags
from datamake.storage.liveness import process_gone

MAX_ATTEMPTS = 3  # a run whose process dies before it can start is given up (done, with its exit code) after this

class Launcher:
    """Starts runs of one project; keeps the ``Popen`` of those it started, to reap them."""

    def __init__(self, project_dir: str, db: str, log_dir: str):
        self.project_dir, self.db, self.log_dir = project_dir, db, log_dir
        self.children: Dict[str, subprocess.Popen] = {}
        self.attempts: Dict[str, int] = {}  # launches of a run whose process died before claiming it
        self.own_tags = environment_tags()  # the daemon's own (a launcher around the launcher): its runs get them too

    def launch(self, state: State, run: Mapping[str, Any]) -> bool:
        """Start one queued run; False when another launcher got it first."""
        if run["status"] == "queued" and not state.mark(run["run_key"], "launching", expect="queued"):
            return False
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(os.environ)
        env[ENV_VAR] = json.dumps({**self.own_tags, **run["tags"]}, sort_keys=True)
        argv = [sys.executable, "-m", "datamake.automation.runtime.child", self.db, run["run_key"],
                "-C", self.project_dir, *run["argv"]]
        with open(os.path.join(self.log_dir, _log_name(run["run_key"])), "ab") as out:
            self.children[run["run_key"]] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                                             stderr=subprocess.STDOUT, env=env,
                                                             start_new_session=True)
        return True

    def settle(self, state: State, runs: List[Mapping[str, Any]], now: Optional[float] = None) -> List[Dict[str, Any]]:
        """Mark ended runs ``done`` (with their exit code where known); returns them."""
        ended = []
        for run in runs:
            code = self._ended(run)
            if code is False:
                continue
            if code is None:  # started by an earlier daemon: its outcome is in the event log
                code = _exit_code(state, run)
            state.mark(run["run_key"], "done", finished=now or time.time(), exit_code=code)
            ended.append({**run, "exit_code": code})
        return ended

    def _ended(self, run: Mapping[str, Any]) -> Any:
        """False while it runs (or must be launched again); its exit code (None when unknown) once it ended."""
        child = self.children.get(run["run_key"])
        if child is not None:
            if child.poll() is None:
                return False
            del self.children[run["run_key"]]
            if run["pid"] == child.pid:
                return child.returncode
            if run["status"] == "launching":  # it died before it could claim the run: launch it again
                self.attempts[run["run_key"]] = self.attempts.get(run["run_key"], 0) + 1
                return child.returncode if self.attempts[run["run_key"]] >= MAX_ATTEMPTS else False
            # it lost the claim to a child of an earlier daemon, which runs the request
        if run["status"] == "running":
            return None if process_gone(run["host"], run["pid"]) else False
        return False


def _exit_code(state: State, run: Mapping[str, Any]) -> Optional[int]:
    row = state.conn.execute("SELECT status FROM runs WHERE pid = ? AND host = ? AND started >= ? "
                             "ORDER BY started LIMIT 1", (run["pid"], run["host"], (run["launched"] or 0) - 1)).fetchone()
    return None if row is None else 0 if row[0] == "ok" else 1


def _log_name(run_key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_key)
    return f"{safe[:120]}.log"


__all__ = ["Launcher"]
