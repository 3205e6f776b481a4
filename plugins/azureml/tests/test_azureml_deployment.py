"""Azure ML online endpoints at the wire (the ARM calls azure-ai-ml makes, mocked with
responses): blue/green ordering, the wait for a healthy deployment, failures with container
logs, traffic splits, and query payloads translated to ``input_data``."""

from __future__ import annotations

import json

import pytest
import responses
from test_azureml_registry import ARM, RG, SUB, TOKEN, TRACKING, WORKSPACE_ID, version_resource

from trackbridge import registry
from trackbridge.config import load_config
from trackbridge.deploy import DeployError, open_target, resolve_deploy_source

EP = f"{ARM}/onlineEndpoints/churn-ep"
SCORING = "https://churn-ep.westeurope.inference.ml.azure.com/score"
ENDPOINT_KEY = "endpoint-key-never-shown-5c2e"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    yield {"backend": "azureml", "local": {"path": str(tmp_path / "tbruns")},
           "azureml": {"tracking_uri": TRACKING, "access_token": TOKEN,
                       "serving": {"instance_type": "Standard_F4s_v2", "instance_count": 2,
                                   "poll_seconds": 5}}}
    registry.close_all()


@pytest.fixture
def arm():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, ARM, json={"id": WORKSPACE_ID, "name": "ml-ws",
                                           "location": "westeurope", "properties": {}})
        yield mock


@pytest.fixture
def target(config, arm, monkeypatch):
    from azure.core.pipeline.transport import RequestsTransport

    # the SDK's poller thread waits 5 s between polls: no waiting on fake ARM
    monkeypatch.setattr(RequestsTransport, "sleep", lambda self, duration: None)
    return open_target(load_config(config))


def endpoint_json(traffic=None, state="Succeeded"):
    return {"id": f"{WORKSPACE_ID}/onlineEndpoints/churn-ep", "name": "churn-ep",
            "location": "westeurope", "identity": {"type": "SystemAssigned"},
            "properties": {"authMode": "Key", "provisioningState": state, "traffic": traffic or {},
                           "scoringUri": SCORING}}


def deployment_json(name, state, model_version=2):
    return {"id": f"{WORKSPACE_ID}/onlineEndpoints/churn-ep/deployments/{name}", "name": name,
            "location": "westeurope", "sku": {"name": "Default", "capacity": 2},
            "properties": {"endpointComputeType": "Managed", "provisioningState": state,
                           "instanceType": "Standard_F4s_v2", "scaleSettings": {"scaleType": "Default"},
                           "model": f"{WORKSPACE_ID}/models/churn/versions/{model_version}"}}


def model_version(arm, version=2):
    arm.add(responses.GET, f"{ARM}/models/churn/versions/{version}",
            json=version_resource("churn", version, "azureml://jobs/r/outputs/artifacts/paths/model/"))


def blue_serves(arm):
    """Version 2 of churn is registered; deployment blue (version 1) has all the traffic."""
    model_version(arm)
    arm.add(responses.GET, EP, json=endpoint_json({"blue": 100}))
    arm.add(responses.GET, f"{EP}/deployments",
            json={"value": [deployment_json("blue", "Succeeded", 1)]})


def calls(arm, method, suffix=""):
    return [c for c in arm.calls if c.request.method == method
            and c.request.url.split("?")[0].endswith(suffix)]


def test_blue_green_new_deployment_gets_traffic_only_once_healthy(arm, target, config):
    blue_serves(arm)
    arm.add(responses.PUT, f"{EP}/deployments/green", json=deployment_json("green", "Creating"))
    for state in ("Creating", "Updating", "Succeeded"):
        arm.add(responses.GET, f"{EP}/deployments/green", json=deployment_json("green", state))
    arm.add(responses.PUT, EP, json=endpoint_json({"green": 100, "blue": 0}))
    arm.add(responses.DELETE, f"{EP}/deployments/blue", status=200, json={})
    lines = []
    source = resolve_deploy_source("models:/churn/2", load_config(config))
    target.deploy(source, "churn-ep", wait=True, traffic=None, progress=lines.append)

    (put,) = calls(arm, "PUT", "/deployments/green")
    body = json.loads(put.request.body)
    assert body["properties"]["model"].endswith("/models/churn/versions/2")
    assert body["properties"]["instanceType"] == "Standard_F4s_v2"
    assert body["sku"]["capacity"] == 2
    assert put.request.headers["Authorization"] == f"Bearer {TOKEN}"
    (traffic,) = calls(arm, "PUT", "/onlineEndpoints/churn-ep")
    # blue gets 0%: azure-ai-ml leaves 0% entries out of the request
    assert json.loads(traffic.request.body)["properties"]["traffic"] == {"green": 100}
    order = [(c.request.method, c.request.url.split("?")[0].rsplit("/", 1)[-1]) for c in arm.calls]
    create = order.index(("PUT", "green"))
    healthy = max(i for i, x in enumerate(order) if x == ("GET", "green"))
    assert create < healthy < order.index(("PUT", "churn-ep")) < order.index(("DELETE", "blue"))
    assert any("deployment green of churn-ep: Succeeded" in line for line in lines), lines


