"""Artifact uploads per artifact_uri scheme: exact requests, headers, and streamed bodies."""

from __future__ import annotations

import pytest
import responses
from dbx_support import TOKEN
from trackbridge_databricks import signed_uploads
from unit_support import API, HOST, add_run, body_bytes, calls_to, json_body

from trackbridge.errors import ArtifactNotFoundError, BackendError

RUN = "abcabcabcabcabcabcabcabcabcabcab"
MANAGED = f"dbfs:/databricks/mlflow-tracking/7/{RUN}/artifacts"
SIGNED = "https://acct.blob.core.windows.net/root/7/abc/artifacts/plots/a.bin?sv=2024&sig=SECRETSIG"


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(bytes(range(256)) * 40)
    return path


def credentials(kind="AZURE_SAS_URI", headers=(("x-ms-encryption-scope", "ml-scope"),)):
    return {"credential_infos": [{
        "run_id": RUN, "path": "plots/a.bin", "signed_uri": SIGNED, "type": kind,
        "headers": [{"name": n, "value": v} for n, v in headers]}]}


def capture_put(rsps, url, status=201):
    """Register a PUT that records the bytes it received (bodies are streams)."""
    got: list[bytes] = []

    def callback(request):
        got.append(body_bytes(request))
        return status, {}, ""

    rsps.add_callback(responses.PUT, url, callback=callback)
    return got


def test_managed_store_gets_write_credentials_then_puts_with_their_headers(backend, rsps, src):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json=credentials())
    got = capture_put(rsps, SIGNED.split("?")[0])
    backend.upload_artifact(RUN, src, "plots/a.bin")

    (cred,) = calls_to(rsps, "/artifacts/credentials-for-write")
    assert cred.request.url == f"{API}/artifacts/credentials-for-write"
    assert json_body(cred.request) == {"run_id": RUN, "path": ["plots/a.bin"]}
    assert cred.request.headers["Authorization"] == f"Bearer {TOKEN}"
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    assert put.request.url == SIGNED
    assert put.request.headers["x-ms-encryption-scope"] == "ml-scope"
    assert put.request.headers["x-ms-blob-type"] == "BlockBlob"  # Azure SAS PUT needs it
    assert put.request.headers["Content-Length"] == str(src.stat().st_size)
    assert "Authorization" not in put.request.headers  # the workspace token stays home
    assert got == [src.read_bytes()]


def test_aws_presigned_put_sends_exactly_the_returned_headers(backend, rsps, src):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write",
             json=credentials("AWS_PRESIGNED_URL", (("x-amz-server-side-encryption", "AES256"),)))
    got = capture_put(rsps, SIGNED.split("?")[0], status=200)
    backend.upload_artifact(RUN, src, "plots/a.bin")
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    assert put.request.headers["x-amz-server-side-encryption"] == "AES256"
    assert "x-ms-blob-type" not in put.request.headers
    assert got == [src.read_bytes()]


def test_large_azure_blob_goes_up_in_blocks(backend, rsps, src, monkeypatch):
    monkeypatch.setattr(signed_uploads, "AZURE_BLOCK_SIZE", 4000)  # the 10,240-byte file: 3 blocks
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json=credentials())
    got = capture_put(rsps, SIGNED.split("?")[0])
    backend.upload_artifact(RUN, src, "plots/a.bin")
    puts = [c.request for c in rsps.calls if c.request.method == "PUT"]
    assert [p.url.split("&comp=")[1].split("&")[0] for p in puts] == ["block"] * 3 + ["blocklist"]
    assert b"".join(got[:3]) == src.read_bytes()
    assert [len(g) for g in got[:3]] == [4000, 4000, 2240]
    assert got[3].count(b"<Latest>") == 3
    assert all(p.headers["x-ms-encryption-scope"] == "ml-scope" for p in puts)


def test_a_failed_signed_put_is_retried_and_the_file_resent_whole(backend, rsps, src):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json=credentials())
    rsps.add(responses.PUT, SIGNED.split("?")[0], status=503, headers={"Retry-After": "2"})
    got = capture_put(rsps, SIGNED.split("?")[0])
    backend.upload_artifact(RUN, src, "plots/a.bin")
    assert got == [src.read_bytes()]
    assert backend.fake_time.sleeps == [2.0]


