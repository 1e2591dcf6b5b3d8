"""Reading and validating ``datamake.toml``."""
from __future__ import annotations

import importlib.util
import os
from typing import Any, Dict, Iterable, Mapping, Optional

from datamake._paths import CONFIG_NAME, nearest_config
from datamake.core.errors import ConfigError, ProjectNotFoundError, did_you_mean
from datamake.core.executor_names import check_executor
from datamake.core.records import field, record
from datamake.project import tomlcache


_SCHEMA: Dict[str, Dict[str, type]] = {
    "project": {"definitions": str, "name": str, "params": str},
    "storage": {"root": str, "storage_options": dict},
    "execution": {"jobs": int, "executor": str, "address": str},
    "cache": {"remote": str, "storage_options": dict, "push": str},
    "history": {"url": str},
    "daemon": {"max_concurrent_runs": int, "tag_limits": dict, "freshness_interval": int},  # datamake daemon
}
_FREEFORM_TABLES = ("config", "resources")


@record(frozen=True)
class ProjectConfig:
    """The validated contents of one ``datamake.toml``."""

    path: str
    definitions: str
    storage_root: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    jobs: int = 1
    executor: str = "thread"
    dask_address: Optional[str] = None
    cache_remote: Optional[str] = None
    cache_options: Mapping[str, Any] = field(default_factory=dict)
    cache_push: str = "manual"
    history_url: Optional[str] = None
    asset_config: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    params_file: Optional[str] = None  # [project] params: a YAML or TOML file of config sections
    daemon: Mapping[str, Any] = field(default_factory=dict)  # [daemon]: checked by datamake.automation

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


def find_config(start: str) -> str:
    """The nearest ``datamake.toml`` in ``start`` or its parents."""
    found = nearest_config(start)
    if found is None:
        raise ProjectNotFoundError(
            f"no {CONFIG_NAME} in {os.path.abspath(start)} or any parent directory",
            hint=f"run datamake inside a project, pass -C DIR, or create a {CONFIG_NAME} with\n"
            '  [project]\n  definitions = "pipeline.py"',
        )
    return found


def _is_url(path: str) -> bool:
    return "://" in path or "::" in path


