"""Offline-first sync: copy runs from a source backend to a destination, exactly once.

``sync(...)`` selects runs and drives :class:`~trackbridge.sync.engine.SyncEngine` over them
(parents first, ``workers`` runs at a time, one destination instance and so one rate limiter
shared by all); ``--follow`` repeats passes until the selected runs have ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..backend import Backend
from ..config import DEFAULT_MAX_IN_FLIGHT
from ..entities import RUNNING, Run
from ..errors import NotFoundError, SyncError
from ..local.store import LocalBackend
from .engine import SOURCE_RUN_TAG, Progress, RunReport, SyncEngine
from .ledger import Ledger, destination_id
from .sources import source_for

__all__ = ["SOURCE_RUN_TAG", "Progress", "RunReport", "SyncEngine", "SyncPlan", "destination_id",
           "sync", "select_runs"]


@dataclass
class SyncPlan:
    """Where from, where to, and where the ledger lives."""

    source: Backend
    destination: Backend
    ledger_store: LocalBackend
    experiment: str | None = None  # destination experiment; None: the source run's
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # metric batches of one run sent at once

    def engine(self, **kwargs: Any) -> SyncEngine:
        ledger = Ledger.of(self.ledger_store, self.destination)
        kwargs.setdefault("max_in_flight", self.max_in_flight)
        return SyncEngine(source_for(self.source), self.destination, ledger,
                          experiment=self.experiment, **kwargs)


def select_runs(source: Backend, experiment: str | None = None,
                run_ids: Sequence[str] = ()) -> list[Run]:
    """The runs to sync, parents before children."""
    if run_ids:
        runs = [source.get_run(r) for r in run_ids]
    else:
        if experiment is not None:
            found = source.get_experiment(experiment)
            if found is None:
                raise NotFoundError(f"experiment {experiment!r} not found in the {source.describe()}")
            ids = [found.id]
        else:
            ids = [e.id for e in source.list_experiments()]
        runs = list(source.search_runs(ids)) if ids else []
    depth = _depths(runs)
    return sorted(runs, key=lambda r: (depth[r.id], r.start_time))


def _depths(runs: Sequence[Run]) -> dict[str, int]:
    """How many ancestors of each run are among ``runs``."""
    by_id = {r.id: r for r in runs}
    out: dict[str, int] = {}
    for run in runs:
        d, cur, seen = 0, run, {run.id}
        while cur.parent_run_id in by_id and cur.parent_run_id not in seen:
            cur = by_id[cur.parent_run_id]
            seen.add(cur.id)
            d += 1
        out[run.id] = d
    return out


def sync(
    plan: SyncPlan,
    runs: Sequence[Run],
    *,
    dry_run: bool = False,
    workers: int = 1,
    follow: bool = False,
    poll_seconds: float = 2.0,
    progress: Progress | None = None,
    on_pass: Callable[[list[RunReport]], None] | None = None,
    **engine_options: Any,
) -> list[RunReport]:
    """Sync ``runs``; with ``follow``, repeat until every one has ended. Returns the last
    pass's reports (failed runs carry ``error``); raises nothing for a single failed run.
    ``engine_options`` go to :class:`SyncEngine` (``attempts``, ``backoff``)."""
    engine = plan.engine(dry_run=dry_run, progress=progress, **engine_options)
    ids = [r.id for r in runs]
    while True:
        reports = _one_pass(engine, runs, workers)
        if on_pass:
            on_pass(reports)
        if not follow or dry_run:
            return reports
        runs = [plan.source.get_run(i) for i in ids]
        if all(r.status != RUNNING for r in runs) and all(rep.error is None for rep in reports):
            reports = _one_pass(engine, runs, workers)  # push the final status and stragglers
            if on_pass:
                on_pass(reports)
            return reports
        time.sleep(poll_seconds)


def _one_pass(engine: SyncEngine, runs: Sequence[Run], workers: int) -> list[RunReport]:
    def one(run: Run) -> RunReport:
        try:
            return engine.sync_run(run.id)
        except SyncError as exc:
            return RunReport(run.id, error=str(exc), status=run.status)

    levels: dict[int, list[Run]] = {}
    depth = _depths(runs)
    for run in runs:
        levels.setdefault(depth[run.id], []).append(run)
    reports: list[RunReport] = []
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for depth in sorted(levels):  # parents before children
            reports.extend(pool.map(one, levels[depth]))
    return reports
