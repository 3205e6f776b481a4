"""Error messages (what, where, the platform's words, never a secret), config, doctor, imports."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import responses
from dbx_support import TOKEN, isolate_sdk_env, make_backend
from trackbridge_databricks.backend import DatabricksBackend
from trackbridge_databricks.errors import redact
from trackbridge_databricks.settings import DATABRICKS_LIMITS, parse_settings
from unit_support import API, HOST, add_run, error

import trackbridge
from trackbridge.errors import BackendError, ConfigError, RunNotFoundError, TrackbridgeError

RUN = "0badc0de0badc0de0badc0de0badc0de"
# every request of every test here is answered by `responses`: nothing may leave the machine
pytestmark = pytest.mark.usefixtures("rsps")


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the SDK logs whole requests at DEBUG
    return caplog


@pytest.mark.parametrize(("status", "body"), [
    (401, error("UNAUTHENTICATED", f"Invalid access token {TOKEN}")),
    (403, error("PERMISSION_DENIED", f"token {TOKEN} may not read run")),
    (500, error("INTERNAL_ERROR", f"failed with Authorization: Bearer {TOKEN}")),
    (502, f"<html><title>Bad Gateway</title><pre>upstream said {TOKEN}</pre></html>"),
])
def test_no_message_or_log_line_holds_the_token(backend, rsps, debug_logs, status, body):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.add(responses.GET, f"{API}/runs/get", status=status, **kwargs)
    with pytest.raises(TrackbridgeError) as info:
        backend.get_run(RUN)
    assert TOKEN not in str(info.value)
    assert TOKEN not in debug_logs.text
    assert f"get run {RUN}" in str(info.value)
    assert "Databricks workspace" in str(info.value)


def test_auth_failure_says_how_to_fix(backend, rsps):
    rsps.add(responses.GET, f"{API}/runs/get", status=401,
             json=error("UNAUTHENTICATED", "Invalid access token"))
    with pytest.raises(BackendError, match="trackbridge doctor"):
        backend.get_run(RUN)


def test_unknown_run_is_run_not_found(backend, rsps):
    rsps.add(responses.GET, f"{API}/runs/get", status=404,
             json=error("RESOURCE_DOES_NOT_EXIST", f"Run '{RUN}' not found."))
    with pytest.raises(RunNotFoundError, match=f"Run '{RUN}' not found"):
        backend.get_run(RUN)


def test_redact_masks_tokens_bearer_and_signatures():
    text = (f"Authorization: Bearer abc.def.ghi and {TOKEN} and "
            "https://x.blob.core.windows.net/c/b?sv=1&sig=S3CRET%3D&se=2 and my-pass-word")
    out = redact(text, ["my-pass-word"])
    for secret in ("abc.def.ghi", TOKEN, "S3CRET", "my-pass-word"):
        assert secret not in out
    assert "sv=1" in out and "se=2" in out


def test_missing_auth_is_a_config_error_with_a_fix(monkeypatch):
    isolate_sdk_env(monkeypatch, token=None)
    backend = DatabricksBackend.from_config({"host": HOST})
    with pytest.raises(ConfigError, match="DATABRICKS_TOKEN"):
        backend.client  # noqa: B018


def test_describe_names_the_host_and_never_a_secret(backend):
    assert backend.describe() == f"Databricks workspace {HOST}"
    assert TOKEN not in backend.describe()
    assert DatabricksBackend.from_config({"profile": "prod"}).describe() == \
        "Databricks workspace of profile 'prod'"


# -- config -----------------------------------------------------------------------------
def test_limits_override_as_inline_table_or_flat_keys():
    nested = parse_settings({"limits": {"max_param_value_length": 6000}})
    flat = parse_settings({"max_tag_value_length": 8000, "max_params_per_run": 3000})
    assert nested.limits == DATABRICKS_LIMITS._replace(max_param_value_length=6000)
    assert flat.limits == DATABRICKS_LIMITS._replace(max_tag_value_length=8000,
                                                     max_params_per_run=3000)
    off = parse_settings({"limits": {"max_metric_points_per_run": 0, "max_batch_bytes": 0}})
    assert (off.limits.max_metric_points_per_run, off.limits.max_batch_bytes) == (None, None)


def test_the_shipped_config_file_is_valid():
    from pathlib import Path

    from trackbridge.config import load_config
    from trackbridge.registry import check_config

    config = load_config(Path(__file__).parents[3] / "configs" / "databricks.toml")
    assert check_config(config) is DatabricksBackend
    assert config.experiment == "~/churn"
    assert parse_settings(config.section("databricks")).profile == "DEFAULT"


@pytest.mark.parametrize(("table", "message"), [
    ({"limits": {"max_param_value": 10}}, "unknown limit.*max_param_value"),
    ({"limits": {"max_params_per_batch": 0}}, "must be an int > 0"),
    ({"limits": {"max_tags_per_run": -1}}, "0 = no limit"),
    ({"limits": {"max_entities_per_batch": 50}}, "at least the largest"),
    ({"limits": {"max_tags_per_run": 5}, "max_tags_per_run": 6}, "given twice"),
    ({"token": "x"}, "secrets never go in the file"),
    ({"max_requests_per_second": -1}, "from 0 to 100000"),
    ({"retry_timeout_seconds": "soon"}, "must be a number"),
])
def test_bad_config_is_a_clear_error(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(table)


def test_defaults_and_throttle_off():
    assert parse_settings({}).max_requests_per_second == 20.0
    assert parse_settings({"max_requests_per_second": 0}).max_requests_per_second is None
    assert DatabricksBackend(parse_settings({})).policy.throttle.interval == 0.05


def test_registered_through_the_entry_point():
    from trackbridge.registry import backend_classes

    assert backend_classes()["databricks"] is DatabricksBackend


def test_core_rejects_a_token_in_the_file():
    from trackbridge.config import load_config
    from trackbridge.registry import check_config

    with pytest.raises(ConfigError, match="token"):
        check_config(load_config({"backend": "databricks", "databricks": {"token": "dapi1"}}))


def test_importing_the_plugin_does_not_import_the_sdk():
    code = ("import sys, trackbridge_databricks.plugin, trackbridge_databricks.backend;"
            "from trackbridge.registry import backend_classes; backend_classes();"
            "print('databricks.sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- doctor -----------------------------------------------------------------------------
def test_doctor_reports_auth_host_user_latency(backend, rsps, monkeypatch):
    from trackbridge_databricks.plugin import trackbridge_doctor_checks

    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me",
             json={"userName": "ada@example.com"})
    rsps.add(responses.POST, f"{API}/experiments/search", json={"experiments": []})
    checks = {c.name: c for c in trackbridge_doctor_checks(backend=backend, config=None)}
    assert checks["databricks auth"].ok and "'pat'" in checks["databricks auth"].detail
    assert checks["databricks host"].detail == HOST
    assert checks["databricks user"].ok and "ada@example.com" in checks["databricks user"].detail
    assert checks["databricks latency"].ok and " ms" in checks["databricks latency"].detail
    assert trackbridge_doctor_checks(backend=object(), config=None) is None


def test_doctor_failing_user_check_says_how_to_fix(backend, rsps):
    from trackbridge_databricks.doctor import checks

    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", status=401,
             json=error("UNAUTHENTICATED", "Token expired"))
    rsps.add(responses.POST, f"{API}/experiments/search", status=401,
             json=error("UNAUTHENTICATED", "Token expired"))
    result = {c.name: c for c in checks(backend)}
    assert not result["databricks user"].ok and "Token expired" in result["databricks user"].detail
    assert "DATABRICKS_TOKEN" in result["databricks user"].fix
    assert not result["databricks latency"].ok and result["databricks latency"].fix


def test_doctor_without_auth_fails_the_auth_check(monkeypatch):
    from trackbridge_databricks.doctor import checks

    isolate_sdk_env(monkeypatch, token=None)
    (check,) = checks(DatabricksBackend.from_config({"host": HOST}))
    assert (check.name, check.ok) == ("databricks auth", False)
    assert "databricks auth login" in check.fix


def test_run_read_through_the_public_api(rsps, monkeypatch):
    """``trackbridge.get_run`` reaches the backend through config, as a user would."""
    backend = make_backend(monkeypatch, host=HOST)
    add_run(rsps, RUN, "mlflow-artifacts:/7/x/artifacts")
    run = backend.get_run(RUN)
    assert (run.id, run.experiment_id, run.experiment, run.status) == (RUN, "7", "/Shared/exp",
                                                                        "RUNNING")
    assert trackbridge.__name__ == "trackbridge"


def test_one_workspace_client_per_backend_built_on_first_use(rsps, monkeypatch):
    import databricks.sdk

    built = []
    real = databricks.sdk.WorkspaceClient

    def counting(*args, **kwargs):
        built.append(kwargs["config"])
        return real(*args, **kwargs)

    monkeypatch.setattr(databricks.sdk, "WorkspaceClient", counting)
    isolate_sdk_env(monkeypatch)
    backend = DatabricksBackend.from_config({"host": HOST, "retry_timeout_seconds": 5})
    assert built == []  # configuring the backend does not build (or authenticate) anything
    add_run(rsps, RUN, "mlflow-artifacts:/7/x/artifacts")
    rsps.add(responses.POST, f"{API}/runs/update", json={})
    backend.get_run(RUN)
    backend.update_run(RUN, status="FINISHED")
    backend.get_run(RUN)
    assert len(built) == 1
    assert (built[0].host, built[0].auth_type, built[0].retry_timeout_seconds) == (HOST, "pat", 5)


@pytest.mark.parametrize(("key", "value"), [
    ("retry_timeout_seconds", float("inf")), ("retry_timeout_seconds", 1e308),
    ("http_timeout_seconds", float("nan")), ("http_timeout_seconds", 0),
    ("max_requests_per_second", -1), ("max_requests_per_second", "fast"),
])
def test_numeric_settings_have_a_range(key, value):
    with pytest.raises(ConfigError) as caught:
        DatabricksBackend.from_config({key: value})
    assert f"[databricks] {key}" in str(caught.value) and repr(value) in str(caught.value)
    assert " to " in str(caught.value)


def test_numeric_settings_from_environment_variables_are_read():
    settings = DatabricksBackend.from_config({"retry_timeout_seconds": "30",
                                              "max_requests_per_second": "0"}).settings
    assert settings.retry_timeout_seconds == 30.0 and settings.max_requests_per_second is None