def read_toml(path: str, hint: Optional[str] = None) -> Dict[str, Any]:
    """The TOML document in ``path``; ConfigError (naming the file) when it is unreadable,
    not UTF-8 text, or not valid TOML."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded",
            hint="TOML files must be UTF-8: save it with UTF-8 encoding (e.g. in your editor, or with iconv)",
        ) from None
    data = tomlcache.cached(path, raw)
    if data is not None:
        return data
    tomllib = tomlcache.parser()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint=hint) from None
    tomlcache.keep(path, raw, data)
    return data


def load_config(path: str) -> ProjectConfig:
    """Parse and validate ``path``; ConfigError names the file, the key and what was expected."""
    data = read_toml(path, "fix the line it names")
    _validate(path, data)
    base = os.path.dirname(os.path.abspath(path))
    project = data.get("project", {})
    storage = data.get("storage", {})
    execution = data.get("execution", {})
    cache = data.get("cache", {})
    if "definitions" not in project:
        raise ConfigError(
            f"{path}: missing key [project] definitions",
            hint='expected a .py path or a module name, e.g. definitions = "pipeline.py"',
        )
    if not project["definitions"].strip():
        raise ConfigError(
            f"{path}: [project] definitions is empty",
            hint='expected a .py path or a module name, e.g. definitions = "pipeline.py"',
        )
    root = _location(path, "[storage] root", storage.get("root", ".datamake"), base,
                     'expected a folder or an fsspec URL, e.g. root = ".datamake"; or remove the key')
    local_root = _local_path(root)
    if local_root is not None and os.path.exists(local_root) and not os.path.isdir(local_root):
        raise ConfigError(
            f"{path}: [storage] root = {storage.get('root', '.datamake')!r} is a file ({local_root}); "
            "expected a folder for the store",
            hint="point root at a folder (it is created when missing), or move that file away",
        )
    remote = cache.get("remote")
    cache_options = dict(cache.get("storage_options", {}))
    if remote is not None:
        remote = _location(path, "[cache] remote", remote, base,
                           'expected an fsspec URL, e.g. remote = "s3://bucket/datamake"; or remove the key')
        if _local_path(remote) is not None:
            # a local folder (a shared mount) as the remote: fsspec's local filesystem does not
            # create parent folders on write unless asked to
            cache_options.setdefault("auto_mkdir", True)
    jobs = execution.get("jobs", 1)
    if jobs < 1:
        raise ConfigError(f"{path}: [execution] jobs must be 1 or more, got {jobs}")
    executor = check_executor(execution.get("executor", "thread"), f"{path}: [execution] executor")
    push = cache.get("push", "manual")
    if push not in ("manual", "auto"):
        raise ConfigError(f"{path}: [cache] push must be 'manual' or 'auto', got '{push}'")
    return ProjectConfig(
        path=os.path.abspath(path),
        definitions=project["definitions"],
        storage_root=root,
        storage_options=storage.get("storage_options", {}),
        jobs=jobs,
        executor=executor,
        dask_address=execution.get("address"),
        cache_remote=remote,
        cache_options=cache_options,
        cache_push=push,
        history_url=data.get("history", {}).get("url"),
        asset_config=data.get("config", {}),
        resources=data.get("resources", {}),
        params_file=project.get("params"),
        daemon=data.get("daemon", {}),
    )


_LOCAL_PROTOCOLS = ("file", "local")
# fsspec protocols and the pip package that provides each, for an install hint
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs",
             "adl": "adlfs", "hf": "huggingface_hub", "sftp": "paramiko", "ssh": "paramiko", "dropbox": "dropboxdrivefs",
             "oci": "ocifs", "webdav": "webdav4", "dask": "distributed", "smb": "smbprotocol"}
_EXTRAS = {"s3fs": "s3", "gcsfs": "gcs", "distributed": "dask"}


def _protocols(url: str):
    """The protocols of a URL, one per link of a chained URL (``simplecache::s3://b``); '' for a path."""
    out = []
    for link in url.split("::"):
        scheme, sep, _ = link.partition("://")
        out.append(scheme if sep else "")
    return out


def _local_path(url: str) -> Optional[str]:
    """The local path a store URL names, or None when it is not a plain local folder."""
    if "::" in url:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return rest if scheme in _LOCAL_PROTOCOLS else None


def _location(path: str, key: str, value: str, base: str, expected: str) -> str:
    """A store or remote location from the file: not empty, a known protocol, local paths made
    absolute against the folder of datamake.toml and normalized (``../shared``: no ``..`` left)."""
    if not value.strip():
        raise ConfigError(f"{path}: {key} is empty", hint=expected)
    _check_protocol(path, key, value)
    return value if _is_url(value) else os.path.normpath(os.path.join(base, value))


def _check_protocol(path: str, where: str, url: str) -> None:
    """Reject an fsspec protocol that is unknown, or whose package is not installed, when the file loads.

    The backend is not imported (a no-op command must not pay for s3fs): a protocol is known when
    fsspec lists it, and installed when its module can be found.
    """
    protocols = [p for p in _protocols(url) if p]
    if not protocols:
        return  # a plain local path: nothing to import
    from fsspec.registry import known_implementations, registry  # lazy: only a URL pays for importing fsspec

    for protocol in protocols:
        if protocol in registry:
            continue
        impl = known_implementations.get(protocol)
        if impl is None:
            import difflib  # lazy: only for an error

            close = difflib.get_close_matches(protocol, sorted({*known_implementations, *registry}), n=1, cutoff=0.5)
            raise ConfigError(
                f"{path}: {where} = {url!r}: unknown protocol '{protocol}://'",
                hint=(f"did you mean '{close[0]}://'?" if close else None)
                or "expected a local path or an fsspec URL such as s3://bucket/prefix, gs://bucket/prefix or file:///path",
            )
        module = impl["class"].split(".", 1)[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            package = _PACKAGES.get(protocol, module)
            extra = _EXTRAS.get(package)
            how = f"pip install 'datamake[{extra}]' (or pip install {package})" if extra else f"pip install {package}"
            raise ConfigError(
                f"{path}: {where} = {url!r}: the '{protocol}://' protocol needs the package {package}, "
                "which is not installed",
                hint=f"install it: {how}",
            )


def check_resource_settings(config: ProjectConfig, resources: Iterable[str]) -> None:
    """Reject ``[resources.NAME]`` settings for a resource the definitions do not declare."""
    known = list(resources)
    for name in config.resources:
        if name not in known:
            raise ConfigError(
                f"{config.path}: [resources.{name}] configures a resource '{name}' that no resource() declares",
                hint=did_you_mean(name, known)
                or (f"declared resources: {', '.join(sorted(known))}" if known
                    else f'declare it in your definitions with resource("{name}", factory), or remove the table'),
            )


def _validate(path: str, data: Mapping[str, Any]) -> None:
    for table, value in data.items():
        if table in _FREEFORM_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{table}' must be a table ([{table}]), got {toml_kind(value)} {value!r}")
            what = "asset" if table == "config" else "resource"
            for name, item in value.items():
                if not isinstance(item, dict):
                    raise ConfigError(
                        f"{path}: [{table}] {name} must be a table of the {what} '{name}' settings "
                        f"([{table}.{name}]), got {toml_kind(item)} {item!r}",
                        hint=f"write it as\n  [{table}.{name}]\n  setting = value",
                    )
            continue
        if table not in _SCHEMA:
            raise ConfigError(
                f"{path}: unknown table [{table}]",
                hint=did_you_mean(table, [*_SCHEMA, *_FREEFORM_TABLES]) or f"known tables: {', '.join(_SCHEMA)}",
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{table}' must be a table ([{table}])")
        schema = _SCHEMA[table]
        for key, item in value.items():
            if key not in schema:
                raise ConfigError(
                    f"{path}: unknown key '{key}' in [{table}]",
                    hint=did_you_mean(key, schema) or f"known keys: {', '.join(schema)}",
                )
            expected = schema[key]
            if not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
                raise ConfigError(
                    f"{path}: [{table}] {key} must be {_describe(expected)}, got {toml_kind(item)} {item!r}"
                )


def toml_kind(value: Any) -> str:
    """The TOML name of a value's type: ``an integer``, ``a table``…"""
    for t, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
                    (dict, "a table"), (list, "an array")):
        if isinstance(value, t):
            return name
    return type(value).__name__


def _describe(t: type) -> str:
    return {str: "a string", int: "an integer", dict: "a table", bool: "true or false"}.get(t, t.__name__)
