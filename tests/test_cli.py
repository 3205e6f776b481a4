"""``trackbridge`` CLI: text and JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import trackbridge as tb
from trackbridge.cli import cli
from trackbridge.version import __version__


@pytest.fixture
def logged(store, tmp_path):
    """Two finished runs in a store, and the config file that points at it."""
    config_file = tmp_path / "tb.toml"
    config_file.write_text(f'experiment = "cli"\n[local]\npath = "{store["local"]["path"]}"\n')
    ids = []
    for lr, acc in ((0.1, 0.8), (0.2, 0.9)):
        with tb.start_run(run_name=f"lr{lr}", config=config_file) as run:
            run.log_params({"lr": lr, "depth": 3})
            run.log_metric("acc", acc)
            run.log_metric("odd", float("nan"))
            run.log_text("report", "reports/r.txt")
        ids.append(run.id)
    return config_file, ids


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_runs_list_text_and_json(logged):
    config, ids = logged
    text = invoke("runs", "list", "--config", config)
    assert text.exit_code == 0
    assert all(i in text.output for i in ids) and "lr0.1" in text.output
    data = json.loads(invoke("runs", "list", "--json", "--config", config).output)
    assert [r["id"] for r in data] == ids[::-1]  # newest first
    assert data[0]["metrics"] == {"acc": 0.9, "odd": "NaN"}  # NaN as a string: valid JSON
    filtered = json.loads(invoke("--config", config, "runs", "list", "--json",
                                 "--filter", "metrics.acc < 0.85").output)
    assert [r["id"] for r in filtered] == [ids[0]]
    none = json.loads(invoke("runs", "list", "--json", "--status", "failed", "--config", config).output)
    assert none == []


def test_runs_show_text_and_json(logged):
    config, ids = logged
    text = invoke("runs", "show", ids[0], "--config", config).output
    for expected in (ids[0], "lr0.1", "FINISHED", "depth", "acc", "reports/r.txt"):
        assert expected in text
    data = json.loads(invoke("runs", "show", ids[0], "--json", "--config", config).output)
    assert data["params"] == {"lr": "0.1", "depth": "3"}
    assert data["artifacts"] == [{"path": "reports/r.txt", "size": 6}]
    assert data["status"] == "FINISHED" and data["experiment"] == "cli"


def test_runs_compare_shows_differences(logged):
    config, ids = logged
    out = invoke("runs", "compare", *ids, "--config", config).output
    assert "params.lr" in out and "0.1" in out and "0.2" in out
    assert "params.depth" not in out  # equal everywhere: hidden unless --all
    assert "params.depth" in invoke("runs", "compare", *ids, "--all", "--config", config).output
    data = json.loads(invoke("runs", "compare", *ids, "--json", "--config", config).output)
    assert [r["params"]["lr"] for r in data] == ["0.1", "0.2"]


def test_experiments_list(logged):
    config, _ = logged
    assert "cli" in invoke("experiments", "list", "--config", config).output
    assert [e["name"] for e in json.loads(invoke("experiments", "list", "--json", "--config",
                                                 config).output)] == ["cli"]


def test_backends_lists_the_builtin_local_backend(builtin_plugins_only):
    data = json.loads(invoke("backends", "--json").output)
    assert {"name": "local", "distribution": "trackbridge (built-in)", "version": __version__,
            "class": "trackbridge.local.store.LocalBackend"} in data


def test_config_show_redacts_secrets(tmp_path, monkeypatch, builtin_plugins_only):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text('backend = "local"\n[local]\npath = "x"\n[databricks]\ntoken = "dapi-SECRET"\n')
    out = invoke("config", "show", "--config", config).output
    assert "dapi-SECRET" not in out and "***" in out and "path = 'x'" in out
    data = json.loads(invoke("config", "show", "--json", "--config", config).output)
    assert data["databricks"]["token"] == "***" and data["local"]["path"] == "x"


def test_error_is_one_line_and_non_zero(logged):
    config, _ = logged
    result = CliRunner().invoke(cli, ["runs", "show", "nope", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: run 'nope' not found in the local store {logged[0].parent / 'tbruns'}"
    ]


def test_console_script_and_module_entry_points(logged):
    config, ids = logged
    module = subprocess.run([sys.executable, "-m", "trackbridge", "--version"],
                            capture_output=True, text=True)
    assert module.returncode == 0 and __version__ in module.stdout
    bad = subprocess.run([sys.executable, "-m", "trackbridge", "runs", "show", "nope", "--config",
                          str(config)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr and "Error: run 'nope' not found" in bad.stderr
    debug = subprocess.run([sys.executable, "-m", "trackbridge", "--debug", "runs", "show", "nope",
                            "--config", str(config)], capture_output=True, text=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_doctor_on_the_local_store(logged):
    config, _ = logged
    result = invoke("doctor", "--config", config)
    assert result.exit_code == 0
    assert "ok" in result.output and "'cli' exists" in result.output


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0cmFja2JyaWRnZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
LEAKY = {
    "host": "https://token:dapi0123456789abcdef0123456789abcdef@adb-1.azuredatabricks.net",
    "profile": "user:hunter2@example.com",  # not a URL: left as it is
    "auth_type": JWT,
    "artifact_root": "https://acct.blob.core.windows.net/c?sv=2024&sig=SIGSECRET%3D&se=x",
}


def test_config_show_redacts_credentials_inside_values(tmp_path, monkeypatch, builtin_plugins_only):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text("[local]\npath = \"x\"\n[databricks]\n"
                      + "".join(f"{k} = {json.dumps(v)}\n" for k, v in LEAKY.items()))
    for args in (("config", "show"), ("config", "show", "--json")):
        out = invoke(*args, "--config", config).output
        for secret in ("dapi0123456789abcdef", "token:", JWT, "SIGSECRET"):
            assert secret not in out, (args, secret)
        assert "adb-1.azuredatabricks.net" in out and "acct.blob.core.windows.net" in out
    from trackbridge.config import load_config

    shown = repr(load_config(config))
    assert "dapi0123456789abcdef" not in shown and JWT not in shown and "SIGSECRET" not in shown


def test_an_error_that_quotes_a_value_never_prints_its_credentials(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text('sync_timeout = "https://me:pa55word@proxy.example.com"\n')
    result = CliRunner().invoke(cli, ["runs", "list", "--config", str(config)])
    assert result.exit_code == 1 and "sync_timeout" in result.output
    assert "pa55word" not in result.output and "proxy.example.com" in result.output


@pytest.mark.parametrize("bad", ["metrics.x > 1.2.3", "metrics.x > ...", "params.p IN (1.2.3)"])
def test_a_malformed_number_in_a_filter_is_a_one_line_error(logged, bad):
    config, _ = logged
    result = CliRunner().invoke(cli, ["runs", "list", "--filter", bad, "--config", str(config)])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    [line] = result.output.strip().splitlines()
    token = bad.split()[-1].strip("()")
    assert line.startswith("Error:") and repr(token) in line, line


def _every_command(group, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _every_command(command, (*path, name))


def test_every_command_takes_config_after_its_name_and_help():
    commands = list(_every_command(cli))
    assert len(commands) > 10
    for path, command in commands:
        assert any("--config" in getattr(p, "opts", ()) for p in command.params), path
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "--config" in result.output, (path, result.output)


def test_status_and_sync_take_config_after_the_command(logged, tmp_path):
    config, _ = logged
    dest = tmp_path / "dest.toml"
    dest.write_text(f'[local]\npath = "{tmp_path / "elsewhere"}"\n')
    status = CliRunner().invoke(cli, ["status", "--config", str(config), "--json"])
    assert status.exit_code == 0, status.output
    synced = CliRunner().invoke(cli, ["sync", "--to", str(dest), "--config", str(config), "--json"])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output)["totals"]["points"] > 0


@pytest.mark.parametrize("bad, words", [
    ("metrics.x > 0 or params.p = '1'", "'or' is not supported: MLflow's filter joins clauses "
                                        "with AND only"),
    ("metrics.x > 0 and", "'and' with no clause after it"),
    ("metrics.x = 'high'", "a metric is compared with = != < <= > >= and a number, e.g. "
                           "metrics.x > 0.5 (not = 'high')"),
    ("metrics.x LIKE '1%'", "(not LIKE '1%')"),
    ("params.depth = 3", "param values are strings: quote them, e.g. params.depth = '3'"),
    ("tags.t IN (1, 'b')", "tag values are strings: quote them, e.g. tags.t IN ('1', 'b')"),
])
def test_a_filter_mlflow_would_refuse_is_a_one_line_error_naming_it(logged, bad, words):
    config, _ = logged
    result = CliRunner().invoke(cli, ["runs", "list", "--filter", bad, "--config", str(config)])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error:") and words in line, line
