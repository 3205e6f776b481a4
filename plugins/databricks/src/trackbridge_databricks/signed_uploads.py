"""Uploads to signed cloud-storage URLs (Databricks' managed artifact store).

One file per signed PUT with the headers the service returned; Azure blobs above
``AZURE_BLOCK_SIZE`` in blocks, ADLS Gen2 by create / append / flush; AWS files above
``AWS_MULTIPART_THRESHOLD`` as an S3 multipart upload through presigned part URLs. Each
request streams its slice of the file and never carries the workspace token.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trackbridge.errors import BackendError
from trackbridge.streams import FileSlice

from .retry import HttpStatusError

if TYPE_CHECKING:
    from .artifacts import ManagedStore
    from .backend import DatabricksBackend

#: Azure blobs larger than this go up as blocks of this size (Put Block + Put Block List).
AZURE_BLOCK_SIZE = 64 * 1024 * 1024
#: ADLS Gen2 appends per request.
ADLS_APPEND_SIZE = 64 * 1024 * 1024
#: AWS files larger than this go up as an S3 multipart upload (one presigned PUT takes at
#: most 5 GB; MLflow switches at 500 MiB), in parts of AWS_PART_SIZE (10,000 parts at most).
AWS_MULTIPART_THRESHOLD = 500 * 1024 * 1024
AWS_PART_SIZE = 64 * 1024 * 1024
AWS_MAX_PARTS = 10_000


def check_status(response: Any, method: str) -> None:
    """Raise :class:`HttpStatusError` for a non-2xx storage answer (URL query left out)."""
    if response.status_code < 300:
        return
    retry_after = response.headers.get("Retry-After")
    try:
        wait = float(retry_after) if retry_after is not None else None
    except ValueError:
        wait = None
    url = response.url.split("?", 1)[0]
    body = response.text[:300] if not response.raw or not response.raw.closed else ""
    raise HttpStatusError(response.status_code,
                          f"{method} {url} answered {response.status_code}: {body}", wait)


class SignedUpload:
    """One file to one signed URL, per the credential type the service returned."""

    def __init__(self, backend: DatabricksBackend, info: dict[str, Any], local_path: Path,
                 what: str) -> None:
        self.backend = backend
        self.url: str = info["signed_uri"]
        self.kind: str = info.get("type", "")
        self.headers = {h["name"]: h["value"] for h in info.get("headers") or ()}
        self.path = local_path
        self.size = local_path.stat().st_size
        self.what = what

    def run(self) -> None:
        if self.kind == "AZURE_ADLS_GEN2_SAS_URI":
            self._adls()
        elif self.kind == "AZURE_SAS_URI" and self.size > AZURE_BLOCK_SIZE:
            self._azure_blocks()
        else:
            headers = dict(self.headers)
            if self.kind == "AZURE_SAS_URI":
                headers.setdefault("x-ms-blob-type", "BlockBlob")
            self._send("PUT", self.url, headers, 0, self.size)

    def _send(self, method: str, url: str, headers: dict[str, str], offset: int, length: int,
              body: bytes | None = None) -> None:
        def attempt() -> None:
            data: Any = body if body is not None else (
                FileSlice(self.path, offset, length) if length else b"")
            try:
                r = self.backend.storage.request(
                    method, url, data=data, headers=headers,
                    timeout=self.backend.settings.http_timeout_seconds)
            finally:
                if isinstance(data, FileSlice):
                    data.close()
            check_status(r, method)

        self.backend.call(attempt, what=self.what, safe=True)

    def _azure_blocks(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "x-ms-blob-type"}
        ids = []
        for n, offset in enumerate(range(0, self.size, AZURE_BLOCK_SIZE)):
            block_id = base64.b64encode(f"block-{n:08d}".encode()).decode()
            ids.append(block_id)
            length = min(AZURE_BLOCK_SIZE, self.size - offset)
            self._send("PUT", f"{self.url}&comp=block&blockid={quote(block_id, safe='')}",
                       headers, offset, length)
        xml = "".join(f"<Latest>{i}</Latest>" for i in ids)
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{xml}</BlockList>'.encode()
        self._send("PUT", f"{self.url}&comp=blocklist", headers, 0, len(body), body=body)

    def _adls(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "x-ms-blob-type"}
        self._send("PUT", f"{self.url}&resource=file", headers, 0, 0, body=b"")
        for offset in range(0, self.size, ADLS_APPEND_SIZE):
            length = min(ADLS_APPEND_SIZE, self.size - offset)
            self._send("PATCH", f"{self.url}&action=append&position={offset}", headers,
                       offset, length)
        self._send("PATCH", f"{self.url}&action=flush&position={self.size}", headers, 0, 0,
                   body=b"")


class AwsMultipartUpload:
    """An S3 multipart upload through Databricks' presigned part URLs:
    ``create-multipart-upload`` (one signed URL per part), a PUT per part (its ETag kept; an
    expired URL is renewed once with ``get-presigned-upload-part-url``), then
    ``complete-multipart-upload``; on failure the upload is aborted with its abort URL."""

    def __init__(self, store: ManagedStore, local_path: Path, artifact_path: str, what: str) -> None:
        self.store = store
        self.backend = store.backend
        self.path = local_path
        self.artifact_path = artifact_path
        self.what = what
        self.size = local_path.stat().st_size
        self.part_size = max(AWS_PART_SIZE, -(-self.size // AWS_MAX_PARTS))

    def _api(self, name: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        return self.backend._send("POST", f"/api/2.0/mlflow/artifacts/{name}", body=body,
                                  safe=True, what=f"{self.what} ({what})")

    def run(self) -> None:
        n_parts = max(1, -(-self.size // self.part_size))
        ids = {"run_id": self.store.run_id, "path": self.artifact_path}
        created = self._api("create-multipart-upload", {**ids, "num_parts": n_parts},
                            "start a multipart upload")
        upload_id = created["upload_id"]
        try:
            etags = [{"part_number": n, "etag": self._part(n, info, upload_id)}
                     for n, info in enumerate(created.get("upload_credential_infos") or [], 1)]
            if len(etags) != n_parts:
                raise BackendError(f"{self.what}: the service answered {len(etags)} part URLs "
                                   f"for {n_parts} parts ({self.backend.describe()})")
            self._api("complete-multipart-upload", {**ids, "upload_id": upload_id,
                                                    "part_etags": etags}, "complete it")
        except BaseException:
            abort = created.get("abort_credential_info")
            if abort:
                headers = {h["name"]: h["value"] for h in abort.get("headers") or ()}
                self.backend.call(lambda: self.backend.storage.delete(
                    abort["signed_uri"], headers=headers,
                    timeout=self.backend.settings.http_timeout_seconds),
                    what=f"{self.what} (abort the multipart upload)", safe=True)
            raise

    def _part(self, number: int, info: dict[str, Any], upload_id: str) -> str:
        offset = (number - 1) * self.part_size
        length = min(self.part_size, self.size - offset)

        def put(info: dict[str, Any], expired_ok: bool) -> Any:
            headers = {h["name"]: h["value"] for h in info.get("headers") or ()}

            def attempt() -> Any:
                body = FileSlice(self.path, offset, length)
                try:
                    response = self.backend.storage.put(
                        info["signed_uri"], data=body, headers=headers,
                        timeout=self.backend.settings.http_timeout_seconds)
                finally:
                    body.close()
                if not (expired_ok and response.status_code in (401, 403)):
                    check_status(response, "PUT")
                return response

            return self.backend.call(attempt, what=f"{self.what} (part {number})", safe=True)

        response = put(info, expired_ok=True)
        if response.status_code in (401, 403):  # the signed URL expired: ask for a fresh one
            fresh = self._api("get-presigned-upload-part-url",
                              {"run_id": self.store.run_id, "path": self.artifact_path,
                               "upload_id": upload_id, "part_number": number},
                              f"renew the URL of part {number}")
            response = put(fresh["upload_credential_info"], expired_ok=False)
        return response.headers.get("ETag", "")


