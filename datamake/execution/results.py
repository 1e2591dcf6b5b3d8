"""Plain, picklable values describing what happened to each asset in a run."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from datamake.core.keys import index_by_node
from datamake.core.records import field, record

if TYPE_CHECKING:  # a run of assets without checks never loads the checks module
    from datamake.define.checks import CheckOutcome

OUTCOMES = ("built", "cached", "skipped", "failed", "blocked")


_BROKEN = frozenset(("failed", "blocked"))  # the outcomes that make a run not ok

@record(frozen=True)
class TaskResult:
    """What a worker reports back after running one asset function."""

    key: str
    ok: bool
    artifact: Optional[str] = None
    data_version: Optional[str] = None
    size: int = 0
    io_manager: Optional[str] = None
    seconds: float = 0.0
    error: Optional[str] = None
    traceback: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # the user's own and table facts, as recorded
    attempts: int = 1
    checks: Tuple[CheckOutcome, ...] = ()  # the asset's checks, run on the new value
    logs: Tuple[str, ...] = ()  # what the asset logged through ``context.log`` (for the event log)
    # project files it read without declaring them as sources: (path in the project, version read)
    undeclared_reads: Tuple[Tuple[str, str], ...] = ()
    # project files it wrote (paths in the project), which other assets may read
    wrote: Tuple[str, ...] = ()
    # what its value depends on that datamake cannot version: (kind, sentence), kind "network", "memo"...
    warnings: Tuple[Tuple[str, str], ...] = ()
    artifact_stat: Optional[Any] = None  # how the new artifact looked when written (``Store.written_stat``)
    corrupt_inputs: Tuple[str, ...] = ()  # failed because these inputs failed their hash check: rebuild them
    inline: Optional[bytes] = None  # a small value's bytes, for its manifest to keep (no artifact file)


@record(frozen=True)
class AssetOutcome:
    """One asset's outcome in a run (an element of ``make --json``'s ``assets``)."""

    key: str
    outcome: str
    partition: Optional[str] = None
    data_version: Optional[str] = None
    seconds: float = 0.0
    error: Optional[str] = None
    reasons: Tuple[str, ...] = ()
    traceback: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "key": self.key,
            "partition": self.partition,
            "outcome": self.outcome,
            "data_version": self.data_version,
            "seconds": round(self.seconds, 6),
            "error": self.error,
        }


@record(frozen=True)
class RunResult:
    """The whole run: its id, whether everything asked for is up to date, and each outcome."""

    run_id: str
    assets: Tuple[AssetOutcome, ...]
    seconds: float = 0.0
    interrupted: bool = False
    # node -> its current manifest at the end of the run, as the coordinator committed or kept it
    manifests: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _index: Dict[str, AssetOutcome] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", index_by_node(self.assets))

    @property
    def ok(self) -> bool:
        return not self.interrupted and _BROKEN.isdisjoint([a.outcome for a in self.assets])

    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for a in self.assets:
            counts[a.outcome] += 1
        return counts

    def to_dict(self) -> Dict[str, Any]:
        return {"run_id": self.run_id, "ok": self.ok, "assets": [a.to_dict() for a in self.assets]}

    def __getitem__(self, key: str) -> AssetOutcome:
        """The outcome for ``key`` (an asset key, or a node id ``key[partition]``)."""
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in this run") from None

    def keys(self, outcome: str) -> List[str]:
        return [a.key for a in self.assets if a.outcome == outcome]
