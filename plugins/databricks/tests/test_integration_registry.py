"""The workspace model registry against a real MLflow server (it serves the same
``registered-models``/``model-versions`` endpoints): a model logged through trackbridge with
a Databricks config, synced online, registered from the synced run, read back by MLflow."""

from __future__ import annotations

import uuid
import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

import trackbridge as tb

pytestmark = pytest.mark.integration


@pytest.fixture
def config(online_config):
    return online_config("models", sync_timeout=120)


def test_register_a_synced_model_and_load_it_back(config, mlflow_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -2.0, 0.5]
    models = [RandomForestRegressor(n_estimators=5, random_state=s).fit(X, y + s) for s in (0, 1)]
    name = f"churn-{uuid.uuid4().hex[:6]}"
    local_ids = []
    for model in models:
        with tb.start_run(config=config) as run:
            info = run.log_model(model, input_example=X[:3])
        local_ids.append(run.id)
        assert run.remote_id and run.remote_id != run.id  # synced online to the server
        version = tb.register_model(info.model_uri, name=name, config=config)
        assert version.run_id == run.remote_id

    tb.set_model_alias(name, "champion", 1, config=config)
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    got = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    assert [v.version for v in got] == ["1", "2"]
    remote_runs = [client.get_run(v.run_id) for v in got]
    assert [r.info.run_id for r in remote_runs] == [v.run_id for v in got]
    for v, r in zip(got, remote_runs):
        assert v.source == f"{r.info.artifact_uri}/model"  # the synced run's copy
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert [v.version for v in tb.list_model_versions(name, config=config)] == [1, 2]

    np.testing.assert_allclose(tb.load_model(f"models:/{name}@champion", config=config).predict(X),
                               models[0].predict(X))
    np.testing.assert_allclose(tb.load_model(f"models:/{name}/2", config=config).predict(X),
                               models[1].predict(X))

    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_mlflow = mlflow.pyfunc.load_model(f"models:/{name}/2")
    np.testing.assert_allclose(np.asarray(by_mlflow.predict(X)), models[1].predict(X))
