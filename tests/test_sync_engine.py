"""The sync engine, local store to local store, with faults injected at the destination."""

from __future__ import annotations

import math
import sqlite3

import pytest

import trackbridge as tb
from trackbridge.errors import BackendError, SyncError
from trackbridge.local.store import LocalBackend
from trackbridge.sync import SOURCE_RUN_TAG, SyncPlan, select_runs, sync


class Destination(LocalBackend):
    """A destination that counts write requests and fails on a schedule.

    ``faults`` is a list consumed one per log_batch call: None (ok), "refuse" (fails before
    applying), "lose" (applies, then the answer is lost), "half" (applies the first half of
    the metrics, then fails).
    """

    def __init__(self, path):
        super().__init__(path)
        self.faults: list[str | None] = []
        self.writes: list[str] = []

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self.writes.append("log_batch")
        fault = self.faults.pop(0) if self.faults else None
        if fault == "refuse":
            raise BackendError("503 Service Unavailable (injected)")
        if fault == "half":
            super().log_batch(run_id, metrics[: len(metrics) // 2])
            raise BackendError("connection reset mid-batch (injected)")
        super().log_batch(run_id, metrics, params, tags)
        if fault == "lose":
            raise BackendError("read timed out after sending (injected)")

    def create_run(self, *args, **kwargs):
        self.writes.append("create_run")
        return super().create_run(*args, **kwargs)

    def update_run(self, *args, **kwargs):
        self.writes.append("update_run")
        return super().update_run(*args, **kwargs)

    def upload_artifact(self, *args, **kwargs):
        self.writes.append("upload_artifact")
        return super().upload_artifact(*args, **kwargs)

    @property
    def limits(self):
        return tb.Limits()  # MLflow's: 1000 metrics / 100 params / 100 tags per batch


@pytest.fixture
def source(store):
    return store


@pytest.fixture
def dest(tmp_path):
    backend = Destination(tmp_path / "dest")
    yield backend
    backend.close()


def plan_for(store_config, dest) -> SyncPlan:
    local = LocalBackend(store_config["local"]["path"])
    return SyncPlan(source=local, destination=dest, ledger_store=local)


def log_run(config, n_points=2500, keys=("loss", "acc"), artifacts=None, **kwargs):
    with tb.start_run(config=config, **kwargs) as run:
        run.log_params({f"p{i}": i for i in range(150)})
        run.set_tags({"team": "ml"})
        for i in range(n_points):
            run.log_metric(keys[i % len(keys)], i * 0.25 if i % 97 else float("nan"), step=i // len(keys))
        for path, data in (artifacts or {}).items():
            run.log_text(data, path)
    return run


def assert_identical(source: LocalBackend, dest: LocalBackend, run_id: str, remote_id: str):
    src, dst = source.get_run(run_id), dest.get_run(remote_id)
    assert dst.params == src.params
    assert dst.status == src.status and dst.end_time == src.end_time
    assert dst.start_time == src.start_time and dst.name == src.name
    assert dst.tags[SOURCE_RUN_TAG] == run_id
    for key, value in src.tags.items():
        if key != "mlflow.parentRunId":
            assert dst.tags[key] == value
    for key in src.metrics:
        ours = [(m.value, m.timestamp, m.step) for m in source.get_metric_history(run_id, key)]
        theirs = [(m.value, m.timestamp, m.step) for m in dest.get_metric_history(remote_id, key)]
        assert len(theirs) == len(ours), key
        for a, b in zip(ours, theirs):
            assert (math.isnan(a[0]) and math.isnan(b[0])) or a == b
    assert source.artifact_manifest(run_id).values().__len__() == len(dest.artifact_manifest(remote_id))
    for path, (sha, _) in source.artifact_manifest(run_id).items():
        assert dest.artifact_manifest(remote_id)[path][0] == sha


def test_sync_copies_everything_in_the_fewest_requests(source, dest):
    run = log_run(source, artifacts={"a.txt": "alpha", "dir/b.txt": "beta"})
    plan = plan_for(source, dest)
    [report] = sync(plan, select_runs(plan.source))
    assert report.error is None and report.created and not report.reconciled
    assert_identical(plan.source, dest, run.id, report.remote_run_id)
    # 2,500 points + 150 params -> 3 log-batch requests (the minimum), +1 create, +2 files, +1 status
    assert dest.writes.count("log_batch") == 3
    assert dest.writes == ["create_run", "log_batch", "log_batch", "log_batch",
                           "upload_artifact", "upload_artifact", "update_run"]


def test_second_sync_with_nothing_new_sends_no_write(source, dest):
    log_run(source)
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source))
    dest.writes.clear()
    [report] = sync(plan, select_runs(plan.source))
    assert dest.writes == [] and not report.sent_anything


def test_incremental_sync_of_a_resumed_run(source, dest):
    run = log_run(source, n_points=100)
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source))
    with tb.start_run(run_id=run.id, config=source) as again:
        again.log_metric("loss", 99.0, step=1000)
        again.log_text("new", "new.txt")
    dest.writes.clear()
    [report] = sync(plan, select_runs(plan.source))
    assert report.points == 1
    assert dest.writes == ["log_batch", "upload_artifact", "update_run"]
    assert_identical(plan.source, dest, run.id, report.remote_run_id)