def test_signed_put_error_hides_the_signature(backend, rsps, src):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json=credentials())
    rsps.add(responses.PUT, SIGNED.split("?")[0], status=403,
             body=f"AuthenticationFailed for {SIGNED}")
    with pytest.raises(BackendError) as info:
        backend.upload_artifact(RUN, src, "plots/a.bin")
    assert "SECRETSIG" not in str(info.value)
    assert "403" in str(info.value) and "plots/a.bin" in str(info.value)


def test_volume_upload_uses_the_files_api_with_overwrite(backend, rsps, src):
    add_run(rsps, RUN, f"dbfs:/Volumes/main/ml/art/7/{RUN}/artifacts")
    target = f"{HOST}/api/2.0/fs/files/Volumes/main/ml/art/7/{RUN}/artifacts/plots/a.bin"
    got = capture_put(rsps, target, status=204)
    backend.upload_artifact(RUN, src, "plots/a.bin")
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    assert put.request.url == f"{target}?overwrite=true"
    assert put.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert got == [src.read_bytes()]


def test_volume_download_of_a_missing_file_is_artifact_not_found(backend, rsps, tmp_path):
    add_run(rsps, RUN, f"dbfs:/Volumes/main/ml/art/7/{RUN}/artifacts")
    rsps.add(responses.GET, f"{HOST}/api/2.0/fs/files/Volumes/main/ml/art/7/{RUN}/artifacts/x.txt",
             status=404, json={"error_code": "NOT_FOUND", "message": "no such file"})
    with pytest.raises(ArtifactNotFoundError, match="x.txt"):
        backend.download_artifact(RUN, "x.txt", tmp_path / "x.txt")


def test_mlflow_proxy_upload_puts_to_the_artifacts_endpoint(backend, rsps, src):
    add_run(rsps, RUN, f"mlflow-artifacts:/7/{RUN}/artifacts")
    target = f"{HOST}/api/2.0/mlflow-artifacts/artifacts/7/{RUN}/artifacts/plots/a.bin"
    got = capture_put(rsps, target, status=200)
    backend.upload_artifact(RUN, src, "plots/a.bin")
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    assert put.request.url == target
    assert put.request.headers["Content-Type"] == "application/octet-stream"
    assert got == [src.read_bytes()]


@pytest.mark.parametrize("uri", ["s3://bucket/7/run/artifacts", "file:///tmp/art",
                                 "dbfs:/FileStore/legacy/artifacts"])
def test_unsupported_artifact_location_names_the_scheme(backend, rsps, src, uri):
    add_run(rsps, RUN, uri)
    with pytest.raises(BackendError) as info:
        backend.upload_artifact(RUN, src, "a.bin")
    assert uri in str(info.value)
    assert repr(uri.split(":")[0]) in str(info.value)
    assert not [c for c in rsps.calls if c.request.method == "PUT"]



def test_adls_gen2_creates_appends_and_flushes(backend, rsps, src, monkeypatch):
    monkeypatch.setattr(signed_uploads, "ADLS_APPEND_SIZE", 6000)  # the 10,240-byte file: 2 appends
    add_run(rsps, RUN, MANAGED)
    dfs = "https://acct.dfs.core.windows.net/root/7/abc/artifacts/plots/a.bin"
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json={"credential_infos": [{
        "path": "plots/a.bin", "signed_uri": f"{dfs}?sv=2024&sig=SIG",
        "type": "AZURE_ADLS_GEN2_SAS_URI", "headers": [{"name": "x-ms-umask", "value": "0022"}]}]})
    got = []

    def callback(request):
        got.append((request.method, request.url.split("sig=SIG&")[1], body_bytes(request),
                    request.headers.get("x-ms-umask")))
        return 201 if request.method == "PUT" else 202, {}, ""

    rsps.add_callback(responses.PUT, dfs, callback=callback)
    rsps.add_callback(responses.PATCH, dfs, callback=callback)
    backend.upload_artifact(RUN, src, "plots/a.bin")
    data = src.read_bytes()
    assert got == [
        ("PUT", "resource=file", b"", "0022"),
        ("PATCH", "action=append&position=0", data[:6000], "0022"),
        ("PATCH", "action=append&position=6000", data[6000:], "0022"),
        ("PATCH", f"action=flush&position={len(data)}", b"", "0022"),
    ]


