"""Copy runs from a source backend to a destination backend, exactly once.

Per run, one *pass* brings the destination up to date with the source:

1. **Find the remote run.** The ledger names it. Without a ledger entry, the destination is
   searched for a run tagged ``trackbridge.source_run_id = <source id>`` (the ledger was lost);
   found, it is adopted *in doubt*; not found, it is created (name, start time, tags, parent).
   Parents are synced before their children so a child can point at its remote parent.
2. **Send what is pending**, packed to the destination's limits in the fewest requests:
   points after the ledger's cursor, params and tags not yet acknowledged, up to
   ``max_in_flight`` requests at once (``pipeline.py``). Before each request the ledger is
   marked *in doubt*; as answers come back the cursor advances over the contiguous prefix
   of batches that landed, and the doubt is cleared once nothing else may have reached the
   destination, in one local transaction each.
3. **Resolve doubt.** Metric batches are appended remotely and a failed request may have
   been applied in part, or in full with the answer lost. So when the ledger is in doubt
   (an ambiguous failure, a process killed mid-request, an adopted run), the engine does not
   trust the cursor: for each key with pending points it reads the destination's history
   and sends exactly the source points it lacks (a point is its key, value, timestamp and
   step; NaN matches NaN; identical points are one point, as MLflow servers keep one copy).
   Keys, points and the new cursor come from one read of the source. Params and tags are
   compared with the
   remote run; both are idempotent to resend. Then the cursor jumps to the end and the
   doubt is cleared. Retrying can therefore never duplicate a point nor skip one.
4. **Dataset inputs** the ledger does not hold go in ``log_inputs`` calls (idempotent on the
   destination), where the destination has them (:func:`~trackbridge.backend.has`).
5. **Artifacts**: files whose (path, sha256) the ledger does not hold are uploaded (streamed,
   overwriting); a changed file at the same path is uploaded again.
6. **Status**: once the source run has ended, its status and end time are pushed.

A second pass with nothing new sends no write request.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..backend import Backend, has
from ..batching import pack
from ..config import DEFAULT_MAX_IN_FLIGHT
from ..entities import RUNNING, TAG_PARENT_RUN_ID, Metric, Param, Run, RunTag
from ..errors import (
    ConfigError,
    NotFoundError,
    ParamConflictError,
    SyncBusyError,
    SyncError,
    TrackbridgeError,
    ValidationError,
)
from ..local.liveness import HOST
from .ledger import Ledger, RunEntry
from .pipeline import send_pipelined
from .sources import Source

SOURCE_RUN_TAG = "trackbridge.source_run_id"
#: Files handed to one ``upload_artifacts`` call (acknowledged together once it returns).
ARTIFACTS_PER_CALL = 100
#: Dataset inputs sent in one ``log_inputs`` call.
INPUTS_PER_CALL = 100
#: Errors that say the request was refused as a whole and would be refused again.
PERMANENT = (ValidationError, ParamConflictError, NotFoundError, ConfigError)


@dataclass
class RunReport:
    """What one pass did (or, in a dry run, would do) for one run."""

    source_run_id: str
    remote_run_id: str | None = None
    created: bool = False
    adopted: bool = False
    points: int = 0
    params: int = 0
    tags: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    inputs: int = 0
    write_requests: int = 0
    status: str | None = None
    status_pushed: bool = False
    reconciled: bool = False
    error: str | None = None
    #: dry run only: why the destination could not be asked (the counts are the ledger's)
    unchecked: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def sent_anything(self) -> bool:
        return bool(self.write_requests)


class Progress:
    """Receives progress; the CLI draws bars from it. The default ignores everything."""

    def points(self, n: int) -> None: ...

    def artifact_bytes(self, n: int) -> None: ...


def _identity(point: Metric) -> tuple:
    value = point.value
    return point.key, ("nan" if isinstance(value, float) and math.isnan(value) else value), \
        point.timestamp, point.step


class SyncEngine:
    def __init__(
        self,
        source: Source,
        destination: Backend,
        ledger: Ledger,
        *,
        experiment: str | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        attempts: int = 6,
        backoff: float = 0.5,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.dest = destination
        self.ledger = ledger
        self.experiment = experiment
        self.dry_run = dry_run
        self.progress = progress or Progress()
        self.attempts = max(attempts, 1)
        #: metric batches of one run in flight at once (see ``pipeline.py``)
        self.max_in_flight = max(max_in_flight, 1)
        self.backoff = backoff
        self.sleep = sleep

    # -- one run ----------------------------------------------------------------------------
    def sync_run(self, run_id: str) -> RunReport:
        """One pass for one run; raises :class:`SyncError` when it cannot finish, and
        :class:`SyncBusyError` when another syncer (process or thread) holds the run."""
        run = self.source.backend.get_run(run_id)
        report = RunReport(run.id, status=run.status)
        if self.dry_run:
            return self._pass(run, report)
        owner = f"{HOST}:{os.getpid()}:{threading.get_ident()}:{id(self)}"
        if not self.ledger.acquire(run.id, owner):
            raise SyncBusyError(f"run {run.id} is being synced to {self.dest.describe()} by another "
                                f"process right now; try again when it is done")
        try:
            return self._pass(run, report)
        finally:
            self.ledger.release(run.id, owner)

    def _pass(self, run: Run, report: RunReport) -> RunReport:
        try:
            done = self._steps(run, report)
        except TrackbridgeError as exc:
            if self.dry_run:  # nothing was sent: say what is pending by the local side
                return self._plan_from_ledger(run, RunReport(run.id, status=run.status), exc)
            report.error = str(exc)
            self.ledger.record_error(run.id, report.error)
            raise SyncError(
                f"sync of run {run.id} to {self.dest.describe()} stopped: {exc}. What landed is "
                f"recorded; run the sync again to resume"
            ) from exc
        if not self.dry_run:
            self.ledger.clear_error(run.id)
        return done

    def _steps(self, run: Run, report: RunReport) -> RunReport:
        entry = self.ledger.load(run.id)
        if entry is None:
            entry = self._retrying(report, lambda: self._attach(run, report))
        if entry is None:  # dry run of a run the destination does not have
            self._plan_new(run, report)
            return report
        report.remote_run_id = entry.remote_run_id
        self._retrying(report, lambda: self._send_data(run, entry, report))
        self._retrying(report, lambda: self._send_inputs(run, entry, report))
        self._retrying(report, lambda: self._send_artifacts(run, entry, report))
        self._retrying(report, lambda: self._send_status(run, entry, report))
        return report

    def _plan_from_ledger(self, run: Run, report: RunReport, why: TrackbridgeError) -> RunReport:
        """Dry run, the destination could not be asked: what the ledger says is pending (its
        cursor as recorded; when the ledger is in doubt some of that may have landed)."""
        report.unchecked = str(why)
        entry = self.ledger.load(run.id)
        if entry is None:
            self._plan_new(run, report)
            return report
        report.remote_run_id = entry.remote_run_id
        as_recorded = replace(entry, in_doubt=False)
        self._send_data(run, as_recorded, report)
        self._send_inputs(run, as_recorded, report)
        self._send_artifacts(run, as_recorded, report)
        self._send_status(run, as_recorded, report)
        return report

    def _retrying(self, report: RunReport, step: Callable[[], Any]) -> Any:
        """Run ``step``; on a transient failure wait (exponential backoff with jitter) and rerun
        it. A rerun re-reads the ledger's doubt, so it only ever sends what is missing."""
        if self.dry_run:  # a dry run asks once: it must answer fast, and it sends nothing
            return step()
        for attempt in range(self.attempts):
            try:
                return step()
            except PERMANENT:
                raise
            except (TrackbridgeError, OSError) as exc:
                if attempt == self.attempts - 1:
                    if isinstance(exc, TrackbridgeError):
                        raise
                    raise SyncError(f"{type(exc).__name__}: {exc}") from exc
                delay = min(self.backoff * 2**attempt, 30.0)
                self.sleep(delay * (0.5 + random.random()))
        return None  # pragma: no cover - the loop returns or raises

    def _wanted_tags(self, run: Run, parent_remote: str | None) -> dict[str, str]:
        tags = dict(run.tags)
        tags[SOURCE_RUN_TAG] = run.id
        if parent_remote:
            tags[TAG_PARENT_RUN_ID] = parent_remote
        else:
            tags.pop(TAG_PARENT_RUN_ID, None)
        return tags

    def _parent_remote(self, run: Run) -> str | None:
        if not run.parent_run_id:
            return None
        parent = self.ledger.load(run.parent_run_id)
        if parent is None:  # the parent was not selected: bring it along first
            self.sync_run(run.parent_run_id)
            parent = self.ledger.load(run.parent_run_id)
        return parent.remote_run_id if parent else None

    def _attach(self, run: Run, report: RunReport) -> RunEntry | None:
        name = self.experiment or run.experiment
        if self.dry_run:
            experiment = self.dest.get_experiment(name)
        else:
            experiment = self.dest.get_or_create_experiment(name)
        if experiment is not None:
            query = f"tags.`{SOURCE_RUN_TAG}` = '{run.id}'"
            found = next(iter(self.dest.search_runs([experiment.id], query)), None)
            if found is not None:
                report.adopted = True
                if self.dry_run:
                    return RunEntry(found.id, self.source.initial_cursor, in_doubt=True)
                return self.ledger.create(run.id, found.id, self.source.initial_cursor,
                                          in_doubt=True)
        if self.dry_run:
            return None
        parent_remote = self._parent_remote(run)
        tags = self._wanted_tags(run, parent_remote)
        created = self.dest.create_run(
            experiment.id, run_name=run.name, start_time=run.start_time, tags=tags,
            parent_run_id=parent_remote,
        )
        report.created = True
        report.write_requests += 1
        return self.ledger.create(run.id, created.id, self.source.initial_cursor, in_doubt=False,
                                  tags=tags)

    def _plan_new(self, run: Run, report: RunReport) -> None:
        """Dry run, no remote run yet: everything is pending."""
        points, _ = self.source.pending(run, self.source.initial_cursor)
        batches = list(pack(points, [Param(k, v) for k, v in run.params.items()], [],
                            self.dest.limits))
        manifest = self.source.artifacts(run)
        report.created = True
        report.points, report.params, report.tags = len(points), len(run.params), len(run.tags) + 1
        report.artifacts = len(manifest)
        report.artifact_bytes = sum(size for _, size in manifest.values())
        report.status_pushed = run.status != RUNNING
        report.write_requests = 1 + len(batches) + len(manifest) + int(report.status_pushed)

    # -- metrics, params, tags ------------------------------------------------------------
    def _send_data(self, run: Run, entry: RunEntry, report: RunReport) -> None:
        wanted = self._wanted_tags(run, entry.tags.get(TAG_PARENT_RUN_ID))
        params = [Param(k, v) for k, v in run.params.items() if k not in entry.params]
        tags = [RunTag(k, v) for k, v in wanted.items() if entry.tags.get(k) != v]
        in_doubt = entry.in_doubt
        if in_doubt:
            report.reconciled = True
            points, end = self._missing_points(run, entry)
            remote = self.dest.get_run(entry.remote_run_id)
            landed_params = [p.key for p in params if remote.params.get(p.key) == p.value]
            landed_tags = [(t.key, t.value) for t in tags if remote.tags.get(t.key) == t.value]
            params = [p for p in params if p.key not in set(landed_params)]
            tags = [t for t in tags if remote.tags.get(t.key) != t.value]
            if not self.dry_run and (landed_params or landed_tags):
                self.ledger.ack_batch(run.id, entry, cursor=entry.cursor, in_doubt=True,
                                      params=landed_params, tags=landed_tags)
        else:
            points, end = self.source.pending(run, entry.cursor)
        batches = list(pack(points, params, tags, self.dest.limits))
        if self.dry_run:
            report.points += len(points)
            report.params += len(params)
            report.tags += len(tags)
            report.write_requests += len(batches)
            return
        if not batches:
            if in_doubt or entry.cursor != end:
                self.ledger.ack_batch(run.id, entry, cursor=end, in_doubt=False)
            return
        # the cursor once batches[0..i] have landed: a range advances batch by batch; a
        # difference (in doubt) proves nothing until all of it has landed, then jumps to the end
        cursors, cursor = [], entry.cursor
        for i, batch in enumerate(batches):
            if in_doubt:
                cursor = end if i == len(batches) - 1 else entry.cursor
            else:
                cursor = self.source.advance(cursor, batch.metrics)
            cursors.append(cursor)

        def send(i: int) -> None:
            batch = batches[i]
            self.dest.log_batch(entry.remote_run_id, batch.metrics, batch.params, batch.tags)

        def acknowledge(start: int, stop: int, busy: bool) -> None:
            landed = batches[start:stop]
            self.ledger.ack_batch(
                run.id, entry, cursor=cursors[stop - 1],
                in_doubt=busy or (in_doubt and stop < len(batches)),
                params=[p.key for b in landed for p in b.params],
                tags=[(t.key, t.value) for b in landed for t in b.tags],
            )
            report.write_requests += stop - start
            for batch in landed:
                report.points += len(batch.metrics)
                report.params += len(batch.params)
                report.tags += len(batch.tags)
                self.progress.points(len(batch.metrics))

        send_pipelined(len(batches), send, acknowledge, width=self.max_in_flight,
                       before_send=lambda: self.ledger.set_in_doubt(run.id, entry))

    def _missing_points(self, run: Run, entry: RunEntry) -> tuple[list[Metric], Any]:
        """Source points of the keys with pending points that the destination lacks, and the
        cursor at the end of the source. Keys, points and cursor come from ONE read of the
        source: a chunk the trainer commits meanwhile is left for the next pass, never skipped.

        Identical points (key, value, timestamp, step) are one point here: MLflow servers keep
        a single copy of them, so counting copies would resend them on every reconciliation.
        """
        everything, end = self.source.pending(run, self.source.initial_cursor)
        keys = self.source.keys_after(everything, entry.cursor)
        missing: list[Metric] = []
        for key in sorted(keys):
            remote = set(map(_identity, self.dest.get_metric_history(entry.remote_run_id, key)))
            missing.extend(p for p in everything if p.key == key and _identity(p) not in remote)
        return missing, end

    # -- dataset inputs -------------------------------------------------------------------
    def _send_inputs(self, run: Run, entry: RunEntry, report: RunReport) -> None:
        """Dataset inputs the ledger does not hold, sent with ``log_inputs`` (re-sending is
        harmless: a destination adds an input once). Skipped for destinations without it."""
        if not has(self.dest, "log_inputs"):
            return
        pending = [i for i in self.source.backend.get_inputs(run.id) if i.key not in entry.inputs]
        for start in range(0, len(pending), INPUTS_PER_CALL):
            chunk = pending[start:start + INPUTS_PER_CALL]
            report.inputs += len(chunk)
            report.write_requests += 1
            if not self.dry_run:
                self.dest.log_inputs(entry.remote_run_id, chunk)
                self.ledger.ack_inputs(run.id, entry, [i.key for i in chunk])

    # -- artifacts and status -------------------------------------------------------------
    def _send_artifacts(self, run: Run, entry: RunEntry, report: RunReport) -> None:
        pending = [(path, sha, size) for path, (sha, size) in sorted(self.source.artifacts(run).items())
                   if entry.artifacts.get(path) != sha]
        report.artifacts += len(pending)
        report.artifact_bytes += sum(size for _, _, size in pending)
        for start in range(0, len(pending), ARTIFACTS_PER_CALL):
            chunk = pending[start:start + ARTIFACTS_PER_CALL]
            report.write_requests += len(chunk)
            if self.dry_run:
                continue
            self.dest.upload_artifacts(
                entry.remote_run_id, [(self.source.artifact_file(run, path), path)
                                      for path, _, _ in chunk])
            for path, sha, size in chunk:
                self.ledger.ack_artifact(run.id, entry, path, sha)
                self.progress.artifact_bytes(size)

    def _send_status(self, run: Run, entry: RunEntry, report: RunReport) -> None:
        if run.status == RUNNING or (entry.status, entry.end_time) == (run.status, run.end_time):
            return
        report.status_pushed = True
        report.write_requests += 1
        if not self.dry_run:
            self.dest.update_run(entry.remote_run_id, status=run.status, end_time=run.end_time)
            self.ledger.ack_status(run.id, entry, run.status, run.end_time)