@pytest.mark.parametrize("faults", [
    ["refuse"], ["lose"], ["half"], [None, "lose", "half"], ["half", "lose", "refuse", None, "lose"],
])
def test_failures_never_duplicate_nor_lose_a_point(source, dest, faults):
    run = log_run(source, n_points=3000)
    dest.faults = list(faults)
    plan = plan_for(source, dest)
    [report] = sync(plan, select_runs(plan.source), backoff=0.001)
    assert report.error is None, report.error
    assert report.reconciled  # a failed request leaves doubt: resolved by reading the destination
    assert_identical(plan.source, dest, run.id, report.remote_run_id)


def test_a_ledger_in_doubt_after_a_crash_is_resolved_against_the_destination(source, dest):
    """SIGKILL between sending a batch and recording its answer: simulated by a lost answer
    whose retry never happens (the process 'dies'), then a fresh sync."""
    run = log_run(source, n_points=3000)
    plan = plan_for(source, dest)
    engine = plan.engine(attempts=1)
    dest.faults = [None, "lose"]
    with pytest.raises(Exception, match="read timed out"):
        engine.sync_run(run.id)
    assert engine.ledger.load(run.id).in_doubt
    [report] = sync(plan, select_runs(plan.source), backoff=0.001)
    assert report.reconciled
    assert_identical(plan.source, dest, run.id, report.remote_run_id)


def test_lost_ledger_finds_the_remote_run_by_tag(source, dest):
    run = log_run(source, n_points=500, artifacts={"a.txt": "alpha"})
    plan = plan_for(source, dest)
    [first] = sync(plan, select_runs(plan.source))
    with sqlite3.connect(plan.ledger_store.db_path) as conn:
        for table in ("sync_runs", "sync_params", "sync_tags", "sync_artifacts"):
            conn.execute(f"DELETE FROM {table}")
    dest.writes.clear()
    [again] = sync(plan, select_runs(plan.source))
    assert again.adopted and again.remote_run_id == first.remote_run_id
    assert "create_run" not in dest.writes and "log_batch" not in dest.writes
    assert len(list(dest.search_runs([e.id for e in dest.list_experiments()]))) == 1
    assert_identical(plan.source, dest, run.id, first.remote_run_id)


def test_changed_artifact_is_uploaded_again(source, dest, tmp_path):
    run = log_run(source, n_points=10, artifacts={"model/config.json": "v1"})
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source))
    with tb.start_run(run_id=run.id, config=source) as again:
        again.log_text("v2", "model/config.json")
    dest.writes.clear()
    [report] = sync(plan, select_runs(plan.source))
    assert dest.writes == ["upload_artifact", "update_run"]
    dest.download_artifact(report.remote_run_id, "model/config.json", tmp_path / "c.json")
    assert (tmp_path / "c.json").read_text() == "v2"


