"""A run's files through the server's artifact proxy (``mlflow-artifacts:/...``).

* upload: ``PUT /api/2.0/mlflow-artifacts/artifacts/<root>/<path>``, the file streamed from
  disk. Files of at least ``multipart_threshold_mb`` go as a multipart upload where the
  server offers it (an S3/GCS/Azure-backed proxy): ``POST .../mpu/create/<root>/<path>``
  answers one presigned URL per part, each part is PUT from its slice of the file (without
  the server's credentials), then ``.../mpu/complete`` (``.../mpu/abort`` on failure). A
  server that answers "not supported" gets single PUTs from then on.
* list: ``GET .../artifacts?path=<root>/<dir>``; download: ``GET .../artifacts/<root>/<path>``,
  streamed to disk.
"""

from __future__ import annotations

import math
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from trackbridge.entities import ArtifactEntry
from trackbridge.errors import ArtifactNotFoundError, BackendError
from trackbridge.mlflow_rest.limits import ARTIFACTS_API
from trackbridge.streams import CHUNK, FileSlice, write_stream

if TYPE_CHECKING:
    from .http import Http

#: bytes per part of a multipart upload (MLflow's default; S3 allows 10,000 parts)
PART_SIZE = 10 * 1024 * 1024
MAX_PARTS = 10_000
_UNSUPPORTED = "Multipart upload is not supported"


def artifact_root(run_id: str, artifact_uri: str | None) -> str:
    """The proxy path of a run's root from its ``artifact_uri``; an error when not proxied."""
    uri = artifact_uri or ""
    parts = urlsplit(uri)
    if parts.scheme == "mlflow-artifacts":
        return parts.path.strip("/")
    marker = "/mlflow-artifacts/artifacts"
    if parts.scheme in ("http", "https") and marker in parts.path:
        return parts.path.split(marker, 1)[1].strip("/")
    raise BackendError(
        f"the artifacts of run {run_id} live at {uri!r}, outside the server's artifact proxy; "
        f"start the server with artifact serving on (the default, or --serve-artifacts with "
        f"--artifacts-destination) so its runs get mlflow-artifacts:/ locations")


def _join(*parts: str | None) -> str:
    return posixpath.join(*[p.strip("/") for p in parts if p and p.strip("/")]) if any(
        p and p.strip("/") for p in parts) else ""


class ProxyArtifacts:
    """The artifact tree of one run on the server."""

    def __init__(self, http: Http, run_id: str, root: str, multipart_threshold: int,
                 multipart: dict[str, bool]) -> None:
        self.http = http
        self.run_id = run_id
        self.root = root
        self.threshold = multipart_threshold
        #: shared per backend: {"supported": False} once the server said no
        self.multipart = multipart

    def _url(self, kind: str, rel: str) -> str:
        return f"{ARTIFACTS_API}/{kind}/{quote(_join(self.root, rel))}"

    def upload(self, local_path: Path, artifact_path: str) -> None:
        size = local_path.stat().st_size
        what = f"upload {artifact_path!r} of run {self.run_id}"
        if size >= self.threshold and self.multipart.get("supported", True) and \
                self._multipart(local_path, artifact_path, size, what):
            return

        def attempt() -> None:
            with open(local_path, "rb") as f:
                self.http.stream("PUT", self._url("artifacts", artifact_path),
                                 data=f if size else b"",
                                 headers={"Content-Type": "application/octet-stream"}).close()

        self.http.run(attempt, what=what, safe=True)

    def _multipart(self, local_path: Path, artifact_path: str, size: int, what: str) -> bool:
        """True when the file went up in parts; False when the server does not offer it."""
        from trackbridge.errors import TrackbridgeError

        part = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        n_parts = math.ceil(size / part)
        name = posixpath.basename(artifact_path)
        try:
            created = self.http.send("POST", self._url("mpu/create", artifact_path),
                                     what=f"{what} (start a multipart upload)", safe=True,
                                     body={"path": name, "num_parts": n_parts})
        except TrackbridgeError as exc:
            if _UNSUPPORTED in str(exc) or getattr(exc, "error_code", "") == "NOT_IMPLEMENTED":
                self.multipart["supported"] = False
                return False
            raise
        upload_id = created.get("upload_id")
        try:
            parts = [self._part(local_path, cred, part, size, what)
                     for cred in sorted(created.get("credentials") or [],
                                        key=lambda c: int(c["part_number"]))]
            self.http.send("POST", self._url("mpu/complete", artifact_path),
                           what=f"{what} (complete the multipart upload)", safe=True,
                           body={"path": name, "upload_id": upload_id, "parts": parts})
        except BaseException:
            self.http.send("POST", self._url("mpu/abort", artifact_path),
                           what=f"{what} (abort the multipart upload)", safe=True,
                           body={"path": name, "upload_id": upload_id})
            raise
        return True

    def _part(self, local_path: Path, cred: dict[str, Any], part: int, size: int,
              what: str) -> dict[str, Any]:
        number = int(cred["part_number"])
        offset = (number - 1) * part
        length = min(part, size - offset)

        def attempt() -> str:
            body = FileSlice(local_path, offset, length)
            try:
                from .http import check

                r = check(self.http.storage.put(cred["url"], data=body,
                                                headers=dict(cred.get("headers") or {}),
                                                timeout=self.http.timeout))
            finally:
                body.close()
            return r.headers.get("ETag", "")

        etag = self.http.run(attempt, what=f"{what} (part {number})", safe=True)
        return {"part_number": number, "etag": etag, "url": cred["url"]}

    def list(self, path: str | None) -> list[ArtifactEntry]:
        rel = (path or "").strip("/")
        answer = self.http.send("GET", f"{ARTIFACTS_API}/artifacts",
                                what=f"list artifacts {rel or '/'} of run {self.run_id}",
                                safe=True, query={"path": _join(self.root, rel)})
        entries = [ArtifactEntry(_join(rel, f["path"]), bool(f.get("is_dir")),
                                 None if f.get("is_dir") else int(f.get("file_size") or 0))
                   for f in answer.get("files") or []]
        if len(entries) == 1 and not entries[0].is_dir and entries[0].path == \
                _join(rel, posixpath.basename(rel)):
            return []  # ``path`` is a file: it has no children
        return entries

    def download(self, path: str, dst: Path) -> None:
        from .http import HttpError

        what = f"download {path!r} of run {self.run_id}"

        def attempt() -> None:
            try:
                response = self.http.stream("GET", self._url("artifacts", path))
            except HttpError as exc:
                if exc.status == 404:
                    raise ArtifactNotFoundError(f"{what} on {self.http.where} failed: no "
                                                f"artifact at {path!r}") from None
                raise
            with response:
                write_stream(response.iter_content(CHUNK), dst)

        self.http.run(attempt, what=what, safe=True)
