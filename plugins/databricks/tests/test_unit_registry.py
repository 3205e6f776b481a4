"""The Databricks model registry at the wire: Unity Catalog (create, upload, finalize) and the
workspace registry (create_model, create_model_version pointing at the synced run)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import responses
from dbx_support import TOKEN, isolate_sdk_env
from sklearn.linear_model import LinearRegression
from unit_support import API, HOST, add_run, body_bytes, calls_to, error, json_body

import trackbridge as tb
from trackbridge import registry
from trackbridge.models import ModelError, ModelVersionNotFoundError

REMOTE = "f00df00df00df00df00df00df00df00d"
MANAGED = f"dbfs:/databricks/mlflow-tracking/7/{REMOTE}/artifacts"
UC = f"{API}/unity-catalog"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    isolate_sdk_env(monkeypatch)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    local = {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05}
    yield {"backend": "databricks", "local": local,
           "databricks": {"host": HOST, "retry_timeout_seconds": 5}}
    registry.close_all()


def log_locally(config, *, synced=True):
    """A run with a model in the local store; ``synced``: the ledger says it reached REMOTE."""
    from trackbridge.config import load_config
    from trackbridge.sync import destination_id
    from trackbridge.sync.ledger import Ledger

    X = np.arange(8, dtype="float64").reshape(4, 2)
    local = {"local": config["local"]}
    with tb.start_run(experiment="reg", config=local) as run:
        run.log_model(LinearRegression().fit(X, X[:, 0]))
    cfg = load_config(config)
    journal = registry.open_journal(cfg)
    files = journal.artifact_manifest(run.id)
    if synced:
        ledger = Ledger(journal, destination_id(registry.open_backend(cfg)))
        entry = ledger.create(run.id, REMOTE, 0, in_doubt=False)
        for path, (sha, _size) in files.items():
            ledger.ack_artifact(run.id, entry, path, sha)
    blobs = {p: journal.blobs.path_of(sha).read_bytes() for p, (sha, _) in files.items()}
    return run.id, blobs


def version_json(name, version, status="READY", **extra):
    return {"model_version": {"name": name, "version": str(version), "status": status,
                              "creation_timestamp": 1_764_000_000_000, **extra}}


def test_workspace_registry_points_at_the_synced_run_without_uploading(rsps, config):
    run_id, _ = log_locally(config)
    add_run(rsps, REMOTE, MANAGED)
    rsps.add(responses.POST, f"{API}/registered-models/create", json={"registered_model": {}})
    rsps.add(responses.POST, f"{API}/model-versions/create",
             json=version_json("churn", 1, "PENDING_REGISTRATION"))
    rsps.add(responses.GET, f"{API}/model-versions/get",
             json=version_json("churn", 1, source=f"{MANAGED}/model", run_id=REMOTE))

    created = tb.register_model(f"runs:/{run_id}/model", name="churn", config=config,
                                description="first", tags={"team": "ml"})
    assert (created.name, created.version, created.run_id) == ("churn", 1, REMOTE)

    (model,) = calls_to(rsps, "/registered-models/create")
    assert model.request.url == f"{API}/registered-models/create"
    assert json_body(model.request) == {"name": "churn"}
    (version,) = calls_to(rsps, "/model-versions/create")
    assert json_body(version.request) == {"name": "churn", "source": f"{MANAGED}/model",
                                          "run_id": REMOTE, "description": "first",
                                          "tags": [{"key": "team", "value": "ml"}]}
    assert version.request.headers["Authorization"] == f"Bearer {TOKEN}"
    (ready,) = calls_to(rsps, "/model-versions/get")
    assert ready.request.url == f"{API}/model-versions/get?name=churn&version=1"
    assert not [c for c in rsps.calls if c.request.method == "PUT"]  # nothing uploaded
    assert not calls_to(rsps, "/artifacts/credentials-for-write")


def test_workspace_registry_accepts_an_existing_model(rsps, config):
    run_id, _ = log_locally(config)
    add_run(rsps, REMOTE, MANAGED)
    rsps.add(responses.POST, f"{API}/registered-models/create", status=400,
             json=error("RESOURCE_ALREADY_EXISTS", "Registered Model (name=churn) already exists."))
    rsps.add(responses.POST, f"{API}/model-versions/create", json=version_json("churn", 4))
    rsps.add(responses.GET, f"{API}/model-versions/get", json=version_json("churn", 4))
    assert tb.register_model(f"runs:/{run_id}/model", name="churn", config=config).version == 4
    assert len(calls_to(rsps, "/model-versions/create")) == 1


def test_unity_catalog_creates_uploads_every_file_then_finalizes(rsps, config):
    run_id, blobs = log_locally(config)
    name = "main.ml.churn"
    add_run(rsps, REMOTE, MANAGED)
    rsps.add(responses.POST, f"{UC}/registered-models/create", json={"registered_model": {}})
    rsps.add(responses.POST, f"{UC}/model-versions/create",
             json=version_json(name, 3, "PENDING_REGISTRATION",
                               storage_location="s3://bucket/models/abc/versions/3"))
    got = {}

    def put(request):
        got[request.url] = body_bytes(request)
        return 204, {}, ""

    rsps.add_callback(responses.PUT, re.compile(
        rf"{HOST}/api/2.0/fs/files/Models/main/ml/churn/3/.*"), callback=put)
    rsps.add(responses.POST, f"{UC}/model-versions/finalize", json=version_json(name, 3))

    created = tb.register_model(f"runs:/{run_id}/model", name=name, config=config)
    assert (created.name, created.version, created.status) == (name, 3, "READY")

    (model,) = calls_to(rsps, "/unity-catalog/registered-models/create")
    assert json_body(model.request) == {"name": name}
    (version,) = calls_to(rsps, "/unity-catalog/model-versions/create")
    assert json_body(version.request) == {"name": name, "source": f"{MANAGED}/model",
                                          "run_id": REMOTE}
    expected = {f"{HOST}/api/2.0/fs/files/Models/main/ml/churn/3/{path[len('model/'):]}"
                f"?overwrite=true": data for path, data in blobs.items()}
    assert got == expected  # every file of the model directory, byte for byte
    assert any(url.endswith("/MLmodel?overwrite=true") for url in got)
    (final,) = calls_to(rsps, "/unity-catalog/model-versions/finalize")
    assert json_body(final.request) == {"name": name, "version": "3"}
    methods = [(c.request.method, c.request.url.split("?")[0].rsplit("/", 1)[-1]) for c in rsps.calls]
    assert methods.index(("POST", "create")) < methods.index(("POST", "finalize"))
    puts = [i for i, (m, _) in enumerate(methods) if m == "PUT"]
    assert puts and max(puts) < methods.index(("POST", "finalize"))
    assert not calls_to(rsps, "/mlflow/model-versions/create")  # not the workspace registry


def test_a_run_not_synced_yet_is_refused_with_the_sync_command(rsps, config):
    run_id, _ = log_locally(config, synced=False)
    with pytest.raises(ModelError, match=f"trackbridge sync .*--run {run_id}"):
        tb.register_model(f"runs:/{run_id}/model", name="churn", config=config)
    assert not calls_to(rsps, "/model-versions/create")


@pytest.mark.parametrize("name,prefix", [("churn", API), ("main.ml.churn", UC)])
def test_aliases_use_the_registry_of_the_name(rsps, config, name, prefix):
    rsps.add(responses.GET, f"{prefix}/model-versions/get", json=version_json(name, 2))
    rsps.add(responses.POST, f"{prefix}/registered-models/alias", json={})
    rsps.add(responses.GET, f"{prefix}/registered-models/alias",
             json=version_json(name, 2, aliases=["prod"]))
    tb.set_model_alias(name, "prod", 2, config=config)
    (alias,) = [c for c in calls_to(rsps, "/registered-models/alias") if c.request.method == "POST"]
    assert alias.request.url == f"{prefix}/registered-models/alias"
    assert json_body(alias.request) == {"name": name, "alias": "prod", "version": "2"}
    from trackbridge.models import get_model_version

    found = get_model_version(name, alias="prod", config=config)
    assert (found.version, found.aliases) == (2, ("prod",))


def test_unknown_versions_are_not_found(rsps, config):
    rsps.add(responses.GET, f"{API}/model-versions/get", status=404,
             json=error("RESOURCE_DOES_NOT_EXIST", "Model Version (name=churn, version=9) not found"))
    with pytest.raises(ModelVersionNotFoundError, match="no version 9"):
        tb.set_model_alias("churn", "prod", 9, config=config)
    assert not [c for c in rsps.calls if c.request.method == "POST"]


def test_a_unity_catalog_version_loads_from_its_files(rsps, config):
    X = np.arange(8, dtype="float64").reshape(4, 2)
    model = LinearRegression().fit(X, X[:, 0] * 3 - X[:, 1])
    with tb.start_run(experiment="reg", config={"local": config["local"]}) as run:
        run.log_model(model)
    from trackbridge.config import load_config

    journal = registry.open_journal(load_config(config))
    files = {p[len("model/"):]: journal.blobs.path_of(sha).read_bytes()
             for p, (sha, _) in journal.artifact_manifest(run.id).items()}
    root = "/Models/main/ml/churn/3"
    rsps.add(responses.GET, f"{UC}/model-versions/get", json=version_json("main.ml.churn", 3))
    top = sorted({rel.split("/")[0] for rel in files})
    rsps.add(responses.GET, f"{HOST}/api/2.0/fs/directories{root}", json={"contents": [
        {"path": f"{root}/{name}", "is_directory": name not in files,
         "file_size": len(files.get(name, b""))} for name in top]})
    for rel, data in files.items():
        rsps.add(responses.GET, f"{HOST}/api/2.0/fs/files{root}/{rel}", body=data,
                 headers={"Content-Type": "application/octet-stream"})
    loaded = tb.load_model("models:/main.ml.churn/3", config=config)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    (get,) = calls_to(rsps, "/unity-catalog/model-versions/get")
    assert get.request.url == f"{UC}/model-versions/get?name=main.ml.churn&version=3"
    downloaded = {c.request.url for c in rsps.calls if "/fs/files/" in c.request.url}
    assert downloaded == {f"{HOST}/api/2.0/fs/files{root}/{rel}" for rel in files}


def test_a_unity_catalog_listing_that_escapes_the_model_directory_is_refused(rsps, config, tmp_path):
    from trackbridge.errors import UnsafePathError

    root = "/Models/main/ml/churn/3"
    rsps.add(responses.GET, f"{UC}/model-versions/get", json=version_json("main.ml.churn", 3))
    rsps.add(responses.GET, f"{HOST}/api/2.0/fs/directories{root}", json={"contents": [
        {"path": "/Models/main/ml/evil.py", "is_directory": False, "file_size": 4}]})
    rsps.add(responses.GET, f"{HOST}/api/2.0/fs/files/Models/main/ml/evil.py", body=b"boom",
             headers={"Content-Type": "application/octet-stream"})
    with pytest.raises(UnsafePathError, match="evil.py"):
        tb.load_model("models:/main.ml.churn/3", config=config)
    assert not [c for c in rsps.calls if "/fs/files/" in c.request.url]  # nothing fetched
    assert not list(tmp_path.parent.rglob("evil.py"))
