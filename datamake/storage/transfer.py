"""Moving artifacts between a local store and the remote cache, each one verified by its hash.

Uploads hash the local artifact before sending it; downloads stream to disk,
are hashed, and only then moved into the local store. A corrupt remote
artifact or action entry is deleted (the next push repairs it) and left out.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from datamake.core.hashing import hash_file
from datamake.core.manifest import Manifest
from datamake.storage.fsio import bulk, download_options, upload_options
from datamake.storage.store import Store


class RemoteUnavailable(Exception):
    """The remote could not be reached or answered with an error other than 'not found'."""


@dataclass
class SyncReport:
    """What ``push`` or ``pull`` did, per asset and in total."""

    remote: str
    assets: List[Dict[str, Any]] = field(default_factory=list)
    artifacts: int = 0
    bytes: int = 0
    actions: int = 0
    manifests: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return {"remote": self.remote, "assets": self.assets, "artifacts": self.artifacts, "bytes": self.bytes,
                "actions": self.actions, "manifests": self.manifests}


class Transfer:
    """Artifact transfers between local stores and ``remote`` (the remote cache's own Store)."""

    def __init__(self, remote: Store):
        self.remote = remote
        self.corrupt_hashes: set = set()  # remote artifacts found corrupt (and deleted) in this run
        self.instead = "it will be rebuilt here"  # what happens to the asset of a corrupt object (pull: nothing)

    def upload(self, manifests: List[Manifest], local_store: Store, report: SyncReport) -> set:
        """Upload local artifacts after checking their hash; returns the hashes now in the remote."""
        if not manifests:
            return set()
        staging = tempfile.mkdtemp(prefix="datamake-push-")
        try:
            calls, sizes = [], {}
            for m in manifests:
                local_path = self.local_copy(m, local_store, staging)
                if local_path is None:
                    local_store.warnings.append(
                        f"not pushing '{m.key}': its local artifact {m.artifact[:12]} is missing or corrupt "
                        f"(run `datamake make {m.key}` to rebuild it)")
                    continue
                calls.append((local_path, self.remote.artifact_path(m.artifact)))
                sizes[m.artifact] = m.size
            results = bulk(self.remote.fs, "put_file", calls, **upload_options(self.remote.fs))
            sent = set()
            for (local_path, remote_path), result in zip(calls, results):
                if isinstance(result, BaseException):
                    raise RemoteUnavailable(result)
                digest = os.path.basename(remote_path)
                sent.add(digest)
                report.artifacts += 1
                report.bytes += sizes[digest]
            return sent
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def local_copy(m: Manifest, local_store: Store, staging: str) -> Optional[str]:
        """A local file holding ``m``'s verified artifact (the store's own file when the store is local)."""
        if local_store.is_local:
            path = local_store.artifact_path(m.artifact)
            try:
                with open(path, "rb") as f:
                    return path if hash_file(f) == m.artifact else None
            except OSError:
                return None
        path = os.path.join(staging, m.artifact)
        try:
            local_store.fs.get_file(local_store.artifact_path(m.artifact), path)
            with open(path, "rb") as f:
                return path if hash_file(f) == m.artifact else None
        except (FileNotFoundError, OSError):
            return None

    def download(self, manifests: Iterable[Manifest], local_store: Store,
                  report: Optional[SyncReport] = None) -> set:
        """Bring the artifacts of ``manifests`` into ``local_store``, verified; returns the hashes now there.

        Downloads run concurrently and stream to disk; each file is hashed
        before it is moved into place. A corrupt remote artifact is deleted
        (the next push uploads a good one) and left out, with a warning.
        """
        todo = {m.artifact: m for m in manifests}
        if not todo:
            return set()
        ok = self.present(local_store, todo.values())
        need = [m for h, m in todo.items() if h not in ok]
        if not need:
            return ok
        if local_store.is_local:  # named HOST@PID as the store's other temporary files: a killed
            staging = f"{local_store.root}/tmp"  # pull's downloads go with the next command's clean_tmp
            os.makedirs(staging, exist_ok=True)
            part_path = local_store.files.tmp_path
        else:
            staging = tempfile.mkdtemp(prefix="datamake-pull-")
            part_path = lambda: os.path.join(staging, f"{uuid.uuid4().hex}.part")  # noqa: E731
        calls = [(self.remote.artifact_path(m.artifact), part_path()) for m in need]
        try:
            results = bulk(self.remote.fs, "get_file", calls, **download_options(self.remote.fs))
            down = [r for r in results if isinstance(r, BaseException) and not isinstance(r, FileNotFoundError)]
            if down:
                raise RemoteUnavailable(down[0])
            for m, (remote_path, part), result in zip(need, calls, results):
                if isinstance(result, FileNotFoundError) or not os.path.exists(part):
                    continue
                with open(part, "rb") as f:
                    actual = hash_file(f)
                if actual != m.artifact:
                    self.corrupt_hashes.add(m.artifact)
                    self.discard_corrupt(remote_path, f"artifact of '{m.key}'", local_store)
                    continue
                self.install(part, m.artifact, local_store)
                ok.add(m.artifact)
                if report is not None:
                    report.artifacts += 1
                    report.bytes += m.size
        finally:
            for _remote, part in calls:
                if os.path.exists(part):
                    os.unlink(part)
            if not local_store.is_local:
                shutil.rmtree(staging, ignore_errors=True)
        return ok

    @staticmethod
    def present(local_store: Store, manifests: Iterable[Manifest]) -> set:
        """The artifacts of ``manifests`` that ``local_store`` already holds intact."""
        intact = local_store.values_intact(manifests)  # a value kept in its manifest is there with it
        return {m.artifact for m in manifests if intact[id(m)]}

    @staticmethod
    def install(part: str, digest: str, local_store: Store) -> None:
        """Move a verified download into ``local_store`` under its hash."""
        if local_store.is_local:
            final = local_store.artifact_path(digest)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(part, final)
        else:
            local_store.put_artifact_file(part, digest)

    def discard_corrupt(self, path: str, what: str, local_store: Store) -> None:
        """Warn about a corrupt remote object and delete it, so that the next push uploads a good one."""
        local_store.warnings.append(
            f"the remote cache's {what} at {path} is corrupt: ignored and deleted; "
            f"{self.instead}, and `datamake push` repairs the remote")
        try:
            self.remote.fs.rm_file(path)
        except Exception:  # noqa: BLE001 - a read-only remote keeps it; it stays ignored
            pass