def test_parents_are_created_first_and_children_point_at_the_remote_parent(source, dest):
    with tb.start_run(experiment="sweep", config=source) as parent:
        children = []
        for lr in (0.1, 0.2):
            with tb.start_run(nested=True, config=source) as child:
                child.log_param("lr", lr)
            children.append(child)
    plan = plan_for(source, dest)
    reports = {r.source_run_id: r for r in sync(plan, select_runs(plan.source), workers=2)}
    remote_parent = reports[parent.id].remote_run_id
    for child in children:
        remote = dest.get_run(reports[child.id].remote_run_id)
        assert remote.parent_run_id == remote_parent
        assert remote.tags["mlflow.parentRunId"] == remote_parent


def test_only_selected_runs_but_parents_come_along(source, dest):
    with tb.start_run(experiment="sweep", config=source) as parent:
        with tb.start_run(nested=True, config=source) as child:
            pass
    with tb.start_run(experiment="other", config=source):
        pass
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source, run_ids=[child.id]))
    synced = {r.tags[SOURCE_RUN_TAG] for r in dest.search_runs([e.id for e in dest.list_experiments()])}
    assert synced == {parent.id, child.id}


def test_dry_run_counts_and_sends_nothing(source, dest):
    log_run(source, n_points=2500, artifacts={"a.txt": "alpha"})
    plan = plan_for(source, dest)
    [report] = sync(plan, select_runs(plan.source), dry_run=True)
    assert dest.writes == []
    assert (report.points, report.params, report.artifacts, report.artifact_bytes) == (2500, 150, 1, 5)
    assert report.write_requests == 1 + 3 + 1 + 1  # create, 3 batches, 1 file, status
    assert plan.engine().ledger.load(report.source_run_id) is None


def test_permanent_error_stops_with_a_clear_message(source, dest):
    run = log_run(source, n_points=10)
    plan = plan_for(source, dest)

    def refuse(*args, **kwargs):
        raise tb.ValidationError("INVALID_PARAMETER_VALUE: metric key too long (injected)")

    dest.log_batch = refuse
    [report] = sync(plan, select_runs(plan.source), backoff=0.001)
    assert report.error and run.id in report.error and "INVALID_PARAMETER_VALUE" in report.error


def test_follow_ships_new_points_while_the_run_goes_and_stops_when_it_ends(source, dest):
    import threading
    import time

    run = tb.start_run(config=source)
    run.log_metric("loss", 1.0, step=0)
    run.flush()
    plan = plan_for(source, dest)
    result = {}
    follower = threading.Thread(target=lambda: result.update(reports=sync(
        plan, select_runs(plan.source), follow=True, poll_seconds=0.1)))
    follower.start()
    for step in range(1, 4):
        run.log_metric("loss", float(step), step=step)
        run.flush()
        deadline = time.monotonic() + 5
        remote = None
        while time.monotonic() < deadline:
            ledger = plan.engine().ledger.load(run.id)
            remote = ledger and dest.get_metric_history(ledger.remote_run_id, "loss")
            if remote and len(remote) == step + 1:
                break
            time.sleep(0.05)
        assert remote and len(remote) == step + 1  # shipped within seconds, run still going
    assert follower.is_alive()
    run.end()
    follower.join(timeout=10)
    assert not follower.is_alive()
    [report] = result["reports"]
    assert dest.get_run(report.remote_run_id).status == "FINISHED"


def test_one_syncer_at_a_time_per_run_and_destination(source, dest):
    from trackbridge.errors import SyncBusyError

    run = log_run(source, n_points=10)
    plan = plan_for(source, dest)
    first, second = plan.engine(), plan.engine()
    assert first.ledger.acquire(run.id, "someone-else-in-this-process")
    with pytest.raises(SyncBusyError, match=f"run {run.id} is being synced"):
        second.sync_run(run.id)
    assert dest.writes == []  # the busy syncer sent nothing
    first.ledger.release(run.id, "someone-else-in-this-process")
    assert second.sync_run(run.id).created


