"""A newcomer's first `sync --dry-run` to Databricks, before any credentials exist."""

from __future__ import annotations

import json

from click.testing import CliRunner
from dbx_support import isolate_sdk_env

import trackbridge as tb
from trackbridge.cli import cli


def test_a_dry_run_without_credentials_reports_what_is_pending_locally(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    isolate_sdk_env(monkeypatch, token=None)  # no host, no token, no ~/.databrickscfg
    local = tmp_path / "local.toml"
    local.write_text(f'[local]\npath = "{tmp_path / "tbruns"}"\n')
    remote = tmp_path / "databricks.toml"
    remote.write_text('backend = "databricks"\nexperiment = "/Shared/churn"\n'
                      '[databricks]\nprofile = "DEFAULT"\n')
    with tb.start_run(config=local) as run:
        run.log_params({"lr": 0.1, "depth": 3})
        run.set_tags({"team": "ml"})
        for i in range(180):
            run.log_metric("loss", 1 / (i + 1), step=i)
        run.log_text("hello", "notes.txt")
    out = CliRunner().invoke(cli, ["--config", str(local), "sync", "--to", str(remote), "--dry-run"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "would send 180 points, 2 params" in text and "1 files (5 bytes)" in text
    assert "FAILED" not in text and "resume" not in text and "landed" not in text
    assert text.count("could not check") == 1 and "DATABRICKS_HOST" in text  # why, once
    data = json.loads(CliRunner().invoke(
        cli, ["--config", str(local), "sync", "--to", str(remote), "--dry-run", "--json"]).output)
    assert data["totals"]["points"] == 180 and data["failed"] == 0
    assert data["destination_checked"] is False and "DATABRICKS_HOST" in data["destination_error"]
