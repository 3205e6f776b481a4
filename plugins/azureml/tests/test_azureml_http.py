"""Unit tests: exact requests on the wire (``responses`` mocks azure-core's requests transport)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from azure.core.pipeline.transport import RequestsTransport
from azureml_helpers import TOKEN, FakeCredential
from trackbridge_azureml.backend import AzureMLBackend
from trackbridge_azureml.settings import parse_settings

import trackbridge as tb
from trackbridge.batching import pack
from trackbridge.entities import ArtifactEntry, Metric, Param, RunTag
from trackbridge.errors import (
    ArtifactNotFoundError,
    BackendError,
    LimitExceededError,
    ParamConflictError,
    RunNotFoundError,
)

SUB, RG, WS = "sub-1", "rg-ml", "ws-ml"
SCOPE = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
         f"Microsoft.MachineLearningServices/workspaces/{WS}")
HOST = "https://westeurope.api.azureml.ms"
TRACKING_URI = f"azureml://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}"
API = f"{HOST}/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
HISTORY = f"{HOST}/history/v1.0{SCOPE}"
RUN_ID = "a" * 32
SAS = "sv=2023-11-03&se=2030-01-01&sr=b&sp=cw&sig=SECRETSIGNATURE123"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def no_sleep(monkeypatch):
    """Record retry sleeps instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr(RequestsTransport, "sleep", lambda self, seconds: slept.append(seconds))
    return slept


def backend_for(credential=None, **settings) -> AzureMLBackend:
    return AzureMLBackend(parse_settings({"tracking_uri": TRACKING_URI, **settings}),
                          credential=credential or FakeCredential())


def body_of(call) -> dict:
    return json.loads(call.request.body)


