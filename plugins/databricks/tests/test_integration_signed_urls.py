"""Databricks' managed artifact store, end to end on loopback: runs live on the real MLflow
server, files go to a real blob service (Azurite) through signed URLs.

The open-source server has no ``credentials-for-write``/``-for-read`` endpoints, so only those
two are answered by the test (with ``responses``); every other request passes through to the
real server and to Azurite. The signed URLs are genuine Azurite SAS URLs, so Azurite itself
checks the signature, the permissions and the headers the PUT carries.
"""

from __future__ import annotations

import json
import os
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import responses
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from dbx_support import make_backend
from trackbridge_databricks import artifacts, signed_uploads

from trackbridge.errors import ArtifactNotFoundError

pytestmark = pytest.mark.integration

CONTAINER = "managed-artifacts"
META = {"name": "x-ms-meta-origin", "value": "trackbridge-credentials-for-write"}


@pytest.fixture(scope="module")
def blobs(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    return container


def signed_url(azurite, blob: str, permission: BlobSasPermissions) -> str:
    sas = generate_blob_sas(
        azurite.account_name, CONTAINER, blob, account_key=azurite.account_key,
        permission=permission, expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return f"{azurite.blob_endpoint}/{CONTAINER}/{quote(blob)}?{sas}"


@pytest.fixture
def managed(mlflow_server, azurite, blobs, monkeypatch):
    """(backend, run, issued) with the run's artifact_uri in the managed dbfs:/ store."""
    backend = make_backend(monkeypatch, host=mlflow_server.url,
                           artifact_root="dbfs:/databricks/mlflow-tracking",
                           retry_timeout_seconds=30, max_requests_per_second=0)
    exp = backend.get_or_create_experiment(f"/Shared/trackbridge-it/managed-{uuid.uuid4().hex[:8]}")
    run = backend.create_run(exp.id, run_name="managed", start_time=1, tags={})
    assert run.artifact_uri.startswith("dbfs:/databricks/mlflow-tracking/Shared/trackbridge-it/")
    issued: list[dict] = []

    def credentials(kind: str, permission: BlobSasPermissions):
        def answer(request):
            body = json.loads(request.body)
            infos = [{"run_id": body["run_id"], "path": p, "type": "AZURE_SAS_URI",
                      "signed_uri": signed_url(azurite, f"{body['run_id']}/{p}", permission),
                      "headers": [META] if kind == "write" else []}
                     for p in body["path"]]
            issued.append({"kind": kind, **body})
            return 200, {}, json.dumps({"credential_infos": infos})
        return answer

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST,
                          f"{mlflow_server.url}/api/2.0/mlflow/artifacts/credentials-for-write",
                          callback=credentials("write", BlobSasPermissions(create=True, write=True)))
        rsps.add_callback(responses.POST,
                          f"{mlflow_server.url}/api/2.0/mlflow/artifacts/credentials-for-read",
                          callback=credentials("read", BlobSasPermissions(read=True)))
        rsps.add_passthru(mlflow_server.url)
        rsps.add_passthru(azurite.blob_endpoint)
        yield backend, run, issued
    backend.close()


def test_signed_put_lands_in_blob_storage_with_the_returned_headers(managed, blobs, tmp_path):
    backend, run, issued = managed
    data = os.urandom(200_000)
    (tmp_path / "w.bin").write_bytes(data)
    backend.upload_artifact(run.id, tmp_path / "w.bin", "model/w.bin")

    assert issued == [{"kind": "write", "run_id": run.id, "path": ["model/w.bin"]}]
    blob = blobs.get_blob_client(f"{run.id}/model/w.bin")
    props = blob.get_blob_properties()
    assert props.blob_type == "BlockBlob"
    assert props.metadata == {"origin": "trackbridge-credentials-for-write"}  # the returned header
    assert blob.download_blob().readall() == data

    backend.download_artifact(run.id, "model/w.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data


def test_overwrite_and_empty_file(managed, blobs, tmp_path):
    backend, run, _ = managed
    src = tmp_path / "f.txt"
    src.write_bytes(b"first")
    backend.upload_artifact(run.id, src, "f.txt")
    src.write_bytes(b"")
    backend.upload_artifact(run.id, src, "f.txt")
    assert blobs.get_blob_client(f"{run.id}/f.txt").download_blob().readall() == b""


def test_large_blob_goes_up_in_blocks(managed, blobs, tmp_path, monkeypatch):
    monkeypatch.setattr(signed_uploads, "AZURE_BLOCK_SIZE", 1024 * 1024)
    backend, run, _ = managed
    data = os.urandom(2 * 1024 * 1024 + 12_345)
    (tmp_path / "big.bin").write_bytes(data)
    backend.upload_artifact(run.id, tmp_path / "big.bin", "big.bin")
    blob = blobs.get_blob_client(f"{run.id}/big.bin")
    assert [b.size for b in blob.get_block_list("committed")[0]] == [1048576, 1048576, 12345]
    assert blob.download_blob().readall() == data


def test_missing_artifact_is_artifact_not_found(managed, tmp_path):
    backend, run, _ = managed
    with pytest.raises(ArtifactNotFoundError, match="nope.bin"):
        backend.download_artifact(run.id, "nope.bin", tmp_path / "x")


def test_a_big_file_is_streamed_not_read_into_memory(mlflow_server, azurite, blobs, tmp_path,
                                                     monkeypatch):
    """96 MiB up through a signed URL (two 64 MiB-or-less blocks) with a few MiB of memory."""
    backend = make_backend(monkeypatch, host=mlflow_server.url, max_requests_per_second=0)
    size = 96 * 1024 * 1024
    path = tmp_path / "huge.bin"
    with open(path, "wb") as f:
        for i in range(96):
            f.write(bytes([i]) * (1024 * 1024))
    blob_name = f"streamed/{uuid.uuid4().hex}.bin"
    info = {"signed_uri": signed_url(azurite, blob_name, BlobSasPermissions(create=True, write=True)),
            "type": "AZURE_SAS_URI", "headers": []}
    tracemalloc.start()
    try:
        artifacts.SignedUpload(backend, info, path, "upload huge.bin").run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n96 MiB signed upload: peak Python memory {peak / 2**20:.2f} MiB")
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"
    blob = blobs.get_blob_client(blob_name)
    assert blob.get_blob_properties().size == size
    tail = blob.download_blob(offset=size - 3, length=3).readall()
    assert tail == bytes([95]) * 3
    backend.close()
