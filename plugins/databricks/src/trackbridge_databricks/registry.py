"""The Databricks model registry: Unity Catalog for ``catalog.schema.model`` names, the
workspace registry for names without dots.

* Unity Catalog (three-part names): ``POST /api/2.0/mlflow/unity-catalog/registered-models/create``
  (an existing model is fine), ``.../model-versions/create`` (``source`` = the synced run's
  artifact location, ``run_id`` = the remote run) answers the version and its storage, the
  model's files are uploaded with the Files API to ``/Models/<catalog>/<schema>/<model>/<version>/``,
  then ``.../model-versions/finalize`` makes it READY. UC keeps its own copy of the files:
  that upload is the platform's rule, not a second copy of the run.
* Workspace registry (no dots): ``w.model_registry.create_model(name)`` (an existing model is
  fine) and ``create_model_version(name, source=<run artifact location>/<path>, run_id=)``: the
  version points at the synced run's files, nothing is uploaded.

Both need the run on the workspace: a run logged locally must be synced first (the core
finds the remote run in the sync ledger). Aliases use the MLflow alias endpoints of each.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from trackbridge.artifact_tree import checked_path, target_inside
from trackbridge.mlflow_rest.registry import RegistryApi, version_from_json
from trackbridge.models.errors import ModelError
from trackbridge.models.registry import ModelRegistry, ModelSource, ModelVersion

if TYPE_CHECKING:
    from .backend import DatabricksBackend

MLFLOW = "/api/2.0/mlflow"
UC = f"{MLFLOW}/unity-catalog"


def is_unity_catalog(name: str) -> bool:
    """``catalog.schema.model`` names live in Unity Catalog; names without dots do not."""
    parts = name.split(".")
    return len(parts) == 3 and all(parts)


class DatabricksModelRegistry(ModelRegistry):
    backend_name: ClassVar[str] = "databricks"
    backend: DatabricksBackend

    def describe(self) -> str:
        return f"model registry of the {self.backend.describe()}"

    # -- plumbing -------------------------------------------------------------------------
    def _api(self, name: str) -> RegistryApi:
        """The MLflow registry REST calls (the core's) for ``name``'s registry."""
        return RegistryApi(self.backend._send, self.describe,
                           UC if is_unity_catalog(name) else MLFLOW)

    # -- registering ----------------------------------------------------------------------
    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        if not name or "/" in name or "@" in name:
            raise ModelError(f"model name {name!r} must be non-empty without '/' or '@'")
        run_id, location = self.run_location(source)
        if is_unity_catalog(name):
            return self._create_uc(name, source, run_id, location, description, tags or {})
        return self._create_workspace(name, run_id, location, description, tags or {})

    def _create_workspace(self, name: str, run_id: str, location: str, description: str | None,
                          tags: Mapping[str, str]) -> ModelVersion:
        api = self._api(name)
        api.create_model(name)
        created = api.create_version(name, location, run_id, description=description, tags=tags)
        return api.wait_ready(name, created.version)

    def _create_uc(self, name: str, source: ModelSource, run_id: str, location: str,
                   description: str | None, tags: Mapping[str, str]) -> ModelVersion:
        api = self._api(name)
        api.create_model(name)
        created = api.create_version(name, location, run_id, description=description, tags=tags)
        version = created.version
        import tempfile

        with tempfile.TemporaryDirectory(prefix="trackbridge-uc-") as tmp:
            model_dir = source.fetch(Path(tmp))
            root = self._uc_root(name, version)
            for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
                self._upload(path, f"{root}/{path.relative_to(model_dir).as_posix()}", name, version)
        done = self.backend._send(
            "POST", f"{UC}/model-versions/finalize", body={"name": name, "version": str(version)},
            safe=True, what=f"finalize version {version} of Unity Catalog model {name!r}")
        final = done.get("model_version")
        return version_from_json(final) if final else replace(created, status="READY")

    @staticmethod
    def _uc_root(name: str, version: int) -> str:
        return f"/Models/{name.replace('.', '/')}/{version}"

    def _upload(self, local: Path, target: str, name: str, version: int) -> None:
        def attempt() -> None:
            with open(local, "rb") as f:
                self.backend.client.files.upload(target, f, overwrite=True, use_parallel=False)

        self.backend.call(attempt, what=f"upload {local.name} of version {version} of model "
                                        f"{name!r} to {target}", safe=True)

    # -- aliases and reads ----------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._api(name).set_alias(name, alias, version)

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        return self._api(name).get_version(name, version=version, alias=alias)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self._api(name).list_versions(name)

    def list_models(self) -> list[str]:
        return RegistryApi(self.backend._send, self.describe, MLFLOW).list_models()

    def download(self, version: ModelVersion, dst: Path) -> Path:
        if is_unity_catalog(version.name):
            return self._download_uc(version, dst)
        return super().download(version, dst)

    def _download_uc(self, version: ModelVersion, dst: Path) -> Path:
        root = self._uc_root(version.name, version.version)
        client = self.backend.client
        out = dst / "model"

        def walk() -> list[str]:
            files, pending, seen = [], [root], set()
            while pending:
                folder = pending.pop()
                if folder in seen:
                    continue
                seen.add(folder)
                for entry in client.files.list_directory_contents(folder):
                    (pending if entry.is_directory else files).append(entry.path.rstrip("/"))
            return files

        what = f"download version {version.version} of model {version.name!r}"
        for remote in self.backend.call(walk, what=what, safe=True):
            rel = checked_path(posixpath.relpath(remote, root), self.describe())
            target = target_inside(out, rel)  # a listing never writes outside the model dir
            target.parent.mkdir(parents=True, exist_ok=True)

            def fetch(remote: str = remote, target: Path = target) -> None:
                with client.files.download(remote).contents as contents, open(target, "wb") as f:
                    while chunk := contents.read(1 << 20):
                        f.write(chunk)

            self.backend.call(fetch, what=what, safe=True)
        return out

