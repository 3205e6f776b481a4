"""The core's contract suite on the mlflow backend, against a real MLflow server with basic
auth on; a wrong password is a clear error; no secret ever shows in what a user sees."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid

import pytest

import trackbridge as tb
from trackbridge.errors import BackendError
from trackbridge.testing import BackendContract

pytestmark = pytest.mark.integration


class TestMlflowBackendOnAnAuthServer(BackendContract):
    @pytest.fixture
    def backend(self, server_backend):
        return server_backend


def config_for(server, tmp_path, experiment=None):
    return {"backend": "mlflow", "experiment": experiment or f"auth-{uuid.uuid4().hex[:8]}",
            "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
            "mlflow": {"tracking_uri": server.url, "retry_timeout_seconds": 10}}


def test_a_wrong_password_is_a_clear_error_without_the_password(mlflow_auth_server, monkeypatch,
                                                                 tmp_path, caplog):
    from trackbridge_mlflow.backend import MlflowBackend

    wrong = "not-" + mlflow_auth_server.user_password
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", wrong)
    backend = MlflowBackend.from_config({"tracking_uri": mlflow_auth_server.url})
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
        backend.get_or_create_experiment("nope")
    message = str(info.value)
    assert "HTTP 401" in message and "basic auth as 'alice'" in message
    assert "MLFLOW_TRACKING_PASSWORD" in message  # what to fix
    assert mlflow_auth_server.url in message
    assert wrong not in message and wrong not in caplog.text and wrong not in repr(backend.http.auth)
    backend.close()


def test_no_secret_in_cli_output_with_debug(mlflow_auth_server, tmp_path, monkeypatch):
    """doctor, config show and a failing sync with --debug: the password never appears."""
    secret = mlflow_auth_server.user_password
    config = tmp_path / "mlflow.toml"
    config.write_text(f'backend = "mlflow"\nexperiment = "cli-{uuid.uuid4().hex[:6]}"\n'
                      f'[mlflow]\ntracking_uri = "{mlflow_auth_server.url}"\n'
                      f'[local]\npath = "{tmp_path / "tbruns"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    outputs = []
    for password in (secret, "wrong-" + secret):
        env.update(MLFLOW_TRACKING_USERNAME="alice", MLFLOW_TRACKING_PASSWORD=password)
        for args in (["doctor"], ["config", "show"], ["runs", "list"], ["experiments", "list"]):
            done = subprocess.run([sys.executable, "-m", "trackbridge", "--debug", "--config",
                                   str(config), *args], capture_output=True, text=True, env=env,
                                  timeout=120)
            outputs.append((args, password, done.stdout + done.stderr, done.returncode))
    for args, password, text, code in outputs:
        assert password not in text, args
        if password == secret:  # the right password: every command works
            assert code == 0, (args, text[-2000:])
    doctor_ok = outputs[0][2]
    assert "mlflow auth" in doctor_ok and "basic auth as 'alice'" in doctor_ok
    doctor_bad = outputs[4][2]
    assert "HTTP 401" in doctor_bad and "MLFLOW_TRACKING_USERNAME" in doctor_bad


def test_a_password_in_the_config_file_is_refused(tmp_path):
    from trackbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD"):
        tb.get_run("x", config={"backend": "mlflow",
                                "mlflow": {"tracking_uri": "http://127.0.0.1:9", "password": "p"}})
    with pytest.raises(ConfigError, match="must not hold a user or password"):
        tb.get_run("x", config={"backend": "mlflow",
                                "mlflow": {"tracking_uri": "http://u:p@127.0.0.1:9"}})


def test_another_users_experiment_is_a_permission_error_and_doctor_says_so(
        mlflow_auth_server, as_alice, monkeypatch, tmp_path):
    """default_permission is READ: alice may not write to the admin's experiment."""
    from trackbridge_mlflow.backend import MlflowBackend

    from trackbridge.config import load_config
    from trackbridge.doctor import run_checks

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.admin_password)
    admin = MlflowBackend.from_config({"tracking_uri": mlflow_auth_server.url})
    name = f"admins-{uuid.uuid4().hex[:8]}"
    exp = admin.get_or_create_experiment(name)
    admin.close()
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.user_password)
    alice = MlflowBackend.from_config({"tracking_uri": mlflow_auth_server.url})
    with pytest.raises(BackendError, match="HTTP 403") as info:
        alice.create_run(exp.id, run_name="x", start_time=1, tags={})
    assert "EDIT" in str(info.value)
    alice.close()
    checks = {c.name: c for c in run_checks(load_config(config_for(mlflow_auth_server, tmp_path,
                                                                   name)))}
    assert checks["mlflow server"].ok and checks["mlflow auth"].ok
    assert not checks["mlflow permissions"].ok and "EDIT" in checks["mlflow permissions"].fix
    own = {c.name: c for c in run_checks(load_config(config_for(mlflow_auth_server, tmp_path)))}
    assert own["mlflow permissions"].ok and "does not exist yet" in own["mlflow permissions"].detail


def test_training_run_through_start_run_reads_back_with_mlflows_client(
        mlflow_auth_server, as_alice, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = config_for(mlflow_auth_server, tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with tb.start_run(config=config, run_name="train", tags={"team": "ml"}) as run:
        run.log_params({"lr": 0.1, "depth": 3})
        for step in range(300):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metric("odd", float("nan"), step=0)
        run.log_artifact(tmp_path / "notes.txt", "docs")
        assert run.sync(timeout=60)
        remote_id = run.remote_id
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_auth_server.url)
    got = client.get_run(remote_id)
    assert (got.info.run_name, got.info.status) == ("train", "FINISHED")
    assert got.data.params == {"lr": "0.1", "depth": "3"} and got.data.tags["team"] == "ml"
    history = client.get_metric_history(remote_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1.0 / (s + 1)) for s in range(300)]
    client.download_artifacts(remote_id, "docs", str(tmp_path / "back"))
    assert (tmp_path / "back" / "docs" / "notes.txt").read_text() == "hello"
    from trackbridge import registry

    registry.close_all()


def test_a_large_artifact_is_streamed_both_ways(server_backend, tmp_path):
    """48 MiB up through the artifact proxy and back with a few MiB of Python memory."""
    import tracemalloc

    exp = server_backend.get_or_create_experiment(f"big-{uuid.uuid4().hex[:8]}")
    run = server_backend.create_run(exp.id, run_name="big", start_time=1, tags={})
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        for i in range(48):
            f.write(bytes([i]) * (1024 * 1024))
    tracemalloc.start()
    try:
        server_backend.upload_artifact(run.id, path, "model/big.bin")
        server_backend.download_artifact(run.id, "model/big.bin", tmp_path / "back.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"
    assert (tmp_path / "back.bin").read_bytes() == path.read_bytes()
