"""What one run needs from the project, handed to the coordinator as one frozen value.

The layer above (``datamake.api``) builds it from a loaded project, so the
execution layer never sees the project itself.
"""
from __future__ import annotations

from typing import Any, Mapping

from datamake.core.records import field, record
from datamake.define.assets import Definitions
from datamake.storage.store import Store


@record(frozen=True)
class RunContext:
    """The project facts a run reads: where the code is, the definitions, the store, versions."""

    project_dir: str  # workers in other processes import the definitions from here
    definitions: str  # the definitions file or module, as datamake.toml names it
    defs: Definitions
    store: Store
    resource_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # [resources.NAME]
    resources: Mapping[str, Any] = field(default_factory=dict)  # objects replacing declared resources
    code_parts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # asset key -> recorded parts
    check_versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # asset -> check -> version
