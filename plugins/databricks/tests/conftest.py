"""Fixtures of the databricks plugin's tests."""

from __future__ import annotations

import uuid

import pytest
from dbx_support import isolate_sdk_env, make_backend


@pytest.fixture(scope="session")
def mlflow_backend(mlflow_server):
    """One backend on the session's MLflow server, reached through databricks-sdk."""
    with pytest.MonkeyPatch.context() as mp:
        backend = make_backend(mp, host=mlflow_server.url, retry_timeout_seconds=60,
                               max_requests_per_second=0)
    yield backend
    backend.close()


@pytest.fixture
def rsps():
    """Every HTTP request of the test is answered by ``responses`` (none leaves the process)."""
    from unit_support import workspace_mock

    mock = workspace_mock()
    yield mock
    mock.stop()
    mock.reset()


@pytest.fixture
def backend(rsps, monkeypatch):
    """A backend on the mocked workspace; its throttle and retries sleep on fake time."""
    from dbx_support import use_fake_time
    from unit_support import HOST

    b = make_backend(monkeypatch, host=HOST, retry_timeout_seconds=5)
    b.fake_time = use_fake_time(b)
    return b


@pytest.fixture
def online_config(mlflow_server, tmp_path, monkeypatch):
    """A config dict for ``tb.start_run``: the session's MLflow server as a Databricks
    workspace, a fresh local journal, a fresh experiment; nothing leaking in from the env."""
    monkeypatch.chdir(tmp_path)
    isolate_sdk_env(monkeypatch)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)

    def make(prefix: str, sync_timeout: float) -> dict:
        return {
            "backend": "databricks",
            "experiment": f"/Shared/trackbridge-it/{prefix}-{uuid.uuid4().hex[:8]}",
            "sync_timeout": sync_timeout,
            "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
            "databricks": {"host": mlflow_server.url, "retry_timeout_seconds": 60,
                           "max_requests_per_second": 0},
        }

    yield make
    from trackbridge import registry

    registry.close_all()
