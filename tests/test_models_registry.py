"""The local model registry: versions numbered from 1, aliases, models:/ URIs, and the CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LinearRegression

import trackbridge as tb
from trackbridge.cli import cli
from trackbridge.models import ModelError, ModelVersionNotFoundError

X = np.arange(20, dtype="float64").reshape(10, 2)


def _log(store, slope):
    model = LinearRegression().fit(X, X[:, 0] * slope)
    with tb.start_run(experiment="registry", config=store) as run:
        info = run.log_model(model)
    return info.model_uri, model


def test_versions_aliases_and_models_uris(store):
    uri_a, model_a = _log(store, 2.0)
    uri_b, model_b = _log(store, -5.0)
    first = tb.register_model(uri_a, name="churn", config=store)
    second = tb.register_model(uri_b, name="churn", config=store, description="retrained",
                               tags={"data": "v2"})
    assert (first.name, first.version) == ("churn", 1)
    assert (second.name, second.version) == ("churn", 2)
    assert tb.register_model(uri_a, name="other", config=store).version == 1  # per name

    tb.set_model_alias("churn", "prod", 1, config=store)
    versions = tb.list_model_versions("churn", config=store)
    assert [(v.version, v.source, v.aliases) for v in versions] == [
        (1, uri_a, ("prod",)), (2, uri_b, ())]
    assert versions[1].description == "retrained" and dict(versions[1].tags) == {"data": "v2"}
    assert versions[0].run_id == uri_a.split("/")[1]

    np.testing.assert_allclose(tb.load_model("models:/churn@prod", config=store).predict(X),
                               model_a.predict(X))
    np.testing.assert_allclose(tb.load_model("models:/churn/2", config=store).predict(X),
                               model_b.predict(X))
    np.testing.assert_allclose(tb.load_model("models:/churn/1", config=store).predict(X),
                               model_a.predict(X))

    tb.set_model_alias("churn", "prod", 2, config=store)  # moving the alias
    np.testing.assert_allclose(tb.load_model("models:/churn@prod", config=store).predict(X),
                               model_b.predict(X))
    assert [v.aliases for v in tb.list_model_versions("churn", config=store)] == [(), ("prod",)]


def test_unknown_names_versions_and_aliases(store):
    uri, _ = _log(store, 1.0)
    tb.register_model(uri, name="churn", config=store)
    with pytest.raises(ModelVersionNotFoundError, match="no version 7"):
        tb.load_model("models:/churn/7", config=store)
    with pytest.raises(ModelVersionNotFoundError, match="no alias 'staging'"):
        tb.load_model("models:/churn@staging", config=store)
    with pytest.raises(ModelVersionNotFoundError, match="no registered model 'nope'"):
        tb.list_model_versions("nope", config=store)
    with pytest.raises(ModelVersionNotFoundError, match="no version 3"):
        tb.set_model_alias("churn", "prod", 3, config=store)
    with pytest.raises(tb.ValidationError, match="reserved"):
        tb.set_model_alias("churn", "latest", 1, config=store)


def test_registering_needs_a_logged_model(store):
    with tb.start_run(experiment="registry", config=store) as run:
        run.log_text("not a model", "model/readme.txt")
    with pytest.raises(ModelError, match="no model at 'model'"):
        tb.register_model(f"runs:/{run.id}/model", name="churn", config=store)
    with pytest.raises(tb.RunNotFoundError):
        tb.register_model("runs:/0123456789abcdef/model", name="churn", config=store)
    with pytest.raises(tb.ValidationError, match="runs:/"):
        tb.register_model("models:/churn/1", name="churn", config=store)
    assert tb.list_model_versions.__module__ == "trackbridge.models.api"


def test_concurrent_registrations_get_distinct_versions(store):
    uri, _ = _log(store, 3.0)
    tb.register_model(uri, name="busy", config=store)  # the store exists before the threads
    got, errors = [], []

    def register():
        try:
            got.append(tb.register_model(uri, name="busy", config=store).version)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(2, 10))


# -- CLI ------------------------------------------------------------------------------------
@pytest.fixture
def config_file(store, tmp_path):
    path = tmp_path / "tb.toml"
    path.write_text(f'[local]\npath = "{store["local"]["path"]}"\n')
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_register_list_show(store, config_file):
    uri, _ = _log(store, 2.0)
    out = invoke("models", "register", uri, "--name", "churn", "--description", "first",
                 "--tag", "team=ml", "--config", config_file).output
    assert "Registered churn version 1" in out and uri in out
    data = json.loads(invoke("models", "register", uri, "--name", "churn", "--alias", "prod",
                             "--json", "--config", config_file).output)
    assert (data["name"], data["version"], data["aliases"], data["source"]) == \
        ("churn", 2, ["prod"], uri)

    text = invoke("models", "list", "--config", config_file).output
    assert "1 registered model(s)" in text
    row = next(line for line in text.splitlines() if "churn" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["churn", "2", "2", "prod->2"]
    assert json.loads(invoke("models", "list", "--json", "--config", config_file).output) == ["churn"]
    text = invoke("models", "list", "churn", "--config", config_file).output
    assert "2 version(s)" in text and "prod" in text
    versions = json.loads(invoke("models", "list", "churn", "--json", "--config", config_file).output)
    assert [(v["version"], v["aliases"], v["tags"], v["description"]) for v in versions] == [
        (1, [], {"team": "ml"}, "first"), (2, ["prod"], {}, None)]

    text = invoke("models", "show", "churn", "--config", config_file).output
    assert "Model churn version 2" in text and "prod" in text
    one = json.loads(invoke("models", "show", "churn", "--version", "1", "--json",
                            "--config", config_file).output)
    assert (one["version"], one["description"], one["run_id"]) == (1, "first", uri.split("/")[1])
    by_alias = json.loads(invoke("models", "show", "churn", "--alias", "prod", "--json",
                                 "--config", config_file).output)
    assert by_alias["version"] == 2


def test_cli_errors_are_one_line(store, config_file):
    result = CliRunner().invoke(cli, ["models", "show", "nope", "--config", str(config_file)])
    assert result.exit_code != 0
    assert "no registered model 'nope'" in result.output
    assert "Traceback" not in result.output
    bad_tag = CliRunner().invoke(cli, ["models", "register", "runs:/x/model", "--name", "m",
                                       "--tag", "novalue", "--config", str(config_file)])
    assert bad_tag.exit_code == 2 and "KEY=VALUE" in bad_tag.output
