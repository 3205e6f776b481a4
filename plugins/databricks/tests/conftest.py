"""Fixtures of the databricks plugin's tests: an isolated SDK environment and backends."""

from __future__ import annotations

import os

import pytest
from trackbridge_databricks.backend import DatabricksBackend
from trackbridge_databricks.settings import parse_settings

#: A token-shaped secret: tests assert it never shows up in messages or logs.
TOKEN = "dapi0123456789abcdef0123456789abcdef"


def isolate_sdk_env(mp: pytest.MonkeyPatch, token: str | None = TOKEN) -> None:
    """No DATABRICKS_*/ARM_* variable or ~/.databrickscfg of the machine leaks into a test."""
    for var in list(os.environ):
        if var.startswith(("DATABRICKS_", "ARM_")):
            mp.delenv(var)
    mp.setenv("DATABRICKS_CONFIG_FILE", os.devnull)
    if token is not None:
        mp.setenv("DATABRICKS_TOKEN", token)


def make_backend(mp: pytest.MonkeyPatch, **table) -> DatabricksBackend:
    """A backend from a ``[databricks]`` table, its client built now under a clean env."""
    isolate_sdk_env(mp)
    backend = DatabricksBackend.from_config(table)
    backend.client  # noqa: B018 - resolve auth while the env is the test's
    return backend


@pytest.fixture(scope="session")
def mlflow_backend(mlflow_server):
    """One backend on the session's MLflow server, reached through databricks-sdk."""
    with pytest.MonkeyPatch.context() as mp:
        backend = make_backend(mp, host=mlflow_server.url, retry_timeout_seconds=60,
                               max_requests_per_second=0)
    yield backend
    backend.close()


__all__ = ["TOKEN", "isolate_sdk_env", "make_backend", "parse_settings"]
