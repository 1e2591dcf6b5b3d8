"""What a job over assets covers, checked against a project's assets; errors name the job."""
from __future__ import annotations

from typing import Container, Iterable, Set

from datamake.core.errors import ConfigError, SelectionError
from datamake.jobs.definition import Job
from datamake.selection import Universe, around, evaluate, parse


def job_selection(job: Job, universe: Universe) -> Set[str]:
    """The keys ``job``'s selection names; an error (exit 2) when a part of it or all of it names nothing."""
    text = job.selection_text
    try:
        keys = evaluate(parse(text), universe, text)
    except SelectionError as exc:
        raise SelectionError(f"job '{job.name}': {exc.message}", hint=exc.hint) from None
    if not keys:
        raise SelectionError(f"job '{job.name}': its selection '{text}' names no asset",
                             hint="`datamake ls SELECTION` shows what a selection names; fix the job's selection=")
    return keys


def check_config(job: Job, universe: Universe, selected: Set[str], configured: Iterable[str],
                 configurable: Container[str]) -> None:
    """Config may be given only for assets a run of ``job`` makes (its selection and their upstream)
    that declare ``config=`` (``configurable``)."""
    covered = around(universe, selected, up=None)
    for key in sorted(configured):
        if key not in covered:
            where = "config for an asset" if key in universe else "config for"
            raise ConfigError(f"job '{job.name}': {where} '{key}', which is outside the job "
                              f"(it makes {_sample(selected)} and their upstream)",
                              hint=f"remove '{key}' from the job's config= or --config, or add it to the job's selection")
        if key not in configurable:
            raise ConfigError(f"job '{job.name}': config for '{key}', which declares no config=",
                              hint=f"remove '{key}' from the job's config= or --config, or add @asset(config=...) to it")


def _sample(keys: Set[str], n: int = 3) -> str:
    shown = sorted(keys)[:n]
    return ", ".join(shown) + (f" and {len(keys) - n} more" if len(keys) > n else "")
