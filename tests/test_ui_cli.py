"""``trackbridge ui``: prints the URL and serves, checks the Host header over real HTTP, warns
off loopback, stops on Ctrl-C, and says what to install when the ui extra is missing."""

from __future__ import annotations

import http.client
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import trackbridge as tb
from trackbridge.cli import cli
from trackbridge.cli import ui as ui_command

TRACKBRIDGE = str(Path(sys.executable).with_name("trackbridge"))


def get(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = conn.getresponse()
    return response.status, response.read()


@pytest.fixture
def small_store(store):
    with tb.start_run(experiment="cli-ui", run_name="r1", config=store) as run:
        run.log_metric("loss", 0.5)
    return store["local"]["path"], run.id


def test_serves_the_store_and_stops_on_ctrl_c(small_store):
    root, run_id = small_store
    proc = subprocess.Popen([TRACKBRIDGE, "ui", "--store", root, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"trackbridge ui: local store {Path(root).resolve()} at http://127.0.0.1:")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        status, body = get(port, f"/api/runs/{run_id}")
        assert status == 200 and b'"name":"r1"' in body
        assert get(port, "/", host=f"localhost:{port}")[0] == 200
        assert get(port, "/", host="attacker.example")[0] == 403
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_config_option_after_the_command_selects_the_backend(small_store, tmp_path, monkeypatch):
    root, _ = small_store
    config = tmp_path / "ui.toml"
    config.write_text(f'[local]\npath = "{root}"\n')
    seen = {}
    monkeypatch.setattr(ui_command, "_serve", lambda app, sock: seen.update(app=app, sock=sock))
    result = CliRunner().invoke(cli, ["ui", "--config", str(config), "--port", "0"])
    assert result.exit_code == 0, result.output
    assert f"local store {Path(root).resolve()} at http://127.0.0.1:" in result.output
    assert seen["app"].state.ui.backend.describe() == f"local store {Path(root).resolve()}"
    seen["sock"].close()


def test_another_host_warns_that_there_is_no_login(small_store, monkeypatch):
    root, _ = small_store
    real_bind = ui_command._bind
    monkeypatch.setattr(ui_command, "_bind", lambda host, port: real_bind("127.0.0.1", 0))
    monkeypatch.setattr(ui_command, "_serve", lambda app, sock: sock.close())
    result = CliRunner().invoke(cli, ["ui", "--store", root, "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "warning: the UI has no login: anyone who can reach 0.0.0.0:" in result.stderr
    quiet = CliRunner().invoke(cli, ["ui", "--store", root])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_the_url_printed_for_a_wildcard_host_is_one_the_ui_answers(small_store, monkeypatch):
    from starlette.testclient import TestClient

    root, _ = small_store
    real_bind = ui_command._bind
    monkeypatch.setattr(ui_command, "_bind", lambda host, port: real_bind("127.0.0.1", 0))
    seen = {}
    monkeypatch.setattr(ui_command, "_serve",
                        lambda app, sock: seen.update(app=app) or sock.close())
    result = CliRunner().invoke(cli, ["ui", "--store", root, "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    url = result.stdout.split(" at ", 1)[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    assert "--allow-host NAME" in result.stderr
    with TestClient(seen["app"], base_url=url) as client:
        assert client.get("/api/experiments").status_code == 200


def test_a_busy_port_is_a_one_line_error(small_store):
    root, _ = small_store
    sock = ui_command._bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        result = CliRunner().invoke(cli, ["ui", "--store", root, "--port", str(port)])
        assert result.exit_code == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    finally:
        sock.close()


def test_a_directory_without_a_store_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["ui", "--store", str(tmp_path)])
    assert result.exit_code == 1 and "no trackbridge store there" in result.stderr
    assert not (tmp_path / "trackbridge.db").exists()


def test_without_the_ui_extra_it_says_what_to_install(monkeypatch, small_store):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("starlette", "uvicorn") else real(name, *a))
    result = CliRunner().invoke(cli, ["ui", "--store", small_store[0]])
    assert result.exit_code == 1
    assert result.stderr.strip() == ('Error: the web UI needs the ui extra (missing: starlette, '
                                     'uvicorn): pip install "trackbridge[ui]"')


def test_help_lists_the_options_without_importing_the_ui_stack():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    code = ("import sys; from trackbridge.cli import cli\n"
            "try:\n    cli(['ui', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    for option in ("--store", "--host", "--port", "--allow-host", "--config"):
        assert option in out
    assert out.strip().endswith("[]")  # the UI stack is imported only when the UI serves
    listed = subprocess.run([TRACKBRIDGE, "--help"], capture_output=True, text=True, check=True)
    assert "  ui " in listed.stdout
