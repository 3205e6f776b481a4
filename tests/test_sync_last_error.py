"""The ledger keeps the last error of a sync per destination until a pass ends well; ``status``
and the UI show it (nothing is asked of the destination)."""

from __future__ import annotations

import trackbridge as tb
from trackbridge.local.store import LocalBackend
from trackbridge.sync import SyncPlan, select_runs, sync
from trackbridge.sync.ledger import Ledger
from trackbridge.sync.sources import JournalSource
from trackbridge.sync.status import run_status


class Refusing(LocalBackend):
    refuse = True

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        if Refusing.refuse:
            raise tb.ValidationError("INVALID_PARAMETER_VALUE: refused (injected)")
        super().log_batch(run_id, metrics, params, tags)


def test_last_error_is_kept_until_a_pass_ends_well(store, tmp_path):
    with tb.start_run(experiment="e", config=store) as run:
        run.log_metric("loss", 1.0)
    source = LocalBackend(store["local"]["path"])
    dest = Refusing(tmp_path / "dest")
    plan = SyncPlan(source, dest, source)
    ledger = Ledger.of(source, dest)
    [report] = sync(plan, select_runs(source), backoff=0.001)
    assert report.error
    status = run_status(JournalSource(source), ledger, source.get_run(run.id))
    assert "INVALID_PARAMETER_VALUE: refused (injected)" in status.last_error
    assert status.last_error_time > 0 and not status.synced
    assert status.as_dict()["last_error"] == status.last_error
    Refusing.refuse = False
    try:
        [report] = sync(plan, select_runs(source), backoff=0.001)
    finally:
        Refusing.refuse = True
    assert report.error is None
    status = run_status(JournalSource(source), ledger, source.get_run(run.id))
    assert status.synced and status.last_error is None and status.last_error_time is None


class Unreachable(LocalBackend):
    """A destination that fails before any remote run exists (as an unreachable server does)."""

    def get_or_create_experiment(self, name):
        raise tb.errors.BackendError("cannot reach the service (injected)")


def test_a_destination_whose_first_sync_failed_is_listed_with_its_error(store, tmp_path):
    from starlette.testclient import TestClient

    from trackbridge.ui.app import create_app

    with tb.start_run(experiment="e", config=store) as run:
        run.log_metric("loss", 1.0)
    source = LocalBackend(store["local"]["path"])
    dest = Unreachable(tmp_path / "dest")
    [report] = sync(SyncPlan(source, dest, source), select_runs(source), backoff=0.001)
    assert report.error
    ledger = Ledger.of(source, dest)
    assert ledger.destinations() == [ledger.destination]  # known from its error alone
    app = create_app(source)
    with TestClient(app, base_url="http://127.0.0.1:5005") as client:
        (row,) = client.get(f"/api/runs/{run.id}").json()["sync"]
    assert row["destination"] == ledger.destination and row["remote_run_id"] is None
    assert "cannot reach the service (injected)" in row["last_error"]
    assert row["points_pending"] == row["points_total"] == 1 and not row["synced"]