def test_reconciliation_sends_a_key_first_logged_while_it_reads_the_source(source, dest):
    """The run is still logging while a pass resolves doubt: a chunk with a new key committed
    between the engine's reads of the source must be sent (now or on the next pass), and the
    ledger must never call the run synced before it is."""
    run = tb.start_run(config=source)
    run.log_metrics({"loss": 1.0}, step=0)
    run.log_metrics({"loss": 0.5}, step=1)
    run.flush()
    plan = plan_for(source, dest)
    engine = plan.engine(attempts=1)
    dest.faults = ["lose"]  # the first batch lands, its answer is lost: the ledger is in doubt
    with pytest.raises(SyncError):
        engine.sync_run(run.id)
    assert engine.ledger.load(run.id).in_doubt
    store = engine.source.store
    original = store.points_since
    reads = []

    def training_goes_on(run_id, position):
        result = original(run_id, position)
        reads.append(position)
        if len(reads) == 1:  # the trainer commits a chunk with a new key right after this read
            store.append(run_id, ["acc", 0.75, 1_000, 1])
        return result

    store.points_since = training_goes_on
    engine.sync_run(run.id)
    store.points_since = original
    engine.sync_run(run.id)
    run.end()
    engine.sync_run(run.id)
    remote = engine.ledger.load(run.id).remote_run_id
    assert [m.value for m in dest.get_metric_history(remote, "loss")] == [1.0, 0.5]
    assert [m.value for m in dest.get_metric_history(remote, "acc")] == [0.75]


class DedupDestination(Destination):
    """Keeps one copy of identical points (key, value, timestamp, step), as MLflow servers do."""

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        seen = {(m.key, m.value, m.timestamp, m.step) for k in {m.key for m in metrics}
                for m in self.get_metric_history(run_id, k)}
        fresh = []
        for m in metrics:
            if (m.key, m.value, m.timestamp, m.step) not in seen:
                seen.add((m.key, m.value, m.timestamp, m.step))
                fresh.append(m)
        super().log_batch(run_id, fresh, params, tags)


def test_identical_points_reconcile_once_against_a_destination_that_keeps_one(source, tmp_path):
    dest = DedupDestination(tmp_path / "dedup")
    run = tb.start_run(config=source)
    for _ in range(3):
        run.log_metric("loss", 0.5, step=1, timestamp=1_000)  # the same point, logged thrice
    run.log_metric("loss", 0.25, step=2, timestamp=2_000)
    run.end()
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source))
    with sqlite3.connect(plan.ledger_store.db_path) as conn:  # lose the ledger: adopt in doubt
        for table in ("sync_runs", "sync_params", "sync_tags", "sync_artifacts"):
            conn.execute(f"DELETE FROM {table}")
    for _ in range(2):
        dest.writes.clear()
        [report] = sync(plan, select_runs(plan.source))
        assert report.error is None
        assert "log_batch" not in dest.writes  # converged: nothing resent, pass after pass
    remote = report.remote_run_id
    assert [(m.value, m.step) for m in dest.get_metric_history(remote, "loss")] == [(0.5, 1), (0.25, 2)]
    dest.close()


class Unreachable(Destination):
    """The destination after the network went away: every call fails."""

    reachable = True

    def __getattribute__(self, name):
        if name in ("get_experiment", "get_or_create_experiment", "search_runs", "get_run",
                    "get_metric_history", "log_batch", "create_run") and \
                not object.__getattribute__(self, "reachable"):
            def down(*args, **kwargs):
                raise BackendError("connection refused (injected)")
            return down
        return object.__getattribute__(self, name)


def test_a_dry_run_with_the_destination_down_reports_the_ledgers_pending(source, tmp_path):
    dest = Unreachable(tmp_path / "down")
    run = tb.start_run(config=source)
    for i in range(1200):
        run.log_metric("loss", float(i), step=i)
    run.flush()
    plan = plan_for(source, dest)
    sync(plan, select_runs(plan.source))  # 1200 points landed
    for i in range(1200, 1500):
        run.log_metric("loss", float(i), step=i)
    run.log_param("late", 1)
    run.end()
    dest.reachable = False
    [report] = sync(plan, select_runs(plan.source), dry_run=True)  # a clean ledger: no question
    assert report.error is None and report.unchecked is None
    assert (report.points, report.params, report.status_pushed) == (300, 1, True)
    assert report.write_requests == 1 + 1  # one batch (300 points + 1 param), the status
    ledger = plan.engine().ledger
    ledger.set_in_doubt(run.id, ledger.load(run.id))  # now only the destination could tell
    [report] = sync(plan, select_runs(plan.source), dry_run=True)
    assert report.error is None and "connection refused" in report.unchecked
    assert (report.points, report.params, report.status_pushed) == (300, 1, True)
    dest.close()
