"""A workspace's identity in the sync ledger: the same before and after the SDK client exists,
and across processes, however the config names the workspace (host, profile, environment)."""

from __future__ import annotations

import pytest
from dbx_support import TOKEN, isolate_sdk_env
from trackbridge_databricks.backend import DatabricksBackend

import trackbridge as tb
from trackbridge.local.store import LocalBackend
from trackbridge.sync.ledger import Ledger, destination_id


def _profile_file(tmp_path, monkeypatch, host: str):
    path = tmp_path / "databrickscfg"
    path.write_text(f"[DEFAULT]\nhost = {host}\ntoken = {TOKEN}\n\n[staging]\nhost = {host}\n"
                    f"token = {TOKEN}\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(path))
    monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
    return path


@pytest.mark.integration
def test_reads_by_local_run_id_keep_working_with_a_profile_config(online_config, mlflow_server,
                                                                   tmp_path, monkeypatch):
    """The shipped configs/databricks.toml style: `profile = ...`, no host in the config."""
    config = online_config("profile", 30.0)
    _profile_file(tmp_path, monkeypatch, mlflow_server.url)
    config["databricks"] = {"profile": "staging", "retry_timeout_seconds": 60,
                            "max_requests_per_second": 0}
    with tb.start_run(config=config) as run:
        run.log_metric("loss", 0.5)
    for _ in range(3):  # the first read builds the SDK client; later reads must still find it
        assert tb.get_run(run.id, config=config).metrics == {"loss": 0.5}


@pytest.mark.parametrize("table, env", [
    ({"profile": "staging"}, {}),
    ({}, {"DATABRICKS_CONFIG_PROFILE": "staging"}),
    ({}, {}),  # the DEFAULT profile
    ({"host": "adb-1.azuredatabricks.net/"}, {}),
    ({}, {"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net:443"}),
])
def test_identity_is_the_workspace_url_before_any_client_exists(table, env, tmp_path, monkeypatch):
    isolate_sdk_env(monkeypatch)
    _profile_file(tmp_path, monkeypatch, "https://adb-1.azuredatabricks.net/")
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    backend = DatabricksBackend.from_config(table)
    assert destination_id(backend) == "databricks:Databricks workspace https://adb-1.azuredatabricks.net"
    assert backend._client is None  # nothing was built, nothing was asked of the network


def test_a_ledger_keyed_by_the_old_profile_description_is_moved(tmp_path, monkeypatch):
    isolate_sdk_env(monkeypatch)
    _profile_file(tmp_path, monkeypatch, "https://adb-1.azuredatabricks.net")
    store = LocalBackend(tmp_path / "store")
    old = Ledger(store, "databricks:Databricks workspace of profile 'staging'")
    old.create("local-run", "remote-run", 7, in_doubt=False, tags={"team": "ml"})
    old.ack_artifact("local-run", old.load("local-run"), "a.txt", "f" * 64)
    ledger = Ledger.of(store, DatabricksBackend.from_config({"profile": "staging"}))
    entry = ledger.load("local-run")
    assert (entry.remote_run_id, entry.cursor, entry.tags, entry.artifacts) == (
        "remote-run", 7, {"team": "ml"}, {"a.txt": "f" * 64})
    assert old.load("local-run") is None
    assert ledger.destinations() == [ledger.destination]
