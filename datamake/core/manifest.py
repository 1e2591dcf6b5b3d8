"""The manifest: the record of one materialization, as a plain value."""
from __future__ import annotations

import binascii
import functools
import json
from sys import intern
from typing import Any, Dict, Mapping, Optional, Set, Tuple, Union

from datamake.core.hashing import hash_bytes, json_string as _quoted, record_json
from datamake.core.records import MISSING, field, record, record_fields

FORMAT = 2  # 2: check results in ``checks``; format 1 kept them in the metadata
_FORMAT_1_CHECKS = "datamake/checks"


@record(frozen=True)
class Manifest:
    """What one materialization produced and what it was built from.

    ``artifact`` is the content hash the bytes are stored under; ``data_version``
    equals it unless the asset returned its own data version. ``metadata`` is the
    user's own (and table facts); ``checks`` holds the results of the asset's checks.
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
    checks: Tuple[Mapping[str, Any], ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)  # the config's field values, as JSON
    inline: Optional[str] = None  # a small artifact's bytes (base64), kept here instead of in a file
    # project files the asset read without declaring them: (path relative to the project, version read)
    reads: Tuple[Tuple[str, str], ...] = ()

    @property
    def input_versions(self) -> Dict[str, str]:
        return dict(self.inputs)

    def inline_bytes(self) -> Optional[bytes]:
        """The artifact's bytes when they are kept in the manifest (None when they are in a file;
        ``b""`` never stands for "not inline"). Raises ValueError when the text is not base64."""
        if self.inline is None:
            return None
        import base64  # lazy: only a manifest read back (writing one needs binascii alone)

        try:
            return base64.b64decode(self.inline, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"inline value of '{self.key}' is not base64: {exc}") from None

    @functools.cached_property
    def inline_intact(self) -> bool:
        """True when the inline bytes have the recorded size and hash to the artifact's content hash.

        Checked once per manifest object (it is immutable): a long-lived process that keeps parsed
        manifests (the daemon) does not hash the same bytes every pass."""
        try:
            data = self.inline_bytes()
        except ValueError:
            return False
        return data is not None and len(data) == self.size and hash_bytes(data) == self.artifact

    def to_json(self) -> bytes:
        # compact: the C encoder (an indented dump runs the pure-Python one, three times slower)
        return self.record_text().encode()

    def record_text(self) -> str:
        """``record_json(self.to_data())``, the text a pack holds: for a manifest whose only mapping is its
        code parts (most), written field by field (:meth:`_plain_text`), the encoder's set-up per key not paid."""
        if not (self.metadata or self.checks or self.config or self.reads):
            try:
                return self._plain_text()
            except (TypeError, ValueError):  # a field of another type than its own: the encoder writes it
                pass
        return record_json(self.to_data())

    def _plain_text(self) -> str:
        """The text of a manifest without metadata, checks, config or reads, its keys in sorted order: strings
        escaped by json's own function, numbers written as the encoder writes them. TypeError or ValueError
        for a field of another type (a number given as text, no time, a NaN), left to the encoder."""
        created, seconds, size = self.created, self.seconds, self.size
        if not (type(created) is float and type(seconds) is float and type(size) is int
                and created - created == 0.0 == seconds - seconds):  # (a NaN or an infinity: spelt otherwise)
            raise TypeError("not the usual numbers")
        parts = self.code_parts
        code_parts = ",".join([f"{_quoted(k)}:{_quoted(v)}" for k, v in (sorted(parts.items()) if len(parts) > 1
                                                                          else parts.items())])
        inputs = ",".join([f"[{_quoted(k)},{_quoted(v)}]" for k, v in self.inputs])
        inline = "" if self.inline is None else f',"inline":{_quoted(self.inline)}'
        config_hash, partition, run_id = self.config_hash, self.partition, self.run_id
        return (f'{{"artifact":{_quoted(self.artifact)},"checks":[],"code_parts":{{{code_parts}}},'
                f'"code_version":{_quoted(self.code_version)},'
                f'"config_hash":{"null" if config_hash is None else _quoted(config_hash)},'
                f'"created":{float.__repr__(created)},"data_version":{_quoted(self.data_version)},"format":{FORMAT}'
                f'{inline},"inputs":[{inputs}],"io_manager":{_quoted(self.io_manager)},"key":{_quoted(self.key)},'
                f'"metadata":{{}},"partition":{"null" if partition is None else _quoted(partition)},'
                f'"provenance":{_quoted(self.provenance)},"run_id":{"null" if run_id is None else _quoted(run_id)},'
                f'"seconds":{float.__repr__(seconds)},"size":{int.__repr__(size)}}}')

    def to_data(self) -> Dict[str, Any]:
        """The manifest as plain JSON values (what :meth:`to_json` encodes)."""
        data = {f: getattr(self, f) for f in _FIELDS}  # not asdict(): it deep-copies every value
        data["inputs"] = [list(pair) for pair in self.inputs]
        data["metadata"] = dict(self.metadata)
        data["code_parts"] = dict(self.code_parts)
        data["checks"] = [dict(c) for c in self.checks]
        if self.config:  # written only when there is one: manifests without config keep their bytes
            data["config"] = dict(self.config)
        else:
            del data["config"]
        if self.inline is None:  # written only when there is one: manifests of stored files keep their bytes
            del data["inline"]
        if self.reads:  # written only when there are some: the other manifests keep their bytes
            data["reads"] = [list(pair) for pair in self.reads]
        else:
            del data["reads"]
        data["format"] = FORMAT
        return data

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        """Parse a manifest; raises ValueError on anything malformed, valid JSON of the wrong shape included."""
        return cls._from_checked(decode(raw))

    @classmethod
    def from_data(cls, data: Any) -> "Manifest":
        """A manifest from its decoded JSON (as :meth:`to_data` gives); ValueError when malformed."""
        return cls._from_checked(checked(data))

    @classmethod
    def _from_checked(cls, data: Dict[str, Any]) -> "Manifest":
        """Build from a decoded manifest whose shape :func:`_shape_problem` accepted.

        A no-op reads every manifest, so this skips the frozen dataclass's
        ``__init__`` (one ``object.__setattr__`` per field) and shares the strings
        that repeat across manifests (upstream keys, part names, the run id).
        """
        values = dict(_DEFAULTS, metadata={}, code_parts={}, config={})
        values.update(data)
        values["inputs"] = tuple((intern(k), v) for k, v in data.get("inputs", ()))
        values["checks"] = tuple(data.get("checks", ()))
        if "reads" in data:
            values["reads"] = tuple(tuple(pair) for pair in data["reads"])
        for name in ("key", "io_manager", "run_id"):
            if values[name] is not None:
                values[name] = intern(values[name])
        if values["code_parts"]:
            values["code_parts"] = {intern(k): v for k, v in values["code_parts"].items()}
        manifest = object.__new__(cls)
        manifest.__dict__.update(values)
        return manifest

    def replace(self, **changes: Any) -> "Manifest":  # noqa: D102
        from dataclasses import asdict  # deep copies as before; no plain make replaces a manifest
        values = {**asdict(self), **changes}
        values["inputs"] = tuple(tuple(p) for p in values["inputs"])
        values["checks"] = tuple(values["checks"])
        values["reads"] = tuple(tuple(p) for p in values["reads"])
        return Manifest(**values)