def run_json(run_id=RUN_ID, experiment_id="7", tags=(), params=(), metrics=(), status="RUNNING",
             name="r1", end_time=None):
    info = {"run_id": run_id, "experiment_id": experiment_id, "run_name": name,
            "status": status, "start_time": 1000, "artifact_uri": "azureml://artifacts"}
    if end_time is not None:
        info["end_time"] = end_time
    return {"run": {"info": info, "data": {
        "tags": [{"key": k, "value": v} for k, v in tags],
        "params": [{"key": k, "value": v} for k, v in params],
        "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in metrics]}}}


def add_experiment(mock, exp_id="7", name="churn"):
    mock.add(responses.GET, f"{API}/experiments/get", json={
        "experiment": {"experiment_id": exp_id, "name": name}})
    mock.add(responses.GET, f"{API}/experiments/get-by-name", json={
        "experiment": {"experiment_id": exp_id, "name": name, "lifecycle_stage": "active"}})


def echo_create(request):
    """runs/create answered like the service: the sent tags plus the run name as a tag."""
    sent = json.loads(request.body)
    tags = [(t["key"], t["value"]) for t in sent["tags"]]
    if sent.get("run_name"):
        tags.append(("mlflow.runName", sent["run_name"]))
    return 200, {}, json.dumps(run_json(experiment_id=sent["experiment_id"], tags=tags,
                                        name=sent.get("run_name")))


def calls_to(mock, suffix: str) -> list:
    return [c for c in mock.calls if c.request.url.split("?")[0].endswith(suffix)]


# -- exact requests ---------------------------------------------------------------------------
def test_create_run_sends_exact_url_body_auth_and_user_agent(mock, credential):
    add_experiment(mock)
    mock.add_callback(responses.POST, f"{API}/runs/create", callback=echo_create)
    backend = backend_for(credential)
    run = backend.create_run("7", run_name="r1", start_time=1234, tags={
        "team": "ml", "mlflow.user": "ada", "mlflow.runName": "r1",
        "trackbridge.host": "box", "trackbridge.python_version": "3.11.9",
        "trackbridge.version": "0.1.0"})
    (call,) = calls_to(mock, "/runs/create")
    assert call.request.url == f"{API}/runs/create"
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["User-Agent"].startswith("trackbridge-azureml/0.1.0")
    assert body_of(call) == {
        "experiment_id": "7", "start_time": 1234, "run_name": "r1", "user_id": "ada",
        "tags": [{"key": "team", "value": "ml"}, {"key": "mlflow.user", "value": "ada"},
                 {"key": "trackbridge.context",
                  "value": "host=box; python=3.11.9; trackbridge=0.1.0"}]}
    assert credential.scopes == [("https://management.azure.com/.default",)]
    assert (run.id, run.experiment, run.name) == (RUN_ID, "churn", "r1")


def test_get_run_maps_the_answer_and_unknown_run_is_run_not_found(mock):
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json(
        tags=[("mlflow.parentRunId", "p" * 32), ("k", "v")], params=[("lr", "0.1")],
        metrics=[("loss", "NaN"), ("acc", 0.5)], status="FINISHED", end_time="2000"))
    run = backend_for().get_run(RUN_ID)
    assert run.parent_run_id == "p" * 32 and run.params == {"lr": "0.1"}
    assert run.metrics["acc"] == 0.5 and run.metrics["loss"] != run.metrics["loss"]  # NaN
    assert (run.status, run.end_time) == ("FINISHED", 2000)
    assert calls_to(mock, "/runs/get")[0].request.url == f"{API}/runs/get?run_id={RUN_ID}"
    mock.replace(responses.GET, f"{API}/runs/get", status=404, json={
        "error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{RUN_ID}' not found"})
    with pytest.raises(RunNotFoundError, match=RUN_ID):
        backend_for().get_run(RUN_ID)


def test_experiment_create_race_returns_the_winner(mock):
    mock.add(responses.GET, f"{API}/experiments/get-by-name", status=404,
             json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no experiment"})
    mock.add(responses.POST, f"{API}/experiments/create", status=400, json={
        "error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment 'churn' already exists."})
    mock.add(responses.GET, f"{API}/experiments/get-by-name",
             json={"experiment": {"experiment_id": "42", "name": "churn"}})
    exp = backend_for().get_or_create_experiment("churn")
    assert exp.id == "42"
    (create,) = calls_to(mock, "/experiments/create")
    assert body_of(create) == {"name": "churn"}
    lookups = calls_to(mock, "/experiments/get-by-name")
    assert [c.request.url for c in lookups] == \
        [f"{API}/experiments/get-by-name?experiment_name=churn"] * 2


def test_metric_history_pages_below_1000(mock):
    page1 = {"metrics": [{"key": "m", "value": 2.0, "timestamp": 5, "step": 1}],
             "next_page_token": "tok2"}
    page2 = {"metrics": [{"key": "m", "value": 1.0, "timestamp": 9, "step": 0},
                         {"key": "m", "value": "Infinity", "timestamp": 3, "step": 2}]}
    mock.add(responses.GET, f"{API}/metrics/get-history", json=page1)
    mock.add(responses.GET, f"{API}/metrics/get-history", json=page2)
    history = backend_for(history_page_size=999).get_metric_history(RUN_ID, "m")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 2.0), (2, float("inf"))]
    urls = [c.request.url for c in calls_to(mock, "/metrics/get-history")]
    assert urls == [
        f"{API}/metrics/get-history?run_id={RUN_ID}&metric_key=m&max_results=999",
        f"{API}/metrics/get-history?run_id={RUN_ID}&metric_key=m&max_results=999&page_token=tok2",
    ]


def test_history_page_size_of_1000_is_refused():
    with pytest.raises(tb.ConfigError, match="history_page_size"):
        parse_settings({"tracking_uri": TRACKING_URI, "history_page_size": 1000})


# -- packing at Azure's limits ----------------------------------------------------------------
def test_1000_metric_points_go_in_4_requests_of_250(mock):
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend = backend_for()
    points = [Metric("loss", float(i), 1000 + i, i) for i in range(1000)]
    for batch in pack(points, [], [], backend.limits):
        backend.log_batch(RUN_ID, batch.metrics, batch.params, batch.tags)
    sent = [body_of(c) for c in calls_to(mock, "/runs/log-batch")]
    assert [len(b["metrics"]) for b in sent] == [250, 250, 250, 250]
    assert [m["step"] for b in sent for m in b["metrics"]] == list(range(1000))
    assert sent[0]["metrics"][3] == {"key": "loss", "value": 3.0, "timestamp": 1003, "step": 3}


def test_params_and_tags_pack_100_per_request(mock):
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend = backend_for()
    params = [Param(f"p{i}", "v") for i in range(150)]
    tags = [RunTag(f"t{i}", "v") for i in range(40)]
    for batch in pack([], params, tags, backend.limits):
        backend.log_batch(RUN_ID, batch.metrics, batch.params, batch.tags)
    sent = [body_of(c) for c in calls_to(mock, "/runs/log-batch")]
    assert [(len(b["params"]), len(b["tags"])) for b in sent] == [(100, 40), (50, 0)]


# -- retries that never duplicate --------------------------------------------------------------
def test_429_then_success_retries_after_retry_after(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/log-batch", status=429, headers={"Retry-After": "7"},
             json={"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"})
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 5, 0)])
    sent = calls_to(mock, "/runs/log-batch")
    assert len(sent) == 2 and body_of(sent[0]) == body_of(sent[1])
    assert no_sleep == [7.0]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in sent)


