"""Shared fixtures: temporary projects and a CLI runner that uses the installed package."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.s3server"]  # s3_server, s3_bucket, moto_process: a real S3 API on loopback

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path)
