"""The manifest: the record of one materialization, as a plain value."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Tuple

FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    """What one materialization produced and what it was built from.

    ``artifact`` is the content hash the bytes are stored under; ``data_version``
    equals it unless the asset returned its own data version.
    """

    key: str
    code_version: str
    provenance: str
    data_version: str
    artifact: str
    size: int
    io_manager: str
    inputs: Tuple[Tuple[str, str], ...] = ()
    config_hash: Optional[str] = None
    partition: Optional[str] = None
    run_id: Optional[str] = None
    created: Optional[float] = None
    seconds: Optional[float] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    code_parts: Mapping[str, str] = field(default_factory=dict)

    @property
    def input_versions(self) -> Dict[str, str]:
        return dict(self.inputs)

    def to_json(self) -> bytes:
        data = {f: getattr(self, f) for f in _FIELDS}  # not asdict(): it deep-copies every value
        data["inputs"] = [list(pair) for pair in self.inputs]
        data["metadata"] = dict(self.metadata)
        data["code_parts"] = dict(self.code_parts)
        data["format"] = FORMAT
        return json.dumps(data, sort_keys=True, indent=1, default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        """Parse a manifest; raises ValueError on anything malformed."""
        try:
            data = json.loads(raw)
            data.pop("format", None)
            data["inputs"] = tuple((str(k), str(v)) for k, v in data.get("inputs", ()))
            return cls(**data)
        except (TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed manifest: {exc}") from None

    def replace(self, **changes: Any) -> "Manifest":  # noqa: D102
        values = {**asdict(self), **changes}
        values["inputs"] = tuple(tuple(p) for p in values["inputs"])
        return Manifest(**values)


_FIELDS = tuple(f.name for f in fields(Manifest))
