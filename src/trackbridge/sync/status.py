"""What is synced and what is pending, from the ledger alone (no request to the destination)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..entities import RUNNING, TAG_PARENT_RUN_ID, Run
from .engine import SOURCE_RUN_TAG
from .ledger import Ledger
from .sources import Source


@dataclass
class RunStatus:
    source_run_id: str
    name: str | None
    status: str
    destination: str
    remote_run_id: str | None
    points_total: int
    points_pending: int | None  # None when the ledger is in doubt (resolved on the next sync)
    params_pending: int
    tags_pending: int
    artifacts_pending: int
    status_pending: bool
    #: the message of the last pass that failed (None once a pass ends well), and when (ms)
    last_error: str | None = None
    last_error_time: int | None = None

    @property
    def synced(self) -> bool:
        return (self.remote_run_id is not None and self.points_pending == 0 and not self.params_pending
                and not self.tags_pending and not self.artifacts_pending and not self.status_pending)

    def as_dict(self) -> dict:
        return {**asdict(self), "synced": self.synced}


def run_status(source: Source, ledger: Ledger, run: Run) -> RunStatus:
    entry = ledger.load(run.id)
    total = source.total(run)
    artifacts = source.artifacts(run)
    tags = {k: v for k, v in run.tags.items() if k != TAG_PARENT_RUN_ID}
    error = ledger.last_error(run.id) or (None, None)
    if entry is None:
        return RunStatus(run.id, run.name, run.status, ledger.destination, None, total, total,
                         len(run.params), len(tags) + 1, len(artifacts), run.status != RUNNING,
                         *error)
    return RunStatus(
        run.id, run.name, run.status, ledger.destination, entry.remote_run_id, total,
        None if entry.in_doubt else source.pending_count(run, entry.cursor),
        len(set(run.params) - entry.params),
        sum(1 for k, v in {**tags, SOURCE_RUN_TAG: run.id}.items() if entry.tags.get(k) != v),
        sum(1 for path, (sha, _) in artifacts.items() if entry.artifacts.get(path) != sha),
        run.status != RUNNING and (entry.status, entry.end_time) != (run.status, run.end_time),
        *error,
    )
