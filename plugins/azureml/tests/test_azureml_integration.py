"""Against real servers on loopback: MLflow behind an Azure-ML-shaped front, Azurite for blobs."""

from __future__ import annotations

import math

import pytest
import requests
from azureml_helpers import TOKEN, FakeCredential
from trackbridge_azureml.backend import AzureMLBackend
from trackbridge_azureml.settings import parse_settings

import trackbridge as tb
from trackbridge.errors import BackendError
from trackbridge.testing import BackendContract

pytestmark = pytest.mark.integration


def make_backend(front, credential=None, **settings) -> AzureMLBackend:
    config = {"tracking_uri": front.tracking_uri, "retry_backoff": 0.1, **settings}
    return AzureMLBackend(parse_settings(config), credential=credential)


class TestAzureMLContract(BackendContract):
    @pytest.fixture
    def backend(self, azure_front):
        backend = make_backend(azure_front, FakeCredential())
        yield backend
        backend.close()


def test_front_rejects_a_wrong_token_and_the_error_hides_it(azure_front):
    backend = make_backend(azure_front, FakeCredential("not-the-right-token"))
    with pytest.raises(BackendError) as info:
        backend.get_experiment("anything")
    message = str(info.value)
    assert "HTTP 401" in message and "get experiment" in message
    assert "not-the-right-token" not in message and TOKEN not in message


def test_training_run_through_start_run_reads_back_exactly(azure_front, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {
        "backend": "azureml",
        "experiment": "azureml-training",
        "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
        "azureml": {"tracking_uri": azure_front.tracking_uri, "access_token": TOKEN},
    }
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    (tmp_path / "model" / "conf").mkdir()
    (tmp_path / "model" / "conf" / "hp.json").write_text('{"lr": 0.01}')
    losses = [1.0 / (step + 1) for step in range(600)]
    with tb.start_run(config=config, run_name="train-1", tags={"team": "vision"}) as run:
        run.log_params({"lr": 0.01, "epochs": 600, "optimizer": "adam"})
        for step, loss in enumerate(losses):
            run.log_metrics({"loss": loss, "acc": 1 - loss}, step=step)
        run.log_metric("odd", float("nan"), step=0)
        run.set_tag("stage", "dev")
        run.log_artifacts(tmp_path / "model", artifact_path="model")
        run.log_text("done", "notes/summary.txt")
        run_id = run.id

    got = tb.get_run(run_id, config=config)
    assert got.status == "FINISHED" and got.end_time is not None
    assert got.name == "train-1"
    assert got.params == {"lr": "0.01", "epochs": "600", "optimizer": "adam"}
    assert got.tags["team"] == "vision" and got.tags["stage"] == "dev"
    assert got.tags["trackbridge.host"] and got.tags["trackbridge.version"] == tb.__version__
    stored = requests.get(f"{azure_front.mlflow_url}/api/2.0/mlflow/runs/get",
                          params={"run_id": got.id}, timeout=30).json()["run"]["data"]["tags"]
    stored_keys = {t["key"] for t in stored}  # what the service holds: context tags folded
    assert "trackbridge.context" in stored_keys and "trackbridge.host" not in stored_keys
    assert len(stored_keys) <= 50
    history = tb.get_metric_history(run_id, "loss", config=config)
    assert [(m.step, m.value) for m in history] == list(enumerate(losses))
    assert [m.value for m in tb.get_metric_history(run_id, "acc", config=config)] == \
        [1 - v for v in losses]
    assert math.isnan(tb.get_metric_history(run_id, "odd", config=config)[0].value)
    root = {(e.path, e.is_dir) for e in tb.list_artifacts(run_id, config=config)}
    assert root == {("model", True), ("notes", True)}
    out = tmp_path / "out"
    tb.download_artifacts(run_id, "model/weights.bin", dst=out, config=config)
    downloaded = [p for p in out.rglob("weights.bin")]
    assert len(downloaded) == 1
    assert downloaded[0].read_bytes() == bytes(range(256)) * 1000
    # every request carried the token (the front refuses others) and went to the Azure prefix
    assert any(path.endswith("/runs/log-batch") for _, path in azure_front.requests)
    assert any(path.endswith("/artifacts/batch/metadata") for _, path in azure_front.requests)


def test_large_artifact_goes_up_in_blocks_and_comes_back_whole(azure_front, azurite, tmp_path,
                                                               monkeypatch):
    from azure.storage.blob import BlobServiceClient
    from azureml_front import CONTAINER
    from trackbridge_azureml import artifacts

    monkeypatch.setattr(artifacts, "SINGLE_PUT", 64 * 1024)
    monkeypatch.setattr(artifacts, "BLOCK", 64 * 1024)
    backend = make_backend(azure_front, FakeCredential())
    exp = backend.get_or_create_experiment("azureml-blocks")
    run = backend.create_run(exp.id, run_name="blocks", start_time=1, tags={})
    data = bytes(range(251)) * 1200  # ~300 KB, not a multiple of the block size
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    backend.upload_artifact(run.id, src, "weights/big.bin")
    blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        CONTAINER, f"ExperimentRun/dcid.{run.id}/weights/big.bin")
    committed, _ = blob.get_block_list()
    assert len(committed) == 5  # ceil(301,200 / 65,536): streamed in blocks, not one PUT
    backend.download_artifact(run.id, "weights/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert [(e.path, e.size) for e in backend.list_artifacts(run.id, "weights")] == \
        [("weights/big.bin", len(data))]
    backend.close()


def test_a_lost_answer_to_a_metric_batch_never_duplicates_points(azure_front, tmp_path,
                                                                 monkeypatch):
    """The batch is applied but its answer lost: the backend does not resend it, and the
    sync that follows sends exactly the missing points."""
    monkeypatch.chdir(tmp_path)
    config = {
        "backend": "azureml", "experiment": "azureml-lost-answer",
        "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
        "azureml": {"tracking_uri": azure_front.tracking_uri, "access_token": TOKEN},
    }
    azure_front.lose_answers["/runs/log-batch"] = 1
    with tb.start_run(config=config, run_name="lossy") as run:
        for step in range(300):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run_id = run.id
    assert azure_front.lose_answers["/runs/log-batch"] == 0  # the answer was really lost
    history = tb.get_metric_history(run_id, "loss", config=config)
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(300)]
    # MLflow's store ignores an identical point logged twice, so count what was *sent*:
    # every point exactly once, although one batch's answer was lost
    remote_id = tb.get_run(run_id, config=config).id
    sent = [m["step"] for b in azure_front.log_batches if b["run_id"] == remote_id
            for m in b["metrics"]]
    assert sorted(sent) == list(range(300))
