"""The Azure ML model registry at the wire: the ARM calls azure-ai-ml makes for
``MLClient.models.create_or_update(Model(..., type=mlflow_model))``, mocked with responses."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import responses
from sklearn.linear_model import LinearRegression

import trackbridge as tb
from trackbridge import registry
from trackbridge.models import ModelVersionNotFoundError

SUB, RG, WS = "11111111-2222-3333-4444-555555555555", "ml-rg", "ml-ws"
TOKEN = "static-token-for-arm-9d1e"  # made up; the registry must send it as the bearer token
TRACKING = (f"azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/{SUB}/resourceGroups/"
            f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}")
WORKSPACE_ID = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{WS}")
ARM = f"https://management.azure.com{WORKSPACE_ID}"
REMOTE = "sharp_lamp_4xk2"  # an Azure ML run (job) name


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    yield {"backend": "azureml", "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
           "azureml": {"tracking_uri": TRACKING, "access_token": TOKEN}}
    registry.close_all()


@pytest.fixture
def arm():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def log_locally(config, synced=True):
    from trackbridge.config import load_config
    from trackbridge.sync import destination_id
    from trackbridge.sync.ledger import Ledger

    X = np.arange(8, dtype="float64").reshape(4, 2)
    with tb.start_run(experiment="reg", config={"local": config["local"]}) as run:
        run.log_model(LinearRegression().fit(X, X[:, 0]))
    cfg = load_config(config)
    journal = registry.open_journal(cfg)
    if synced:
        ledger = Ledger(journal, destination_id(registry.open_backend(cfg)))
        entry = ledger.create(run.id, REMOTE, 0, in_doubt=False)
        for path, (sha, _size) in journal.artifact_manifest(run.id).items():
            ledger.ack_artifact(run.id, entry, path, sha)
    return run.id


def version_resource(name, version, uri, tags=None):
    return {"id": f"{WORKSPACE_ID}/models/{name}/versions/{version}", "name": str(version),
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {"modelUri": uri, "modelType": "mlflow_model", "tags": tags or {},
                           "properties": {}, "isArchived": False, "isAnonymous": False,
                           "description": None, "flavors": {}},
            "systemData": {"createdAt": "2026-11-26T10:00:00.000Z", "createdBy": "someone"}}


def test_a_synced_run_is_registered_from_its_job_outputs(arm, config):
    run_id = log_locally(config)
    job = f"azureml://jobs/{REMOTE}/outputs/artifacts/paths/model/"
    arm.add(responses.GET, f"{ARM}/models/churn/versions", json={"value": [
        version_resource("churn", 1, "azureml://jobs/older/outputs/artifacts/paths/model/")]})
    arm.add(responses.PUT, f"{ARM}/models/churn/versions/2",
            json=version_resource("churn", 2, job, {"team": "ml"}))

    created = tb.register_model(f"runs:/{run_id}/model", name="churn", config=config,
                                tags={"team": "ml"})
    assert (created.name, created.version, created.run_id, created.source) == ("churn", 2, REMOTE, job)

    (put,) = [c for c in arm.calls if c.request.method == "PUT"]
    assert put.request.url.split("?")[0] == f"{ARM}/models/churn/versions/2"
    assert "api-version=" in put.request.url
    body = json.loads(put.request.body)
    assert body["properties"]["modelUri"] == job
    assert body["properties"]["modelType"] == "mlflow_model"
    assert body["properties"]["tags"] == {"team": "ml"}
    assert put.request.headers["Authorization"] == f"Bearer {TOKEN}"
    hosts = {re.match(r"https://[^/]+", c.request.url)[0] for c in arm.calls}
    assert hosts == {"https://management.azure.com"}  # nothing uploaded to storage


def test_the_first_version_is_1(arm, config):
    run_id = log_locally(config)
    arm.add(responses.GET, f"{ARM}/models/fraud/versions", status=404,
            json={"error": {"code": "UserError", "message": "Model container fraud not found"}})
    job = f"azureml://jobs/{REMOTE}/outputs/artifacts/paths/model/"
    arm.add(responses.PUT, f"{ARM}/models/fraud/versions/1", json=version_resource("fraud", 1, job))
    assert tb.register_model(f"runs:/{run_id}/model", name="fraud", config=config).version == 1
    (put,) = [c for c in arm.calls if c.request.method == "PUT"]
    assert put.request.url.split("?")[0] == f"{ARM}/models/fraud/versions/1"


def test_an_alias_is_a_tag_moved_between_versions(arm, config):
    job = "azureml://jobs/{}/outputs/artifacts/paths/model/"
    arm.add(responses.GET, f"{ARM}/models/churn/versions/2",
            json=version_resource("churn", 2, job.format("b"), {"team": "ml"}))
    arm.add(responses.GET, f"{ARM}/models/churn/versions", json={"value": [
        version_resource("churn", 1, job.format("a"), {"trackbridge.alias.prod": "true"}),
        version_resource("churn", 2, job.format("b"), {"team": "ml"})]})
    arm.add(responses.PUT, f"{ARM}/models/churn/versions/1",
            json=version_resource("churn", 1, job.format("a")))
    arm.add(responses.PUT, f"{ARM}/models/churn/versions/2",
            json=version_resource("churn", 2, job.format("b"),
                                  {"team": "ml", "trackbridge.alias.prod": "true"}))
    tb.set_model_alias("churn", "prod", 2, config=config)
    puts = {c.request.url.split("?")[0].rsplit("/", 1)[-1]: json.loads(c.request.body)
            for c in arm.calls if c.request.method == "PUT"}
    assert puts["1"]["properties"]["tags"] == {}
    assert puts["2"]["properties"]["tags"] == {"team": "ml", "trackbridge.alias.prod": "true"}


def test_unknown_version(arm, config):
    arm.add(responses.GET, f"{ARM}/models/churn/versions/9", status=404,
            json={"error": {"code": "UserError", "message": "not found"}})
    with pytest.raises(ModelVersionNotFoundError, match="no version 9"):
        tb.set_model_alias("churn", "prod", 9, config=config)


def test_a_run_only_in_the_local_store_is_uploaded_from_a_local_copy(config, monkeypatch):
    """Boundary test at ``MLClient.models.create_or_update``: for a local path azure-ai-ml
    looks up the workspace datastore, fetches its account key and uploads blobs; mocking that
    storage protocol would test azure-ai-ml, not us. What we own is the Model we hand it."""
    from azure.ai.ml.operations import ModelOperations

    run_id = log_locally(config, synced=False)
    from trackbridge.config import load_config

    journal = registry.open_journal(load_config(config))
    expected = {p[len("model/"):]: journal.blobs.path_of(sha).read_bytes()
                for p, (sha, _) in journal.artifact_manifest(run_id).items()}
    seen = {}

    def create_or_update(self, model, **kwargs):
        from pathlib import Path

        root = Path(model.path)
        seen.update(name=model.name, version=model.version, type=model.type,
                    files={p.relative_to(root).as_posix(): p.read_bytes()
                           for p in root.rglob("*") if p.is_file()})
        return model

    monkeypatch.setattr(ModelOperations, "list", lambda self, name=None, **kw: iter(()))
    monkeypatch.setattr(ModelOperations, "create_or_update", create_or_update)
    created = tb.register_model(f"runs:/{run_id}/model", name="churn", config=config)
    assert (seen["name"], seen["version"], seen["type"]) == ("churn", "1", "mlflow_model")
    assert seen["files"] == expected
    assert created.version == 1 and created.run_id is None