def inline_text(data: bytes) -> str:
    """How a manifest keeps a small artifact's bytes (:attr:`Manifest.inline`)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")  # base64.b64encode, without importing base64


def decode(raw: Union[bytes, str]) -> Dict[str, Any]:
    """A manifest's fields as JSON decodes them (fields left at their default may be absent), once its shape
    is checked; ValueError on anything malformed. :meth:`Manifest.from_json` builds the value from this."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed manifest: {exc}") from None
    return checked(data)


class NewerManifest(ValueError):
    """A manifest a newer datamake wrote: not to be trusted here (its fields may mean more), nor deleted."""


def checked(data: Any) -> Dict[str, Any]:
    """Decoded manifest JSON once its shape is checked, format-1 check results moved. ValueError when
    malformed; :class:`NewerManifest` when of a newer format, even one whose fields all look known."""
    problem = _shape_problem(data)
    if problem:
        raise _newer(data) or ValueError(f"malformed manifest: {problem}")
    version = data.pop("format", 1)
    if version == 1:
        _checks_out_of_metadata(data)
    elif version > FORMAT:
        raise _newer(dict(data, format=version))
    return data


def _newer(data: Any) -> Optional[NewerManifest]:
    """NewerManifest when decoded manifest JSON says it is of a newer format than this datamake reads."""
    if type(data) is dict and type(data.get("format")) is int and data["format"] > FORMAT:
        return NewerManifest(f"written by a newer datamake (manifest format {data['format']}, this one reads "
                             f"{FORMAT}): upgrade datamake to use it")
    return None


