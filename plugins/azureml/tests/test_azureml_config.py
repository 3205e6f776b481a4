"""Unit tests: config, limits, tracking-URI handling, discovery, run-context tags, doctor."""

from __future__ import annotations

import re
import warnings

import pytest
import responses
from azureml_helpers import TOKEN, FakeCredential
from trackbridge_azureml import discovery
from trackbridge_azureml.backend import AzureMLBackend
from trackbridge_azureml.doctor import checks
from trackbridge_azureml.runtags import creation_tags
from trackbridge_azureml.settings import AZURE_LIMITS, parse_settings

from trackbridge.config import load_config
from trackbridge.errors import BackendError, ConfigError, LimitExceededError
from trackbridge.registry import check_config

SUB, RG, WS = "sub-1", "rg-ml", "ws-ml"
SCOPE = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
         f"Microsoft.MachineLearningServices/workspaces/{WS}")
TRACKING_URI = f"azureml://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}"
ARM = re.compile(re.escape(f"https://management.azure.com{SCOPE}") + r"\?api-version=[\w-]+$")


# -- config and limits ------------------------------------------------------------------------
def test_azure_limits_are_declared():
    limits = AzureMLBackend(parse_settings({"tracking_uri": TRACKING_URI})).limits
    assert (limits.max_metrics_per_batch, limits.max_params_per_batch,
            limits.max_tags_per_batch) == (250, 100, 100)
    assert (limits.max_params_per_run, limits.max_tags_per_run) == (200, 50)
    assert (limits.max_tag_key_length, limits.max_tag_value_length,
            limits.max_metric_key_length) == (100, 1000, 255)


def test_limits_are_overridable_and_entities_follow_the_per_kind_limits():
    s = parse_settings({"tracking_uri": TRACKING_URI,
                        "limits": {"max_tags_per_run": 80, "max_metrics_per_batch": 500,
                                   "max_params_per_run": 0}})
    assert s.limits.max_tags_per_run == 80
    assert s.limits.max_params_per_run is None  # 0 switches a per-run limit off
    assert s.limits.max_entities_per_batch == 500 + 100 + 100
    assert s.limits.max_tag_value_length == AZURE_LIMITS.max_tag_value_length


@pytest.mark.parametrize("limits, message", [
    ({"max_tag_per_run": 60}, "unknown limit.*'max_tag_per_run'.*valid limits"),
    ({"max_metrics_per_batch": 0}, "must be an int > 0"),
    ({"max_tags_per_run": "60"}, "must be an int >= 0"),
    ({"max_entities_per_batch": 10}, "at least the largest per-kind batch limit"),
])
def test_bad_limits_are_config_errors(limits, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"tracking_uri": TRACKING_URI, "limits": limits})


@pytest.mark.parametrize("settings, message", [
    ({}, "exactly one way.*found none"),
    ({"tracking_uri": TRACKING_URI, "workspace": WS}, "exactly one way"),
    ({"subscription_id": SUB, "workspace": WS}, "missing resource_group"),
    ({"tracking_uri": TRACKING_URI, "credential": "password"}, "credential must be one of"),
    ({"tracking_uri": TRACKING_URI, "timeout": -1}, "timeout"),
    ({"tracking_uri": TRACKING_URI, "artifact_paths_per_request": 101}, "artifact_paths"),
    ({"tracking_uri": TRACKING_URI, "region": "x"}, "unknown key.*'region'"),
])
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(settings)


def test_unknown_key_in_a_config_file_is_reported_by_the_core(tmp_path):
    path = tmp_path / "tb.toml"
    path.write_text(f'backend = "azureml"\n[azureml]\ntracking_uri = "{TRACKING_URI}"\n'
                    f'wrkspace = "x"\n')
    with pytest.raises(ConfigError, match="'wrkspace'.*valid keys"):
        check_config(load_config(path))


