"""The Azure ML model registry, through ``azure-ai-ml`` (imported on first use).

A version is ``MLClient.models.create_or_update(Model(path=..., name=, version=,
type=AssetTypes.MLFLOW_MODEL))``, the next version number being one more than the highest
registered. A run synced to the workspace is registered from its own outputs,
``azureml://jobs/<remote run id>/outputs/artifacts/paths/<model path>/`` (nothing uploaded);
a run that exists only in the local store is registered from a local copy of its model
directory, which the SDK uploads to the workspace's default datastore.

Azure ML models have no aliases: an alias is kept as the version tag
``trackbridge.alias.<alias>`` (setting it again moves the tag to the new version).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from trackbridge.errors import BackendError
from trackbridge.models.errors import ModelError, ModelVersionNotFoundError
from trackbridge.models.registry import ModelRegistry, ModelSource, ModelVersion, download_model_dir

if TYPE_CHECKING:
    from .backend import AzureMLBackend

T = TypeVar("T")
ALIAS_TAG = "trackbridge.alias."
_JOB_PATH = re.compile(r"^azureml://jobs/(?P<run>[^/]+)/outputs/artifacts/paths/(?P<path>.+?)/?$")


def job_path(run_id: str, artifact_path: str) -> str:
    """Where Azure ML keeps an MLflow run's artifact directory, as a model path."""
    return f"azureml://jobs/{run_id}/outputs/artifacts/paths/{artifact_path.strip('/')}/"


class AzureMLModelRegistry(ModelRegistry):
    backend_name: ClassVar[str] = "azureml"
    backend: AzureMLBackend

    def __init__(self, backend: AzureMLBackend) -> None:
        super().__init__(backend)
        self._client: Any = None

    # -- plumbing -------------------------------------------------------------------------
    def workspace_ids(self) -> tuple[str, str, str]:
        """(subscription, resource group, workspace) of the backend's workspace."""
        from .discovery import workspace_ids

        return workspace_ids(self.backend, "its model registry")

    @property
    def client(self) -> Any:
        if self._client is None:
            from azure.ai.ml import MLClient

            sub, rg, ws = self.workspace_ids()
            self._client = MLClient(self.backend.credential, subscription_id=sub,
                                    resource_group_name=rg, workspace_name=ws)
        return self._client

    def _call(self, fn: Callable[[], T], what: str, missing: str | None = None) -> T:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return fn()
        except ResourceNotFoundError:
            if missing is None:
                raise BackendError(f"{what} on the {self.describe()} failed: not found") from None
            raise ModelVersionNotFoundError(f"{missing} in the {self.describe()}") from None
        except AzureError as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise BackendError(f"{what} on the {self.describe()} failed: "
                               f"{message.splitlines()[0] if message else type(exc).__name__}"
                               ) from None

    def _version(self, model: Any) -> ModelVersion:
        tags = dict(model.tags or {})
        aliases = tuple(sorted(k[len(ALIAS_TAG):] for k in tags if k.startswith(ALIAS_TAG)))
        plain = {k: v for k, v in tags.items() if not k.startswith(ALIAS_TAG)}
        path = str(model.path or "")
        job = _JOB_PATH.match(path)
        created = getattr(getattr(model, "creation_context", None), "created_at", None)
        return ModelVersion(
            name=model.name, version=int(model.version), source=path,
            run_id=job["run"] if job else None,
            created_time=int(created.timestamp() * 1000) if hasattr(created, "timestamp") else None,
            description=model.description, tags=plain, aliases=aliases, storage_location=path)

    def _models(self, name: str) -> list[Any]:
        return self._call(lambda: list(self.client.models.list(name=name)),
                          f"list versions of model {name!r}", missing=f"no registered model {name!r}")

    # -- the interface --------------------------------------------------------------------
    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        try:
            existing = self._models(name)
        except ModelVersionNotFoundError:
            existing = []
        version = max((int(m.version) for m in existing), default=0) + 1

        def create(path: str) -> Any:
            model = Model(path=path, name=name, version=str(version), type=AssetTypes.MLFLOW_MODEL,
                          description=description, tags=dict(tags or {}))
            return self._call(lambda: self.client.models.create_or_update(model),
                              f"register version {version} of model {name!r}")

        if source.run_id is not None:  # the run is on the workspace: register its own copy
            return self._version(create(job_path(source.run_id, source.artifact_path)))
        with tempfile.TemporaryDirectory(prefix="trackbridge-azureml-") as tmp:
            return self._version(create(str(source.fetch(Path(tmp)))))

    def list_versions(self, name: str) -> list[ModelVersion]:
        found = [self._version(m) for m in self._models(name)]
        if not found:
            raise ModelVersionNotFoundError(f"no registered model {name!r} in the {self.describe()}")
        return sorted(found, key=lambda v: v.version)

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        if alias is not None:
            for found in self.list_versions(name):
                if alias in found.aliases:
                    return found
            raise ModelVersionNotFoundError(f"model {name!r} has no alias {alias!r} in the "
                                            f"{self.describe()}")
        model = self._call(lambda: self.client.models.get(name=name, version=str(version)),
                           f"get version {version} of model {name!r}",
                           missing=f"model {name!r} has no version {version}")
        return self._version(model)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        key = ALIAS_TAG + alias
        target = self._call(lambda: self.client.models.get(name=name, version=str(version)),
                            f"get version {version} of model {name!r}",
                            missing=f"model {name!r} has no version {version}")
        for model in self._models(name):
            if key in (model.tags or {}) and int(model.version) != int(version):
                model.tags.pop(key)
                self._call(lambda model=model: self.client.models.create_or_update(model),
                           f"move alias {alias!r} off version {model.version} of model {name!r}")
        target.tags = {**(target.tags or {}), key: "true"}
        self._call(lambda: self.client.models.create_or_update(target),
                   f"set alias {alias!r} of model {name!r} to version {version}")

    def list_models(self) -> list[str]:
        return sorted({m.name for m in self._call(lambda: list(self.client.models.list()),
                                                  "list registered models")})

    def download(self, version: ModelVersion, dst: Path) -> Path:
        job = _JOB_PATH.match(version.source)
        if job:  # a synced run's outputs: read them as the run's artifacts
            return download_model_dir(self.backend, job["run"], job["path"], dst)
        self._call(lambda: self.client.models.download(name=version.name,
                                                       version=str(version.version),
                                                       download_path=str(dst)),
                   f"download version {version.version} of model {version.name!r}")
        found = sorted(dst.rglob("MLmodel"), key=lambda p: len(p.parts))
        if not found:
            raise ModelError(f"version {version.version} of model {version.name!r} has no MLmodel")
        return found[0].parent