def config_record(values: Mapping[str, Any]) -> Dict[str, Any]:
    """Config field values as a manifest records them: JSON (anything else by its ``str``)."""
    return json.loads(json.dumps(dict(values), sort_keys=True, default=str)) if values else {}


def _checks_out_of_metadata(data: Dict[str, Any]) -> None:
    """A format-1 manifest: move its check results from the metadata to ``checks``."""
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get(_FORMAT_1_CHECKS), list):
        data["metadata"] = {k: v for k, v in metadata.items() if k != _FORMAT_1_CHECKS}
        data["checks"] = [c for c in metadata[_FORMAT_1_CHECKS] if type(c) is dict]


_FIELDS = tuple(f.name for f in record_fields(Manifest))
_DEFAULTS = {f.name: f.default for f in record_fields(Manifest) if f.default is not MISSING}


_STR = frozenset({str})
_OPT_STR = frozenset({str, type(None)})
_NUMBER = frozenset({int, float, type(None)})
_TYPES = {"key": _STR, "code_version": _STR, "provenance": _STR, "data_version": _STR, "artifact": _STR,
          "size": frozenset({int}), "io_manager": _STR, "inputs": frozenset({list}), "config_hash": _OPT_STR,
          "partition": _OPT_STR, "run_id": _OPT_STR, "created": _NUMBER, "seconds": _NUMBER,
          "metadata": frozenset({dict}), "code_parts": frozenset({dict}), "checks": frozenset({list}),
          "config": frozenset({dict}), "format": frozenset({int}), "inline": _OPT_STR, "reads": frozenset({list})}
_REQUIRED = frozenset(f.name for f in record_fields(Manifest) if f.default is MISSING and f.default_factory is MISSING)
_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object",
               type(None): "null"}


def _shape_problem(data: Any) -> Optional[str]:
    """What is wrong with a decoded manifest's shape, or None: the one place that checks it.

    Exact types (a JSON decoder makes no subclasses; ``true`` is no size): this runs for every manifest
    a no-op ``make`` reads."""
    if type(data) is not dict:
        return f"expected a JSON object, found {_JSON_NAMES.get(type(data), type(data).__name__)}"
    shape = (tuple(data), tuple(map(type, data.values())))  # the fields and their types decide what follows
    if shape not in _GOOD_SHAPES:
        problem = _fields_problem(data)
        if problem:
            return problem
        if len(_GOOD_SHAPES) < 256:
            _GOOD_SHAPES.add(shape)
    for field, what in _PAIRS:
        for pair in data.get(field, ()):
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
                return f"{field} holds {json.dumps(pair)[:40]}, expected [{what}] pairs of strings"
    for value in data.get("code_parts", {}).values():
        if type(value) is not str:
            return f"code_parts holds {json.dumps(value)[:40]}, expected strings"
    for value in data.get("checks", ()):
        if type(value) is not dict:
            return f"checks holds {json.dumps(value)[:40]}, expected objects"
    return None


_PAIRS = (("inputs", "key, data version"), ("reads", "path, version"))
_GOOD_SHAPES: Set[Tuple[Tuple[str, ...], Tuple[type, ...]]] = set()  # (field names, their types) found well-formed


def _fields_problem(data: Dict[str, Any]) -> Optional[str]:
    """What is wrong with a decoded manifest's fields (required, known, of their types), or None."""
    if not _REQUIRED <= data.keys():
        return f"missing {', '.join(sorted(_REQUIRED - data.keys()))}"
    for name, value in data.items():
        types = _TYPES.get(name)
        if types is None:
            return f"unknown field {name!r}"
        if type(value) not in types:
            expected = " or ".join(sorted(_JSON_NAMES[t] for t in types))
            return f"{name} is {json.dumps(value)[:40]}, expected {expected}"
    return None
