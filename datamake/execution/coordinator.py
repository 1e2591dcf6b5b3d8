"""The coordinator: walks a plan in dependency order and decides each asset as it becomes ready.

For every asset whose inputs are settled it runs the pure ``decide`` again
(early cutoff), then looks the provenance up in the action cache, and only
then hands a task to the executor. It alone writes manifests.
"""
from __future__ import annotations

import concurrent.futures as cf
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set

from ..manifest import Manifest
from ..planner import UPSTREAM_STALE, AssetFacts, decide, provenance
from ..project import Project, Scope
from .reporters import Reporter
from .results import AssetOutcome, RunResult, TaskResult
from .tasks import AssetTask, remember_store


@dataclass(frozen=True)
class RunOptions:
    keep_going: bool = False
    force: bool = False
    only: bool = False


def _config_values(instance) -> dict:
    import dataclasses

    return dataclasses.asdict(instance) if instance is not None else {}


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class Coordinator:
    """One run of ``make`` over a planned scope."""

    def __init__(self, project: Project, scope: Scope, executor, reporter: Reporter, options: RunOptions,
                 run_id: Optional[str] = None, remote=None):
        self.project = project
        self.scope = scope
        self.executor = executor
        self.reporter = reporter
        self.options = options
        self.run_id = run_id or new_run_id()
        self.remote = remote
        self.store = project.store
        self.outcomes: Dict[str, AssetOutcome] = {}
        self.current: Dict[str, Optional[Manifest]] = dict(scope.manifests)
        self.status: Dict[str, object] = dict(scope.outside)
        self.waiting = {k: sum(1 for d in project.graph.deps[k] if d in scope.facts) for k in scope.keys}
        self.ready = deque(k for k in scope.keys if self.waiting[k] == 0)
        self.running: Dict[cf.Future, tuple] = {}
        self.stop_reason: Optional[str] = None
        self.interrupts = 0

    # -- the loop ------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.perf_counter()
        remember_store(self.store)
        self.reporter.run_started(self.run_id, self.scope)
        previous = self._install_sigint()
        try:
            while self.ready or self.running:
                while self.ready and len(self.running) < self.executor.capacity:
                    self._start(self.ready.popleft())
                if self.running:
                    self._wait_some()
        except KeyboardInterrupt:  # a second Ctrl-C: abandon running assets, keep state whole
            self.stop_reason = self.stop_reason or "interrupted"
            self.executor.shutdown(cancel=True)
            for future, (key, *_rest) in list(self.running.items()):
                self._settle(AssetOutcome(key, "blocked", error="interrupted while running; nothing was recorded"))
            self.running.clear()
        finally:
            self._restore_sigint(previous)
            self.executor.shutdown(cancel=bool(self.stop_reason))
        for key in self.scope.keys:  # whatever never became ready
            if key not in self.outcomes:
                self.outcomes[key] = AssetOutcome(key, "blocked", error=self._not_started_message())
        result = RunResult(
            self.run_id,
            tuple(self.outcomes[k] for k in self.scope.keys),
            seconds=time.perf_counter() - started,
            interrupted=self.stop_reason == "interrupted",
        )
        self.reporter.run_finished(result)
        return result

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum, frame):
            self.interrupts += 1
            if self.interrupts > 1:
                raise KeyboardInterrupt
            self.stop_reason = "interrupted"
            self.reporter.message("interrupted: finishing running assets (Ctrl-C again to abort)")

        return signal.signal(signal.SIGINT, on_sigint)

    @staticmethod
    def _restore_sigint(previous) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _not_started_message(self) -> str:
        if self.stop_reason == "interrupted":
            return "not started: the run was interrupted"
        if self.stop_reason:
            return f"not started: the run stopped after {self.stop_reason} failed (use -k to keep going)"
        return "not started"

    # -- one asset -----------------------------------------------------------
    def _start(self, key: str) -> None:
        if self.stop_reason:
            return self._settle(AssetOutcome(key, "blocked", error=self._not_started_message()))
        facts = self.scope.facts[key]
        broken = [d for d in facts.deps if d in self.outcomes and self.outcomes[d].outcome in ("failed", "blocked")]
        if broken:
            return self._settle(AssetOutcome(key, "blocked", error=f"upstream {', '.join(broken)} did not materialize"))
        reasons = decide(facts, self.status, self.scope.sources)
        if not reasons:
            m = facts.manifest
            return self._settle(AssetOutcome(key, "skipped", data_version=m.data_version), m)
        missing = [d for d in facts.deps if self.status.get(d) is None or self.status.get(d) is UPSTREAM_STALE]
        if missing:
            return self._settle(AssetOutcome(
                key, "blocked",
                error=f"upstream {', '.join(missing)} has no materialized value and is not in the selection (drop --only)"))
        inputs = {d: self.status[d] for d in facts.deps}
        prov = provenance(key, facts.code_version, inputs, facts.config_hash, facts.partition)
        hit = self._lookup(prov)
        if hit is not None:
            manifest = hit if hit.key == key else hit.replace(key=key)
            self.store.commit(manifest)
            return self._settle(AssetOutcome(key, "cached", data_version=manifest.data_version), manifest)
        self.reporter.asset_started(key, [r.code for r in reasons])
        task = self._task(key)
        self.running[self.executor.submit(task)] = (key, prov, inputs, time.time(), reasons)

    def _lookup(self, prov: str) -> Optional[Manifest]:
        if self.options.force:
            return None
        hit = self.store.lookup_action(prov)
        if hit is None and self.remote is not None:
            hit = self.remote.fetch_action(prov, self.store)
        return hit

    def _task(self, key: str) -> AssetTask:
        asset = self.project.defs.assets[key]
        inputs = tuple((param, self.current[dep]) for param, dep in self.project.defs.inputs[key].items()
                       if dep not in self.scope.sources)
        return AssetTask(
            key=key,
            run_id=self.run_id,
            project_dir=self.project.directory,
            definitions=self.project.config.definitions,
            store_url=self.store.url,
            store_options=self.store.storage_options,
            inputs=inputs,
            io_manager=asset.io_manager,
            retries=asset.retries,
            retry_delay=asset.retry_delay,
            share_values=getattr(self.executor, "shares_memory", False),
            config=_config_values(self.scope.configs.get(key)),
            extra={"resources": self.project.config.resources},
        )

    def _wait_some(self) -> None:
        done, _ = cf.wait(list(self.running), timeout=0.5, return_when=cf.FIRST_COMPLETED)
        for future in done:
            key, prov, inputs, wall_start, reasons = self.running.pop(future)
            try:
                result: TaskResult = future.result()
            except cf.CancelledError:
                self._settle(AssetOutcome(key, "blocked", error="cancelled"))
                continue
            except BaseException as exc:  # a worker died (killed process, lost Dask worker)
                result = TaskResult(key, ok=False, error=f"worker failed: {type(exc).__name__}: {exc}")
            self._finish(key, prov, inputs, wall_start, result)

    def _finish(self, key: str, prov: str, inputs: Dict[str, object], wall_start: float, result: TaskResult) -> None:
        facts: AssetFacts = self.scope.facts[key]
        if not result.ok:
            if not self.options.keep_going and not self.stop_reason:
                self.stop_reason = key
            return self._settle(AssetOutcome(key, "failed", seconds=result.seconds, error=result.error,
                                             traceback=result.traceback))
        manifest = Manifest(
            key=key,
            code_version=facts.code_version,
            provenance=prov,
            data_version=result.data_version or result.artifact,
            artifact=result.artifact,
            size=result.size,
            io_manager=result.io_manager,
            inputs=tuple(sorted((k, str(v)) for k, v in inputs.items())),
            config_hash=facts.config_hash,
            partition=facts.partition,
            run_id=self.run_id,
            created=wall_start,
            seconds=round(result.seconds, 6),
            metadata=dict(result.metadata),
            code_parts=dict(self.project.code_version(key).parts),
        )
        self.store.commit(manifest)
        if self.remote is not None and self.remote.push_auto:
            self.remote.push_one(manifest, self.store)
        self._settle(AssetOutcome(key, "built", data_version=manifest.data_version, seconds=result.seconds), manifest)

    def _settle(self, outcome: AssetOutcome, manifest: Optional[Manifest] = None) -> None:
        key = outcome.key
        self.outcomes[key] = outcome
        if manifest is not None:
            self.current[key] = manifest
            self.status[key] = manifest.data_version
        self.reporter.asset_finished(outcome)
        for child in self.project.graph.children[key]:
            if child in self.waiting:
                self.waiting[child] -= 1
                if self.waiting[child] == 0:
                    self.ready.append(child)
