"""The mlflow backend at the wire (``responses`` answers every request): exact paths, bodies
and headers; MLflow's auth and TLS environment; retries that never duplicate; multipart."""

from __future__ import annotations

import base64
import json
import logging
import math

import pytest
import requests
import responses
from mlflow_support import clean_mlflow_env
from trackbridge_mlflow.backend import MlflowBackend

from trackbridge.entities import Metric, Param, RunTag
from trackbridge.errors import (
    ArtifactNotFoundError,
    BackendError,
    ConfigError,
    ParamConflictError,
    RunNotFoundError,
)

HOST = "https://mlflow.example.com"  # never contacted: responses answers
API = f"{HOST}/api/2.0/mlflow"
ART = f"{HOST}/api/2.0/mlflow-artifacts"
RUN = "0123456789abcdef0123456789abcdef"
PASSWORD = "s3cret-Pa55word-for-tests"
T0 = 1_700_000_000_000


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def env(monkeypatch):
    clean_mlflow_env(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    return monkeypatch


def make(**table):
    backend = MlflowBackend.from_config({"tracking_uri": HOST, "retry_timeout_seconds": 5, **table})
    backend.http.policy._sleep = lambda s: None  # retries without waiting
    return backend


def body(call) -> dict:
    return json.loads(call.request.body)


def calls(rsps, path):
    return [c for c in rsps.calls if c.request.url.split("?")[0].endswith(path)]


def run_json(artifact_uri=f"mlflow-artifacts:/7/{RUN}/artifacts"):
    return {"run": {"info": {"run_id": RUN, "experiment_id": "7", "status": "RUNNING",
                             "start_time": T0, "artifact_uri": artifact_uri, "run_name": "r"},
                    "data": {"tags": [{"key": "mlflow.runName", "value": "r"}]}}}


def add_run(rsps):
    rsps.add(responses.GET, f"{API}/runs/get", json=run_json())
    rsps.add(responses.GET, f"{API}/experiments/get",
             json={"experiment": {"experiment_id": "7", "name": "churn"}})


def test_a_batch_is_one_exact_request_with_basic_auth(env, rsps, caplog):
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    with caplog.at_level(logging.DEBUG):
        make().log_batch(RUN, [Metric("loss", 0.25, T0, 3), Metric("odd", math.nan, T0, 4),
                               Metric("odd", math.inf, T0, 5)],
                         [Param("lr", "0.1")], [RunTag("team", "ml")])
    (call,) = rsps.calls
    assert call.request.method == "POST" and call.request.url == f"{API}/runs/log-batch"
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert call.request.headers["Authorization"] == expected
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["User-Agent"].startswith("trackbridge-mlflow/")
    assert body(call) == {
        "run_id": RUN,
        "metrics": [{"key": "loss", "value": 0.25, "timestamp": T0, "step": 3},
                    {"key": "odd", "value": "NaN", "timestamp": T0, "step": 4},
                    {"key": "odd", "value": "Infinity", "timestamp": T0, "step": 5}],
        "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "team", "value": "ml"}]}
    assert PASSWORD not in caplog.text and expected.split()[1] not in caplog.text


def test_a_token_is_sent_as_bearer_and_basic_auth_wins_as_in_mlflow(monkeypatch, rsps):
    clean_mlflow_env(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    rsps.add(responses.POST, f"{API}/runs/update", json={})
    make().update_run(RUN, status="FINISHED", end_time=T0)
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer tok-123456"
    assert body(rsps.calls[0]) == {"run_id": RUN, "status": "FINISHED", "end_time": T0}
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    make().update_run(RUN, status="FINISHED")
    assert rsps.calls[1].request.headers["Authorization"].startswith("Basic ")
    assert body(rsps.calls[1]) == {"run_id": RUN, "status": "FINISHED"}


def test_no_credentials_send_no_authorization_header(monkeypatch, rsps):
    clean_mlflow_env(monkeypatch)
    rsps.add(responses.POST, f"{API}/runs/update", json={})
    make().update_run(RUN, status="KILLED")
    assert "Authorization" not in rsps.calls[0].request.headers


def test_tls_settings_follow_mlflows_variables(monkeypatch, tmp_path):
    clean_mlflow_env(monkeypatch)
    ca, cert = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.write_text("ca")
    cert.write_text("cert")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(ca))
    monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", str(cert))
    session = make().http.session
    assert (session.verify, session.cert) == (str(ca), str(cert))
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    assert make().http.session.verify is False
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(ca))
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_INSECURE_TLS=true and "
                                          "MLFLOW_TRACKING_SERVER_CERT_PATH"):
        make().http  # noqa: B018


