"""``trackbridge sync`` and ``trackbridge status`` between two local stores."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import trackbridge as tb
from trackbridge.cli import cli
from trackbridge.local.store import LocalBackend


@pytest.fixture
def two_stores(tmp_path, store):
    src = tmp_path / "src.toml"
    src.write_text(f'[local]\npath = "{store["local"]["path"]}"\n')
    dst = tmp_path / "dst.toml"
    dst.write_text(f'experiment = "copied"\n[local]\npath = "{tmp_path / "dest"}"\n')
    with tb.start_run(experiment="churn", config=src) as run:
        run.log_params({"lr": 0.1})
        for i in range(1500):
            run.log_metric("loss", 1 / (i + 1), step=i)
        run.log_text("hello", "notes.txt")
    return src, dst, run


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_sync_json_then_nothing_new(two_stores, tmp_path):
    src, dst, run = two_stores
    dry = json.loads(invoke("sync", "--to", dst, "--from", src, "--dry-run", "--json").output)
    assert dry["dry_run"] and dry["totals"]["points"] == 1500
    assert dry["totals"]["write_requests"] == 1 + 1 + 1 + 1  # create, one batch (local limits), file, status
    assert not (tmp_path / "dest").exists() or not LocalBackend(tmp_path / "dest").list_experiments()

    first = json.loads(invoke("sync", "--to", dst, "--from", src, "--json").output)
    [report] = first["runs"]
    assert (report["points"], report["params"], report["artifacts"]) == (1500, 1, 1)
    dest = LocalBackend(tmp_path / "dest")
    copied = dest.get_run(report["remote_run_id"])
    assert copied.experiment == "copied" and copied.params == {"lr": "0.1"}
    assert len(dest.get_metric_history(copied.id, "loss")) == 1500

    again = json.loads(invoke("sync", "--to", dst, "--from", src, "--json").output)
    assert again["totals"]["write_requests"] == 0


def test_sync_text_summary_and_status(two_stores):
    src, dst, run = two_stores
    before = json.loads(invoke("status", "--to", dst, "--from", src, "--json").output)
    assert before[0]["points_pending"] == 1500 and not before[0]["synced"]
    out = invoke("sync", "--to", dst, "--from", src).output
    assert f"{run.id} -> " in out and "sent 1500 points" in out and "0 failed" in out
    after = json.loads(invoke("status", "--to", dst, "--from", src, "--json").output)
    assert after[0]["synced"] and after[0]["points_pending"] == 0
    table = invoke("status", "--from", src).output  # every destination in the ledger
    assert run.id in table and "yes" in table


def test_sync_to_itself_is_refused(two_stores):
    src, _, _ = two_stores
    result = CliRunner().invoke(cli, ["sync", "--to", str(src), "--from", str(src)])
    assert result.exit_code == 1 and "same" in result.output
