"""A file's text at another git revision (``git show REV:path``), for comparing params and metrics."""
from __future__ import annotations

import subprocess
from typing import Optional

from datamake.core.errors import DatamakeError


def text_at(directory: str, rev: str, path: str) -> Optional[str]:
    """``path`` (relative to ``directory``) as it was at ``rev``; None when it did not exist there."""
    check_revision(directory, rev)
    proc = _git(directory, "show", f"{rev}:./{path}")
    return proc.stdout if proc.returncode == 0 else None


def check_revision(directory: str, rev: str) -> None:
    """Raise a DatamakeError naming the problem when ``directory`` is not in git or ``rev`` is unknown."""
    inside = _git(directory, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0:
        raise DatamakeError(f"{directory} is not in a git repository, so there is no revision {rev} to compare with",
                            hint="run it in a git checkout, or compare with a run: --run RUN_ID")
    if _git(directory, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise DatamakeError(f"unknown git revision '{rev}'", hint="give a commit, branch or tag, e.g. HEAD~1")


def _git(directory: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True)
    except FileNotFoundError:
        raise DatamakeError("git is not installed", hint="install git to compare with a revision") from None
