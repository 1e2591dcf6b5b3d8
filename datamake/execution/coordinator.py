"""The coordinator: walks a plan in dependency order and decides each asset as it becomes ready.

For every asset whose inputs are settled it runs the pure ``decide`` again
(early cutoff), then looks the provenance up in the action cache, and only
then hands a task to the executor. It alone writes manifests.
"""
from __future__ import annotations

import _signal as signal  # signal's own C module: its Python layer builds enums (~3 M instructions a start)
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from datamake.core.describe import describe_nodes
from datamake.core.errors import DatamakeError, StoreError
from datamake.core.keys import node_id, split_node
from datamake.core.records import field_values, filled, filled_from, record, replace
from datamake.define import snapshot
from datamake.core.manifest import Manifest, config_record, inline_text
from datamake.core.planner import UPSTREAM_STALE, AssetFacts, built_for, decide, keeps_value, provenance
from datamake.core.readnames import ENV_READ
from datamake.core.scope import Scope
from datamake.core.textout import new_run_id
from datamake.define.sources import source_at
from datamake.storage.artifacts import inline_limit
from datamake.storage import reads as read_files
from datamake.storage.observe import ObservationCache, SourceError, observe
from datamake.storage.scratch import Scratch
from datamake.storage.store import BatchError
from datamake.execution.gilhint import gil_hint
from datamake.execution.reporters import MultiReporter, Reporter
from datamake.execution.results import AssetOutcome, RunResult, TaskResult
from datamake.execution.runcontext import RunContext


@record(frozen=True)
class RunOptions:
    keep_going: bool = False
    force: bool = False
    only: bool = False


_AssetTask = None


def _asset_task():
    """The AssetTask class, imported at the first task (a no-op builds none; a build makes thousands)."""
    global _AssetTask
    if _AssetTask is None:
        from datamake.execution.tasks import AssetTask  # lazy: see above

        _AssetTask = AssetTask
    return _AssetTask


def _checks():
    """The checks module, loaded by the first asset that has checks or recorded results (most have none)."""
    from datamake.define import checks  # lazy: see above

    return checks


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancelled future's error (no concurrent.futures loaded: no such future)."""
    cf = sys.modules.get("concurrent.futures")
    return cf is not None and isinstance(exc, cf.CancelledError)


# what is recorded of a file read, a folder listed, a folder named (for readers written in C)
_UNDECLARED = (("read", "its content is", "editing it"),
               ("listed folder", "the names in it are", "adding or removing a file"),
               ("names folder", "every file in it is", "editing, adding or removing a file"))


def _covers(read: str, name: str) -> bool:
    """Whether the recorded read ``read`` (a file, ``folder/`` listed, ``folder/**``) covers project file ``name``."""
    if read.endswith(read_files.TREE):
        return name.startswith(read[:-len(read_files.TREE)] + "/") or read == "." + read_files.TREE
    if read.endswith(read_files.FOLDER):
        folder = name.rpartition("/")[0]
        return read == (folder or ".") + read_files.FOLDER
    return read == name