def test_the_shipped_example_config_parses(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    config = load_config(root / "configs" / "azureml.toml")
    assert check_config(config) is AzureMLBackend
    settings = parse_settings(config.section("azureml"))
    assert (settings.subscription_id, settings.credential) == (SUB, "default")


# -- tracking URIs ----------------------------------------------------------------------------
def test_azureml_scheme_becomes_https_and_keeps_the_prefix():
    ws = discovery.parse_tracking_uri(TRACKING_URI)
    assert ws.mlflow_api == f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
    assert ws.history == f"https://westeurope.api.azureml.ms/history/v1.0{SCOPE}"
    assert (ws.name, ws.is_loopback) == (WS, False)
    v2 = discovery.parse_tracking_uri(TRACKING_URI.replace("v1.0", "v2.0") + "/")
    assert v2.mlflow_api.endswith(f"/mlflow/v2.0{SCOPE}/api/2.0/mlflow")


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "[::1]:5000"])
def test_plain_http_is_accepted_for_loopback(host):
    ws = discovery.parse_tracking_uri(f"http://{host}/mlflow/v1.0{SCOPE}")
    assert ws.is_loopback and ws.mlflow_api.startswith(f"http://{host}/mlflow/v1.0")


@pytest.mark.parametrize("uri", [
    f"http://10.0.0.5/mlflow/v1.0{SCOPE}", f"http://example.com/mlflow/v1.0{SCOPE}",
    f"ftp://example.com/mlflow/v1.0{SCOPE}", "https://westeurope.api.azureml.ms/mlflow/v1.0",
])
def test_other_tracking_uris_are_refused(uri):
    with pytest.raises(ConfigError):
        AzureMLBackend(parse_settings({"tracking_uri": uri}))


# -- discovery --------------------------------------------------------------------------------
def workspace_answer(uri=TRACKING_URI):
    return {"id": SCOPE, "name": WS, "location": "westeurope",
            "properties": {"mlFlowTrackingUri": uri}}


def test_discovery_asks_arm_once_per_process():
    credential = FakeCredential()
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ARM, json=workspace_answer())
        api = f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
        mock.add(responses.GET, f"{api}/experiments/get-by-name",
                 json={"experiment": {"experiment_id": "3", "name": "churn"}})
        settings = parse_settings({"subscription_id": SUB, "resource_group": RG, "workspace": WS})
        for _ in range(2):
            backend = AzureMLBackend(settings, credential=credential)
            assert backend.get_experiment("churn").id == "3"
        arm = [c for c in mock.calls if c.request.url.startswith("https://management.azure.com")]
        assert len(arm) == 1
        assert arm[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert backend.workspace.tracking_uri == TRACKING_URI


def test_discovery_through_config_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(f'{{"subscription_id": "{SUB}", "resource_group": "{RG}", '
                    f'"workspace_name": "{WS}"}}')
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ARM, json=workspace_answer())
        backend = AzureMLBackend(parse_settings({"config_json": str(path)}),
                                 credential=FakeCredential())
        assert backend.workspace.history.endswith(f"/history/v1.0{SCOPE}")


def test_discovery_failure_names_the_workspace_and_the_fix():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ARM, status=404, json={"error": {
            "code": "ResourceNotFound", "message": "workspace not found"}})
        backend = AzureMLBackend(
            parse_settings({"subscription_id": SUB, "resource_group": RG, "workspace": WS}),
            credential=FakeCredential())
        with pytest.raises(BackendError, match="discovery for workspace 'ws-ml'.*set tracking_uri"):
            backend.get_experiment("churn")


# -- run-context tags vs the 50-tag limit -------------------------------------------------------
CONTEXT = {"mlflow.user": "ada", "mlflow.source.type": "LOCAL", "mlflow.source.name": "train.py",
           "mlflow.source.git.commit": "abc", "trackbridge.host": "box",
           "trackbridge.python_version": "3.11.9", "trackbridge.version": "0.1.0",
           "mlflow.runName": "r1"}


