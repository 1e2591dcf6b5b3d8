"""The ``context`` object an asset function receives when it asks for one."""
from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from datamake.core.errors import ValueTypeError
from datamake.core.keys import node_id

if TYPE_CHECKING:  # logging is imported by the first logger made: most assets never log
    import logging


class AssetContext:
    """What an asset knows about its own materialization.

    Attributes: ``asset_key``, ``run_id``, ``partition_key`` (None when not
    partitioned), ``partition_time_window`` (``(start, end)`` aware datetimes
    for a time partition, else None), ``log`` (a :class:`logging.Logger`).
    ``add_metadata(...)`` attaches values to the manifest of this materialization.
    """

    def __init__(self, asset_key: str, run_id: str, partition_key: Optional[str] = None,
                 partition_time_window: Optional[Tuple[Any, Any]] = None):
        self.asset_key = asset_key
        self.run_id = run_id
        self.partition_key = partition_key
        self.partition_time_window = partition_time_window
        self.metadata: Dict[str, Any] = {}
        self._output_dir: Optional[str] = None

    @functools.cached_property
    def log(self) -> logging.Logger:
        """The materialization's logger, made when first used (most assets never log): named with its
        partition, so `make -v` says which partition logged a line."""
        return _own_logger(f"datamake.asset.{node_id(self.asset_key, self.partition_key)}",
                           f"datamake.asset.{self.asset_key}")

    @property
    def output_path(self) -> str:
        """A fresh local path for an asset that writes its own file (a model, a report, any
        format). Write the file there and return None: datamake hashes it as the artifact, and
        downstream assets receive the path of a read-only copy."""
        if self._output_dir is None:
            import tempfile  # lazy: slow to import, and only an asset that writes its own file asks

            self._output_dir = tempfile.mkdtemp(prefix="datamake-output-")
        return os.path.join(self._output_dir, self.asset_key.rsplit("/", 1)[-1])

    def written_for(self, value: Any) -> Optional[str]:
        """The file or folder to store for the returned ``value``: what the asset wrote at
        :attr:`output_path` when it returned None or a path there (``return context.output_path``
        after writing it); None when ``value`` itself is the value."""
        if value is None:
            return self.written_file()
        if self._output_dir is None or not isinstance(value, (str, os.PathLike)):
            return None  # (the common case: no output path asked for: two checks, no call)
        returned = os.path.abspath(os.fspath(value))
        if returned != self._output_dir and not returned.startswith(self._output_dir + os.sep):
            return None  # a path elsewhere is a plain string value
        written = self.written_file()
        if written is None:
            raise ValueTypeError(
                f"asset '{self.asset_key}' returned {returned} (its context.output_path), but wrote nothing there",
                hint="write the file or folder at context.output_path before returning, or return the value itself",
            )
        return written

    def written_file(self) -> Optional[str]:
        """What the asset wrote at :attr:`output_path`: that file, a folder there, or one file of
        another name beside it (``np.save`` adds ``.npy``, ``savefig`` adds ``.png``); None if
        nothing. Several files beside it raise a ValueTypeError naming them."""
        if self._output_dir is None:
            return None
        path = os.path.join(self._output_dir, self.asset_key.rsplit("/", 1)[-1])
        if os.path.exists(path):
            return path
        written = sorted(os.listdir(self._output_dir))
        if len(written) == 1:
            return os.path.join(self._output_dir, written[0])
        if written:
            raise ValueTypeError(
                f"asset '{self.asset_key}' wrote {', '.join(written)} beside context.output_path "
                f"({os.path.basename(path)}); datamake stores one file or one folder",
                hint="write one file (any name), or put the files in a folder at context.output_path",
            )
        return None

    def cleanup(self) -> None:
        if self._output_dir is not None:
            import shutil  # lazy: see output_path

            shutil.rmtree(self._output_dir, ignore_errors=True)
            self._output_dir = None

    def add_metadata(self, **values: Any) -> None:
        """Record JSON-serializable values with this materialization."""
        self.metadata.update(values)

    def __repr__(self) -> str:
        return f"<AssetContext {self.asset_key} run={self.run_id}>"


def _own_logger(name: str, parent: str) -> logging.Logger:
    """A logger for one materialization, passing its records on to ``logging.getLogger(parent)``.

    Only this materialization's lines reach the handlers attached to it, so the
    lines of two partitions of one asset running at once are never mixed up;
    the usual logging configuration still sees every line, through the parent.
    It is not registered with ``logging``, so it goes away with the context.
    """
    import logging

    logger = logging.Logger(name)
    logger.parent = logging.getLogger(parent)
    return logger