def test_half_of_basic_auth_is_a_config_error(monkeypatch):
    clean_mlflow_env(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD is not"):
        make().http  # noqa: B018


def test_429_waits_retry_after_and_resends_a_metric_batch(env, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=429, headers={"Retry-After": "3"},
             json={"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"})
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend = make()
    waits = []
    backend.http.policy._sleep = waits.append
    backend.log_batch(RUN, [Metric("m", 1.0, T0, 0)])
    first, second = calls(rsps, "/runs/log-batch")
    assert body(first) == body(second) and waits == [3.0]


@pytest.mark.parametrize("failure", [
    {"status": 500, "json": {"error_code": "INTERNAL_ERROR", "message": "boom"}},
    {"status": 504, "body": "gateway timeout"},
    {"body": requests.ConnectionError("Connection aborted: reset by peer")},
    {"body": requests.ReadTimeout("read timed out")},
])
def test_a_metric_batch_is_never_resent_after_an_ambiguous_failure(env, rsps, failure):
    rsps.add(responses.POST, f"{API}/runs/log-batch", **failure)
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    with pytest.raises(BackendError, match="may be partly applied") as info:
        make().log_batch(RUN, [Metric("m", 1.0, T0, 0)])
    assert len(calls(rsps, "/runs/log-batch")) == 1 and RUN in str(info.value)


def test_a_params_only_batch_is_resent_after_a_500(env, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=500, json={"message": "boom"})
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    make().log_batch(RUN, params=[Param("lr", "0.1")])
    assert len(calls(rsps, "/runs/log-batch")) == 2


def test_error_codes_become_trackbridge_errors(env, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=400, json={
        "error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not "
        "allowed. Param with key='lr' was already logged with value='0.1'"})
    rsps.add(responses.GET, f"{API}/runs/get", status=404,
             json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{RUN}' not found"})
    backend = make()
    with pytest.raises(ParamConflictError, match="lr"):
        backend.log_batch(RUN, params=[Param("lr", "0.2")])
    with pytest.raises(RunNotFoundError, match=RUN):
        backend.get_run(RUN)


def test_experiment_create_race_and_pagination(env, rsps):
    rsps.add(responses.GET, f"{API}/experiments/get-by-name", status=404,
             json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})
    rsps.add(responses.POST, f"{API}/experiments/create", status=400,
             json={"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"})
    rsps.add(responses.GET, f"{API}/experiments/get-by-name", json={"experiment": {
        "experiment_id": "7", "name": "churn", "lifecycle_stage": "active"}})
    rsps.add(responses.POST, f"{API}/experiments/search", json={
        "experiments": [{"experiment_id": "7", "name": "churn"}], "next_page_token": "t2"})
    rsps.add(responses.POST, f"{API}/experiments/search", json={
        "experiments": [{"experiment_id": "8", "name": "other"}]})
    backend = make()
    assert backend.get_or_create_experiment("churn").id == "7"
    assert [e.name for e in backend.list_experiments()] == ["churn", "other"]
    first, second = calls(rsps, "/experiments/search")
    assert body(first) == {"max_results": 1000} and body(second) == {"max_results": 1000,
                                                                       "page_token": "t2"}


def test_artifacts_go_through_the_proxy_streamed(env, rsps, tmp_path):
    add_run(rsps)
    rsps.add(responses.PUT, f"{ART}/artifacts/7/{RUN}/artifacts/plots/a%20b.txt", status=200)
    rsps.add(responses.GET, f"{ART}/artifacts", json={"files": [
        {"path": "a b.txt", "is_dir": False, "file_size": 5}, {"path": "deep", "is_dir": True}]})
    rsps.add(responses.GET, f"{ART}/artifacts/7/{RUN}/artifacts/plots/a%20b.txt", body=b"hello")
    rsps.add(responses.GET, f"{ART}/artifacts/7/{RUN}/artifacts/missing.txt", status=404,
             json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such file"})
    src = tmp_path / "a.txt"
    src.write_bytes(b"hello")
    backend = make()
    backend.upload_artifact(RUN, src, "plots/a b.txt")
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    sent = put.request.body.read() if hasattr(put.request.body, "read") else put.request.body
    assert sent == b"hello"
    assert put.request.headers["Authorization"].startswith("Basic ")
    entries = backend.list_artifacts(RUN, "plots")
    assert [(e.path, e.is_dir, e.size) for e in entries] == [("plots/a b.txt", False, 5),
                                                            ("plots/deep", True, None)]
    listing = calls(rsps, "/mlflow-artifacts/artifacts")[-1]
    assert listing.request.url == f"{ART}/artifacts?path=7%2F{RUN}%2Fartifacts%2Fplots"
    backend.download_artifact(RUN, "plots/a b.txt", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_bytes() == b"hello"
    with pytest.raises(ArtifactNotFoundError, match="missing.txt"):
        backend.download_artifact(RUN, "missing.txt", tmp_path / "x")


def test_a_large_file_goes_up_as_a_multipart_upload_where_the_server_offers_it(env, rsps, tmp_path,
                                                                              monkeypatch):
    from trackbridge_mlflow import artifacts

    monkeypatch.setattr(artifacts, "PART_SIZE", 400)
    add_run(rsps)
    parts = [{"part_number": n, "url": f"https://s3.example.com/b/big?partNumber={n}&sig=X{n}",
              "headers": {"x-amz-acl": "private"}} for n in (1, 2, 3)]
    rsps.add(responses.POST, f"{ART}/mpu/create/7/{RUN}/artifacts/big.bin",
             json={"upload_id": "U1", "credentials": parts})
    got = {}

    def part(request):
        got[request.url] = request.body.read() if hasattr(request.body, "read") else request.body
        return 200, {"ETag": f'"e{len(got)}"'}, ""

    rsps.add_callback(responses.PUT, "https://s3.example.com/b/big", callback=part)
    rsps.add(responses.POST, f"{ART}/mpu/complete/7/{RUN}/artifacts/big.bin", json={})
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(250)) * 4)
    make(multipart_threshold_mb=0.0005).upload_artifact(RUN, src, "big.bin")  # 524 bytes
    (create,) = calls(rsps, "/mpu/create/7/" + RUN + "/artifacts/big.bin")
    assert body(create) == {"path": "big.bin", "num_parts": 3}
    puts = [c for c in rsps.calls if c.request.url.startswith("https://s3.example.com")]
    assert all("Authorization" not in c.request.headers for c in puts)  # no server credentials
    assert all(c.request.headers["x-amz-acl"] == "private" for c in puts)
    data = src.read_bytes()
    assert [got[p["url"]] for p in parts] == [data[:400], data[400:800], data[800:]]
    (complete,) = calls(rsps, f"/mpu/complete/7/{RUN}/artifacts/big.bin")
    assert body(complete) == {"path": "big.bin", "upload_id": "U1", "parts": [
        {"part_number": n, "etag": f'"e{n}"', "url": p["url"]} for n, p in zip((1, 2, 3), parts)]}


def test_a_server_without_multipart_gets_one_put_and_is_not_asked_again(env, rsps, tmp_path):
    add_run(rsps)
    rsps.add(responses.POST, f"{ART}/mpu/create/7/{RUN}/artifacts/big.bin", status=501, json={
        "error_code": "NOT_IMPLEMENTED",
        "message": "Multipart upload is not supported for the current artifact repository"})
    rsps.add(responses.PUT, f"{ART}/artifacts/7/{RUN}/artifacts/big.bin", status=200)
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 1000)
    backend = make(multipart_threshold_mb=0.0005)
    backend.upload_artifact(RUN, src, "big.bin")
    backend.upload_artifact(RUN, src, "big.bin")
    assert len(calls(rsps, f"/mpu/create/7/{RUN}/artifacts/big.bin")) == 1
    assert len([c for c in rsps.calls if c.request.method == "PUT"]) == 2


