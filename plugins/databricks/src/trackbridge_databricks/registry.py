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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.artifact_tree import checked_path, target_inside
from trackbridge.models.errors import ModelError, ModelVersionNotFoundError
from trackbridge.models.registry import ModelRegistry, ModelSource, ModelVersion

if TYPE_CHECKING:
    from .backend import DatabricksBackend

_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
_ACCEPT = {"Accept": "application/json"}
MLFLOW = "/api/2.0/mlflow"
UC = f"{MLFLOW}/unity-catalog"
#: how long a workspace model version may stay PENDING_REGISTRATION (seconds)
READY_TIMEOUT = 300.0
SEARCH_PAGE = 1000


def is_unity_catalog(name: str) -> bool:
    """``catalog.schema.model`` names live in Unity Catalog; names without dots do not."""
    parts = name.split(".")
    return len(parts) == 3 and all(parts)


def _version(data: Mapping[str, Any], source: str | None = None) -> ModelVersion:
    tags = data.get("tags") or []
    if isinstance(tags, list):
        tags = {t["key"]: t.get("value", "") for t in tags}
    aliases = data.get("aliases") or []
    aliases = tuple(a["alias"] if isinstance(a, Mapping) else a for a in aliases)
    created = data.get("creation_timestamp")
    return ModelVersion(
        name=data["name"], version=int(data["version"]), source=source or data.get("source", ""),
        run_id=data.get("run_id") or None,
        created_time=int(created) if created is not None else None,
        description=data.get("description") or None, tags=tags, aliases=aliases,
        storage_location=data.get("storage_location"), status=data.get("status"))


