"""Fixtures for the Azure ML plugin's tests (server fixtures come from testsupport)."""

from __future__ import annotations

import pytest
from azureml_helpers import FakeCredential
from trackbridge_azureml import discovery

from trackbridge import fluent, registry


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture(autouse=True)
def _clean_state():
    discovery.clear_cache()
    yield
    for run in fluent.live_runs():
        run.end()
    registry.close_all()
    discovery.clear_cache()


@pytest.fixture(scope="session")
def azure_front(mlflow_server, azurite):
    """Azure ML's front door on loopback: MLflow under the Azure prefix, artifacts via Azurite."""
    from azureml_front import AzureMLFront
    from azureml_helpers import TOKEN

    front = AzureMLFront(mlflow_server.url, azurite, TOKEN).start()
    yield front
    front.stop()
