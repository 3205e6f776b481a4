"""Where a run's files go, chosen by the scheme of its ``artifact_uri``.

* ``dbfs:/databricks/mlflow-tracking/...`` (Databricks' managed store): signed URLs from
  ``POST /api/2.0/mlflow/artifacts/credentials-for-write`` (``-for-read`` to download), then a
  plain HTTP request to cloud storage with the headers the service returned. The Databricks
  token is never sent to the storage URL.
* ``dbfs:/Volumes/...`` (a Unity Catalog volume): the SDK's Files API.
* ``mlflow-artifacts:/...`` (an open-source MLflow server): its artifact proxy endpoints.

Every upload streams the file from disk (large Azure blobs go up in blocks, each streamed
from its slice of the file); every download streams to disk.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlparse

from trackbridge.entities import ArtifactEntry
from trackbridge.errors import ArtifactNotFoundError, BackendError
from trackbridge.streams import CHUNK, write_stream

from . import signed_uploads
from .signed_uploads import AwsMultipartUpload, SignedUpload, check_status

if TYPE_CHECKING:
    from .backend import DatabricksBackend

MANAGED_PREFIX = "dbfs:/databricks/mlflow-tracking/"
VOLUMES_PREFIX = "dbfs:/Volumes/"
PROXY_SCHEME = "mlflow-artifacts"
#: credentials-for-write/-read accept at most this many paths per request.
MAX_PATHS_PER_CREDENTIALS_CALL = 2000


def store_for(backend: DatabricksBackend, run_id: str, artifact_uri: str | None) -> ArtifactStore:
    """The store that handles ``artifact_uri``; a clear error for anything else."""
    uri = artifact_uri or ""
    if uri.startswith(MANAGED_PREFIX):
        return ManagedStore(backend, run_id, uri)
    if uri.startswith(VOLUMES_PREFIX):
        return VolumeStore(backend, run_id, uri)
    if urlparse(uri).scheme == PROXY_SCHEME:
        return ProxiedStore(backend, run_id, uri)
    scheme = urlparse(uri).scheme or "(none)"
    raise BackendError(
        f"artifacts of run {run_id} live at {uri!r} (scheme {scheme!r}), which the databricks "
        f"backend cannot write; it supports {MANAGED_PREFIX}..., {VOLUMES_PREFIX}... and "
        f"{PROXY_SCHEME}:/... artifact locations"
    )


def _join(*parts: str | None) -> str:
    return posixpath.join(*[p.strip("/") for p in parts if p and p.strip("/")])


class ArtifactStore:
    def __init__(self, backend: DatabricksBackend, run_id: str, uri: str) -> None:
        self.backend = backend
        self.run_id = run_id
        self.uri = uri

    def upload(self, local_path: Path, artifact_path: str) -> None:
        raise NotImplementedError

    def upload_many(self, files: list[tuple[Path, str]]) -> None:
        for local_path, artifact_path in files:
            self.upload(local_path, artifact_path)

    def list(self, path: str | None) -> list[ArtifactEntry]:
        raise NotImplementedError

    def download(self, path: str, dst: Path) -> None:
        raise NotImplementedError


# -- Databricks' managed store: signed URLs ---------------------------------------------------
class ManagedStore(ArtifactStore):
    def credentials(self, kind: str, paths: list[str]) -> list[dict[str, Any]]:
        """Signed URLs for ``paths`` (``kind`` is "write" or "read"), 2000 paths per request."""
        infos: list[dict[str, Any]] = []
        for i in range(0, len(paths), MAX_PATHS_PER_CREDENTIALS_CALL):
            chunk = paths[i:i + MAX_PATHS_PER_CREDENTIALS_CALL]
            answer = self.backend.call(
                lambda chunk=chunk: self.backend.client.api_client.do(
                    "POST", f"/api/2.0/mlflow/artifacts/credentials-for-{kind}",
                    body={"run_id": self.run_id, "path": chunk},
                    headers={"Accept": "application/json", "Content-Type": "application/json"}),
                what=f"get {kind} credentials for {len(chunk)} artifact(s) of run {self.run_id}",
                safe=True)
            infos.extend(answer.get("credential_infos", []))
        return infos

    def upload(self, local_path: Path, artifact_path: str) -> None:
        self.upload_many([(local_path, artifact_path)])

    def upload_many(self, files: list[tuple[Path, str]]) -> None:
        """One credentials-for-write request per 2000 paths, then one signed PUT per file."""
        infos = {info["path"]: info for info in self.credentials("write", [p for _, p in files])}
        for local_path, artifact_path in files:
            info = infos.get(artifact_path)
            if info is None:
                raise BackendError(f"credentials-for-write answered no signed URL for "
                                   f"{artifact_path!r} of run {self.run_id} ({self.backend.describe()})")
            what = f"upload {artifact_path!r} of run {self.run_id}"
            if info.get("type") == "AWS_PRESIGNED_URL" and \
                    local_path.stat().st_size > signed_uploads.AWS_MULTIPART_THRESHOLD:
                AwsMultipartUpload(self, local_path, artifact_path, what).run()
            else:
                SignedUpload(self.backend, info, local_path, what).run()

    def list(self, path: str | None) -> list[ArtifactEntry]:
        entries, token = [], None
        while True:
            query = {"run_id": self.run_id, **({"path": path} if path else {}),
                     **({"page_token": token} if token else {})}
            page = self.backend.call(
                lambda query=query: self.backend.client.api_client.do(
                    "GET", "/api/2.0/mlflow/artifacts/list", query=query,
                    headers={"Accept": "application/json"}),
                what=f"list artifacts {path or '/'} of run {self.run_id}", safe=True)
            for f in page.get("files", []):
                size = f.get("file_size")
                entries.append(ArtifactEntry(f["path"], bool(f.get("is_dir")),
                                             None if f.get("is_dir") else int(size or 0)))
            token = page.get("next_page_token")
            if not token:
                return entries

    def download(self, path: str, dst: Path) -> None:
        (info,) = self.credentials("read", [path])
        what = f"download {path!r} of run {self.run_id}"
        headers = {h["name"]: h["value"] for h in info.get("headers") or ()}

        def fetch() -> None:
            with self.backend.storage.get(info["signed_uri"], headers=headers, stream=True,
                                          timeout=self.backend.settings.http_timeout_seconds) as r:
                if r.status_code == 404:
                    raise ArtifactNotFoundError(
                        f"{what} on {self.backend.describe()} failed: no artifact at {path!r}")
                check_status(r, "GET")
                write_stream(r.iter_content(CHUNK), dst)

        self.backend.call(fetch, what=what, safe=True)


# -- Unity Catalog volumes: the Files API ---------------------------------------------------
class VolumeStore(ArtifactStore):
    def __init__(self, backend: DatabricksBackend, run_id: str, uri: str) -> None:
        super().__init__(backend, run_id, uri)
        self.root = "/" + uri[len("dbfs:/"):].strip("/")

    def upload(self, local_path: Path, artifact_path: str) -> None:
        target = f"{self.root}/{artifact_path}"

        def attempt() -> None:
            with open(local_path, "rb") as f:
                self.backend.client.files.upload(target, f, overwrite=True, use_parallel=False)

        self.backend.call(attempt, what=f"upload {artifact_path!r} of run {self.run_id} to "
                                        f"{target}", safe=True)

    def list(self, path: str | None) -> list[ArtifactEntry]:
        from databricks.sdk.errors import NotFound

        folder = f"{self.root}/{path.strip('/')}" if path else self.root

        def attempt() -> list[ArtifactEntry]:
            try:
                found = list(self.backend.client.files.list_directory_contents(folder))
            except NotFound:
                return []
            return [ArtifactEntry(posixpath.relpath(e.path.rstrip("/"), self.root),
                                  bool(e.is_directory), None if e.is_directory else e.file_size)
                    for e in found]

        return self.backend.call(attempt, what=f"list artifacts {path or '/'} of run "
                                               f"{self.run_id}", safe=True)

    def download(self, path: str, dst: Path) -> None:
        from databricks.sdk.errors import NotFound

        what = f"download {path!r} of run {self.run_id}"

        def attempt() -> None:
            try:
                contents: BinaryIO = self.backend.client.files.download(
                    f"{self.root}/{path}").contents
            except NotFound:
                raise ArtifactNotFoundError(
                    f"{what} on {self.backend.describe()} failed: no artifact at {path!r}"
                ) from None
            with contents:
                write_stream(iter(lambda: contents.read(CHUNK), b""), dst)

        self.backend.call(attempt, what=what, safe=True)


# -- an open-source MLflow server: its artifact proxy -----------------------------------------
class ProxiedStore(ArtifactStore):
    ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"

    def __init__(self, backend: DatabricksBackend, run_id: str, uri: str) -> None:
        super().__init__(backend, run_id, uri)
        self.root = urlparse(uri).path.strip("/")

    def _url(self, rel: str) -> str:
        return f"{self.ENDPOINT}/{quote(_join(self.root, rel))}"

    def upload(self, local_path: Path, artifact_path: str) -> None:
        size = local_path.stat().st_size

        def attempt() -> None:
            with open(local_path, "rb") as f:
                self.backend.client.api_client.do(
                    "PUT", self._url(artifact_path), data=f if size else b"",
                    headers={"Content-Type": "application/octet-stream"})

        self.backend.call(attempt, what=f"upload {artifact_path!r} of run {self.run_id}",
                          safe=True)

    def list(self, path: str | None) -> list[ArtifactEntry]:
        rel = (path or "").strip("/")
        answer = self.backend.call(
            lambda: self.backend.client.api_client.do(
                "GET", self.ENDPOINT, query={"path": _join(self.root, rel)},
                headers={"Accept": "application/json"}),
            what=f"list artifacts {rel or '/'} of run {self.run_id}", safe=True)
        return [
            ArtifactEntry(_join(rel, f["path"]), bool(f.get("is_dir")),
                          None if f.get("is_dir") else int(f.get("file_size") or 0))
            for f in answer.get("files", [])
        ]

    def download(self, path: str, dst: Path) -> None:
        from databricks.sdk.errors import NotFound

        what = f"download {path!r} of run {self.run_id}"

        def attempt() -> None:
            try:
                answer = self.backend.client.api_client.do("GET", self._url(path), raw=True)
            except NotFound:
                raise ArtifactNotFoundError(
                    f"{what} on {self.backend.describe()} failed: no artifact at {path!r}"
                ) from None
            contents = answer["contents"]
            with contents:
                write_stream(iter(lambda: contents.read(CHUNK), b""), dst)

        self.backend.call(attempt, what=what, safe=True)
