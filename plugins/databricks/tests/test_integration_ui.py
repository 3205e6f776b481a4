"""``trackbridge ui`` on a Databricks config (the session's MLflow server standing in for the
workspace): pages and a sampled series read through the plugin's read methods only."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

import trackbridge as tb
from trackbridge.config import load_config
from trackbridge.registry import open_backend
from trackbridge.ui.app import create_app

pytestmark = pytest.mark.integration


def test_ui_reads_a_databricks_backend(online_config):
    config = online_config("ui", sync_timeout=120)
    with tb.start_run(run_name="remote-ui", config=config) as run:
        run.log_param("lr", 0.1)
        for step in range(1000):
            run.log_metric("loss", 50.0 if step == 777 else 1.0 / (step + 1), step=step)
        run.log_text("hello", "notes/hi.txt")
    remote_id = run.remote_id
    backend = open_backend(load_config(config))
    with TestClient(create_app(backend), base_url="http://127.0.0.1:5005") as client:
        page = client.get(f"/api/runs/{remote_id}").json()
        assert page["run"]["name"] == "remote-ui" and page["run"]["params"] == {"lr": "0.1"}
        assert page["sync"] == [] and page["artifact_count"] == 1
        series = client.get(f"/api/runs/{remote_id}/metrics/loss?max_points=40").json()
        assert series["total"] == 1000 and series["sampled"] and len(series["step"]) <= 40
        assert dict(zip(series["step"], series["value"]))[777] == 50.0
        table = client.get(f"/api/experiments/{config['experiment']}").json()
        assert [r["id"] for r in table["runs"]] == [remote_id]
        assert client.get(f"/files/{remote_id}/notes/hi.txt").text == "hello"
        assert client.get(f"/runs/{remote_id}").status_code == 200
