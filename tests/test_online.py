"""Online mode: a remote backend gets the run while it is logged; the network may come and go."""

from __future__ import annotations

import subprocess
import sys
import time
import types

import pytest

import trackbridge as tb
from trackbridge.errors import BackendError
from trackbridge.hookspecs import hookimpl
from trackbridge.local.store import LocalBackend


class FakeRemote(LocalBackend):
    """Stands in for a cloud backend: not local, and its 'network' can be cut."""

    name = "fakeremote"
    is_local = False
    down = False

    def _net(self):
        if FakeRemote.down:
            raise BackendError("connection refused (network down, injected)")

    def describe(self):
        return f"fake remote {self.root}"


for _name in ("get_or_create_experiment", "create_run", "log_batch", "upload_artifact", "update_run",
              "get_experiment", "get_run", "search_runs", "get_metric_history", "list_artifacts"):
    def _wrap(name=_name):
        original = getattr(LocalBackend, name)

        def method(self, *args, **kwargs):
            self._net()
            return original(self, *args, **kwargs)

        setattr(FakeRemote, name, method)

    _wrap()


@pytest.fixture
def remote_config(tmp_path, monkeypatch, builtin_plugins_only):
    plugin = types.SimpleNamespace(
        trackbridge_register_backends=hookimpl(lambda register: register(FakeRemote))
    )
    builtin_plugins_only.load_plugins().register(plugin, name="fakeremote")
    FakeRemote.down = False
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "remote.toml"
    config.write_text(f'backend = "fakeremote"\nexperiment = "online"\nsync_timeout = 10\n'
                      f'[fakeremote]\npath = "{tmp_path / "remote"}"\n'
                      f'[local]\npath = "{tmp_path / "journal"}"\nflush_interval = 0.1\n')
    yield config
    FakeRemote.down = False


def history(store, run_id, key):
    return [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, key)]


def test_run_reaches_the_remote_while_journalled_locally(remote_config, tmp_path):
    with tb.start_run(config=remote_config) as run:
        run.log_params({"lr": 0.1})
        for i in range(300):
            run.log_metric("loss", 1 / (i + 1), step=i)
        run.log_text("notes", "notes.txt")
        assert run.sync(timeout=10)
        assert run.remote_id is not None and run.remote_id != run.id
    journal, remote = LocalBackend(tmp_path / "journal"), LocalBackend(tmp_path / "remote")
    got = remote.get_run(run.remote_id)
    assert got.status == "FINISHED" and got.params == {"lr": "0.1"} and got.experiment == "online"
    assert history(remote, run.remote_id, "loss") == history(journal, run.id, "loss")
    assert [e.path for e in remote.list_artifacts(run.remote_id)] == ["notes.txt"]
    # reads through the remote config accept the local id
    assert tb.get_run(run.id, config=remote_config).id == run.remote_id
    assert len(tb.get_metric_history(run.id, "loss", config=remote_config)) == 300


def test_training_never_blocks_when_the_network_is_down(remote_config, tmp_path):
    FakeRemote.down = True
    started = time.monotonic()
    with tb.start_run(config=remote_config) as run:
        for i in range(200):
            run.log_metric("loss", float(i), step=i)
        assert time.monotonic() - started < 5  # logging did not wait for the network
        assert run.remote_id is None
        FakeRemote.down = False  # the network comes back before the end
    remote = LocalBackend(tmp_path / "remote")
    assert [v for v, _, _ in history(remote, run.remote_id, "loss")] == [float(i) for i in range(200)]
    assert remote.get_run(run.remote_id).status == "FINISHED"


def test_end_gives_up_after_sync_timeout_and_says_the_exact_command(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, types, trackbridge as tb\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_online import FakeRemote\n"
        "from trackbridge.hookspecs import hookimpl\n"
        "from trackbridge.plugins import load_plugins\n"
        "load_plugins().register(types.SimpleNamespace(trackbridge_register_backends="
        "hookimpl(lambda register: register(FakeRemote))), name='fakeremote')\n"
        "FakeRemote.down = True\n"
        "with tb.start_run(config=sys.argv[1]) as run:\n"
        "    for i in range(50): run.log_metric('loss', float(i), step=i)\n"
    )
    config = tmp_path / "remote.toml"
    config.write_text(f'backend = "fakeremote"\nexperiment = "online"\nsync_timeout = 1\n'
                      f'[fakeremote]\npath = "{tmp_path / "remote"}"\n'
                      f'[local]\npath = "{tmp_path / "journal"}"\n')
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    proc = subprocess.run([sys.executable, str(script), str(config), tests_dir], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, env={"TRACKBRIDGE_PLUGINS": "",
                                                                    "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("trackbridge: run")]
    assert "saved locally but not yet complete" in line and "network down" in line
    command = line.split("send the rest with: ")[1]
    assert command.startswith("trackbridge sync --from ") and str(config) in command
    # the printed command, run later (network back), completes the remote copy
    sync = subprocess.run(
        [sys.executable, "-c",
         "import sys, types; sys.path.insert(0, sys.argv[1]);"
         "from test_online import FakeRemote; from trackbridge.hookspecs import hookimpl;"
         "from trackbridge.plugins import load_plugins;"
         "load_plugins().register(types.SimpleNamespace(trackbridge_register_backends="
         "hookimpl(lambda register: register(FakeRemote))), name='fakeremote');"
         "from trackbridge.cli import main; sys.argv = ['trackbridge'] + sys.argv[2:]; main()",
         tests_dir, *command.split()[1:]],
        capture_output=True, text=True, cwd=tmp_path, env={"TRACKBRIDGE_PLUGINS": "",
                                                           "PATH": "/usr/bin:/bin"})
    assert sync.returncode == 0, sync.stderr + sync.stdout
    remote = LocalBackend(tmp_path / "remote")
    [run] = list(remote.search_runs([e.id for e in remote.list_experiments()]))
    assert run.status == "FINISHED"
    assert len(remote.get_metric_history(run.id, "loss")) == 50


def test_an_experiment_name_the_remote_refuses_fails_at_start_run(remote_config, monkeypatch):
    def refuse(self, name):
        if not name.startswith("/"):
            raise tb.ValidationError(f"{name!r} is relative on {self.describe()}")

    monkeypatch.setattr(FakeRemote, "check_experiment_name", refuse)
    with pytest.raises(tb.ValidationError, match="'online' is relative"):
        tb.start_run(config=remote_config)
    with tb.start_run(experiment="/Shared/ok", config=remote_config) as run:
        pass
    assert run.experiment == "/Shared/ok"


def test_doctor_reports_an_experiment_name_the_backend_refuses(remote_config, monkeypatch):
    from click.testing import CliRunner

    from trackbridge.cli import cli

    def refuse(self, name):
        raise tb.ValidationError(f"{name!r} is relative")

    monkeypatch.setattr(FakeRemote, "check_experiment_name", refuse)
    result = CliRunner().invoke(cli, ["doctor", "--config", str(remote_config)])
    assert result.exit_code == 1
    assert "FAIL experiment: 'online' is relative" in result.output
    assert "fix: set `experiment = ...`" in result.output