def test_volume_listing_is_relative_to_the_run_root(backend, rsps):
    root = f"/Volumes/main/ml/art/7/{RUN}/artifacts"
    add_run(rsps, RUN, f"dbfs:{root}")
    rsps.add(responses.GET, f"{HOST}/api/2.0/fs/directories{root}/plots", json={"contents": [
        {"path": f"{root}/plots/a.txt", "is_directory": False, "file_size": 5, "name": "a.txt"},
        {"path": f"{root}/plots/deep/", "is_directory": True, "name": "deep"}]})
    assert backend.list_artifacts(RUN, "plots") == [("plots/a.txt", False, 5),
                                                    ("plots/deep", True, None)]


def test_managed_listing_follows_pages(backend, rsps):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.GET, f"{API}/artifacts/list", json={
        "files": [{"path": "model/a.bin", "is_dir": False, "file_size": 10}],
        "next_page_token": "p2"})
    rsps.add(responses.GET, f"{API}/artifacts/list", json={
        "files": [{"path": "model/sub", "is_dir": True}]})
    assert backend.list_artifacts(RUN, "model") == [("model/a.bin", False, 10),
                                                    ("model/sub", True, None)]
    second = calls_to(rsps, "/artifacts/list")[1].request
    assert "page_token=p2" in second.url and f"run_id={RUN}" in second.url


def test_many_files_share_one_credentials_request(backend, rsps, tmp_path):
    add_run(rsps, RUN, MANAGED)
    files = []
    for name in ("a.bin", "b.bin", "c.bin"):
        (tmp_path / name).write_bytes(name.encode() * 100)
        files.append((tmp_path / name, f"plots/{name}"))
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json={"credential_infos": [
        {"run_id": RUN, "path": rel, "type": "AZURE_SAS_URI", "headers": [],
         "signed_uri": f"https://acct.blob.core.windows.net/root/{rel}?sig=S"} for _, rel in files]})
    received = {rel: capture_put(rsps, f"https://acct.blob.core.windows.net/root/{rel}")
                for _, rel in files}
    backend.upload_artifacts(RUN, files)
    (cred,) = calls_to(rsps, "/artifacts/credentials-for-write")
    assert json_body(cred.request) == {"run_id": RUN, "path": [rel for _, rel in files]}
    assert {rel: got for rel, got in received.items()} == \
        {rel: [path.read_bytes()] for path, rel in files}


def test_a_path_without_a_signed_url_is_a_clear_error(backend, rsps, src):
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json={"credential_infos": []})
    with pytest.raises(BackendError, match="no signed URL for 'plots/a.bin'"):
        backend.upload_artifacts(RUN, [(src, "plots/a.bin")])


AWS_PART = "https://bucket.s3.amazonaws.com/7/abc/artifacts/big.bin"


def multipart_answers(rsps, parts=3, *, refuse_part=None):
    """create-multipart-upload answering one presigned URL per part (part ``refuse_part``
    answers 403 once: an expired URL), complete, and the refresh of a part URL."""
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write", json={"credential_infos": [
        {"run_id": RUN, "path": "plots/big.bin", "signed_uri": f"{AWS_PART}?X-Amz-Signature=S",
         "type": "AWS_PRESIGNED_URL", "headers": []}]})
    infos = [{"signed_uri": f"{AWS_PART}?partNumber={n}&uploadId=U1&X-Amz-Signature=SIG{n}",
              "type": "AWS_PRESIGNED_URL", "headers": [{"name": "x-amz-acl", "value": "private"}]}
             for n in range(1, parts + 1)]
    rsps.add(responses.POST, f"{API}/artifacts/create-multipart-upload", json={
        "upload_id": "U1", "upload_credential_infos": infos,
        "abort_credential_info": {"signed_uri": f"{AWS_PART}?uploadId=U1&X-Amz-Signature=AB",
                                  "type": "AWS_PRESIGNED_URL", "headers": []}})
    got: dict[str, bytes] = {}

    def part(request):
        query = request.url.split("?", 1)[1]
        if refuse_part is not None and f"partNumber={refuse_part}&" in query and \
                "SIG" in query and "FRESH" not in query:
            return 403, {}, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        got[query] = body_bytes(request)
        return 200, {"ETag": f'"etag-{query.split("&")[0]}"'}, ""

    rsps.add_callback(responses.PUT, AWS_PART, callback=part)
    rsps.add(responses.POST, f"{API}/artifacts/get-presigned-upload-part-url", json={
        "upload_credential_info": {
            "signed_uri": f"{AWS_PART}?partNumber={refuse_part}&uploadId=U1&X-Amz-Signature=FRESH",
            "type": "AWS_PRESIGNED_URL", "headers": []}})
    rsps.add(responses.POST, f"{API}/artifacts/complete-multipart-upload", json={})
    return got


