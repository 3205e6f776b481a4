"""Migration from MLflow's own stores, written by real MLflow, to a real MLflow server through
``trackbridge sync``: read back by MLflow's client, exactly equal; a SIGKILL mid-way then a
rerun is still exact (the proxy saw every point applied once); a rerun sends no write."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from mlflow_stores import mlflow_env, point_value, snapshot, write_store

from testsupport.faults import FaultProxy

pytestmark = pytest.mark.integration
POINTS = 4000
LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
#: store name -> the tracking URI real MLflow writes it with (from its own directory)
SOURCES = {"fs": ("file:./mlruns",), "sql": ("sqlite:///mlflow.db",)}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """``<root>/fs/mlruns`` and ``<root>/sql/mlflow.db``, each one experiment of four runs."""
    root = tmp_path_factory.mktemp("mlflow-stores")
    for name, (uri,) in SOURCES.items():
        write_store(root / name, uri, f"migrate-{name}", POINTS)
    return root


def source_arg(stores: Path, name: str) -> tuple[str, str]:
    """(the --from argument, the tracking URI MLflow's client reads the source with)."""
    root = stores / name
    if name == "fs":
        return str(root / "mlruns"), f"file:{root / 'mlruns'}"
    return f"sqlite:///{root / 'mlflow.db'}", f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture
def proxy(mlflow_server):
    proxy = FaultProxy(mlflow_server.url).start()
    yield proxy
    proxy.stop()


def destination(tmp_path: Path, url: str) -> tuple[Path, str]:
    experiment = f"migrated-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "to.toml"
    path.write_text(f'backend = "mlflow"\nexperiment = "{experiment}"\n'
                    f'[mlflow]\ntracking_uri = "{url}"\nretry_timeout_seconds = 60\n')
    return path, experiment


def sync_command(source: str, to: Path) -> list[str]:
    return [sys.executable, "-m", "trackbridge", "sync", "--from", source, "--to", str(to), "--json"]


def run_sync(source: str, to: Path, cwd: Path) -> dict:
    done = subprocess.run(sync_command(source, to), cwd=cwd, env=mlflow_env(), text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    return json.loads(done.stdout)


def digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def source_points(tracking_uri: str, experiment: str) -> Counter:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    out: Counter = Counter()
    for run in client.search_runs([exp.experiment_id]):
        for key in run.data.metrics:
            for m in client.get_metric_history(run.info.run_id, key):
                out[(key, point_value(m.value), m.timestamp, m.step)] += 1
    return out


@pytest.mark.parametrize("name", list(SOURCES))
def test_migration_is_exact_and_a_rerun_sends_nothing(name, stores, proxy, mlflow_server,
                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    source, source_uri = source_arg(stores, name)
    before = digest(stores / name)
    to, experiment = destination(tmp_path, proxy.url)
    first = run_sync(source, to, tmp_path)
    assert first["failed"] == 0 and len(first["runs"]) == 4
    expected = snapshot(source_uri, f"migrate-{name}", tmp_path / "a")
    got = snapshot(mlflow_server.url, experiment, tmp_path / "b")
    assert got == expected
    assert got["grandchild"]["parent"] == "child" and got["failed"]["status"] == "FAILED"
    assert len(got["parent"]["params"]) == 150 and len(got["parent"]["metrics"]["loss"]) == POINTS
    assert [i[0] for i in got["parent"]["inputs"]] == ["train"]  # the dataset input came along
    # 4005 + 1333 + 1 + 1 points and 150 + 1 params: the fewest log-batch requests there are
    assert proxy.writes()[LOG_BATCH] == 5 + 2 + 1 + 1
    writes = proxy.writes()
    again = run_sync(source, to, tmp_path)
    assert proxy.writes() == writes and again["totals"]["write_requests"] == 0
    assert digest(stores / name) == before  # read-only: not a byte of the store changed


def test_sigkill_mid_migration_then_rerun_is_exact(stores, proxy, mlflow_server, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    source, source_uri = source_arg(stores, "sql")
    to, experiment = destination(tmp_path, proxy.url)
    proxy.inject(LOG_BATCH, *([None] * 2), "drop")  # and one answer lost on the way
    child = subprocess.Popen(sync_command(source, to), cwd=tmp_path, env=mlflow_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proxy.writes()[LOG_BATCH] < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert child.poll() is None, child.communicate()
    child.send_signal(signal.SIGKILL)
    child.wait()
    proxy.wait_idle()  # what the dead syncer had sent lands (or fails) before the rerun
    assert proxy.writes()[LOG_BATCH] < 9  # it really was stopped mid-way
    run_sync(source, to, tmp_path)
    assert snapshot(mlflow_server.url, experiment, tmp_path / "b") == \
        snapshot(source_uri, "migrate-sql", tmp_path / "a")
    assert Counter(proxy.applied_metrics) == source_points(source_uri, "migrate-sql")
    writes = proxy.writes()
    assert run_sync(source, to, tmp_path)["totals"]["write_requests"] == 0
    assert proxy.writes() == writes


@pytest.mark.parametrize("name", list(SOURCES))
def test_runs_list_and_reads_on_a_store(name, stores, tmp_path, monkeypatch):
    """``trackbridge runs list --config`` and the API read a store in place; writes are refused."""
    import trackbridge as tb
    from trackbridge.entities import Param
    from trackbridge.errors import BackendError

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    _, uri = source_arg(stores, name)
    config = tmp_path / "store.toml"
    config.write_text(f'backend = "mlflow"\n[mlflow]\ntracking_uri = "{uri}"\n'
                      f'[local]\npath = "{tmp_path / "tbruns"}"\n')
    done = subprocess.run([sys.executable, "-m", "trackbridge", "runs", "list", "--config",
                           str(config), "--json"], capture_output=True, text=True, env=mlflow_env())
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert sorted(r["name"] for r in listed) == ["child", "failed", "grandchild", "parent"]
    from mlflow import MlflowClient

    theirs = MlflowClient(tracking_uri=uri)
    exp = theirs.get_experiment_by_name(f"migrate-{name}")
    (parent,) = theirs.search_runs([exp.experiment_id], "attributes.run_name = 'parent'")
    ours = tb.get_run(parent.info.run_id, config=str(config))
    assert ours.params == parent.data.params and ours.tags == parent.data.tags
    assert ours.metrics["loss"] == parent.data.metrics["loss"] and math.isnan(ours.metrics["odd"]) \
        is math.isnan(parent.data.metrics["odd"])
    odd = tb.get_metric_history(parent.info.run_id, "odd", config=str(config))
    assert [m.value for m in odd[1:]] == [math.inf, -math.inf, -0.5, 1e300] and math.isnan(odd[0].value)
    assert [r.name for r in tb.search_runs(f"migrate-{name}", "params.fold = '1'",
                                           config=str(config))] == ["child"]
    from trackbridge.config import load_config
    from trackbridge.registry import open_backend

    store = open_backend(load_config(str(config)))
    [given] = parent.inputs.dataset_inputs
    [read] = store.dataset_inputs(parent.info.run_id)
    assert read["dataset"]["name"] == given.dataset.name == "train"
    assert read["dataset"]["digest"] == given.dataset.digest
    assert read["dataset"]["schema"] == given.dataset.schema
    assert read["tags"] == [{"key": t.key, "value": t.value} for t in given.tags]
    with pytest.raises(BackendError, match="read-only"):
        store.log_batch(parent.info.run_id, params=[Param("x", "1")])
    with pytest.raises(BackendError, match="read-only"):
        store.create_run(exp.experiment_id, run_name="x", start_time=1, tags={})


def test_a_moved_file_store_still_finds_its_artifacts(stores, tmp_path, monkeypatch):
    import shutil

    import trackbridge as tb

    moved = tmp_path / "elsewhere" / "mlruns"
    shutil.copytree(stores / "fs" / "mlruns", moved)
    os.rename(stores / "fs" / "mlruns", stores / "fs" / "hidden")  # the logged paths are gone
    try:
        config = {"backend": "mlflow", "mlflow": {"tracking_uri": f"file:{moved}"}}
        [parent] = [r for r in tb.search_runs(config=config) if r.name == "parent"]
        out = tb.download_artifacts(parent.id, "model", tmp_path / "out", config=config)
        assert (out / "deep" / "notes.txt").read_text() == "épochs\n"
    finally:
        os.rename(stores / "fs" / "hidden", stores / "fs" / "mlruns")