def test_a_5xx_after_sending_metrics_is_not_resent(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/log-batch", status=503, headers={"Retry-After": "1"},
             json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"})
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    with pytest.raises(BackendError, match="partly applied") as info:
        backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 5, 0)])
    assert len(calls_to(mock, "/runs/log-batch")) == 1
    assert "log-batch" in str(info.value) and RUN_ID in str(info.value)


def test_a_lost_answer_to_metrics_is_not_resent(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/log-batch", body=requests.exceptions.ReadTimeout("slow"))
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    with pytest.raises(BackendError, match="partly applied"):
        backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 5, 0)])
    assert len(calls_to(mock, "/runs/log-batch")) == 1


def test_a_connection_never_opened_is_retried_even_for_metrics(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/log-batch",
             body=requests.exceptions.ConnectionError("connection refused"))
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 5, 0)])
    assert len(calls_to(mock, "/runs/log-batch")) == 2


def test_tags_only_batches_and_reads_are_retried_on_5xx(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/log-batch", status=502)
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend_for().log_batch(RUN_ID, tags=[RunTag("stage", "dev")])
    assert len(calls_to(mock, "/runs/log-batch")) == 2
    mock.add(responses.GET, f"{API}/metrics/get-history", status=500)
    mock.add(responses.GET, f"{API}/metrics/get-history", json={"metrics": []})
    assert backend_for().get_metric_history(RUN_ID, "m") == []
    assert len(calls_to(mock, "/metrics/get-history")) == 2


def test_runs_create_is_not_resent_after_a_5xx(mock, no_sleep):
    mock.add(responses.POST, f"{API}/runs/create", status=500, json={"message": "boom"})
    with pytest.raises(BackendError, match="partly applied"):
        backend_for().create_run("7", run_name="r", start_time=1, tags={})
    assert len(calls_to(mock, "/runs/create")) == 1


def test_param_conflict_still_stores_the_rest_of_the_batch(mock):
    mock.add(responses.POST, f"{API}/runs/log-batch", status=400, json={
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Changing param values is not allowed. Param with key='lr' was already "
                   "logged with value='0.1' for run ID='aaa'. Attempted logging new value '0.2'."})
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json(params=[("lr", "0.1")]))
    with pytest.raises(ParamConflictError, match="lr"):
        backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 5, 0)],
                                params=[Param("lr", "0.2"), Param("depth", "3")])
    first, second = (body_of(c) for c in calls_to(mock, "/runs/log-batch"))
    assert second["params"] == [{"key": "depth", "value": "3"}]
    assert second["metrics"] == first["metrics"]


# -- per-run limits, checked by the core before any request -------------------------------------
@pytest.fixture
def started(mock, tmp_path, monkeypatch):
    """A run started through tb.start_run on the azureml backend (access_token mode).

    The core journals the run locally and mirrors it to Azure ML in the background;
    ``run.sync()`` waits for the mirror.
    """
    monkeypatch.chdir(tmp_path)
    add_experiment(mock)
    mock.add_callback(responses.POST, f"{API}/runs/create", callback=echo_create)
    mock.add(responses.POST, f"{API}/runs/search", json={"runs": []})
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    mock.add(responses.POST, f"{API}/runs/update", json={})
    config = {"backend": "azureml", "experiment": "churn",
              "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 60},
              "azureml": {"tracking_uri": TRACKING_URI, "access_token": "static-token-xyz"}}
    run = tb.start_run(config=config, run_name="r1", tags={"team": "ml"})
    yield run
    run.end()


