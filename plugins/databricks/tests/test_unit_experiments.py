"""Experiment names are workspace paths: relative names, ``~/``, races and missing folders."""

from __future__ import annotations

import pytest
import responses
from responses import matchers
from unit_support import API, HOST, calls_to, error, json_body

from trackbridge.errors import BackendError, ValidationError

ME = f"{HOST}/api/2.0/preview/scim/v2/Me"
GET_BY_NAME = f"{API}/experiments/get-by-name"
CREATE = f"{API}/experiments/create"
MKDIRS = f"{HOST}/api/2.0/workspace/mkdirs"


def by_name(rsps, name, found_id=None):
    match = [matchers.query_param_matcher({"experiment_name": name})]
    if found_id is None:
        rsps.add(responses.GET, GET_BY_NAME, status=404, match=match,
                 json=error("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name {name}"))
    else:
        rsps.add(responses.GET, GET_BY_NAME, match=match, json={"experiment": {
            "experiment_id": found_id, "name": name, "lifecycle_stage": "active",
            "artifact_location": f"dbfs:/databricks/mlflow-tracking/{found_id}"}})


@pytest.mark.parametrize("name", ["churn", "team/churn", "Users/me/churn"])
def test_relative_name_is_an_error_suggesting_home(backend, rsps, name):
    with pytest.raises(ValidationError) as info:
        backend.get_or_create_experiment(name)
    assert f"'~/{name}'" in str(info.value)
    assert len(rsps.calls) == 1  # only the SDK's host-metadata probe: nothing was sent


@pytest.mark.parametrize(("name", "message"), [
    ("churn", "'~/churn'"), ("~", "home folder"), ("~/", "home folder"), ("", "non-empty"),
    ("/Shared/a/../b", "not normalized; use '/Shared/b'"), ("~/a//b", "use '~/a/b'"),
])
def test_names_are_checked_without_any_request(backend, rsps, name, message):
    with pytest.raises(ValidationError, match=message):
        backend.check_experiment_name(name)
    assert len(rsps.calls) == 1  # only the SDK's host-metadata probe


@pytest.mark.parametrize("name", ["~/churn", "/Users/ada@example.com/churn", "/Shared/x/y"])
def test_good_names_pass_the_check(backend, name):
    backend.check_experiment_name(name)


def test_home_expands_through_the_current_user(backend, rsps):
    rsps.add(responses.GET, ME, json={"userName": "ada@example.com", "id": "1"})
    by_name(rsps, "/Users/ada@example.com/churn", found_id="42")
    exp = backend.get_or_create_experiment("~/churn")
    assert (exp.id, exp.name) == ("42", "/Users/ada@example.com/churn")
    by_name(rsps, "/Users/ada@example.com/other")
    assert backend.get_experiment("~/other") is None  # the user is looked up once per backend
    assert len(calls_to(rsps, "/scim/v2/Me")) == 1


def test_missing_experiment_is_created_without_touching_folders(backend, rsps):
    name = "/Users/ada@example.com/churn"
    by_name(rsps, name)
    by_name(rsps, name, found_id="43")
    rsps.add(responses.POST, CREATE, json={"experiment_id": "43"})
    exp = backend.get_or_create_experiment(name)
    assert exp.id == "43"
    (create,) = calls_to(rsps, "/experiments/create")
    assert json_body(create.request) == {"name": name}
    assert not calls_to(rsps, "/workspace/mkdirs")


def test_artifact_root_sets_the_new_experiments_location(rsps, monkeypatch):
    from dbx_support import make_backend

    backend = make_backend(monkeypatch, host=HOST, artifact_root="dbfs:/Volumes/main/ml/art/")
    name = "/Shared/churn"
    by_name(rsps, name)
    by_name(rsps, name, found_id="44")
    rsps.add(responses.POST, CREATE, json={"experiment_id": "44"})
    backend.get_or_create_experiment(name)
    (create,) = calls_to(rsps, "/experiments/create")
    assert json_body(create.request) == {
        "name": name, "artifact_location": "dbfs:/Volumes/main/ml/art/Shared/churn"}