def test_partial_traffic_keeps_the_old_deployment(arm, target, config):
    blue_serves(arm)
    arm.add(responses.PUT, f"{EP}/deployments/green", json=deployment_json("green", "Succeeded"))
    arm.add(responses.GET, f"{EP}/deployments/green", json=deployment_json("green", "Succeeded"))
    arm.add(responses.PUT, EP, json=endpoint_json({"green": 20, "blue": 80}))
    source = resolve_deploy_source("models:/churn/2", load_config(config))
    target.deploy(source, "churn-ep", wait=True, traffic=20, progress=lambda line: None)
    (traffic,) = calls(arm, "PUT", "/onlineEndpoints/churn-ep")
    assert json.loads(traffic.request.body)["properties"]["traffic"] == {"green": 20, "blue": 80}
    assert not calls(arm, "DELETE")


def test_a_failed_deployment_shows_its_logs_and_moves_no_traffic(arm, target, config):
    blue_serves(arm)
    arm.add(responses.PUT, f"{EP}/deployments/green", json=deployment_json("green", "Creating"))
    arm.add(responses.GET, f"{EP}/deployments/green", json=deployment_json("green", "Failed"))
    arm.add(responses.POST, f"{EP}/deployments/green/getLogs",
            json={"content": "Traceback ...\nModuleNotFoundError: No module named 'skops'"})
    source = resolve_deploy_source("models:/churn/2", load_config(config))
    with pytest.raises(DeployError) as raised:
        target.deploy(source, "churn-ep", wait=True, traffic=None, progress=lambda line: None)
    assert "deployment 'green' of online endpoint 'churn-ep'" in str(raised.value)
    assert "No module named 'skops'" in str(raised.value)
    assert "old deployment keeps the traffic" in str(raised.value)
    assert not calls(arm, "PUT", "/onlineEndpoints/churn-ep") and not calls(arm, "DELETE")
    assert TOKEN not in str(raised.value)


def test_a_missing_endpoint_is_created_first(arm, target, config):
    model_version(arm)
    arm.add(responses.GET, EP, status=404, json={"error": {"code": "NotFound", "message": "no"}})
    arm.add(responses.PUT, EP, json=endpoint_json())
    arm.add(responses.GET, EP, json=endpoint_json())
    arm.add(responses.GET, f"{EP}/deployments", json={"value": []})
    # answered Succeeded, so the SDK's poller thread never outlives the mocked ARM
    arm.add(responses.PUT, f"{EP}/deployments/blue", json=deployment_json("blue", "Succeeded"))
    source = resolve_deploy_source("models:/churn/2", load_config(config))
    target.deploy(source, "churn-ep", wait=False, traffic=None, progress=lambda line: None)
    puts = [c.request.url.split("?")[0] for c in calls(arm, "PUT")]
    assert puts == [EP, f"{EP}/deployments/blue"]
    assert json.loads(calls(arm, "PUT")[0].request.body)["properties"]["authMode"] == "Key"


@pytest.mark.parametrize("payload,input_data", [
    ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}},
     {"columns": ["a", "b"], "index": [0], "data": [[1, 2]]}),
    ({"dataframe_records": [{"a": 1, "b": 2}, {"b": 4}]},
     {"columns": ["a", "b"], "index": [0, 1], "data": [[1, 2], [None, 4]]}),
    ({"inputs": [[1.0, 2.0]]}, [[1.0, 2.0]]),
    ({"instances": {"a": [1]}}, {"a": [1]}),
])
def test_query_translates_mlflow_payloads_to_input_data(arm, target, payload, input_data):
    arm.add(responses.GET, EP, json=endpoint_json({"blue": 100}))
    arm.add(responses.POST, f"{EP}/listKeys", json={"primaryKey": ENDPOINT_KEY,
                                                    "secondaryKey": "other"})
    arm.add(responses.POST, SCORING, json=[0.25])
    assert target.query("churn-ep", payload) == {"predictions": [0.25]}
    (score,) = calls(arm, "POST", "/score")
    assert json.loads(score.request.body) == {"input_data": input_data}
    assert score.request.headers["Authorization"] == f"Bearer {ENDPOINT_KEY}"


def test_params_travel_next_to_input_data(arm, target):
    arm.add(responses.GET, EP, json=endpoint_json({"blue": 100}))
    arm.add(responses.POST, f"{EP}/listKeys", json={"primaryKey": ENDPOINT_KEY})
    arm.add(responses.POST, SCORING, json={"predictions": [1]})
    assert target.query("churn-ep", {"inputs": [[1]], "params": {"k": 2}}) == {"predictions": [1]}
    (score,) = calls(arm, "POST", "/score")
    assert json.loads(score.request.body) == {"input_data": [[1]], "params": {"k": 2}}


def test_show_reports_deployments_and_traffic(arm, target):
    arm.add(responses.GET, EP, json=endpoint_json({"blue": 80, "green": 20}))
    arm.add(responses.GET, f"{EP}/deployments", json={"value": [
        deployment_json("blue", "Succeeded", 1), deployment_json("green", "Succeeded", 2)]})
    found = target.get_endpoint("churn-ep")
    assert found.traffic == {"blue": 80, "green": 20}
    assert found.served == ("blue: churn:1", "green: churn:2")
    assert found.url == SCORING and found.ready
    assert ENDPOINT_KEY not in json.dumps(found.as_dict())
    assert SUB in ARM and RG in ARM  # the workspace is the configured one
