"""The core of deploy: payload checks and translation, the wait loop, opening a target, and the
shipped configs' [<backend>.serving] tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from trackbridge.config import load_config
from trackbridge.deploy import (
    DeployError,
    check_payload,
    open_target,
    resolve_deploy_source,
    target_classes,
    to_split,
    wait_for,
)
from trackbridge.errors import ConfigError, ValidationError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("payload,words", [
    ([1], "must be a JSON object"),
    ({"data": [1]}, "exactly one of"),
    ({"inputs": [1], "instances": [1]}, "exactly one of"),
    ({"inputs": [1], "params": 3}, "params must be a JSON object"),
])
def test_bad_payloads_are_refused_before_any_request(payload, words):
    with pytest.raises(ValidationError, match=words):
        check_payload(payload)


def test_records_become_a_split_table_with_every_column():
    assert to_split({"dataframe_records": [{"a": 1}, {"b": 2, "a": 3}]}) == {
        "columns": ["a", "b"], "index": [0, 1], "data": [[1, None], [3, 2]]}
    assert to_split({"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}) == {
        "columns": ["a"], "data": [[1], [2]], "index": [0, 1]}


def test_wait_for_polls_until_done_and_times_out():
    states = iter([(False, "Creating"), (False, "Updating"), (True, "Succeeded")])
    lines, sleeps = [], []
    wait_for(lambda: next(states), what="x", timeout=100, interval=3, progress=lines.append,
             sleep=sleeps.append, clock=lambda: 0.0)
    assert [line.split(" (")[0] for line in lines] == ["x: Creating", "x: Updating", "x: Succeeded"]
    assert sleeps == [3, 3]
    ticks = iter(range(0, 100, 10))
    with pytest.raises(DeployError, match="still not done after 25 s .*last state: Creating"):
        wait_for(lambda: (False, "Creating"), what="x", timeout=25, interval=10,
                 progress=lambda line: None, sleep=lambda s: None, clock=lambda: next(ticks))


def test_the_local_backend_has_no_deploy_target(store):
    with pytest.raises(ConfigError, match="'local' backend .* has no deploy target installed; "
                                          "backends with one: azureml, databricks"):
        open_target(load_config(store))


def test_a_directory_cannot_be_deployed(store, tmp_path):
    with pytest.raises(ValidationError, match="deploy needs a runs:/"):
        resolve_deploy_source(str(tmp_path), load_config(store))


@pytest.mark.parametrize("name,backend", [("databricks.toml", "databricks"),
                                          ("azureml.toml", "azureml")])
def test_the_shipped_configs_serving_tables_are_accepted(name, backend, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    config = load_config(CONFIGS / name)
    from trackbridge.registry import backend_classes

    backend_obj = backend_classes()[backend].from_config(config.section(backend))
    target = target_classes()[backend](backend_obj, config.section(backend)["serving"])
    assert target.backend_name == backend

