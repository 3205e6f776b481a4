"""The model registry of an MLflow tracking server, through its REST API.

A version points at the synced run's files (``source`` = the run's ``mlflow-artifacts:/``
location + the model's path, ``run_id`` = the run on the server): nothing is uploaded. A run
logged locally must be synced first; the core finds its remote copy in the sync ledger.
Aliases are MLflow's (``registered-models/alias``); ``models:/<name>@<alias>`` loads through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from trackbridge.mlflow_rest.registry import RegistryApi
from trackbridge.models.errors import ModelError
from trackbridge.models.registry import ModelRegistry, ModelSource, ModelVersion

if TYPE_CHECKING:
    from .backend import MlflowBackend


class MlflowModelRegistry(ModelRegistry):
    backend_name: ClassVar[str] = "mlflow"
    backend: MlflowBackend

    @property
    def api(self) -> RegistryApi:
        if not hasattr(self.backend, "http"):
            raise ModelError(f"the {self.backend.describe()} is read-only: register models on "
                             f"a tracking server (tracking_uri = http(s)://...)")
        return RegistryApi(self.backend.http.send, self.describe)

    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        if not name or "/" in name or "@" in name:
            raise ModelError(f"model name {name!r} must be non-empty without '/' or '@'")
        api = self.api
        run_id, location = self.run_location(source)
        api.create_model(name)
        created = api.create_version(name, location, run_id, description=description, tags=tags)
        return api.wait_ready(name, created.version)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.api.set_alias(name, alias, version)

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        return self.api.get_version(name, version=version, alias=alias)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.api.list_versions(name)

    def list_models(self) -> list[str]:
        return self.api.list_models()
