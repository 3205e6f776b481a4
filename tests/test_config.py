"""Config resolution, interpolation and typo safety."""

from __future__ import annotations

import pytest

import trackbridge as tb
from trackbridge.config import Config, load_config
from trackbridge.errors import ConfigError
from trackbridge.registry import check_config, open_backend


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def write(path, text):
    path.write_text(text)
    return path


def test_default_is_the_local_store_in_tbruns(clean_env):
    config = load_config()
    assert (config.backend, config.experiment, config.source) == ("local", None, "built-in default")
    assert config.local_path.resolve() == clean_env / "tbruns"


def test_resolution_order(clean_env, monkeypatch):
    write(clean_env / "pyproject.toml", '[tool.trackbridge]\nexperiment = "from-pyproject"\n')
    assert load_config().experiment == "from-pyproject"
    write(clean_env / "trackbridge.toml", 'experiment = "from-trackbridge-toml"\n')
    assert load_config().experiment == "from-trackbridge-toml"
    env_file = write(clean_env / "env.toml", 'experiment = "from-env-file"\n')
    monkeypatch.setenv("TRACKBRIDGE_CONFIG", str(env_file))
    assert load_config().experiment == "from-env-file"
    explicit = write(clean_env / "explicit.toml", 'experiment = "explicit"\n')
    assert load_config(explicit).experiment == "explicit"
    assert load_config(str(explicit)).experiment == "explicit"
    assert load_config({"experiment": "dict"}).experiment == "dict"
    monkeypatch.setenv("TRACKBRIDGE_EXPERIMENT", "env-override")
    monkeypatch.setenv("TRACKBRIDGE_BACKEND", "databricks")
    config = load_config(explicit)
    assert (config.experiment, config.backend) == ("env-override", "databricks")