class DatabricksModelRegistry(ModelRegistry):
    backend_name: ClassVar[str] = "databricks"
    backend: DatabricksBackend

    def describe(self) -> str:
        return f"model registry of the {self.backend.describe()}"

    # -- plumbing -------------------------------------------------------------------------
    def _do(self, method: str, path: str, *, what: str, safe: bool, body: Any = None,
            query: Mapping[str, Any] | None = None, missing: str | None = None) -> dict[str, Any]:
        """One REST call through the backend's throttle, retries and error translation;
        a 404 raises ModelVersionNotFoundError(``missing``) when ``missing`` is given."""
        from databricks.sdk.errors import NotFound

        def call() -> dict[str, Any]:
            try:
                return self.backend.client.api_client.do(
                    method, path, body=body, query=query,
                    headers=_JSON if body is not None else _ACCEPT) or {}
            except NotFound:
                if missing is None:
                    raise
                raise ModelVersionNotFoundError(f"{missing} in the {self.describe()}") from None

        return self.backend.call(call, what=what, safe=safe)

    def _run_source(self, source: ModelSource) -> tuple[str, str]:
        """(remote run id, the model's location in that run's artifacts)."""
        if source.run_id is None:
            raise ModelError(
                f"run {source.local_run_id} has not been synced to the {self.backend.describe()} "
                f"(or its model files have changed since): run `trackbridge sync --to <config> "
                f"--run {source.local_run_id}`, then register again")
        run = self.backend.get_run(source.run_id)
        if not run.artifact_uri:
            raise ModelError(f"run {source.run_id} on the {self.backend.describe()} has no "
                             f"artifact location")
        return source.run_id, f"{run.artifact_uri.rstrip('/')}/{source.artifact_path}"

    # -- registering ----------------------------------------------------------------------
    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        if not name or "/" in name or "@" in name:
            raise ModelError(f"model name {name!r} must be non-empty without '/' or '@'")
        run_id, location = self._run_source(source)
        if is_unity_catalog(name):
            return self._create_uc(name, source, run_id, location, description, tags or {})
        return self._create_workspace(name, run_id, location, description, tags or {})

    def _create_workspace(self, name: str, run_id: str, location: str, description: str | None,
                          tags: Mapping[str, str]) -> ModelVersion:
        from databricks.sdk.errors import ResourceAlreadyExists
        from databricks.sdk.service.ml import ModelVersionTag

        registry = self.backend.client.model_registry

        def create_model() -> None:
            try:
                registry.create_model(name)
            except ResourceAlreadyExists:
                pass

        self.backend.call(create_model, what=f"create registered model {name!r}", safe=True)
        answer = self.backend.call(
            lambda: registry.create_model_version(
                name, location, run_id=run_id, description=description,
                tags=[ModelVersionTag(key=k, value=v) for k, v in tags.items()] or None),
            what=f"create a version of model {name!r} from run {run_id}",
            safe=False)  # a resend would create a second version
        version = int(answer.model_version.version)
        return self._wait_ready(name, version)

    def _wait_ready(self, name: str, version: int) -> ModelVersion:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            found = self.get_version(name, version=version)
            if found.status != "PENDING_REGISTRATION":
                break
            if time.monotonic() > deadline:
                raise ModelError(f"version {version} of model {name!r} is still pending after "
                                 f"{READY_TIMEOUT:.0f} s in the {self.describe()}")
            time.sleep(1.0)
        if found.status == "FAILED_REGISTRATION":
            raise ModelError(f"the {self.describe()} failed to register version {version} of "
                             f"model {name!r}")
        return found

    def _create_uc(self, name: str, source: ModelSource, run_id: str, location: str,
                   description: str | None, tags: Mapping[str, str]) -> ModelVersion:
        from databricks.sdk.errors import ResourceAlreadyExists

        def create_model() -> None:
            try:
                self.backend.client.api_client.do(
                    "POST", f"{UC}/registered-models/create", body={"name": name}, headers=_JSON)
            except ResourceAlreadyExists:
                pass

        self.backend.call(create_model, what=f"create Unity Catalog model {name!r}", safe=True)
        body: dict[str, Any] = {"name": name, "source": location, "run_id": run_id}
        if description:
            body["description"] = description
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        created = self._do("POST", f"{UC}/model-versions/create", body=body, safe=False,
                           what=f"create a version of Unity Catalog model {name!r}")["model_version"]
        version = int(created["version"])
        import tempfile

        with tempfile.TemporaryDirectory(prefix="trackbridge-uc-") as tmp:
            model_dir = source.fetch(Path(tmp))
            root = self._uc_root(name, version)
            for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
                self._upload(path, f"{root}/{path.relative_to(model_dir).as_posix()}", name, version)
        done = self._do("POST", f"{UC}/model-versions/finalize",
                        body={"name": name, "version": str(version)}, safe=True,
                        what=f"finalize version {version} of Unity Catalog model {name!r}")
        return _version(done.get("model_version") or {**created, "status": "READY"})

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
    def _prefix(self, name: str) -> str:
        return UC if is_unity_catalog(name) else MLFLOW

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.get_version(name, version=version)  # a clear error for an unknown version
        self._do("POST", f"{self._prefix(name)}/registered-models/alias",
                 body={"name": name, "alias": alias, "version": str(version)}, safe=True,
                 what=f"set alias {alias!r} of model {name!r} to version {version}")

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        prefix = self._prefix(name)
        if alias is not None:
            data = self._do("GET", f"{prefix}/registered-models/alias",
                            query={"name": name, "alias": alias}, safe=True,
                            what=f"get alias {alias!r} of model {name!r}",
                            missing=f"model {name!r} has no alias {alias!r}")
        else:
            data = self._do("GET", f"{prefix}/model-versions/get",
                            query={"name": name, "version": str(version)}, safe=True,
                            what=f"get version {version} of model {name!r}",
                            missing=f"model {name!r} has no version {version}")
        return _version(data["model_version"])

    def list_versions(self, name: str) -> list[ModelVersion]:
        found, token = [], None
        escaped = name.replace("'", "\\'")
        while True:
            query: dict[str, Any] = {"filter": f"name='{escaped}'", "max_results": SEARCH_PAGE}
            if token:
                query["page_token"] = token
            page = self._do("GET", f"{self._prefix(name)}/model-versions/search", query=query,
                            safe=True, what=f"list versions of model {name!r}")
            found.extend(_version(v) for v in page.get("model_versions", []))
            token = page.get("next_page_token")
            if not token:
                break
        if not found:
            raise ModelVersionNotFoundError(f"no registered model {name!r} in the {self.describe()}")
        return sorted(found, key=lambda v: v.version)

    def list_models(self) -> list[str]:
        names, token = [], None
        while True:
            query: dict[str, Any] = {"max_results": SEARCH_PAGE}
            if token:
                query["page_token"] = token
            page = self._do("GET", f"{MLFLOW}/registered-models/search", query=query, safe=True,
                            what="list registered models of the workspace registry")
            names.extend(m["name"] for m in page.get("registered_models", []))
            token = page.get("next_page_token")
            if not token:
                return sorted(names)

    def download(self, version: ModelVersion, dst: Path) -> Path:
        if is_unity_catalog(version.name):
            return self._download_uc(version, dst)
        if not version.run_id:
            raise ModelError(f"version {version.version} of model {version.name!r} has no run "
                             f"to read its files from ({self.describe()})")
        run = self.backend.get_run(version.run_id)
        root = (run.artifact_uri or "").rstrip("/")
        if not version.source.startswith(root + "/"):
            raise ModelError(f"version {version.version} of model {version.name!r} points at "
                             f"{version.source!r}, outside its run's artifacts")
        from trackbridge.models.registry import download_model_dir

        return download_model_dir(self.backend, version.run_id, version.source[len(root) + 1:], dst)

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

