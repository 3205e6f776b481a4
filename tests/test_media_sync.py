"""Figures, images, tables and dataset inputs logged offline, synced through the Databricks plugin
to a real MLflow server, and read back by MLflow's own client: the same files, a table MLflow's
load_table reads, the image series, and the dataset inputs; a second sync sends nothing."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import trackbridge as tb  # noqa: E402
from trackbridge.config import load_config  # noqa: E402
from trackbridge.local.store import LocalBackend  # noqa: E402
from trackbridge.registry import open_backend  # noqa: E402
from trackbridge.sync import SyncPlan, select_runs, sync  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture
def destination(mlflow_server, monkeypatch):
    for var in list(os.environ):
        if var.startswith(("DATABRICKS_", "ARM_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test-token-not-a-secret")
    return load_config({"backend": "databricks",
                        "experiment": f"/Shared/media-{uuid.uuid4().hex[:8]}",
                        "databricks": {"host": mlflow_server.url, "retry_timeout_seconds": 30,
                                       "max_requests_per_second": 0}})


def test_media_and_inputs_reach_mlflow_and_resync_sends_nothing(store, destination, mlflow_server,
                                                                 tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    frame = pd.DataFrame({"x": np.linspace(0, 1, 20), "label": [0, 1] * 10})
    fig, ax = plt.subplots()
    ax.plot(frame["x"])
    with tb.start_run(config=store, run_name="media") as run:
        run.log_figure(fig, "plots/x.png")
        for step in range(2):
            run.log_image(np.full((8, 8, 3), 40 * step, dtype=np.uint8), key="samples", step=step)
        run.log_table({"id": [1, 2], "pred": [0.25, 0.75]}, "tables/preds.json")
        run.log_table({"id": [3], "pred": [0.5]}, "tables/preds.json")
        run.log_input(tb.data.from_pandas(frame, name="train-set", targets="label"),
                      context="training")
    plt.close(fig)

    source = LocalBackend(store["local"]["path"])
    plan = SyncPlan(source, open_backend(destination), source, experiment=destination.experiment)
    [report] = sync(plan, select_runs(source))
    assert report.error is None and report.inputs == 1
    remote_id = report.remote_run_id

    client = MlflowClient(tracking_uri=mlflow_server.url)
    got = client.get_run(remote_id)
    [dataset_input] = got.inputs.dataset_inputs
    ours = source.get_inputs(run.id)[0].dataset
    assert (dataset_input.dataset.name, dataset_input.dataset.digest) == ("train-set", ours.digest)
    assert json.loads(dataset_input.dataset.schema) == json.loads(ours.schema)
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}
    assert got.data.tags["mlflow.loggedImages"] == "True"
    assert json.loads(got.data.tags["mlflow.loggedArtifacts"]) == \
        [{"path": "tables/preds.json", "type": "table"}]

    images = sorted(f.path for f in client.list_artifacts(remote_id, "images"))
    assert len(images) == 4
    assert sorted(p.split("+")[2] for p in images) == ["0", "0", "1", "1"]  # the step of each
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)  # load_table searches through it
    table = client.load_table(got.info.experiment_id, "tables/preds.json", run_ids=[remote_id])
    assert table["id"].tolist() == [1, 2, 3] and table["pred"].tolist() == [0.25, 0.75, 0.5]
    local = client.download_artifacts(remote_id, "plots/x.png", str(tmp_path))
    source.download_artifact(run.id, "plots/x.png", tmp_path / "ours.png")
    assert Path(local).read_bytes() == (tmp_path / "ours.png").read_bytes()

    [again] = sync(plan, select_runs(source))
    assert again.write_requests == 0 and again.inputs == 0
    assert len(client.get_run(remote_id).inputs.dataset_inputs) == 1