def test_missing_parent_folder_is_created_then_the_create_retried(backend, rsps):
    name = "/Users/ada@example.com/projects/churn"
    by_name(rsps, name)
    by_name(rsps, name, found_id="45")
    rsps.add(responses.POST, CREATE, status=404, json=error(
        "RESOURCE_DOES_NOT_EXIST", "Parent directory /Users/ada@example.com/projects does not exist."))
    rsps.add(responses.POST, CREATE, json={"experiment_id": "45"})
    rsps.add(responses.POST, MKDIRS, json={})
    assert backend.get_or_create_experiment(name).id == "45"
    (mkdirs,) = calls_to(rsps, "/workspace/mkdirs")
    assert json_body(mkdirs.request) == {"path": "/Users/ada@example.com/projects"}
    assert len(calls_to(rsps, "/experiments/create")) == 2


def test_other_create_failures_never_call_mkdirs(backend, rsps):
    name = "/Users/ada@example.com/churn"
    by_name(rsps, name)
    rsps.add(responses.POST, CREATE, status=400, json=error(
        "INVALID_PARAMETER_VALUE", "Invalid experiment name: '\\x00' is not allowed"))
    with pytest.raises(BackendError, match="Invalid experiment name"):
        backend.get_or_create_experiment(name)
    assert not calls_to(rsps, "/workspace/mkdirs")


def test_protected_root_is_never_created(backend, rsps):
    name = "/Repos/churn"
    by_name(rsps, name)
    rsps.add(responses.POST, CREATE, status=404, json=error(
        "RESOURCE_DOES_NOT_EXIST", "Parent directory /Repos does not exist."))
    with pytest.raises(BackendError, match="protected root"):
        backend.get_or_create_experiment(name)
    assert not calls_to(rsps, "/workspace/mkdirs")


def test_create_race_looks_the_experiment_up_again(backend, rsps):
    name = "/Shared/churn"
    by_name(rsps, name)
    by_name(rsps, name, found_id="46")
    rsps.add(responses.POST, CREATE, status=400, json=error(
        "RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists."))
    assert backend.get_or_create_experiment(name).id == "46"
    assert len(calls_to(rsps, "/experiments/get-by-name")) == 2


def test_unknown_experiment_is_none(backend, rsps):
    by_name(rsps, "/Shared/nothing")
    assert backend.get_experiment("/Shared/nothing") is None


def test_a_deleted_experiment_is_not_found_and_not_recreated(backend, rsps):
    name = "/Shared/old"
    rsps.add(responses.GET, GET_BY_NAME, json={"experiment": {
        "experiment_id": "9", "name": name, "lifecycle_stage": "deleted"}})
    assert backend.get_experiment(name) is None
    with pytest.raises(ValidationError, match="is deleted.*restore it"):
        backend.get_or_create_experiment(name)
    assert not calls_to(rsps, "/experiments/create")


def test_create_run_request_and_no_resend_after_an_ambiguous_failure(backend, rsps):
    import requests

    rsps.add(responses.POST, f"{API}/runs/create", body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.POST, f"{API}/runs/create", json={"run": {"info": {
        "run_id": "r1", "experiment_id": "7", "status": "RUNNING", "start_time": 5,
        "artifact_uri": "mlflow-artifacts:/7/r1/artifacts"}, "data": {}}})
    rsps.add(responses.GET, f"{API}/experiments/get",
             json={"experiment": {"experiment_id": "7", "name": "/Shared/exp"}})
    with pytest.raises(BackendError, match="effect unknown"):
        backend.create_run("7", run_name="a", start_time=5, tags={"t": "v"})
    assert len(calls_to(rsps, "/runs/create")) == 1
    run = backend.create_run("7", run_name="b", start_time=5, tags={"t": "v"}, parent_run_id="p0")
    assert (run.id, run.experiment, run.artifact_uri) == ("r1", "/Shared/exp",
                                                          "mlflow-artifacts:/7/r1/artifacts")
    assert json_body(calls_to(rsps, "/runs/create")[1].request) == {
        "experiment_id": "7", "start_time": 5, "run_name": "b",
        "tags": [{"key": "t", "value": "v"}, {"key": "mlflow.parentRunId", "value": "p0"}]}
