"""The code version and config of an op, as its invocations' provenance uses them."""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from datamake.core.errors import ConfigError
from datamake.core.hashing import hash_value
from datamake.define.codeversion import fingerprint
from datamake.ops.definition import OpDef
from datamake.project import assetconfig


class OpVersions:
    """Code versions of ops (cached per op), followed through helpers like an asset's.

    An op's version covers its function and the helpers it calls, its config
    class, the versions of the resources it uses that declare one, and its
    outputs' IO managers; ``@op(code_version=...)`` replaces the automatic part.
    """

    def __init__(self, roots: Iterable[str], resource_versions: Mapping[str, Optional[str]],
                 config: Optional[Mapping[str, Mapping[str, Any]]] = None):
        self.roots = tuple(roots)
        self.resource_versions = resource_versions
        self.config_values = dict(config or {})
        self._versions: Dict[int, str] = {}
        self._configs: Dict[int, Tuple[Mapping[str, Any], Optional[str]]] = {}
        self.warnings: Dict[str, Tuple[str, ...]] = {}

    def code_version(self, op: OpDef) -> str:
        found = self._versions.get(id(op))
        if found is None:
            fp = fingerprint(op.fn, self.roots)
            self.warnings[op.name] = fp.warnings
            logic = op.code_version if op.code_version is not None else fp.version
            config_part = fingerprint(op.config, self.roots).version if op.config is not None else None
            resources = sorted([r, self.resource_versions.get(r)] for r in op.resources)
            outs = sorted([n, o.io_manager, type(o).__name__] for n, o in op.outs)
            found = self._versions[id(op)] = hash_value("op-code", logic, config_part, resources, outs)[:16]
        return found

    def config(self, op: OpDef) -> Tuple[Mapping[str, Any], Optional[str]]:
        """(field values, hash) of the op's config; ({}, None) for an op without config."""
        found = self._configs.get(id(op))
        if found is None:
            values = self.config_values.get(op.name, {})
            if op.config is None:
                if values:
                    raise ConfigError(f"config given for op '{op.name}', which declares no config=",
                                      hint=f"add @op(config=SomeDataclass) to '{op.name}' or remove the values")
                found = ({}, None)
            else:
                try:
                    instance, digest = assetconfig.resolve(op.config, op.name, {}, values)
                except ConfigError as exc:  # the same checks as an asset's config, told about an op
                    raise ConfigError(exc.message.replace(f"config of asset '{op.name}'", f"config of op '{op.name}'"),
                                      hint=f"give it in the job's config= (or run_graph(config=...)), or with "
                                           f"datamake run JOB --config {op.name}.FIELD=VALUE") from None
                found = ({f: getattr(instance, f) for f in instance.__dataclass_fields__}, digest)
            self._configs[id(op)] = found
        return found
