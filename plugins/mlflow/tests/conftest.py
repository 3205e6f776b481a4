"""Fixtures of the mlflow plugin's tests: the session's basic-auth MLflow server, reached as
user ``alice`` with MLflow's own environment variables."""

from __future__ import annotations

import pytest
from mlflow_support import clean_mlflow_env


@pytest.fixture
def as_alice(mlflow_auth_server, monkeypatch):
    clean_mlflow_env(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", mlflow_auth_server.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.user_password)
    return mlflow_auth_server


@pytest.fixture(scope="session")
def server_backend(mlflow_auth_server):
    """One backend on the auth server for the session (auth read when it is built)."""
    from trackbridge_mlflow.backend import MlflowBackend

    with pytest.MonkeyPatch.context() as mp:
        clean_mlflow_env(mp)
        mp.setenv("MLFLOW_TRACKING_USERNAME", mlflow_auth_server.user)
        mp.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.user_password)
        backend = MlflowBackend.from_config({"tracking_uri": mlflow_auth_server.url,
                                             "retry_timeout_seconds": 30})
        backend.http  # noqa: B018 - read the environment now
    yield backend
    backend.close()