class Coordinator:
    """One run of ``make`` over a planned scope."""

    # a local store's manifests are committed in batches (one pack each): at most this many, this old
    BATCH = 1000
    BATCH_SECONDS = 0.2

    def __init__(self, run: RunContext, scope: Scope, executor, reporter: Reporter, options: RunOptions,
                 run_id: Optional[str] = None, remote=None, history=None):
        self.run_context = run
        self._reads = None  # versions of files read undeclared, once a cached value that read some is found
        self.defs = run.defs
        self.scope = scope
        self.executor = executor
        self.console = reporter  # check results are printed here (the history records them itself)
        self.history = history  # a HistoryReporter: also told each asset's manifest, checks and logs
        self.reporter = MultiReporter(reporter, history) if history is not None else reporter
        self.options = options
        self.run_id = run_id or new_run_id()
        # workers in other processes check they run the code this plan was made with
        self.shares_memory = getattr(executor, "shares_memory", False)
        self.code_digests = () if self.shares_memory else snapshot.digests(run.project_dir)
        self.remote = remote
        self.store = run.store
        self.inline_limit = inline_limit()  # one limit for the whole run, whichever process a worker is
        self.outcomes: Dict[str, AssetOutcome] = {}
        self.facts: Dict[str, AssetFacts] = dict(scope.facts)
        self.current: Dict[str, Optional[Manifest]] = dict(scope.manifests)
        self.status: Dict[str, object] = dict(scope.outside)
        self.waiting = {k: sum(1 for d in scope.facts[k].deps if d in scope.facts) for k in scope.keys}
        self.ready = deque(k for k in scope.keys if self.waiting[k] == 0)
        # fresh in the plan: still fresh when each input in the scope was kept as planned (decided once, not twice)
        self.fresh: Set[str] = set()
        # stale in the plan with no input: decide() would find the same reasons again (its facts are the plan's)
        self.planned: Dict[str, tuple] = {}
        for k, d in zip(scope.keys, scope.plan.decisions):
            if node_id(d.key, d.partition) == k:
                if not d.reasons:
                    self.fresh.add(k)
                elif not scope.facts[k].deps:
                    self.planned[k] = d.reasons
        self.running: Dict[Any, tuple] = {}  # concurrent.futures.Future -> what it is running
        # a process pool takes one asset more per worker, queued, so no worker waits for us between two
        self.limit = executor.capacity + getattr(executor, "queue_ahead", 0)
        if not options.keep_going and hasattr(executor, "stop_on_failure"):
            executor.stop_on_failure = True
        self.stop_reason: Optional[str] = None
        self.interrupts = 0
        self.terminated = False  # SIGTERM: abort as a second Ctrl-C does
        self.aborting = False  # a second Ctrl-C was acted on: the loop raises it again if a callback swallowed it
        self.handled_interrupts = 0
        self.interruptible = False  # True while waiting for workers or inside an in-process asset
        self.submitting: Optional[str] = None
        self.rebuilding: Dict[str, List[str]] = {}  # input whose artifact failed its hash check -> consumers waiting
        self.rebuilt: Set[str] = set()
        self.written_by: Dict[str, str] = {}  # project file an asset wrote in this run -> that asset's node
        self.rereads: Dict[str, int] = {}  # asset -> times it was run again for a file rewritten after it read it
        self._observations = None  # the sources' observation cache, for re-observing after an asset ran
        self._asset_seconds = 0.0  # wall seconds of the assets that ran, summed (for the GIL hint)
        self._unrecorded: List[BatchError] = []  # batches of manifests that could not be written
        self._warned_untracked: Set[Tuple[str, str]] = set()  # (asset, what) already said in this run
        self._task_fields: Optional[Dict[str, Any]] = None  # what every task of this run shares
        self._history_ready = False  # the event log was opened (or found broken) before a first commit
        # whether a finished task began: an executor that queues tasks ahead knows; the others (None) run what they take
        self._began = getattr(executor, "began", None)

    # -- the loop ------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.perf_counter()
        cpu_started = time.process_time()
        try:
            self._check_store()
        except BaseException:
            # Nothing was submitted: wait for the idle workers, so no pool thread is still
            # closing its pipe when the interpreter's exit hook writes to it (EBADF at exit).
            self.executor.shutdown()
            raise
        if self.store.is_local:
            self.store.clean_tmp()  # what killed runs left half-written
            self.store.begin_batch()
        self.reporter.run_started(self.run_id, self.scope)
        previous = self._install_sigint()
        stop_flusher = threading.Event()
        if self.store.batched is not None:
            threading.Thread(target=self._flush_while_running, args=(stop_flusher,), daemon=True).start()
        try:
            while self.ready or self.running:
                while self.ready and len(self.running) < self.limit:
                    if self.interrupts != self.handled_interrupts:  # (the test of _check_interrupts, inline)
                        self._check_interrupts()
                    self._start(self.ready.popleft())
                if self.interrupts != self.handled_interrupts:
                    self._check_interrupts()
                if self.running:
                    self._wait_some()
                if self.aborting:  # the handler's KeyboardInterrupt landed in a callback, which swallowed it
                    raise KeyboardInterrupt
                batched = self.store.batched
                if batched and (batched >= self.BATCH or
                                time.monotonic() - self.store.batch_started >= self.BATCH_SECONDS):
                    self._flush()
                if self.stop_reason:
                    self._hold()
        except KeyboardInterrupt:  # a second Ctrl-C: abandon running assets, keep state whole
            self.stop_reason = self.stop_reason or "interrupted"
            self.executor.shutdown(cancel=True)
            abandoned = [key for key, *_rest in self.running.values()] + [k for k in [self.submitting] if k]
            for key in abandoned:
                self._settle(AssetOutcome(key, "blocked", error="interrupted while running; nothing was recorded"))
            self.running.clear()
        finally:
            self._restore_sigint(previous)
            self.executor.shutdown(cancel=bool(self.stop_reason))
            stop_flusher.set()
            self._flush(end=True)
            self._save_local_records()
        for key in self.scope.keys:  # whatever never became ready
            if key not in self.outcomes:
                self.outcomes[key] = AssetOutcome(key, "blocked", error=self._not_started_message())
        result = RunResult(
            self.run_id,
            tuple(self._public(self.outcomes[k]) for k in self.scope.keys),
            seconds=time.perf_counter() - started,
            interrupted=self.stop_reason == "interrupted",
            manifests=self.current,
        )
        hint = gil_hint(self.executor.name, self.executor.capacity, result.seconds,
                        time.process_time() - cpu_started, self._asset_seconds,
                        getattr(self.executor, "task_cpu_seconds", 0.0))
        if hint:
            self.reporter.message(hint)
        self.reporter.run_finished(result)
        return result

    def _check_store(self) -> None:
        """What workers in other processes cannot reach: an in-memory store, resource objects."""
        if getattr(self.executor, "shares_memory", True):
            return
        if self.store.is_local:  # a folder: every process reaches it (and fsspec stays unimported)
            return self._check_resources()
        protocol = self.store.fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        if "memory" in protocols:
            raise DatamakeError(
                f"executor '{self.executor.name}' cannot reach the in-memory store {self.store.url}: "
                "its workers are other processes",
                hint="use a local folder or an object store as [storage] root, or executor = \"thread\"",
            )
        self._check_resources()

    def _check_resources(self) -> None:
        if self.run_context.resources:
            raise DatamakeError(
                f"executor '{self.executor.name}' cannot use the resources given to make() "
                f"({', '.join(sorted(self.run_context.resources))}): its workers are other processes",
                hint="replace resources with executor=\"thread\" or \"inprocess\"",
            )

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum, frame):
            self.interrupts += 1
            self.stop_reason = "interrupted"
            self._hold()
            if self.interruptible:  # not inside our own bookkeeping: act now
                self._check_interrupts()
            # otherwise the loop acts at its next step: a commit or a reporter is never cut in half

        def on_sigterm(signum, frame):  # a supervisor's stop (timeout, CI cancel, docker stop): abort now
            self.terminated = True
            self.interrupts = max(self.interrupts, self.handled_interrupts) + 2  # as a second Ctrl-C
            on_sigint(signum, frame)

        previous_hook = sys.unraisablehook

        def unraisable(info):  # the abort raised inside a weakref callback or __del__: not a traceback to show
            if not (self.aborting and info.exc_type is KeyboardInterrupt):
                previous_hook(info)

        sys.unraisablehook = unraisable
        previous = signal.signal(signal.SIGINT, on_sigint), signal.signal(signal.SIGTERM, on_sigterm)
        _forked_children_keep(previous)
        return (*previous, previous_hook)

    def _check_interrupts(self) -> None:
        """Act on Ctrl-C: the first one stops new starts; a second one aborts (KeyboardInterrupt)."""
        if self.interrupts == self.handled_interrupts:
            return
        first = self.handled_interrupts == 0
        self.handled_interrupts = self.interrupts
        if self.terminated:
            self.reporter.message("terminated: stopping running assets; what was built is kept")
        elif first:
            self.reporter.message("interrupted: finishing running assets (Ctrl-C again to abort)")
        if self.interrupts > 1:
            self.aborting = True
            raise KeyboardInterrupt

    def _hold(self) -> None:
        """Start nothing more: assets queued in the executor (not begun) come back unrun."""
        hold = getattr(self.executor, "hold", None)
        if hold is not None:
            hold()

    @staticmethod
    def _restore_sigint(previous) -> None:
        if previous is not None:
            _forked_children_keep(None)
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            sys.unraisablehook = previous[2]

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
        facts = self.facts[key]
        broken, missing, inputs = self._upstream_of(facts.deps)
        if broken:
            return self._settle(AssetOutcome(key, "blocked", error=f"upstream {describe_nodes(broken)} did not materialize"))
        if key in self.fresh and all(d not in self.facts or self._kept_as_planned(d) for d in facts.deps):
            reasons: tuple = ()
        elif key in self.planned:
            reasons = self.planned[key]
        else:
            reasons = decide(facts, self.status, self.scope.sources)
        if keeps_value(reasons):  # fresh, or only its checks changed or failed: the value stays
            m = facts.manifest
            return self._settle_checked(AssetOutcome(key, "skipped", data_version=m.data_version), m)
        if missing:
            return self._settle(AssetOutcome(key, "blocked", error=self._missing_message(missing)))
        prov = provenance(facts.key, facts.code_version, inputs, facts.config_hash, facts.partition)
        hit = self._lookup(prov)
        if hit is not None:
            manifest = hit
            if not self._commit(key, manifest, 0.0):
                return None
            return self._settle_checked(AssetOutcome(key, "cached", data_version=manifest.data_version), manifest)
        self.reporter.asset_started(key, reasons)
        task = self._task(key)
        self.submitting = key  # the in-process executor runs the task inside submit()
        self.interruptible = True
        try:
            future = self.executor.submit(task)
        finally:
            self.interruptible = False
        self.running[future] = (key, prov, inputs, time.time(), reasons)
        self.submitting = None

    def _missing_message(self, missing: List[str]) -> str:
        """Why an asset whose inputs ``missing`` have no value cannot run: a source partition's file is not
        there, or an upstream asset left out of the selection has never been built."""
        files = [d for d in missing if d in self.scope.sources]
        if files:
            where = ", ".join(source_at(self.defs.sources, d).url for d in files[:3]) + (" …" if len(files) > 3 else "")
            return f"source {describe_nodes(files)} has no file ({where}): make it again once the file is there"
        return f"upstream {describe_nodes(missing)} has no materialized value and is not in the selection (drop --only)"

    def _upstream_of(self, deps: Tuple[str, ...]) -> Tuple[List[str], List[str], Dict[str, Any]]:
        """Of an asset's dependencies, in one pass: those that failed or were blocked, those without a
        value (none, or one still to be rebuilt), and the data version of each."""
        broken: List[str] = []
        missing: List[str] = []
        inputs: Dict[str, Any] = {}
        outcomes, status = self.outcomes, self.status
        for dep in deps:
            outcome = outcomes.get(dep)
            if outcome is not None and outcome.outcome in ("failed", "blocked"):
                broken.append(dep)
            version = inputs[dep] = status.get(dep)
            if version is None or version is UPSTREAM_STALE:
                missing.append(dep)
        return broken, missing, inputs

    def _kept_as_planned(self, node: str) -> bool:
        """True when ``node`` was fresh in the plan and kept its value in this run."""
        return node in self.fresh and self.outcomes[node].outcome == "skipped"

    def _lookup(self, prov: str) -> Optional[Manifest]:
        if self.options.force:
            return None
        hit = self.store.lookup_action(prov)
        if hit is None and self.remote is not None:
            hit = self.remote.fetch_action(prov, self.store)
        if hit is None:
            return None
        if not built_for(hit, prov):
            self.store.warnings.append(f"the action-cache entry {prov} holds a value of {hit.key} built from "
                                       "other inputs (edited or misfiled): ignored, the asset is built")
            return None
        if hit.reads and self._read_versions().changed(self.run_context.project_dir, hit.reads):
            return None  # built from other bytes of a file it read without declaring it: not this value
        return hit

    def _read_versions(self):  # -> storage.reads.ReadVersions
        if self._reads is None:
            from datamake.storage.reads import ReadVersions  # lazy: only a value that read undeclared files

            self._reads = ReadVersions(self.store)
        return self._reads

    def _task(self, key: str):
        facts = self.facts[key]
        asset = self.defs.assets[facts.key]
        specs = self.scope.nodes.inputs[key].items()
        config = self.scope.configs.get(facts.key)
        if self.scope.sources:
            inputs = tuple((param, self._input(spec)) for param, spec in specs if not self._is_source(spec))
            source_partitions = tuple((param, spec) for param, spec in specs
                                      if self._is_source(spec) and (not isinstance(spec, str) or "[" in spec))
        else:  # nothing observed in this run: every input is built (most of them one node each)
            current = self.current
            inputs = tuple([(param, current[spec] if type(spec) is str else self._input(spec))
                            for param, spec in specs])
            source_partitions = ()
        return filled_from(  # AssetTask(...) without its frozen __init__ (see core.records): one per built asset
            _AssetTask or _asset_task(), {
                **(self._task_fields or self._run_task_fields()),  # what every task of the run shares, then its own
                "key": facts.key,
                "partition": facts.partition,
                "inputs": inputs,
                "io_manager": asset.io_manager,
                "retries": asset.retries,
                "retry_delay": asset.retry_delay,
                "config": field_values(config) if config is not None else {},
                "source_partitions": source_partitions,
            })

    def _run_task_fields(self) -> Dict[str, Any]:
        """The fields every task of this run shares (made at the first task)."""
        run = self.run_context
        self._task_fields = dict(
            run_id=self.run_id,
            project_dir=run.project_dir,
            definitions=run.definitions,
            store_url=self.store.url,
            store_options=self.store.storage_options,
            share_values=self.shares_memory,
            resource_settings=run.resource_settings,
            resources=run.resources if self.shares_memory else {},
            store=self.store if self.shares_memory else None,
            code_digests=self.code_digests,
            history_file=self.history.path if self.history is not None else None,
            inline_limit=self.inline_limit,
        )
        return self._task_fields

    def _is_source(self, spec) -> bool:
        """Whether a parameter's input (a node, or (partition, node) pairs) is observed, not built."""
        if isinstance(spec, str):
            return spec in self.scope.sources
        return bool(spec) and all(node in self.scope.sources for _pk, node in spec)  # () passes as {}

    def _input(self, spec):
        """The manifest(s) a parameter reads: one node, or (partition, manifest) pairs of a collection."""
        if isinstance(spec, str):
            return self.current[spec]
        return tuple((pk, self.current[node]) for pk, node in spec)

    def _public(self, outcome: AssetOutcome) -> AssetOutcome:
        """The outcome as ``make --json`` reports it: the asset key and the partition apart."""
        facts = self.facts[outcome.key]
        if facts.key == outcome.key and facts.partition is None:
            return outcome
        return replace(outcome, key=facts.key, partition=facts.partition)

    def _wait_some(self) -> None:
        done = [future for future in self.running if future.done()]  # the in-process executor's always are
        if not done:
            from datamake.execution.waiting import wait_first  # lazy: only tasks running in a pool

            self.interruptible = True
            try:
                done = wait_first(self.executor, list(self.running), 0.5)
            finally:
                self.interruptible = False
        if not done and self.history is not None:
            self.history.flush()  # a quiet moment: readers of the log (datamake ui) see what runs now
        if not done:
            self._flush()  # and other processes see what was built
        for future in done:
            key, prov, inputs, wall_start, reasons = self.running.pop(future)
            self._asset_seconds += time.time() - wall_start
            if self._began is not None and not self._began(future):  # still queued: held back, or lost with
                self.ready.appendleft(key)  # a dead worker's pool; decided again: blocked if the run stops, else
                continue  # submitted anew
            try:
                result: TaskResult = future.result()
            except BaseException as exc:  # a worker died (killed process, lost Dask worker)
                if _cancelled(exc):
                    self._settle(AssetOutcome(key, "blocked", error="cancelled"))
                    continue
                result = TaskResult(key, ok=False, error=f"worker failed: {type(exc).__name__}: {exc}")
            self._finish(key, prov, inputs, wall_start, result)

    def _finish(self, key: str, prov: str, inputs: Dict[str, object], wall_start: float, result: TaskResult) -> None:
        facts: AssetFacts = self.facts[key]
        if not result.ok:
            if self._rebuild_corrupt_inputs(key, result):
                return
            if not self.options.keep_going and not self.stop_reason:
                self.stop_reason = key
            return self._settle(AssetOutcome(key, "failed", seconds=result.seconds, error=result.error,
                                             traceback=result.traceback))
        if result.artifact_stat is not None:  # (a value kept in its manifest has no file)
            self.store.note_verified(result.artifact, result.artifact_stat)
        if result.undeclared_reads:
            self._warn_undeclared_reads(facts.key, [path for path, _ in result.undeclared_reads  # (variables:
                                                    if not path.startswith(ENV_READ)])  # versioned, quietly)
        if result.warnings:
            self._warn_untracked(facts.key, result.warnings)
        moved = self._sources_moved(facts, inputs) if self.scope.sources else None
        if moved:  # the value may come from other source bytes than the versions it would be recorded with
            return self._fail(key, f"source {', '.join(moved)} changed while {key} was running; run make again",
                              result.seconds)
        checks = _checks().stamp_versions(result.checks, self._check_versions(facts.key)) if result.checks else []
        config = self.scope.configs.get(facts.key)
        manifest = filled(  # Manifest(...) without its frozen __init__: one per built asset
            Manifest,
            key=facts.key,
            code_version=facts.code_version,
            provenance=prov,
            data_version=result.data_version or result.artifact,
            artifact=result.artifact,
            size=result.size,
            io_manager=result.io_manager,
            inputs=tuple(sorted(zip(inputs, map(str, inputs.values())))),
            config_hash=facts.config_hash,
            partition=facts.partition,
            run_id=self.run_id,
            created=wall_start,
            seconds=round(result.seconds, 6),
            metadata=dict(result.metadata),
            code_parts=dict(self.run_context.code_parts.get(facts.key, {})),
            checks=_checks().as_records(checks) if checks else (),
            config=config_record(field_values(config)) if config is not None else {},
            reads=result.undeclared_reads,
            inline=None if result.inline is None else inline_text(result.inline),
        )
        if not self._commit(key, manifest, result.seconds):
            return None
        if self.remote is not None and self.remote.push_auto:
            self.remote.push_one(manifest, self.store)
        if self.written_by and manifest.reads and self._read_again(key, manifest):
            return None  # it read a file that another asset rewrote while it ran: run again, after it
        built = filled(AssetOutcome, key=key, outcome="built", data_version=manifest.data_version,  # one per built
                       seconds=result.seconds,  # asset: without the frozen __init__ (see core.records), and
                       partition=None, error=None, reasons=(), traceback=None)  # every field given: no merge
        self._settle_checked(built,
                             manifest, _checks().recorded(key, manifest.checks) if manifest.checks else [], result.logs)
        if result.wrote:
            self._rewrote(key, result.wrote)

    def _commit(self, key: str, manifest: Manifest, seconds: float) -> bool:
        """Make ``manifest`` current; a store that cannot record it (disk full, read-only) fails the asset
        as a failed artifact write does, its previous manifest and value kept."""
        if self.history is not None and not self._history_ready:
            self.history.ready()  # the run is in the event log before anything it made becomes current
            self._history_ready = True
        if manifest.partition is not None and self.store.batched:
            self._flush()  # a partition's manifest is a file of its own: what was built before it is written first
        try:
            self.store.commit(manifest)
        except (OSError, StoreError) as exc:
            self._fail(key, f"recording its manifest failed: {type(exc).__name__}: {exc}", seconds)
            return False
        return True

    def _flush(self, end: bool = False) -> None:
        """Write the manifests committed since the last flush (one pack); if that fails, none of them is
        current: each of those assets is reported failed, its previous manifest and value kept."""
        try:
            self.store.flush(end=end)
        except BatchError as exc:
            self._unrecorded.append(exc)
        while self._unrecorded:
            exc = self._unrecorded.pop(0)
            error = f"recording its manifest failed: {exc}"
            for key in exc.nodes:
                outcome = self.outcomes.get(key)
                if outcome is not None and outcome.outcome != "failed":
                    self.outcomes[key] = replace(outcome, outcome="failed", error=error)
                    self.reporter.asset_finished(self.outcomes[key])
            if not self.options.keep_going and not self.stop_reason and exc.nodes:
                self.stop_reason = exc.nodes[0]

    def _flush_while_running(self, stop: threading.Event) -> None:
        """Flush a batch older than BATCH_SECONDS while the coordinator waits or runs an asset in-process
        (its thread is then busy): what finished is visible to other processes within about that long."""
        while not stop.wait(self.BATCH_SECONDS / 2):
            if self.store.batched and time.monotonic() - self.store.batch_started >= self.BATCH_SECONDS:
                try:
                    self.store.flush()
                except BatchError as exc:  # reported by the coordinator's thread
                    self._unrecorded.append(exc)

    def _fail(self, key: str, error: str, seconds: float) -> None:
        if not self.options.keep_going and not self.stop_reason:
            self.stop_reason = key
        self._settle(AssetOutcome(key, "failed", seconds=seconds, error=error))

    def _settle_checked(self, outcome: AssetOutcome, manifest: Manifest, ran=None, logs=()) -> None:
        """Settle a materialized asset after its checks (run by the worker, or here when a kept value's
        checks changed). A failed blocking check makes it ``failed``: the value stays, dependents are blocked."""
        key = outcome.key
        checks = self.defs.checks.get(self.facts[key].key, ())
        if not checks and not manifest.checks:
            return self._settle(outcome, manifest, (), logs)
        when = "built" if ran is not None else "recorded"  # (the worker ran them on the new value)
        versions = self._check_versions(self.facts[key].key)
        checks_mod = _checks()
        if ran is None and checks_mod.needs_rerun(key, manifest.checks, checks, versions):
            from datamake.execution.tasks import recheck_watched  # lazy: only a kept value whose checks changed

            with Scratch() as scratch:
                manifest, ran = recheck_watched(self.defs, self.run_context.project_dir, self.store, manifest,
                                                checks, versions, scratch)
            if not self._commit(key, manifest, outcome.seconds):
                return None
            when = "now"
        quiet = getattr(self.console, "quiet", False)
        for check in ran or ():
            if not (quiet and check.passed):
                self.console.message(check.line())
        failure = checks_mod.blocking_failure(checks_mod.recorded(key, manifest.checks), when, manifest.run_id)
        if failure:
            if not self.options.keep_going and not self.stop_reason:
                self.stop_reason = key
            outcome = AssetOutcome(key, "failed", data_version=manifest.data_version, seconds=outcome.seconds,
                                   error=failure)
        self._settle(outcome, manifest, ran or (), logs)

    def _check_versions(self, key: str) -> Mapping[str, str]:
        return self.run_context.check_versions.get(key, {})

    def _settle(self, outcome: AssetOutcome, manifest: Optional[Manifest] = None, checks=(), logs=()) -> None:
        key = outcome.key
        self.outcomes[key] = outcome
        if manifest is not None:
            self.current[key] = manifest
            self.status[key] = manifest.data_version
        if self.history is not None:
            self.history.note(key, manifest, checks, logs)
        self.reporter.asset_finished(outcome)
        if key in self.rebuilding:  # a second settling: only the consumers that asked for it wait on it
            self.rebuilt.add(key)
            return self._release(self.rebuilding.pop(key))
        self._release(self.scope.children(key))

    def _release(self, children) -> None:
        waiting = self.waiting
        for child in children:
            left = waiting.get(child)
            if left is not None:
                waiting[child] = left - 1
                if left == 1:
                    self.ready.append(child)

    # -- sound or loud: what an asset read while it ran ----------------------
    def _sources_moved(self, facts: AssetFacts, inputs: Dict[str, object]) -> List[str]:
        """The sources of an asset whose version moved since they were observed for this run.

        Observed again after the asset's function returned and before anything is
        committed: a value computed from other bytes than the recorded version
        must neither become current nor enter the action cache.
        """
        if not self.scope.sources:
            return []
        sources = [d for d in facts.deps if d in self.scope.sources and split_node(d)[0] in self.defs.sources]
        if not sources:
            return []
        if self._observations is None:
            self._observations = ObservationCache(self.store)
        moved = []
        for dep in sources:
            try:
                now = observe(source_at(self.defs.sources, dep), self._observations)
            except SourceError:
                now = None
            if now != inputs.get(dep):
                moved.append(dep)
        return moved

    def _warn_undeclared_reads(self, key: str, paths) -> None:
        for path in paths or ():
            what, recorded, change = _UNDECLARED[2 if path.endswith("/**") else int(path.endswith("/"))]
            path = path[:-2] if path.endswith("/**") else path
            self.reporter.message(
                f"warning: asset '{key}' {what} {path}, which is not a declared source: {recorded} recorded, "
                f"so {change} makes '{key}' stale, but declare it with source(\"{path}\") and take it as a "
                f"parameter to make it an input like any other (in the lineage, the action cache and `why`)"
                + self._written_hint(key, path))

    def _written_hint(self, key: str, path: str) -> str:
        """The warning's line for a file another asset writes: name it, and how to run after it."""
        writer = self.written_by.get(path) if self.written_by else None
        if writer is None or writer == key:
            return ""
        name = self.facts[writer].key if writer in self.facts else writer
        return (f"\n  {path} is written by asset '{name}': declare the dependency (deps=[\"{name}\"], or take "
                f"'{name}' as a parameter) so that '{key}' runs after it and is stale when it changes")

    # -- files one asset writes and another reads -----------------------------
    def _rewrote(self, writer: str, names: Tuple[str, ...]) -> None:
        """``writer`` wrote project files ``names``: an asset in the run whose value was built from other
        bytes of one of them is not kept as it is, but run again after ``writer`` (one that has not started
        is decided then, one running when it finishes)."""
        for name in names:
            self.written_by[name] = writer
        running = self._running_keys()
        for node in self.scope.keys:
            manifest = self.current.get(node)
            if node == writer or manifest is None or not manifest.reads or node in running:
                continue
            rewritten = self._rewritten_reads(manifest, names)
            if not rewritten:
                continue
            outcome = self.outcomes.get(node)
            if outcome is None:  # not started yet: decided when it starts, with what it read changed
                self._decide_again(node, manifest, rewritten)
            elif outcome.outcome in ("skipped", "built", "cached"):
                self._run_reader_again(node, manifest, rewritten)

    def _running_keys(self) -> Set[str]:
        """The assets running now."""
        return {entry[0] for entry in self.running.values()}

    def _read_again(self, key: str, manifest: Manifest) -> bool:
        """After ``key`` ran: whether it read a file another asset rewrote in this run, other bytes than
        those now there (it ran at the same time); then it is queued to run again."""
        rewritten = self._rewritten_reads(manifest, self.written_by)
        if not rewritten or not self._may_run_again(key, rewritten):
            return False
        self.current[key] = manifest
        self._decide_again(key, manifest, rewritten)
        self.ready.append(key)
        return True

    def _run_reader_again(self, node: str, manifest: Manifest, rewritten: Tuple[str, ...]) -> None:
        """``node`` was settled in this run from other bytes of files an asset rewrote since: run again,
        its dependents that have not started waiting for it; failed when some already used its value."""
        if not self._may_run_again(node, rewritten):
            return
        children = self.scope.children(node)
        running = self._running_keys()
        used = [c for c in children if c in self.outcomes or c in running]
        if used:
            return self._settle_stale(node, rewritten, f"{describe_nodes(used)} already used its value")
        for child in children:
            if child in self.waiting:
                self.waiting[child] += 1
                if child in self.ready:
                    self.ready.remove(child)
        del self.outcomes[node]
        self._decide_again(node, manifest, rewritten)
        self.ready.append(node)

    def _may_run_again(self, node: str, rewritten: Tuple[str, ...]) -> bool:
        """False (and ``node`` failed, saying why) when it was already run again twice in this run for
        files rewritten after it read them: assets that rewrite each other's inputs would never settle."""
        self.rereads[node] = self.rereads.get(node, 0) + 1
        if self.rereads[node] <= 2:
            self._say_rewritten(node, rewritten, "running it again")
            return True
        self._settle_stale(node, rewritten, "it was run again twice already")
        return False

    def _settle_stale(self, node: str, rewritten: Tuple[str, ...], why: str) -> None:
        """``node``'s value was built from files rewritten since and it cannot run again in this run: failed
        (its value kept, as a failed asset's is), saying why; one already settled keeps its dependents as they are."""
        writers = " and ".join(sorted({self._writer_of(name) for name in rewritten}))
        error = (f"{', '.join(rewritten)}, which it read, was rewritten by {writers} after it ran, and {why}: run "
                 f"make again, and declare the dependency (deps=[...]) so that it runs after")
        settled = self.outcomes.get(node)
        if settled is None:
            return self._fail(node, error, 0.0)
        self.outcomes[node] = replace(settled, outcome="failed", error=error)  # (its dependents were released)
        self.reporter.asset_finished(self.outcomes[node])
        if not self.options.keep_going and not self.stop_reason:
            self.stop_reason = node

    def _say_rewritten(self, node: str, rewritten: Tuple[str, ...], doing: str) -> None:
        for name in rewritten:
            self.reporter.message(f"'{node}' read {name}, which {self._writer_of(name)} rewrote in this run: "
                                  f"{doing} after it")

    def _decide_again(self, node: str, manifest: Manifest, rewritten: Tuple[str, ...]) -> None:
        """``node`` is decided again when it starts, with its value's reads ``rewritten`` changed."""
        facts = self.facts[node]
        kept = manifest is facts.manifest  # (not run in this run: what the plan found of its artifact holds)
        self.facts[node] = replace(facts, manifest=manifest, artifact_ok=facts.artifact_ok or not kept,
                                   reads_changed=tuple(dict.fromkeys(facts.reads_changed + rewritten)))
        self.fresh.discard(node)
        self.planned.pop(node, None)

    def _rewritten_reads(self, manifest: Manifest, names) -> Tuple[str, ...]:
        """Of the reads recorded in ``manifest``, those that cover one of the files ``names`` and whose
        bytes (listing) differ now."""
        covering = [(path, version) for path, version in manifest.reads
                    if any(_covers(path, name) for name in names)]
        return self._read_versions().changed(self.run_context.project_dir, covering) if covering else ()

    def _writer_of(self, read: str) -> str:
        """The asset (quoted) that rewrote in this run a file the recorded read ``read`` covers."""
        writer = next((w for name, w in self.written_by.items() if _covers(read, name)), None)
        return "another asset" if writer is None else f"'{writer}'"

    def _warn_untracked(self, key: str, warnings: Tuple[Tuple[str, str], ...]) -> None:
        """What an asset's value depends on that datamake cannot version: each kind said once per asset and run."""
        for kind, sentence in warnings:
            if (key, kind) not in self._warned_untracked:
                self._warned_untracked.add((key, kind))
                self.reporter.message(f"warning: {sentence}")

    def _save_local_records(self) -> None:
        """Keep what this run learned about artifacts and sources (a cache: losing it costs only hashing)."""
        try:
            self.store.save_state()
            if self._observations is not None:
                self._observations.save()
        except Exception:  # noqa: BLE001 - never fail a run for a cache
            pass

    # -- inputs whose artifact fails its hash check --------------------------
    def _rebuild_corrupt_inputs(self, key: str, result: TaskResult) -> bool:
        """Rebuild the inputs ``key`` found corrupt (``artifact_missing``), then run ``key`` again.

        False when that cannot help: an input outside the scope, or one that
        was already rebuilt in this run and is still bad. The store has
        already deleted the bad artifact, so the action cache cannot return it.
        """
        bad = list(result.corrupt_inputs)
        if not bad or self.stop_reason or any(d not in self.facts or d in self.rebuilt for d in bad):
            return False
        self.waiting[key] = len(bad)
        for dep in bad:
            if dep in self.rebuilding:
                self.rebuilding[dep].append(key)
                continue
            self.rebuilding[dep] = [key]
            self.reporter.message(f"artifact_missing: the artifact of '{dep}' failed its hash check; rebuilding it")
            self.facts[dep] = replace(self.facts[dep], artifact_ok=False)
            self.fresh.discard(dep)  # no longer as planned: decided again
            self.planned.pop(dep, None)
            self.outcomes.pop(dep, None)
            self.ready.append(dep)
        return True


