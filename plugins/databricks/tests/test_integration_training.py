"""A training-like run through ``trackbridge.start_run`` to a real MLflow server, read back by
MLflow's own client (not by the code under test), exactly."""

from __future__ import annotations

import math
import os
import time

import pytest

import trackbridge as tb
from trackbridge.errors import ValidationError

pytestmark = pytest.mark.integration

KEYS = ("loss", "acc", "val_loss", "lr")
STEPS = 2500  # x 4 keys = 10,000 metric points
T0 = 1_750_000_000_000


def expected_points(key: str) -> list[tuple[float, int, int]]:
    """(value, step, timestamp) of every point the script logs for ``key``."""
    values = {
        "loss": lambda s: 2.0 / (s + 1),
        "acc": lambda s: 1 - 1.0 / math.sqrt(s + 1),
        "val_loss": lambda s: 2.5 / (s + 1) + (s % 7) * 1e-3,
        "lr": lambda s: 0.01 * 0.999 ** s,
    }[key]
    return [(values(s), s, T0 + 40 * s) for s in range(STEPS)]


EXPECTED = {key: expected_points(key) for key in KEYS}


def write_tree(root):
    files = {
        "weights.bin": os.urandom(300_000),
        "conf/hp.json": b'{"lr": 0.01, "layers": [64, 32]}',
        "conf/deep/notes.txt": "épochs: 2500\n".encode(),
        "conf/empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.fixture
def config(online_config):
    return online_config("train", sync_timeout=240)


def test_training_run_reads_back_exactly_through_the_server(config, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    files = write_tree(tmp_path / "model")
    params = {"lr": "0.01", "epochs": "2500", "optimizer": "adam", "layers": "[64, 32]"}
    started = time.perf_counter()
    with tb.start_run(config=config, run_name="train-1", tags={"team": "vision"}) as run:
        run.log_params(params)
        run.set_tags({"stage": "dev", "dataset": "churn-2026-11"})
        for step in range(STEPS):
            run.log_metrics({k: EXPECTED[k][step][0] for k in KEYS}, step=step,
                            timestamp=T0 + 40 * step)
        run.log_artifacts(tmp_path / "model", "model")
        assert run.sync(timeout=240), "the remote copy did not catch up"
        remote_id = run.remote_id
    elapsed = time.perf_counter() - started
    print(f"\n10,000 points + 4 files synced to the MLflow server in {elapsed:.1f} s")

    client = MlflowClient(tracking_uri=mlflow_server.url)
    got = client.get_run(remote_id)
    assert got.info.run_name == "train-1"
    assert got.info.status == "FINISHED"
    assert client.get_experiment(got.info.experiment_id).name == config["experiment"]
    assert got.data.params == params
    assert {k: got.data.tags[k] for k in ("team", "stage", "dataset")} == \
        {"team": "vision", "stage": "dev", "dataset": "churn-2026-11"}
    for key in KEYS:
        history = client.get_metric_history(remote_id, key)
        assert sorted((m.value, m.step, m.timestamp) for m in history) == \
            sorted(EXPECTED[key]), key

    listed = {f.path: f for f in client.list_artifacts(remote_id, "model/conf")}
    assert set(listed) == {"model/conf/hp.json", "model/conf/deep", "model/conf/empty.txt"}
    assert listed["model/conf/deep"].is_dir
    client.download_artifacts(remote_id, "model", str(tmp_path / "back"))
    for rel, data in files.items():
        assert (tmp_path / "back" / "model" / rel).read_bytes() == data, rel



def test_relative_experiment_name_fails_at_start_run(config):
    """Checked before the run is journalled, so the mistake surfaces at the user's line."""
    config["experiment"] = "churn"
    with pytest.raises(ValidationError, match="'~/churn'"):
        tb.start_run(config=config)


def test_doctor_against_the_server(config):
    from trackbridge.config import load_config
    from trackbridge.doctor import run_checks

    checks = {c.name: c for c in run_checks(load_config(config))}
    assert checks["databricks auth"].ok and "'pat'" in checks["databricks auth"].detail
    assert checks["databricks host"].detail == config["databricks"]["host"]
    # an MLflow server has no SCIM API: said plainly, not a failure of the setup
    assert checks["databricks user"].ok and "no current-user API" in checks["databricks user"].detail
    assert checks["databricks latency"].ok
    assert checks["experiment"].ok and "does not exist yet" in checks["experiment"].detail


def test_home_path_on_a_server_without_the_user_api_is_a_clear_error(mlflow_backend):
    with pytest.raises(ValidationError, match="current-user API"):
        mlflow_backend.get_or_create_experiment("~/churn")


def test_param_values_are_counted_in_utf8_bytes(config):
    """Databricks documents param values as up to 500 *bytes*: 300 'é' are 600 bytes."""
    from trackbridge.errors import LimitExceededError

    with tb.start_run(config=config) as run:
        run.log_param("ascii", "v" * 500)  # 500 bytes: at the limit
        with pytest.raises(LimitExceededError, match=r"600 bytes.*at most 500 bytes") as info:
            run.log_param("name", "é" * 300)
        assert "'name'" in str(info.value) and "databricks" in str(info.value).lower()
        run.log_param("fits", "é" * 250)  # 500 bytes
    assert tb.get_run(run.id, config=config).params["fits"] == "é" * 250
