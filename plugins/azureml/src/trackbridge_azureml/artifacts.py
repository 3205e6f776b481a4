"""Run artifacts through Azure ML's run-history service and the workspace's blob storage.

Upload: ``POST <history>/experimentids/<exp>/runs/<run>/artifacts/batch/metadata`` with
``{"paths": [{"path": ...}]}`` (at most 100 paths a request) answers a SAS ``contentUri`` per
path (and an ``errors`` map for paths it refused); the bytes then go straight to blob storage
with ``BlobClient.from_blob_url(uri).upload_blob(stream, overwrite=True)``, streamed in
blocks. List: ``GET .../artifacts`` (paged by ``continuationToken``). Download: ``GET
.../artifacts/contentinfo?path=`` answers the SAS URL to read. No bearer token goes to blob
storage: the SAS URL is the permission, and it is never shown in messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trackbridge.entities import ArtifactEntry
from trackbridge.errors import ArtifactNotFoundError, BackendError

from .errors import Call, redact, strip_query
from .http import USER_AGENT, Http

#: Blob transfer tuning: files above ``SINGLE_PUT`` go up in blocks of ``BLOCK`` bytes.
SINGLE_PUT = 4 * 1024 * 1024
BLOCK = 4 * 1024 * 1024


def run_url(history: str, experiment_id: str, run_id: str) -> str:
    """The run-history URL of a run, addressed by experiment id."""
    return f"{history}/experimentids/{experiment_id}/runs/{run_id}"


def request_upload_urls(http: Http, call: Call, url: str, paths: Sequence[str],
                        per_request: int) -> dict[str, str]:
    """A SAS ``contentUri`` for each of ``paths`` (``per_request`` paths per request)."""
    found: dict[str, str] = {}
    for start in range(0, len(paths), per_request):
        chunk = list(paths[start:start + per_request])
        answer = http.call(call, "POST", f"{url}/artifacts/batch/metadata",
                           body={"paths": [{"path": p} for p in chunk]})
        errors = answer.get("errors") or {}
        if errors:
            said = "; ".join(f"{p!r}: {_error_text(e)}" for p, e in list(errors.items())[:5])
            raise BackendError(f"{call.prefix()}: Azure ML refused {len(errors)} artifact "
                               f"path(s): {redact(said, http.secrets)}")
        info = answer.get("artifactContentInformation") or {}
        for path in chunk:
            uri = (info.get(path) or {}).get("contentUri")
            if not uri:
                raise BackendError(f"{call.prefix()}: Azure ML answered no upload URL for "
                                   f"artifact {path!r}")
            found[path] = uri
    return found


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        inner = error.get("error") if isinstance(error.get("error"), dict) else error
        return f"{inner.get('code', '')} {inner.get('message', '')}".strip() or str(error)
    return str(error)


def _blob_client(uri: str, timeout: float):
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(
        uri, max_single_put_size=SINGLE_PUT, max_block_size=BLOCK,
        connection_timeout=min(timeout, 30.0), read_timeout=timeout,
        user_agent=USER_AGENT,
    )


def _blob_failure(call: Call, uri: str, exc: Exception, secrets) -> BackendError:
    return BackendError(f"{call.prefix()}: blob storage at {strip_query(uri)} answered: "
                        f"{redact(str(exc), secrets).splitlines()[0][:400]}")


def upload_file(call: Call, uri: str, local_path: Path, timeout: float, secrets=()) -> None:
    """Stream ``local_path`` to the SAS URL ``uri`` (replacing any blob there)."""
    from azure.core.exceptions import AzureError

    size = os.path.getsize(local_path)
    try:
        with _blob_client(uri, timeout) as blob, open(local_path, "rb") as stream:
            blob.upload_blob(stream, length=size, overwrite=True, max_concurrency=1)
    except AzureError as exc:
        raise _blob_failure(call, uri, exc, secrets) from None


def download_file(call: Call, uri: str, dst: Path, timeout: float, secrets=()) -> None:
    """Stream the blob at ``uri`` into ``dst`` (written whole or not at all)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.part")
    try:
        with _blob_client(uri, timeout) as blob, open(partial, "wb") as out:
            blob.download_blob(max_concurrency=1).readinto(out)
        os.replace(partial, dst)
    except ResourceNotFoundError:
        raise ArtifactNotFoundError(f"{call.prefix()}: the file is listed but its blob is "
                                    f"missing in storage") from None
    except AzureError as exc:
        raise _blob_failure(call, uri, exc, secrets) from None
    finally:
        partial.unlink(missing_ok=True)


def blob_size(call: Call, uri: str, timeout: float, secrets=()) -> int | None:
    from azure.core.exceptions import AzureError

    try:
        with _blob_client(uri, timeout) as blob:
            return blob.get_blob_properties().size
    except AzureError as exc:
        raise _blob_failure(call, uri, exc, secrets) from None


def all_paths(http: Http, call: Call, url: str) -> Iterator[str]:
    """Every artifact path of the run (the listing is flat and paged)."""
    token: str | None = None
    while True:
        params = {"continuationToken": token} if token else None
        answer = http.call(call, "GET", f"{url}/artifacts", params=params)
        for item in answer.get("value") or []:
            if item.get("path"):
                yield item["path"]
        token = answer.get("continuationToken")
        if not token:
            return


def children(paths: Sequence[str], folder: str) -> list[tuple[str, bool]]:
    """The direct children of ``folder`` ('' = root) among ``paths``: (path, is_dir)."""
    prefix = f"{folder}/" if folder else ""
    seen: dict[str, bool] = {}
    for path in paths:
        if not path.startswith(prefix) or path == folder:
            continue
        head, sep, _rest = path[len(prefix):].partition("/")
        child = prefix + head
        seen[child] = seen.get(child, False) or bool(sep)
    return sorted(seen.items())


def content_uri(http: Http, call: Call, url: str, path: str) -> str:
    """The SAS URL to read the artifact at ``path``; ArtifactNotFoundError when absent."""
    answer = http.call(call, "GET", f"{url}/artifacts/contentinfo", params={"path": path})
    uri = answer.get("contentUri")
    if not uri:
        raise ArtifactNotFoundError(f"{call.prefix()}: no such artifact")
    return uri


def list_entries(http: Http, call: Call, url: str, folder: str, timeout: float
                 ) -> list[ArtifactEntry]:
    """Direct children of ``folder`` with file sizes (one blob HEAD per file listed)."""
    entries = []
    for path, is_dir in children(list(all_paths(http, call, url)), folder):
        size = None
        if not is_dir:
            size = blob_size(call, content_uri(http, call._replace(artifact=path), url, path),
                             timeout, http.secrets)
        entries.append(ArtifactEntry(path, is_dir, size))
    return entries
