"""The core's contract suite on the databricks backend, against a real MLflow server."""

from __future__ import annotations

import uuid

import pytest

from trackbridge.testing import BackendContract

pytestmark = pytest.mark.integration


class TestDatabricksBackendOnMlflowServer(BackendContract):
    @pytest.fixture
    def backend(self, mlflow_backend):
        return mlflow_backend

    @pytest.fixture
    def unique_name(self) -> str:
        # Databricks experiment names are absolute workspace paths
        return f"/Shared/trackbridge-contract/{uuid.uuid4().hex[:12]}"