def sent_tags(mock) -> list[str]:
    """Every tag key the remote run got: at creation, as the run name, and in batches."""
    (create,) = calls_to(mock, "/runs/create")
    keys = [t["key"] for t in body_of(create)["tags"]] + ["mlflow.runName"]
    return keys + [t["key"] for c in calls_to(mock, "/runs/log-batch") for t in body_of(c)["tags"]]


def test_access_token_mode_sends_that_token(started, mock):
    started.log_metric("m", 1.0)
    assert started.sync(timeout=30)
    assert calls_to(mock, "/runs/log-batch")
    assert {c.request.headers["Authorization"] for c in mock.calls} == {"Bearer static-token-xyz"}


def test_201st_param_is_refused_before_any_request(started, mock):
    started.log_params({f"p{i}": i for i in range(200)})
    with pytest.raises(LimitExceededError, match="at most 200"):
        started.log_param("p200", 1)
    assert started.sync(timeout=30)
    sent = [p["key"] for c in calls_to(mock, "/runs/log-batch") for p in body_of(c)["params"]]
    assert len(sent) == 200 and "p200" not in sent
    assert [len(body_of(c)["params"]) for c in calls_to(mock, "/runs/log-batch")] == [100, 100]


def test_a_run_can_never_be_pushed_past_50_tags(started, mock):
    added = []
    with pytest.raises(LimitExceededError, match="at most 50"):
        for i in range(60):
            started.set_tag(f"t{i}", "v")
            added.append(f"t{i}")
    refused = f"t{len(added)}"
    with pytest.raises(LimitExceededError, match="at most 100"):
        started.set_tag("k" * 101, "v")
    with pytest.raises(LimitExceededError, match="at most 1000"):
        started.set_tag("long", "v" * 1001)
    assert started.sync(timeout=30)
    keys = sent_tags(mock)
    assert set(added) <= set(keys) and refused not in keys
    assert len(set(keys)) <= 50  # context tags folded, so the remote run stays within Azure's 50
    assert "trackbridge.context" in keys and "trackbridge.host" not in keys


def test_metric_name_over_255_is_refused(started, mock):
    started.log_metric("m" * 255, 1.0)
    with pytest.raises(LimitExceededError, match="at most 255"):
        started.log_metric("m" * 256, 1.0)


def test_context_tags_in_a_batch_are_folded_and_read_back_unfolded(mock):
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json(tags=[
        ("trackbridge.context", "host=box; python=3.11.9; trackbridge=0.1.0"), ("k", "v")]))
    backend = backend_for()
    assert backend.get_run(RUN_ID).tags == {
        "k": "v", "trackbridge.host": "box", "trackbridge.python_version": "3.11.9",
        "trackbridge.version": "0.1.0"}
    backend.log_batch(RUN_ID, tags=[RunTag("trackbridge.version", "0.2.0"), RunTag("x", "y")])
    (batch,) = calls_to(mock, "/runs/log-batch")
    assert body_of(batch)["tags"] == [
        {"key": "x", "value": "y"},
        {"key": "trackbridge.context", "value": "host=box; python=3.11.9; trackbridge=0.2.0"}]


def test_an_adopted_resync_of_a_full_run_does_not_resend_the_dropped_context_tags(mock):
    """A run created with 49 user tags + its name has no room for context tags: they were left
    out at creation. A re-sync that adopts it (ledger lost) sees them missing and hands them
    to log_batch again; they must not be sent (they would push the run past 50 tags)."""
    mock.add(responses.POST, f"{API}/runs/log-batch", json={})
    add_experiment(mock)
    full = [(f"t{i}", "v") for i in range(49)] + [("mlflow.runName", "r1")]
    mock.add(responses.GET, f"{API}/runs/get", json=run_json(tags=full))
    context = [RunTag("trackbridge.host", "box"), RunTag("trackbridge.python_version", "3.11"),
               RunTag("trackbridge.version", "0.1.0"), RunTag("mlflow.user", "me")]
    with pytest.warns(UserWarning, match="50 tags per run"):
        backend_for().log_batch(RUN_ID, tags=context)
    assert calls_to(mock, "/runs/log-batch") == []
    with pytest.warns(UserWarning, match="trackbridge.context"):
        backend_for().log_batch(RUN_ID, metrics=[Metric("m", 1.0, 1, 0)], tags=context)
    (batch,) = calls_to(mock, "/runs/log-batch")
    assert body_of(batch)["tags"] == [] and len(body_of(batch)["metrics"]) == 1