def test_pyproject_without_our_table_is_ignored(clean_env):
    write(clean_env / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config().source == "built-in default"


def test_interpolation(clean_env, monkeypatch):
    monkeypatch.setenv("TB_TEST_ROOT", str(clean_env / "store"))
    config = load_config({"experiment": "${TB_TEST_EXP:-fallback}",
                          "local": {"path": "${TB_TEST_ROOT}"}})
    assert config.experiment == "fallback"
    assert str(config.local_path) == str(clean_env / "store")
    with pytest.raises(ConfigError, match=r"local\.path.*TB_TEST_MISSING"):
        load_config({"local": {"path": "${TB_TEST_MISSING}"}})  # when resolved, not when used


def test_unknown_top_level_key_lists_valid_ones(clean_env):
    with pytest.raises(ConfigError, match=r"'experimnet'.*valid top-level keys: backend, experiment"):
        load_config({"experimnet": "x"})


def test_unknown_key_in_local_lists_valid_ones(clean_env):
    config = load_config({"local": {"pth": "x"}})
    with pytest.raises(ConfigError, match=r"'pth'.*\[local\].*valid keys: buffer_size, flush_interval, path"):
        check_config(config)


def test_unknown_table_is_an_error(clean_env):
    with pytest.raises(ConfigError, match=r"\[lokal\].*valid tables"):
        check_config(load_config({"lokal": {"path": "x"}}))


def test_unknown_backend_lists_installed_ones(clean_env, builtin_plugins_only):
    with pytest.raises(ConfigError, match=r"unknown backend 'nosuch'; installed backends: local$"):
        open_backend(load_config({"backend": "nosuch"}))


@pytest.mark.parametrize("name", ["databricks", "azureml"])
def test_missing_cloud_backend_names_the_package_to_install(clean_env, builtin_plugins_only, name):
    with pytest.raises(ConfigError, match=f"unknown backend '{name}'.*pip install trackbridge-{name}"):
        open_backend(load_config({"backend": name}))


def test_invalid_toml_names_the_file(clean_env):
    bad = write(clean_env / "bad.toml", "backend = \n")
    with pytest.raises(ConfigError, match="bad.toml is not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(clean_env / "missing.toml")


def test_secrets_are_redacted():
    config = Config(backend="databricks", sections={
        "databricks": {"host": "https://x", "token": "dapi-SECRET", "client_secret": "s3cr3t"},
    })
    shown = repr(config.redacted())
    assert "dapi-SECRET" not in shown and "s3cr3t" not in shown
    assert "https://x" in shown


def test_start_run_uses_the_config_experiment(store):
    with tb.start_run(config={**store, "experiment": "from-config"}) as run:
        pass
    assert run.experiment == "from-config"
    with tb.start_run(config=store) as run:
        pass
    assert run.experiment == "Default"


def test_override_limits():
    from trackbridge.config import override_limits
    from trackbridge.entities import Limits

    base = Limits(max_params_per_run=200)
    assert override_limits(base, None, "x") is base
    got = override_limits(base, {"max_params_per_run": 0, "max_tag_value_length": 5000}, "x")
    assert got.max_params_per_run is None and got.max_tag_value_length == 5000
    with pytest.raises(ConfigError, match=r"unknown limit\(s\) 'max_param' in \[x.limits\]"):
        override_limits(base, {"max_param": 1}, "x")
    with pytest.raises(ConfigError, match=r"\[x.limits\] max_tag_key_length must be an int > 0"):
        override_limits(base, {"max_tag_key_length": 0}, "x")
    with pytest.raises(ConfigError, match="at least the largest per-kind batch limit"):
        override_limits(base, {"max_entities_per_batch": 10}, "x")


def test_repr_of_a_config_hides_secrets():
    config = load_config({"backend": "azureml", "azureml": {"access_token": "SECRET-123"},
                          "databricks": {"client_secret": "S3CR3T", "host": "https://h"}})
    assert "SECRET-123" not in repr(config) and "S3CR3T" not in repr(config)
    assert "https://h" in repr(config) and "***" in repr(config)


def test_a_config_error_quoting_a_value_masks_its_credentials():
    with pytest.raises(ConfigError, match="sync_timeout") as caught:
        load_config({"sync_timeout": "https://me:pa55word@proxy.example.com"})
    assert "pa55word" not in str(caught.value) and "proxy.example.com" in str(caught.value)


@pytest.mark.parametrize(("table", "key", "value"), [
    ("local", "flush_interval", float("inf")), ("local", "flush_interval", 1e308),
    ("local", "flush_interval", 0), ("local", "flush_interval", -1), ("local", "flush_interval", "soon"),
    ("local", "flush_interval", True), ("local", "flush_interval", float("nan")),
    ("local", "buffer_size", 0), ("local", "buffer_size", 1.5), ("local", "buffer_size", "lots"),
    ("local", "buffer_size", 10**12),
    (None, "sync_timeout", float("inf")), (None, "sync_timeout", -1), (None, "sync_timeout", "x"),
    ("local", "path", ["a", "b"]), ("local", "path", True), ("local", "path", ""), ("local", "path", 5),
])
def test_every_core_config_value_has_a_type_and_range(table, key, value):
    data = {key: value} if table is None else {table: {key: value}}
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    message = str(caught.value)
    where = key if table is None else f"[{table}] {key}"
    assert where in message and repr(value) in message, message
    if key != "path":
        assert " to " in message  # the allowed range


def test_numbers_from_environment_variables_are_parsed(monkeypatch, store):
    monkeypatch.setenv("FLUSH", "0.25")
    config = load_config({"sync_timeout": "${TIMEOUT:-12.5}",
                          "local": {"path": store["local"]["path"], "flush_interval": "${FLUSH}",
                                    "buffer_size": "${BUF:-5000}"}})
    assert config.sync_timeout == 12.5
    assert config.local_settings()["flush_interval"] == 0.25
    assert config.local_settings()["buffer_size"] == 5000