def test_context_tags_are_folded_and_the_run_name_is_not_a_tag():
    tags, name = creation_tags({**CONTEXT, "team": "ml"}, run_name=None, parent_run_id="p1",
                               max_tags=50, max_value=1000)
    assert name == "r1"
    assert tags == {"mlflow.user": "ada", "mlflow.source.type": "LOCAL",
                    "mlflow.source.name": "train.py", "mlflow.source.git.commit": "abc",
                    "team": "ml", "mlflow.parentRunId": "p1",
                    "trackbridge.context": "host=box; python=3.11.9; trackbridge=0.1.0"}


def test_context_tags_give_way_to_user_tags_at_the_limit():
    user = {f"t{i}": "v" for i in range(46)}
    with pytest.warns(UserWarning, match="trackbridge.context, mlflow.source.name"):
        tags, _ = creation_tags({**CONTEXT, **user}, run_name="r1", parent_run_id=None,
                                max_tags=50, max_value=1000)
    assert len(tags) + 1 == 50  # + the run name the service stores as a tag
    assert set(user) <= set(tags) and "mlflow.user" in tags
    assert "trackbridge.context" not in tags and "mlflow.source.name" not in tags


def test_user_tags_alone_over_the_limit_are_an_error():
    with pytest.raises(LimitExceededError, match="at most 50 tags per run.*max_tags_per_run"):
        creation_tags({f"t{i}": "v" for i in range(50)}, run_name="r", parent_run_id=None,
                      max_tags=50, max_value=1000)


def test_no_warning_when_everything_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tags, _ = creation_tags(CONTEXT, run_name="r1", parent_run_id=None, max_tags=50,
                                max_value=1000)
    assert len(tags) == 5


# -- doctor -----------------------------------------------------------------------------------
def test_doctor_names_the_credential_workspace_and_latency_never_the_token():
    backend = AzureMLBackend(parse_settings({"tracking_uri": TRACKING_URI}),
                             credential=FakeCredential())
    api = f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{api}/experiments/search", json={"experiments": []})
        result = checks(backend)
    assert [(c.name, c.ok) for c in result] == [
        ("azure credential", True), ("azure workspace", True), ("azure tracking service", True)]
    assert "FakeCredential" in result[0].detail and WS in result[1].detail
    assert " ms" in result[2].detail
    assert all(TOKEN not in c.detail for c in result)


def test_doctor_failing_credential_has_a_fix():
    class Broken:
        def get_token(self, *scopes, **kwargs):
            raise RuntimeError(f"AADSTS700016 refused (Bearer {TOKEN})")

    backend = AzureMLBackend(parse_settings({"tracking_uri": TRACKING_URI}), credential=Broken())
    (check,) = checks(backend)
    assert not check.ok and "az login" in check.fix and TOKEN not in check.detail


def test_doctor_hook_answers_only_for_azureml(tmp_path):
    from trackbridge_azureml import plugin

    from trackbridge.local.store import LocalBackend

    local = LocalBackend(tmp_path / "store")
    try:
        assert plugin.trackbridge_doctor_checks(backend=local, config=None) is None
    finally:
        local.close()
    backend = AzureMLBackend(parse_settings({"tracking_uri": TRACKING_URI}),
                             credential=FakeCredential())
    api = f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{api}/experiments/search", json={"experiments": []})
        found = plugin.trackbridge_doctor_checks(backend=backend, config=None)
    assert [c.name for c in found] == ["azure credential", "azure workspace",
                                       "azure tracking service"]


def test_describe_does_not_change_when_the_workspace_is_discovered():
    backend = AzureMLBackend(
        parse_settings({"subscription_id": SUB, "resource_group": RG, "workspace": WS}),
        credential=FakeCredential())
    before = backend.describe()
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ARM, json=workspace_answer())
        assert backend.workspace.name == WS
    assert backend.describe() == before and WS in before and RG in before


def test_repr_of_settings_hides_the_access_token():
    s = parse_settings({"tracking_uri": TRACKING_URI, "access_token": "eyJ-SECRET-token"})
    assert "eyJ-SECRET-token" not in repr(s) and "access_token='***'" in repr(s)