# -- artifacts --------------------------------------------------------------------------------
def test_upload_asks_for_a_sas_url_then_puts_the_bytes_without_the_bearer_token(
        mock, tmp_path):
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json())
    blob = "https://wsstore.blob.core.windows.net/azureml/ExperimentRun/dcid.x/plots/a.txt"
    mock.add(responses.POST, f"{HISTORY}/experimentids/7/runs/{RUN_ID}/artifacts/batch/metadata",
             json={"artifactContentInformation": {"plots/a.txt": {"contentUri": f"{blob}?{SAS}"}},
                   "errors": {}})
    mock.add(responses.PUT, re.compile(re.escape(blob) + r"\?.*"), status=201,
             headers={"ETag": '"1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})
    src = tmp_path / "a.txt"
    src.write_bytes(b"alpha")
    backend_for().upload_artifact(RUN_ID, src, "plots/a.txt")
    (meta,) = calls_to(mock, "/artifacts/batch/metadata")
    assert body_of(meta) == {"paths": [{"path": "plots/a.txt"}]}
    assert meta.request.headers["Authorization"] == f"Bearer {TOKEN}"
    (put,) = [c for c in mock.calls if c.request.method == "PUT"]
    assert put.request.url.startswith(blob + "?") and "sig=SECRETSIGNATURE123" in put.request.url
    assert "Authorization" not in put.request.headers
    assert put.request.headers["x-ms-blob-type"] == "BlockBlob"
    data = put.request.body if isinstance(put.request.body, bytes) else put.request.body.read()
    assert data == b"alpha"


def test_upload_urls_are_asked_100_paths_per_request(mock, tmp_path):
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json())

    def metadata(request):
        paths = [p["path"] for p in json.loads(request.body)["paths"]]
        info = {p: {"contentUri": f"https://s.blob.core.windows.net/c/{p}?{SAS}"} for p in paths}
        return 200, {}, json.dumps({"artifactContentInformation": info, "errors": {}})

    mock.add_callback(responses.POST,
                      f"{HISTORY}/experimentids/7/runs/{RUN_ID}/artifacts/batch/metadata",
                      callback=metadata)
    mock.add(responses.PUT, re.compile(r"https://s\.blob\.core\.windows\.net/c/.*"), status=201)
    src = tmp_path / "f.txt"
    src.write_bytes(b"x")
    backend_for().upload_artifacts(RUN_ID, [(src, f"f{i}.txt") for i in range(250)])
    asked = [len(body_of(c)["paths"]) for c in calls_to(mock, "/artifacts/batch/metadata")]
    assert asked == [100, 100, 50]
    assert len([c for c in mock.calls if c.request.method == "PUT"]) == 250


def test_per_path_errors_become_a_clear_error(mock, tmp_path):
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json())
    mock.add(responses.POST, f"{HISTORY}/experimentids/7/runs/{RUN_ID}/artifacts/batch/metadata",
             json={"artifactContentInformation": {}, "errors": {"bad.txt": {"error": {
                 "code": "UserError", "message": "path too long"}}}})
    src = tmp_path / "bad.txt"
    src.write_text("x")
    with pytest.raises(BackendError, match="bad.txt.*path too long"):
        backend_for().upload_artifact(RUN_ID, src, "bad.txt")


