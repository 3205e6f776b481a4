"""Plugins: entry points load like the built-ins; a backend's limits bind the core."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest

import trackbridge as tb
from trackbridge.entities import Limits
from trackbridge.errors import ConfigError
from trackbridge.hookspecs import hookimpl as trackbridge_hookimpl
from trackbridge.local.store import LocalBackend

PLUGIN_SOURCE = textwrap.dedent('''
    import trackbridge
    from trackbridge.local.store import LocalBackend

    class Recording(LocalBackend):
        """The local store, with tiny MLflow-like limits, recording each batch it gets."""
        name = "recording"
        config_keys = frozenset({"path", "label"})
        batches = []

        def __init__(self, path, label="x"):
            super().__init__(path)

        @property
        def limits(self):
            return trackbridge.Limits(max_metrics_per_batch=10, max_params_per_batch=3,
                                      max_tags_per_batch=2, max_entities_per_batch=12,
                                      max_param_value_length=20, max_params_per_run=5,
                                      max_metric_points_per_run=100)

        def log_batch(self, run_id, metrics=(), params=(), tags=()):
            Recording.batches.append((len(metrics), len(params), len(tags)))
            super().log_batch(run_id, metrics, params, tags)

    @trackbridge.hookimpl
    def trackbridge_register_backends(register):
        register(Recording)

    @trackbridge.hookimpl
    def trackbridge_run_context():
        return {"from.plugin": "yes"}
''')


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch, builtin_plugins_only):
    """A real distribution with a ``trackbridge`` entry point, importable from sys.path."""
    site = tmp_path / "site"
    dist = site / "tb_recording-1.2.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tb-recording\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[trackbridge]\nrecording = tb_recording\n")
    (site / "tb_recording.py").write_text(PLUGIN_SOURCE)
    broken = site / "tb_broken-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: tb-broken\nVersion: 0.1\n")
    (broken / "entry_points.txt").write_text("[trackbridge]\nbroken = tb_broken_missing\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("TRACKBRIDGE_PLUGINS")
    monkeypatch.chdir(tmp_path)
    yield {"backend": "recording", "recording": {"path": str(tmp_path / "store")}}
    sys.modules.pop("tb_recording", None)


def test_entry_point_backend_is_used_and_a_broken_plugin_is_skipped(installed_plugin):
    with pytest.warns(UserWarning, match="'broken' failed to load"):
        run = tb.start_run(config=installed_plugin)
    run.log_metric("m", 1.0)
    run.end()
    assert isinstance(run.backend, LocalBackend) and run.backend.name == "recording"
    assert run.backend.get_run(run.id).tags["from.plugin"] == "yes"  # its run-context hook ran
    from trackbridge.plugins import plugin_distributions, plugin_errors

    assert plugin_distributions["recording"] == ("tb-recording", "1.2.3")
    assert "tb_broken_missing" in plugin_errors["broken"]


def test_core_packs_batches_to_the_backends_limits(installed_plugin):
    with pytest.warns(UserWarning):
        run = tb.start_run(config=installed_plugin)
    recorded = sys.modules["tb_recording"].Recording.batches
    recorded.clear()
    run.log_params({f"p{i}": i for i in range(5)})
    run.set_tags({f"t{i}": i for i in range(3)})
    for i in range(95):
        run.log_metric("m", float(i), step=i)
    run.end()
    assert recorded, "no batch was sent"
    for n_metrics, n_params, n_tags in recorded:
        assert n_metrics <= 10 and n_params <= 3 and n_tags <= 2
        assert n_metrics + n_params + n_tags <= 12
    assert sum(b[0] for b in recorded) == 95 and sum(b[1] for b in recorded) == 5
    assert [p.step for p in tb.get_metric_history(run.id, "m", config=installed_plugin)] == \
        list(range(95))


def test_backend_limits_are_checked_at_the_call_site(installed_plugin):
    with pytest.warns(UserWarning):
        run = tb.start_run(config=installed_plugin)
    with pytest.raises(tb.ValidationError, match=r"param 'p' has a value of 21 characters; the "
                                                 r"local store .* allows at most 20"):
        run.log_param("p", "x" * 21)
    run.log_params({f"p{i}": i for i in range(5)})
    with pytest.raises(tb.ValidationError, match="would have 6 params.*at most 5 per run"):
        run.log_param("one_more", 1)
    run.end()
    assert len(tb.get_run(run.id, config=installed_plugin).params) == 5


def test_the_per_run_point_limit_is_all_or_nothing_and_counts_a_resumed_run(installed_plugin):
    with pytest.warns(UserWarning):
        run = tb.start_run(config=installed_plugin)
    for i in range(97):
        run.log_metric("m", float(i), step=i)
    with pytest.raises(tb.ValidationError, match=r"more than 100 metric points.*at most 100 per run"):
        run.log_metrics({f"k{i}": 1.0 for i in range(5)}, step=1)  # 102 > 100: none is stored
    run.end()
    assert tb.get_run(run.id, config=installed_plugin).metrics.keys() == {"m"}
    again = tb.start_run(run_id=run.id, config=installed_plugin)  # resumed: 97 already stored
    again.log_metrics({"a": 1.0, "b": 2.0, "c": 3.0})
    with pytest.raises(tb.ValidationError, match="more than 100 metric points"):
        again.log_metric("d", 4.0)
    again.end()
    stored = sum(len(tb.get_metric_history(run.id, k, config=installed_plugin)) for k in "mabcd")
    assert stored == 100


def test_plugin_config_keys_are_checked(installed_plugin):
    installed_plugin["recording"]["lable"] = "typo"
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match=r"'lable'.*valid keys: label, path"):
        tb.start_run(config=installed_plugin)


def test_trackbridge_plugins_env_restricts_entry_points(installed_plugin, monkeypatch):
    monkeypatch.setenv("TRACKBRIDGE_PLUGINS", "recording")
    from trackbridge import plugins

    plugins.load_plugins()  # the broken plugin is not even tried: no warning
    assert "broken" not in plugins.plugin_errors and "recording" in plugins.plugin_distributions


def test_default_run_context_tags(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "train.py").write_text(textwrap.dedent(f"""
        import trackbridge as tb
        with tb.start_run(config={{"local": {{"path": {str(tmp_path / 's')!r}}}}}) as run:
            pass
        print(run.id)
    """))
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = subprocess.run([sys.executable, str(repo / "train.py")], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout.strip()
    tags = LocalBackend(tmp_path / "s").get_run(out).tags
    import getpass
    import platform
    import socket

    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.name"] == str(repo / "train.py")
    assert tags["mlflow.user"] == getpass.getuser()
    assert tags["trackbridge.host"] == socket.gethostname()
    assert tags["trackbridge.python_version"] == platform.python_version()
    assert tags["trackbridge.version"] == tb.__version__


def test_user_tags_win_over_context_tags(store):
    with tb.start_run(config=store, tags={"mlflow.user": "alice"}) as run:
        pass
    assert tb.get_run(run.id, config=store).tags["mlflow.user"] == "alice"


def test_limits_type_is_public():
    assert tb.Limits is Limits


def test_an_installed_plugin_cannot_replace_a_builtin_backend(tmp_path, monkeypatch,
                                                               builtin_plugins_only):
    site = tmp_path / "site"
    dist = site / "tb_impostor-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tb-impostor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trackbridge]\nimpostor = tb_impostor\n")
    (site / "tb_impostor.py").write_text(textwrap.dedent('''
        import trackbridge
        from trackbridge.local.store import LocalBackend

        class Impostor(LocalBackend):
            name = "local"

        @trackbridge.hookimpl
        def trackbridge_register_backends(register):
            register(Impostor)
    '''))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("TRACKBRIDGE_PLUGINS", "impostor")
    from trackbridge.registry import backend_classes

    assert backend_classes()["local"] is LocalBackend  # the built-in keeps its name
    assert builtin_plugins_only.load_plugins().get_plugin("impostor") is not None
    sys.modules.pop("tb_impostor", None)


def test_a_backend_class_without_a_name_is_a_clear_error(builtin_plugins_only):
    class Nameless(LocalBackend):
        name = ""

    plugin = types.SimpleNamespace(
        trackbridge_register_backends=trackbridge_hookimpl(lambda register: register(Nameless)))
    builtin_plugins_only.load_plugins().register(plugin, name="nameless")
    from trackbridge.registry import backend_classes

    with pytest.raises(ConfigError, match="backend class .*Nameless has no 'name'"):
        backend_classes()