@pytest.fixture
def big(tmp_path, monkeypatch):
    """A 1000-byte file with the multipart threshold lowered to 999 bytes, parts of 400."""
    monkeypatch.setattr(signed_uploads, "AWS_MULTIPART_THRESHOLD", 999)
    monkeypatch.setattr(signed_uploads, "AWS_PART_SIZE", 400)
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(250)) * 4)
    return path


def test_an_aws_file_over_the_threshold_goes_up_as_a_multipart_upload(backend, rsps, big):
    add_run(rsps, RUN, MANAGED)
    got = multipart_answers(rsps)
    backend.upload_artifact(RUN, big, "plots/big.bin")

    (create,) = calls_to(rsps, "/artifacts/create-multipart-upload")
    assert json_body(create.request) == {"run_id": RUN, "path": "plots/big.bin", "num_parts": 3}
    assert create.request.headers["Authorization"] == f"Bearer {TOKEN}"
    puts = [c for c in rsps.calls if c.request.method == "PUT"]
    assert [c.request.url.split("?")[1].split("&")[0] for c in puts] == \
        ["partNumber=1", "partNumber=2", "partNumber=3"]
    for call in puts:
        assert "Authorization" not in call.request.headers  # the workspace token stays home
        assert call.request.headers["x-amz-acl"] == "private"
    data = big.read_bytes()
    assert list(got.values()) == [data[:400], data[400:800], data[800:]]
    (complete,) = calls_to(rsps, "/artifacts/complete-multipart-upload")
    assert json_body(complete.request) == {
        "run_id": RUN, "path": "plots/big.bin", "upload_id": "U1",
        "part_etags": [{"part_number": n, "etag": f'"etag-partNumber={n}"'} for n in (1, 2, 3)]}
    assert not [c for c in rsps.calls if c.request.method == "DELETE"]


def test_an_expired_part_url_is_renewed_once(backend, rsps, big):
    add_run(rsps, RUN, MANAGED)
    got = multipart_answers(rsps, refuse_part=2)
    backend.upload_artifact(RUN, big, "plots/big.bin")
    (renew,) = calls_to(rsps, "/artifacts/get-presigned-upload-part-url")
    assert json_body(renew.request) == {"run_id": RUN, "path": "plots/big.bin", "upload_id": "U1",
                                        "part_number": 2}
    assert any("FRESH" in q for q in got) and len(got) == 3
    assert calls_to(rsps, "/artifacts/complete-multipart-upload")


def test_a_failed_part_aborts_the_multipart_upload_and_says_what_failed(backend, rsps, big):
    add_run(rsps, RUN, MANAGED)
    multipart_answers(rsps)
    rsps.replace(responses.PUT, AWS_PART, status=400, body="<Error><Code>BadDigest</Code></Error>")
    rsps.add(responses.DELETE, AWS_PART, status=204)
    with pytest.raises(BackendError) as info:
        backend.upload_artifact(RUN, big, "plots/big.bin")
    assert "plots/big.bin" in str(info.value) and "SIG" not in str(info.value)
    (abort,) = [c for c in rsps.calls if c.request.method == "DELETE"]
    assert "uploadId=U1" in abort.request.url and "Authorization" not in abort.request.headers
    assert not calls_to(rsps, "/artifacts/complete-multipart-upload")


def test_an_aws_file_under_the_threshold_is_one_put(backend, rsps, big, monkeypatch):
    monkeypatch.setattr(signed_uploads, "AWS_MULTIPART_THRESHOLD", 1000)
    add_run(rsps, RUN, MANAGED)
    rsps.add(responses.POST, f"{API}/artifacts/credentials-for-write",
             json=credentials("AWS_PRESIGNED_URL"))
    got = capture_put(rsps, SIGNED.split("?")[0], status=200)
    backend.upload_artifact(RUN, big, "plots/a.bin")
    assert got == [big.read_bytes()] and not calls_to(rsps, "/artifacts/create-multipart-upload")