def test_a_run_outside_the_artifact_proxy_is_a_clear_error(env, rsps, tmp_path):
    rsps.add(responses.GET, f"{API}/runs/get", json=run_json("s3://bucket/7/x/artifacts"))
    rsps.add(responses.GET, f"{API}/experiments/get",
             json={"experiment": {"experiment_id": "7", "name": "churn"}})
    src = tmp_path / "a.txt"
    src.write_text("x")
    with pytest.raises(BackendError, match="s3://bucket/7/x/artifacts.*--serve-artifacts"):
        make().upload_artifact(RUN, src, "a.txt")


@pytest.mark.parametrize(("table", "message"), [
    ({}, "tracking_uri is required"),
    ({"tracking_uri": "ftp://x"}, "must start with http"),
    ({"tracking_uri": "postgresql://db/mlflow"}, "only SQLite stores are read in place"),
    ({"tracking_uri": HOST, "token": "x"}, "MLFLOW_TRACKING_TOKEN"),
    ({"tracking_uri": HOST, "http_timeout_seconds": 0}, "http_timeout_seconds must be > 0"),
    ({"tracking_uri": HOST, "limits": {"max_tags_per_batch": 0}}, "max_tags_per_batch"),
])
def test_bad_config_is_a_clear_error(table, message):
    with pytest.raises(ConfigError, match=message):
        MlflowBackend.from_config(table)


def test_importing_the_plugin_imports_no_http_client():
    import subprocess
    import sys

    code = ("import sys, trackbridge_mlflow.plugin, trackbridge_mlflow.backend; "
            "print(sorted(m for m in ('requests', 'urllib3', 'yaml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "['yaml']" or done.stdout.strip() == "[]", done.stderr


def test_the_shipped_config_is_valid(monkeypatch):
    from pathlib import Path

    from trackbridge.config import load_config
    from trackbridge.registry import open_backend

    monkeypatch.setenv("MLFLOW_TRACKING_URI", HOST)
    config = load_config(Path(__file__).parents[3] / "configs" / "mlflow.toml")
    backend = open_backend(config)
    assert (config.backend, config.max_in_flight) == ("mlflow", 4)
    assert backend.describe() == f"MLflow tracking server {HOST}"


def test_retry_after_is_read_as_seconds_or_an_http_date():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from trackbridge.mlflow_rest.retry import retry_after_seconds

    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(None) is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(later) <= 30
    assert retry_after_seconds("soon") is None