_before_run: Optional[tuple] = None  # the SIGINT and SIGTERM handlers a running coordinator replaced
_HELD = (signal.SIGINT, signal.SIGTERM)
_forking = threading.local()  # in the thread that forks: the signal mask to give back after the fork
_fork_hooked = False


def _forked_children_keep(handlers: Optional[tuple]) -> None:
    """A process forked while a coordinator runs (a ``multiprocessing.Pool``'s worker, started by an asset)
    gets back the handlers the coordinator replaced (``handlers``; None once it is done): the coordinator's
    are for the ``make`` process alone. Inherited, they kept a pool's workers alive past ``Pool.terminate``'s
    SIGTERM (a ``with Pool(...)`` block in an asset could hang ``make``) or printed the coordinator's
    "terminated" message and a traceback from each worker. SIGINT and SIGTERM are held while the process
    forks: one that reaches the child before it has its handlers back waits for them (Python forgets a
    signal its handler had not run for when the child starts)."""
    global _before_run, _fork_hooked
    _before_run = handlers
    if not _fork_hooked and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_hold_signals, after_in_parent=_release_signals,
                            after_in_child=_handlers_before_run)
        _fork_hooked = True


def _hold_signals() -> None:
    _forking.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD) if _before_run is not None else None


def _release_signals() -> None:
    mask, _forking.mask = getattr(_forking, "mask", None), None
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _handlers_before_run() -> None:
    global _before_run
    if _before_run is not None:
        for signum, handler in zip(_HELD, _before_run):
            if handler is not None:  # (None: one set from C, which Python cannot set back)
                signal.signal(signum, handler)
        _before_run = None
    _release_signals()