def test_list_follows_continuation_sizes_files_and_missing_path_is_not_found(mock, tmp_path):
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json())
    listing = f"{HISTORY}/experimentids/7/runs/{RUN_ID}/artifacts"
    mock.add(responses.GET, listing, json={"value": [{"path": "a/x.txt"}, {"path": "a/b/y.txt"}],
                                           "continuationToken": "c2"})
    mock.add(responses.GET, listing, json={"value": [{"path": "z.txt"}],
                                           "continuationToken": None})
    blob = "https://wsstore.blob.core.windows.net/azureml/a/x.txt"
    mock.add(responses.GET, f"{listing}/contentinfo", json={"contentUri": f"{blob}?{SAS}"})
    mock.add(responses.HEAD, re.compile(re.escape(blob) + r"\?.*"), headers={
        "Content-Length": "5", "x-ms-blob-type": "BlockBlob", "ETag": '"1"',
        "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})
    entries = backend_for().list_artifacts(RUN_ID, "a")
    assert entries == [ArtifactEntry("a/b", True, None), ArtifactEntry("a/x.txt", False, 5)]
    assert [c.request.url for c in calls_to(mock, "/artifacts")] == \
        [listing, f"{listing}?continuationToken=c2"]
    (info,) = calls_to(mock, "/contentinfo")
    assert parse_qs(urlsplit(info.request.url).query) == {"path": ["a/x.txt"]}
    mock.replace(responses.GET, f"{listing}/contentinfo", status=404,
                 json={"error": {"code": "UserError", "message": "not found"}})
    with pytest.raises(ArtifactNotFoundError, match="nope.txt"):
        backend_for().download_artifact(RUN_ID, "nope.txt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- secrets ----------------------------------------------------------------------------------
def test_no_token_or_sas_signature_in_errors_or_logs(mock, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    mock.add(responses.GET, f"{API}/experiments/get-by-name", status=403, json={
        "error": {"code": "AuthorizationFailed",
                  "message": f"token Bearer {TOKEN} lacks permission"}})
    backend = backend_for(access_token=TOKEN)
    with pytest.raises(BackendError) as info:
        backend.get_experiment("churn")
    assert TOKEN not in str(info.value) and "HTTP 403" in str(info.value)
    assert "churn" in str(info.value) and "role" in str(info.value)
    add_experiment(mock)
    mock.add(responses.GET, f"{API}/runs/get", json=run_json())
    blob = "https://wsstore.blob.core.windows.net/azureml/f.txt"
    mock.add(responses.POST, f"{HISTORY}/experimentids/7/runs/{RUN_ID}/artifacts/batch/metadata",
             json={"artifactContentInformation": {"f.txt": {"contentUri": f"{blob}?{SAS}"}}})
    mock.add(responses.PUT, re.compile(re.escape(blob) + r"\?.*"), status=403,
             headers={"x-ms-error-code": "AuthenticationFailed"})
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(BackendError) as info:
        backend.upload_artifact(RUN_ID, src, "f.txt")
    assert "SECRETSIGNATURE123" not in str(info.value) and blob in str(info.value)
    assert caplog.text  # azure-core did log the requests...
    assert TOKEN not in caplog.text and "SECRETSIGNATURE123" not in caplog.text  # ...redacted


def test_describe_and_repr_hold_no_secret():
    backend = backend_for(access_token=TOKEN)
    assert TOKEN not in backend.describe() and "ws-ml" in backend.describe()
    assert TOKEN not in repr(backend.credential)


# -- imports ----------------------------------------------------------------------------------
def test_plugin_and_a_tracking_uri_backend_import_no_azure_package_until_used():
    code = (
        "import sys\n"
        "import trackbridge_azureml.plugin\n"
        "from trackbridge.registry import backend_classes\n"
        f"b = backend_classes()['azureml'].from_config({{'tracking_uri': {TRACKING_URI!r}}})\n"
        "b.describe(); b.limits\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_credential_that_fails_gives_a_backend_error_without_the_secret(mock):
    class Broken:
        def get_token(self, *scopes, **kwargs):
            raise RuntimeError(f"refresh failed for Bearer {TOKEN}")

    with pytest.raises(BackendError, match="no Azure token from Broken") as info:
        backend_for(Broken()).get_run(RUN_ID)
    assert TOKEN not in str(info.value)
    assert len(mock.calls) == 0  # nothing was sent without a token
