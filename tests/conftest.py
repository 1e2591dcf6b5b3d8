"""Shared fixtures: temporary projects and a CLI runner that uses the installed package.

``project`` runs every command in a new ``python -m datamake`` process. A test module whose
tests need no real process (they check messages, output and outcomes, not signals, locks,
crashes or concurrency) overrides it with ``inprocess_project``: the same commands through
click's test runner in this process, about a third of a second faster each. There, a test
that needs a real process asks for ``process_project``, or calls ``run_process`` for one command.
"""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.s3server"]  # s3_server, s3_bucket, moto_process: a real S3 API on loopback

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    """The suite keeps datamake's machine-local caches in a folder of its own (shared by the xdist
    workers, which inherit it), not in the cache of the user who runs the tests."""
    if "DATAMAKE_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["DATAMAKE_CACHE_DIR"] = config._datamake_test_cache = tempfile.mkdtemp(prefix="datamake-test-cache-")
    # Ctrl-C, as the tests send it to the processes they start: a suite started in the background by a
    # script (no job control) ignores SIGINT, and every process it starts would inherit that and ignore
    # the tests' Ctrl-C too (a launch cancelled from the web UI waited for ever).
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config):
    """The suite's cache folder goes with the session that made it (xdist workers inherit it: they keep it)."""
    made = getattr(config, "_datamake_test_cache", None)
    if made is not None:
        import shutil

        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("DATAMAKE_CACHE_DIR", None)


# Modules whose tests run on one pytest-xdist worker (``-n``): the browser tests share one Chromium,
# and the tour's tests pick up its project where the one before left it.
ONE_WORKER = {"tests/test_ui_browser.py": "browser"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``-n``'s default ``--dist load`` (or ``loadgroup``), with ONE_WORKER's modules as groups.

    Grouped by path here, in the controller, not with ``xdist_group`` marks: pytest 9.2 drops the
    ``@group`` suffix xdist gives those tests' ids (pytest-dev/pytest-xdist#1386), scattering them.
    """
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return ONE_WORKER.get(nodeid.split("::", 1)[0]) or super()._split_scope(nodeid)

    return ModuleGroups(config, log)


class ProjectDir:
    """A throwaway datamake project on disk, driven through the real `datamake` command."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def pipeline(self, source: str, toml_extra: str = "") -> None:
        self.write("pipeline.py", source)
        self.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n' + textwrap.dedent(toml_extra))

    def run(self, *args: str, check: bool = False, cwd: Path = None, env: dict = None) -> subprocess.CompletedProcess:
        return self.run_process(*args, check=check, cwd=cwd, env=env)

    def run_process(self, *args: str, check: bool = False, cwd: Path = None,
                    env: dict = None) -> subprocess.CompletedProcess:
        """``datamake ARGS`` in a new process."""
        proc = subprocess.run(
            [sys.executable, "-m", "datamake", *args],
            cwd=cwd or self.root, capture_output=True, text=True, timeout=240,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"datamake {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str, expect: int = 0) -> dict:
        proc = self.run(*args, "--json")
        assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout)

    def outcomes(self, *args: str, expect: int = 0) -> dict:
        return {a["key"]: a["outcome"] for a in self.json("make", *args, expect=expect)["assets"]}

    def states(self, *args: str) -> dict:
        return {a["key"]: a["state"] for a in self.json("status", *args)["assets"]}


class InProcessProjectDir(ProjectDir):
    """A ProjectDir whose ``run`` calls the `datamake` command in this process, as a fresh process would.

    Each call imports the project's code afresh and leaves none of it behind (``sys.modules``,
    ``sys.path``, ``sys.argv``, the working directory), so tests do not depend on their order. What the
    command prints goes to ``stdout``/``stderr``; an exception that escapes the command is
    printed as the interpreter would (a traceback, exit 1).
    """

    def run(self, *args: str, check: bool = False, cwd: Path = None, env: dict = None) -> subprocess.CompletedProcess:
        from click.testing import CliRunner

        from datamake.cli.main import main
        from datamake.define.loader import forget_project_code

        separate = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
        saved_path, saved_argv, saved_cwd = list(sys.path), sys.argv, os.getcwd()
        forget_project_code([str(self.root)])
        os.chdir(cwd or self.root)
        sys.argv = ["datamake", *args]  # the command line the event log records
        try:
            result = CliRunner(**separate).invoke(main, list(args), env=env, prog_name="datamake")
        finally:
            os.chdir(saved_cwd)
            sys.path[:], sys.argv = saved_path, saved_argv
            forget_project_code([str(self.root)])
        code, stderr = result.exit_code, result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            code, stderr = 1, stderr + "".join(traceback.format_exception(*result.exc_info))
        proc = subprocess.CompletedProcess(["datamake", *args], code, result.stdout, stderr)
        if check and code != 0:
            raise AssertionError(f"datamake {' '.join(args)} exited {code}\n{proc.stdout}\n{proc.stderr}")
        return proc


def teammates(tmp_path: Path, source: str, push: str = "auto", kind: type = ProjectDir):
    """Two projects ``a`` and ``b`` of ``source`` sharing the folder ``remote`` as their remote cache;
    ``(remote, [a, b])``."""
    remote = tmp_path / "remote"
    pair = []
    for name in ("a", "b"):
        mate = kind(tmp_path / name)
        mate.root.mkdir()
        mate.pipeline(source, f'[cache]\nremote = "{remote}"\npush = "{push}"\n')
        pair.append(mate)
    return remote, pair


@pytest.fixture(scope="session")
def dask_address():
    """A Dask LocalCluster of two worker processes, one for the whole session (per xdist worker)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=50)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def gate():
    """A :class:`tests.polling.Gate` for this test's assets to wait at."""
    from tests.polling import Gate

    made = Gate()
    yield made
    made.close()


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path)


@pytest.fixture
def process_project(tmp_path: Path) -> ProjectDir:
    """``project`` with every command in a new process, for modules that make ``project`` in-process."""
    return ProjectDir(tmp_path)


@pytest.fixture
def inprocess_project(tmp_path: Path) -> InProcessProjectDir:
    """Like ``project``, with commands run in this process (see the module docstring)."""
    return InProcessProjectDir(tmp_path)
