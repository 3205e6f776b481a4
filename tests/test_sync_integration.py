"""Sync against a real MLflow tracking server through the Databricks plugin, with a
fault-injecting proxy in between (429, 503, resets, and answers lost after the server applied
the request). What lands is read back from the server and must equal the source exactly, and
the proxy's record of what the server applied proves no point was sent twice."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

import trackbridge as tb
from testsupport.faults import FaultProxy
from trackbridge.config import load_config
from trackbridge.local.store import LocalBackend
from trackbridge.registry import open_backend
from trackbridge.sync import SOURCE_RUN_TAG, SyncPlan, select_runs, sync

pytestmark = pytest.mark.integration
LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"


@pytest.fixture
def databricks_env(monkeypatch):
    for var in list(os.environ):
        if var.startswith(("DATABRICKS_", "ARM_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test-token-not-a-secret")


@pytest.fixture
def proxy(mlflow_server):
    proxy = FaultProxy(mlflow_server.url).start()
    yield proxy
    proxy.stop()


def databricks_config(tmp_path, host, journal=None, **extra):
    path = tmp_path / f"databricks-{uuid.uuid4().hex[:6]}.toml"
    lines = ['backend = "databricks"', f'experiment = "/Shared/sync-{uuid.uuid4().hex[:10]}"',
             *(f"{k} = {v}" for k, v in extra.items()),
             "[databricks]", f'host = "{host}"', "retry_timeout_seconds = 30",
             "max_requests_per_second = 0"]
    if journal:
        lines += ["[local]", f'path = "{journal}"', "flush_interval = 0.2"]
    path.write_text("\n".join(lines) + "\n")
    return path


def log_training_run(config, n_points=5000, n_params=20, files=None):
    with tb.start_run(run_name="train", config=config, tags={"team": "ml"}) as run:
        run.log_params({f"param_{i}": i * 0.5 for i in range(n_params)})
        for i in range(n_points):
            key = ("loss", "acc", "lr")[i % 3]
            value = float("nan") if i == 7 else (1.0 / (i + 1) if key == "loss" else i * 1e-3)
            run.log_metric(key, value, step=i // 3)
        for rel, data in (files or {}).items():
            run.log_text(data, rel)
    return run


def assert_applied_exactly_once(source: LocalBackend, run_id: str, proxy: FaultProxy):
    """Every source point was applied by the server exactly once (its history cannot tell:
    the MLflow server drops a point identical to one it already holds)."""
    def ident(m):
        return (m.key, "nan" if math.isnan(m.value) else m.value, m.timestamp, m.step)

    expected = Counter(ident(m) for key in source.get_run(run_id).metrics
                       for m in source.get_metric_history(run_id, key))
    assert Counter(proxy.applied_metrics) == expected


def assert_remote_equals_source(source: LocalBackend, run_id: str, remote, remote_id: str, tmp_path):
    src, dst = source.get_run(run_id), remote.get_run(remote_id)
    assert dst.params == src.params
    assert dst.tags[SOURCE_RUN_TAG] == run_id and dst.tags["team"] == "ml"
    assert (dst.status, dst.end_time, dst.start_time) == (src.status, src.end_time, src.start_time)
    for key in src.metrics:
        ours = source.get_metric_history(run_id, key)
        theirs = remote.get_metric_history(remote_id, key)
        assert len(theirs) == len(ours), key  # no missing point, no duplicated point
        for a, b in zip(ours, theirs):
            assert (a.step, a.timestamp) == (b.step, b.timestamp)
            assert (math.isnan(a.value) and math.isnan(b.value)) or a.value == b.value
    for path in source.artifact_manifest(run_id):
        ours, theirs = tmp_path / "ours" / path, tmp_path / "theirs" / path
        source.download_artifact(run_id, path, ours)
        remote.download_artifact(remote_id, path, theirs)
        assert theirs.read_bytes() == ours.read_bytes(), path


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_exact_copy_through_429_503_resets_and_lost_answers(store, databricks_env, proxy,
                                                           mlflow_server, tmp_path, max_in_flight):
    run = log_training_run(store, files={"plots/a.txt": "a" * 10_000, "notes.txt": "hello"})
    proxy.inject(LOG_BATCH, "429", "503", "reset", "drop", None, "drop", "drop")
    proxy.inject("/api/2.0/mlflow/runs/update", "503")
    source = LocalBackend(store["local"]["path"])
    dest = open_backend(load_config(databricks_config(tmp_path, proxy.url)))
    plan = SyncPlan(source, dest, source, experiment=load_config(
        databricks_config(tmp_path, proxy.url)).experiment, max_in_flight=max_in_flight)
    [report] = sync(plan, select_runs(source), backoff=0.05)
    assert report.error is None, report.error
    assert report.reconciled  # the lost answers were resolved by reading the server
    direct = open_backend(load_config(databricks_config(tmp_path, mlflow_server.url)))
    assert_remote_equals_source(source, run.id, direct, report.remote_run_id, tmp_path)
    assert_applied_exactly_once(source, run.id, proxy)


def test_minimal_number_of_write_requests(store, databricks_env, proxy, tmp_path):
    log_training_run(store, n_points=10_000, n_params=150)
    source = LocalBackend(store["local"]["path"])
    config = load_config(databricks_config(tmp_path, proxy.url))
    plan = SyncPlan(source, open_backend(config), source, experiment=config.experiment)
    [report] = sync(plan, select_runs(source))
    # 10,000 points + 150 params at 1000 entities per request: 11 log-batch requests, not one more
    assert proxy.writes()[LOG_BATCH] == 11 == report.write_requests - 2  # + create_run, update_run
    before = proxy.writes()
    [again] = sync(plan, select_runs(source))
    assert proxy.writes() == before and again.write_requests == 0  # nothing new: no write


def test_sigkill_mid_sync_then_rerun_is_exact(store, databricks_env, proxy, mlflow_server, tmp_path):
    run = log_training_run(store, n_points=15_000)
    to = databricks_config(tmp_path, proxy.url)
    command = [sys.executable, "-m", "trackbridge", "sync", "--to", str(to), "--from",
               store["local"]["path"]]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ})
    deadline = time.monotonic() + 120
    while proxy.writes()[LOG_BATCH] < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    assert child.poll() is None, child.communicate()
    child.send_signal(signal.SIGKILL)
    child.wait()
    proxy.wait_idle()  # what the dead syncer had sent lands (or fails) before the rerun
    assert proxy.writes()[LOG_BATCH] < 15  # it really was stopped mid-way
    rerun = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    source = LocalBackend(store["local"]["path"])
    direct = open_backend(load_config(databricks_config(tmp_path, mlflow_server.url)))
    [remote] = list(direct.search_runs(
        [direct.get_experiment(load_config(to).experiment).id]))
    assert_remote_equals_source(source, run.id, direct, remote.id, tmp_path)
    assert_applied_exactly_once(source, run.id, proxy)


def test_lost_ledger_does_not_duplicate_the_remote_run(store, databricks_env, proxy, tmp_path):
    run = log_training_run(store, n_points=3000)
    source = LocalBackend(store["local"]["path"])
    config = load_config(databricks_config(tmp_path, proxy.url))
    dest = open_backend(config)
    plan = SyncPlan(source, dest, source, experiment=config.experiment)
    [first] = sync(plan, select_runs(source))
    with source.transaction() as conn:  # the store was copied without its ledger
        for table in ("sync_runs", "sync_params", "sync_tags", "sync_artifacts"):
            conn.execute(f"DELETE FROM {table}")
    [again] = sync(plan, select_runs(source))
    assert again.adopted and again.remote_run_id == first.remote_run_id
    experiment = dest.get_experiment(config.experiment)
    assert [r.id for r in dest.search_runs([experiment.id])] == [first.remote_run_id]
    assert_remote_equals_source(source, run.id, dest, first.remote_run_id, tmp_path)
    assert_applied_exactly_once(source, run.id, proxy)


def test_online_mode_survives_the_server_going_away(databricks_env, proxy, mlflow_server, tmp_path,
                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "journal"
    config = databricks_config(tmp_path, proxy.url, journal=journal, sync_timeout=60)
    with tb.start_run(run_name="online", config=config, tags={"team": "ml"}) as run:
        run.log_params({"lr": 0.1})
        for i in range(300):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
        assert run.sync(timeout=30) and run.remote_id
        proxy.down = True  # the network drops mid-training
        started = time.monotonic()
        for i in range(300, 2000):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
        run.flush()
        assert time.monotonic() - started < 5  # training did not wait for the network
        time.sleep(1.5)  # the worker tries, fails, backs off
        proxy.down = False  # back up before the end
    direct = open_backend(load_config(databricks_config(tmp_path, mlflow_server.url)))
    source = LocalBackend(journal)
    assert_remote_equals_source(source, run.id, direct, run.remote_id, tmp_path)
    assert_applied_exactly_once(source, run.id, proxy)
    assert direct.get_run(run.remote_id).status == "FINISHED"


def mlflow_config(tmp_path, url, **extra):
    path = tmp_path / f"mlflow-{uuid.uuid4().hex[:6]}.toml"
    path.write_text("\n".join([
        'backend = "mlflow"', f'experiment = "sync-{uuid.uuid4().hex[:10]}"',
        *(f"{k} = {v}" for k, v in extra.items()),
        "[mlflow]", f'tracking_uri = "{url}"', "retry_timeout_seconds = 30"]) + "\n")
    return path


def test_pipelined_sync_to_the_mlflow_backend_through_faults_is_exact(store, proxy, mlflow_server,
                                                                      tmp_path, monkeypatch):
    """Eight batches in flight per run, every kind of fault on the way: exactly once."""
    for var in [v for v in os.environ if v.startswith("MLFLOW_TRACKING_")]:
        monkeypatch.delenv(var)
    run = log_training_run(store, n_points=20_000, files={"notes.txt": "hello"})
    proxy.inject(LOG_BATCH, None, "drop", "429", None, "reset", "503", "drop", None, "drop",
                 "reset")
    proxy.inject("/api/2.0/mlflow/runs/create", "503")
    source = LocalBackend(store["local"]["path"])
    config = load_config(mlflow_config(tmp_path, proxy.url, max_in_flight=8))
    assert config.max_in_flight == 8
    plan = SyncPlan(source, open_backend(config), source, experiment=config.experiment,
                    max_in_flight=config.max_in_flight)
    [report] = sync(plan, select_runs(source), backoff=0.05)
    assert report.error is None, report.error
    assert report.reconciled
    direct = open_backend(load_config(mlflow_config(tmp_path, mlflow_server.url)))
    assert_remote_equals_source(source, run.id, direct, report.remote_run_id, tmp_path)
    assert_applied_exactly_once(source, run.id, proxy)
    before = proxy.writes()
    [again] = sync(plan, select_runs(source))
    assert again.write_requests == 0 and proxy.writes() == before
