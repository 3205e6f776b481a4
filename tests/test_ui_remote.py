"""A config whose backend is not the local store (a plugin registered through the hook, with
only the required read methods): the UI works read-only through them, and the sampled series
comes from the Backend defaults built on ``get_metric_history``."""

from __future__ import annotations

import types

import pytest
from starlette.testclient import TestClient
from ui_support import SPIKE_STEP, SPIKE_VALUE, build_demo

from trackbridge.backend import Backend
from trackbridge.config import load_config
from trackbridge.hookspecs import hookimpl
from trackbridge.local.store import LocalBackend
from trackbridge.registry import open_backend
from trackbridge.ui.app import create_app


class FarAway(Backend):
    """A "remote" platform: every required method delegates to a store it owns, and every
    call is recorded; it has no columnar read, no sampling and no model registry."""

    name = "faraway"
    config_keys = frozenset({"path"})
    calls: list[str] = []

    def __init__(self, path: str) -> None:
        self._store = LocalBackend(path)

    @property
    def limits(self):
        return self._store.limits

    def describe(self) -> str:
        return "faraway platform"

    def _read(self, name, *args):
        FarAway.calls.append(name)
        return getattr(self._store, name)(*args)

    def get_experiment(self, name): return self._read("get_experiment", name)
    def list_experiments(self): return self._read("list_experiments")
    def get_run(self, run_id): return self._read("get_run", run_id)
    def search_runs(self, ids, filter=None): return self._read("search_runs", ids, filter)
    def get_metric_history(self, run_id, key): return self._read("get_metric_history", run_id, key)
    def list_artifacts(self, run_id, path=None): return self._read("list_artifacts", run_id, path)
    def download_artifact(self, run_id, path, dst): return self._read("download_artifact", run_id, path, dst)

    def get_or_create_experiment(self, name): raise AssertionError("the UI wrote")
    def create_run(self, *a, **k): raise AssertionError("the UI wrote")
    def log_batch(self, *a, **k): raise AssertionError("the UI wrote")
    def upload_artifact(self, *a, **k): raise AssertionError("the UI wrote")
    def update_run(self, *a, **k): raise AssertionError("the UI wrote")


@pytest.fixture
def remote(tmp_path, builtin_plugins_only):
    demo = build_demo(tmp_path / "far", with_model=False)
    plugin = types.SimpleNamespace(
        trackbridge_register_backends=hookimpl(lambda register: register(FarAway)))
    builtin_plugins_only.load_plugins().register(plugin, name="faraway")
    backend = open_backend(load_config({"backend": "faraway", "faraway": {"path": str(demo.root)}}))
    assert type(backend) is FarAway
    FarAway.calls.clear()
    with TestClient(create_app(backend), base_url="http://127.0.0.1:5005") as client:
        yield client, demo


def test_pages_work_through_the_backend_read_methods(remote):
    client, demo = remote
    for url in ("/", "/experiments/demo", f"/runs/{demo.parent}", f"/compare?runs={demo.parent},{demo.xss}",
                f"/runs/{demo.parent}/artifacts/tables/history.csv", f"/files/{demo.parent}/report.html",
                f"/zip/{demo.parent}/plots"):
        assert client.get(url).status_code == 200, url
    assert client.get("/api/runs/nope").status_code == 404
    assert {"search_runs", "get_run", "list_artifacts", "download_artifact"} <= set(FarAway.calls)


def test_sampled_series_comes_from_get_metric_history(remote):
    client, demo = remote
    FarAway.calls.clear()
    data = client.get(f"/api/runs/{demo.parent}/metrics/loss?max_points=64").json()
    assert data["sampled"] and data["total"] == 5_000 and len(data["step"]) <= 64
    assert dict(zip(data["step"], data["value"]))[SPIKE_STEP] == SPIKE_VALUE
    assert "get_metric_history" in FarAway.calls
    tail = client.get(f"/api/runs/{demo.parent}/metrics/loss?start_step=4990").json()
    assert (tail["total"], tail["count"]) == (10, 5_000)  # count: the key's points, all steps


def test_a_backend_without_a_model_registry_says_so_on_the_models_page(remote):
    client, _ = remote
    data = client.get("/api/models").json()
    assert data["models"] == [] and "'faraway' backend has no model registry" in data["error"]
    assert "has no model registry" in client.get("/models").text


def test_runs_of_a_remote_backend_show_no_sync_state(remote):
    client, demo = remote
    assert client.get(f"/api/runs/{demo.parent}").json()["sync"] == []
