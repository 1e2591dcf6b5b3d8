"""What a schedule or sensor runs: a selection of assets, or a job (launched as ``datamake run NAME``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from datamake.core.errors import DefinitionError


@dataclass(frozen=True)
class Target:
    """A selection (``("daily_sales", "group:reports")``) or the name of a job."""

    selection: Tuple[str, ...] = ()
    job: Optional[str] = None

    def command(self, partitions: Sequence[str] = ()) -> Tuple[str, ...]:
        """The ``datamake`` arguments that run this target (for ``partitions``, when given)."""
        part = ("-p", ",".join(partitions)) if partitions else ()
        if self.job is not None:
            return ("run", self.job, *part)
        return ("make", *self.selection, *part)

    def describe(self) -> str:
        return f"job {self.job}" if self.job is not None else " ".join(self.selection) or "every asset"


def as_target(target: Any, who: str) -> Target:
    """A :class:`Target` from a selection string, a list of them, an ``@asset``, or a job.

    A job is any object with ``name`` and ``selection`` attributes (``datamake.job(...)``).
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        return Target(selection=(target,))
    key = getattr(target, "key", None)
    if isinstance(key, str):  # an @asset or a source(): its key
        return Target(selection=(key,))
    name = getattr(target, "name", None)
    if isinstance(name, str) and hasattr(target, "selection"):
        return Target(job=name)
    if isinstance(target, (list, tuple)) and target:
        return Target(selection=tuple(s for t in target for s in as_target(t, who).selection))
    raise DefinitionError(f"{who}: target {target!r} is neither a selection, an asset nor a job",
                          hint="give a selection such as 'daily_sales' or ['group:reports'], or a datamake.job(...)")


__all__ = ["Target", "as_target"]
