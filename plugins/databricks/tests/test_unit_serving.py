"""Databricks Model Serving at the wire: create / update_config with the exact served entity,
the wait loop until READY, failures with build and server logs, Unity Catalog registration
(and its signature rule), query, list, show, delete."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import responses
from click.testing import CliRunner
from dbx_support import TOKEN, isolate_sdk_env
from sklearn.linear_model import LinearRegression
from unit_support import API, HOST, add_run, calls_to, error, json_body

import trackbridge as tb
from trackbridge import registry
from trackbridge.config import load_config
from trackbridge.deploy import DeployError, open_target, resolve_deploy_source
from trackbridge.models import ModelError

SERVING = f"{HOST}/api/2.0/serving-endpoints"
UC = f"{API}/unity-catalog"
REMOTE = "f00df00df00df00df00df00df00df00d"
MANAGED = f"dbfs:/databricks/mlflow-tracking/7/{REMOTE}/artifacts"
ENTITY = {"entity_name": "main.ml.churn", "entity_version": "3", "workload_size": "Small",
          "scale_to_zero_enabled": True}


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    isolate_sdk_env(monkeypatch)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    yield {"backend": "databricks",
           "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
           "databricks": {"host": HOST, "retry_timeout_seconds": 5,
                          "serving": {"model_name": "main.ml.churn", "poll_seconds": 7}}}
    registry.close_all()


@pytest.fixture
def target(rsps, config):
    t = open_target(load_config(config))
    t.sleeps = []
    t.sleep = t.sleeps.append  # the wait loop sleeps on a list, not on the clock
    return t


def endpoint_json(name="churn-ep", ready="READY", update="NOT_UPDATING", version="3", **extra):
    return {"name": name, "state": {"ready": ready, "config_update": update},
            "config": {"served_entities": [{"name": f"churn-{version}",
                                            "entity_name": "main.ml.churn",
                                            "entity_version": version}],
                       "traffic_config": {"routes": [{"served_model_name": f"churn-{version}",
                                                      "traffic_percentage": 100}]}},
            **extra}


def uc_version(rsps, version=3):
    rsps.add(responses.GET, f"{UC}/model-versions/get",
             json={"model_version": {"name": "main.ml.churn", "version": str(version),
                                     "status": "READY"}})


def record(lines):
    return lines.append


def test_a_new_endpoint_is_created_and_waited_for_until_ready(rsps, target, config):
    uc_version(rsps)
    rsps.add(responses.GET, f"{SERVING}/churn-ep", status=404,
             json=error("RESOURCE_DOES_NOT_EXIST", "Endpoint churn-ep does not exist"))
    rsps.add(responses.POST, SERVING, json=endpoint_json(ready="NOT_READY", update="IN_PROGRESS"))
    for ready, update in (("NOT_READY", "IN_PROGRESS"), ("NOT_READY", "NOT_UPDATING"),
                          ("READY", "NOT_UPDATING"), ("READY", "NOT_UPDATING")):
        rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json(ready=ready, update=update))
    lines = []
    source = resolve_deploy_source("models:/main.ml.churn/3", load_config(config))
    found = target.deploy(source, "churn-ep", wait=True, traffic=None, progress=record(lines))

    (create,) = [c for c in rsps.calls if c.request.method == "POST"]
    assert create.request.url == SERVING
    assert json_body(create.request) == {"name": "churn-ep", "config": {
        "name": "churn-ep", "served_entities": [ENTITY]}}
    assert create.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert target.sleeps == [7.0, 7.0]  # polled until READY and NOT_UPDATING, poll_seconds apart
    assert [line.split(" (")[0] for line in lines[-3:]] == [
        "endpoint churn-ep: NOT_READY, IN_PROGRESS", "endpoint churn-ep: NOT_READY, NOT_UPDATING",
        "endpoint churn-ep: READY, NOT_UPDATING"]
    assert found.ready and found.served == ("main.ml.churn/3",)
    assert found.url == f"{HOST}/serving-endpoints/churn-ep/invocations"
    assert not calls_to(rsps, "/unity-catalog/model-versions/create")  # already in UC


def test_an_existing_endpoint_gets_update_config_and_no_wait_returns_at_once(rsps, target, config):
    uc_version(rsps, 4)
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json())
    rsps.add(responses.PUT, f"{SERVING}/churn-ep/config", json=endpoint_json(update="IN_PROGRESS"))
    source = resolve_deploy_source("models:/main.ml.churn/4", load_config(config))
    target.deploy(source, "churn-ep", wait=False, traffic=None, progress=record([]))
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    assert json_body(put.request) == {"served_entities": [{**ENTITY, "entity_version": "4"}]}
    assert not [c for c in rsps.calls if c.request.method == "POST"]
    assert target.sleeps == []


def test_a_failed_update_shows_build_and_server_logs(rsps, target, config):
    uc_version(rsps)
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json(version="2"))
    rsps.add(responses.PUT, f"{SERVING}/churn-ep/config", json=endpoint_json(update="IN_PROGRESS"))
    failed = endpoint_json(ready="READY", update="UPDATE_FAILED", version="2",
                           pending_config={"served_entities": [{"name": "churn-3"}]})
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=failed)
    rsps.add(responses.GET, f"{SERVING}/churn-ep/served-models/churn-3/build-logs",
             json={"logs": "Step 1/9\nERROR: No matching distribution found for skops==99"})
    rsps.add(responses.GET, f"{SERVING}/churn-ep/served-models/churn-3/logs",
             json={"logs": "container exited with code 1"})
    source = resolve_deploy_source("models:/main.ml.churn/3", load_config(config))
    with pytest.raises(DeployError) as raised:
        target.deploy(source, "churn-ep", wait=True, traffic=None, progress=record([]))
    message = str(raised.value)
    assert "config update UPDATE_FAILED" in message
    assert "build logs of served model churn-3" in message
    assert "No matching distribution found for skops==99" in message
    assert "container exited with code 1" in message
    assert TOKEN not in message


def test_the_wait_loop_gives_up_after_the_timeout(rsps, config):
    config["databricks"]["serving"]["timeout_minutes"] = 0.5  # 30 s, polled every 7 s
    t = open_target(load_config(config))
    t.sleep = lambda s: None
    uc_version(rsps)
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json())
    rsps.add(responses.PUT, f"{SERVING}/churn-ep/config", json=endpoint_json())
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json(ready="NOT_READY",
                                                                     update="IN_PROGRESS"))
    clock = iter(range(0, 1000, 7))
    t.clock = lambda: float(next(clock))
    with pytest.raises(DeployError, match="still not done after 30 s .*NOT_READY, IN_PROGRESS"):
        t.deploy(resolve_deploy_source("models:/main.ml.churn/3", load_config(config)),
                 "churn-ep", wait=True, traffic=None, progress=record([]))


def log_run(config, model_kwargs):
    from trackbridge.sync import destination_id
    from trackbridge.sync.ledger import Ledger

    X = np.arange(8, dtype="float64").reshape(4, 2)
    with tb.start_run(experiment="serve", config={"local": config["local"]}) as run:
        run.log_model(LinearRegression().fit(X, X[:, 0]), **model_kwargs(X))
    cfg = load_config(config)
    journal = registry.open_journal(cfg)
    ledger = Ledger(journal, destination_id(registry.open_backend(cfg)))
    entry = ledger.create(run.id, REMOTE, 0, in_doubt=False)
    for path, (sha, _size) in journal.artifact_manifest(run.id).items():
        ledger.ack_artifact(run.id, entry, path, sha)
    return run.id


def test_a_synced_run_is_registered_in_unity_catalog_then_served(rsps, target, config):
    run_id = log_run(config, lambda X: {"input_example": X[:2]})
    add_run(rsps, REMOTE, MANAGED)
    rsps.add(responses.POST, f"{UC}/registered-models/create", json={})
    rsps.add(responses.POST, f"{UC}/model-versions/create",
             json={"model_version": {"name": "main.ml.churn", "version": "5"}})
    rsps.add_callback(responses.PUT, re.compile(rf"{HOST}/api/2.0/fs/files/Models/.*"),
                      callback=lambda r: (204, {}, ""))
    rsps.add(responses.POST, f"{UC}/model-versions/finalize",
             json={"model_version": {"name": "main.ml.churn", "version": "5", "status": "READY"}})
    rsps.add(responses.GET, f"{SERVING}/churn-ep", status=404,
             json=error("RESOURCE_DOES_NOT_EXIST", "no endpoint"))
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json(version="5"))
    rsps.add(responses.POST, SERVING, json=endpoint_json(version="5"))
    source = resolve_deploy_source(f"runs:/{run_id}/model", load_config(config))
    target.deploy(source, "churn-ep", wait=False, traffic=None, progress=record([]))
    (version,) = calls_to(rsps, "/unity-catalog/model-versions/create")
    assert json_body(version.request) == {"name": "main.ml.churn", "source": f"{MANAGED}/model",
                                          "run_id": REMOTE}
    create = [c for c in rsps.calls if c.request.url == SERVING][0]
    assert json_body(create.request)["config"]["served_entities"] == [
        {**ENTITY, "entity_version": "5"}]
    order = [c.request.url.split("?")[0] for c in rsps.calls if c.request.method == "POST"]
    assert order.index(f"{UC}/model-versions/finalize") < order.index(SERVING)


def test_unity_catalog_needs_a_signature_with_outputs(rsps, target, config):
    run_id = log_run(config, lambda X: {"signature": {"inputs": json.dumps(
        [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}])}})
    source = resolve_deploy_source(f"runs:/{run_id}/model", load_config(config))
    with pytest.raises(ModelError, match="needs a model signature with inputs and outputs; .* has "
                                         "no outputs in its signature"):
        target.deploy(source, "churn-ep", wait=False, traffic=None, progress=record([]))
    assert not [c for c in rsps.calls if c.request.method in ("POST", "PUT")]


def test_query_sends_mlflow_payloads_as_they_are(rsps, target):
    rsps.add(responses.POST, f"{HOST}/serving-endpoints/churn-ep/invocations",
             json={"predictions": [1, 0]})
    split = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}
    assert target.query("churn-ep", split) == {"predictions": [1, 0]}
    records = {"dataframe_records": [{"a": 1, "b": 2}]}
    target.query("churn-ep", records)
    with_params = {"inputs": [[1, 2]], "params": {"k": 3}}
    target.query("churn-ep", with_params)
    bodies = [json_body(c.request) for c in calls_to(rsps, "/churn-ep/invocations")]
    assert bodies == [split, records, with_params]


def test_list_show_and_delete(rsps, target):
    rsps.add(responses.GET, SERVING, json={"endpoints": [
        {"name": "a", "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
         "config": {"served_entities": [{"entity_name": "main.ml.a", "entity_version": "1"}]}},
        {"name": "b", "state": {"ready": "NOT_READY", "config_update": "IN_PROGRESS"}}]})
    found = target.list_endpoints()
    assert [(e.name, e.ready, e.served) for e in found] == [("a", True, ("main.ml.a/1",)),
                                                            ("b", False, ())]
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json())
    rsps.add(responses.DELETE, f"{SERVING}/churn-ep", json={})
    target.delete_endpoint("churn-ep")
    (delete,) = [c for c in rsps.calls if c.request.method == "DELETE"]
    assert delete.request.url == f"{SERVING}/churn-ep"


def test_the_cli_deploys_and_queries_with_json(rsps, config, tmp_path):
    path = tmp_path / "dbx.toml"
    path.write_text(f'backend = "databricks"\n[local]\npath = "{config["local"]["path"]}"\n'
                    f'[databricks]\nhost = "{HOST}"\nretry_timeout_seconds = 5\n'
                    f'[databricks.serving]\nmodel_name = "main.ml.churn"\n')
    uc_version(rsps)
    rsps.add(responses.GET, f"{SERVING}/churn-ep", json=endpoint_json())
    rsps.add(responses.PUT, f"{SERVING}/churn-ep/config", json=endpoint_json())
    from trackbridge.cli import cli

    result = CliRunner().invoke(cli, ["models", "deploy", "models:/main.ml.churn/3", "--to",
                                      str(path), "--endpoint", "churn-ep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["served"] == ["main.ml.churn/3"]
    rsps.add(responses.POST, f"{HOST}/serving-endpoints/churn-ep/invocations",
             json={"predictions": [0.5]})
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"inputs": [[1.0, 2.0]]}))
    result = CliRunner().invoke(cli, ["models", "endpoints", "query", "churn-ep", "-i",
                                      str(request), "--to", str(path)])
    assert json.loads(result.output) == {"predictions": [0.5]}
    assert TOKEN not in result.output


def test_an_unknown_serving_key_is_named(monkeypatch):
    from trackbridge_databricks.serving import DatabricksServingTarget

    from trackbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key.*'workload' in \\[databricks.serving\\]"):
        DatabricksServingTarget(None, {"workload": "Small"})
    with pytest.raises(ConfigError, match="model_name must be a Unity Catalog name"):
        DatabricksServingTarget(None, {"model_name": "churn"})
