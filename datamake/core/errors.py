"""Errors datamake raises, one leaf per thing the user can do about it.

::

    DatamakeError                 exit_code 2 unless said otherwise
    ├── ConfigError               a bad datamake.toml or pins file: fix the file
    ├── ProjectNotFoundError      no datamake.toml here or above: cd or pass -C
    ├── DefinitionError           the asset definitions are inconsistent
    │   ├── CycleError            assets depend on each other in a loop
    │   ├── MissingDependencyError  a parameter or dep names no asset
    │   └── DuplicateKeyError     two assets share a key
    ├── DefinitionsImportError    the user's definitions module raised on import
    ├── SelectionError            an unknown asset or group in a selection
    ├── NotMaterializedError      asked for a value that was never built
    ├── ValueTypeError            an asset returned a value its io_manager cannot store (the asset fails)
    └── StoreError                the store is unreachable or holds bad data

Errors raised by an asset's own function are not DatamakeErrors: they are
recorded as the asset's ``failed`` outcome and the run goes on (``-k``) or stops.
"""
from __future__ import annotations

from typing import Iterable, Optional


class DatamakeError(Exception):
    """Base class: a message for the user, an exit code and an optional hint."""

    exit_code = 2

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DatamakeError):
    """A configuration file is malformed or holds a wrong value."""


class ProjectNotFoundError(DatamakeError):
    """No datamake.toml in the directory or any parent."""


class DefinitionError(DatamakeError):
    """The asset definitions contradict each other."""


class CycleError(DefinitionError):
    """Assets depend on each other in a loop."""


class MissingDependencyError(DefinitionError):
    """A parameter or ``deps`` entry names no asset."""


class DuplicateKeyError(DefinitionError):
    """Two assets have the same key."""


class DefinitionsImportError(DatamakeError):
    """The definitions module raised while it was imported."""


class SelectionError(DatamakeError):
    """A selection names an asset or group that does not exist."""


class NotMaterializedError(DatamakeError):
    """A value was asked for that has never been materialized."""

    exit_code = 1


class ValueTypeError(DatamakeError):
    """An asset returned a value of a type its explicit ``io_manager`` does not store: that asset fails."""

    exit_code = 1


class StoreError(DatamakeError):
    """The store could not be read or written."""

    exit_code = 1


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """A 'did you mean X?' hint for a misspelled name, or None."""
    import difflib  # lazy: only for an error, and every command imports this module

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
