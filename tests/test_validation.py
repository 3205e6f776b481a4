"""Bad input: a clear error at the call site naming the key/value, limit and backend;
nothing already logged is lost."""

from __future__ import annotations

import numpy as np
import pytest

import trackbridge as tb
from trackbridge.errors import LimitExceededError, ParamConflictError, ValidationError

BAD_KEYS = [
    ("", "non-empty"),
    (None, "non-empty"),
    (3, "non-empty"),
    ("k" * 251, "at most 250"),
    ("bad*key", "characters outside"),
    ("semi;colon", "characters outside"),
    ("tab\tkey", "characters outside"),
    ("../escape", "normalised relative path"),
    ("a/../b", "normalised relative path"),
    ("/leading", "normalised relative path"),
    ("trailing/", "normalised relative path"),
    ("double//slash", "normalised relative path"),
    (".", "normalised relative path"),
]
GOOD_KEYS = ["loss", "val/acc", "a-b_c.d e:f", "k" * 250, "über", "a..b"]


@pytest.fixture
def run(store):
    with tb.start_run(config=store) as run:
        yield run


@pytest.mark.parametrize(("key", "message"), BAD_KEYS)
@pytest.mark.parametrize("kind", ["metric", "param", "tag"])
def test_bad_keys_are_refused(run, kind, key, message):
    call = {"metric": lambda: run.log_metric(key, 1.0), "param": lambda: run.log_param(key, 1),
            "tag": lambda: run.set_tag(key, "v")}[kind]
    with pytest.raises(ValidationError, match=message) as info:
        call()
    assert kind in str(info.value)
    if "at most" in message:
        assert "local" in str(info.value)  # names the backend whose limit it is


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_accepted(run, store, key):
    run.log_metric(key, 1.0)
    run.log_param(key, "v")
    run.set_tag(key, "v")
    got = tb.get_run(run.id, config=store)
    assert (got.metrics[key], got.params[key], got.tags[key]) == (1.0, "v", "v")


@pytest.mark.parametrize(("call", "limit"), [
    (lambda r: r.log_param("p", "x" * 6001), "6000"),
    (lambda r: r.set_tag("t", "x" * 8001), "8000"),
])
def test_values_over_the_limit_are_refused(run, call, limit):
    with pytest.raises(LimitExceededError, match=limit) as info:
        call(run)
    assert "local" in str(info.value)


def test_values_at_the_limit_are_accepted(run, store):
    run.log_param("p", "x" * 6000)
    run.set_tag("t", "y" * 8000)
    got = tb.get_run(run.id, config=store)
    assert len(got.params["p"]) == 6000 and len(got.tags["t"]) == 8000


def test_param_values_are_stringified(run, store):
    run.log_params({"f": 0.1, "i": 3, "b": True, "n": None, "l": [1, 2]})
    assert tb.get_run(run.id, config=store).params == \
        {"f": "0.1", "i": "3", "b": "True", "n": "None", "l": "[1, 2]"}


def test_param_conflict_names_key_values_and_run(run, store):
    run.log_param("lr", 0.1)
    run.log_param("lr", 0.1)  # same value: a no-op
    with pytest.raises(ParamConflictError) as info:
        run.log_param("lr", 0.2)
    text = str(info.value)
    assert "'lr'" in text and "'0.1'" in text and "'0.2'" in text and run.id in text
    assert tb.get_run(run.id, config=store).params == {"lr": "0.1"}


def test_log_params_is_all_or_nothing(run, store):
    with pytest.raises(ValidationError):
        run.log_params({"ok": 1, "bad*": 2})
    run.flush()
    assert tb.get_run(run.id, config=store).params == {}


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "1.0", None, [1.0], 1 + 2j])
def test_bad_metric_values_are_refused(run, value):
    with pytest.raises(ValidationError, match="'m' value must be a real number"):
        run.log_metric("m", value)


@pytest.mark.parametrize("step", [-1, 1.5, "3", True, np.float64(2.0)])
def test_bad_steps_are_refused(run, step):
    with pytest.raises(ValidationError, match="step must be an int >= 0"):
        run.log_metric("m", 1.0, step=step)


def test_numpy_scalars_are_accepted(run, store):
    run.log_metric("m", np.float64(0.25), step=np.int32(4))
    point = tb.get_metric_history(run.id, "m", config=store)[0]
    assert (point.value, point.step) == (0.25, 4)


def test_log_metrics_checks_every_value_before_buffering(run, store):
    with pytest.raises(ValidationError):
        run.log_metrics({"a": 1.0, "b": "oops"})
    run.flush()
    assert tb.get_run(run.id, config=store).metrics == {}


def test_bad_input_loses_nothing_already_logged(run, store):
    run.log_metric("kept", 1.0)
    run.log_param("kept", "yes")
    for bad in (lambda: run.log_metric("bad*", 1.0), lambda: run.log_metric("m", "x"),
                lambda: run.log_param("kept", "no")):
        with pytest.raises(ValidationError):
            bad()
    run.log_metric("kept", 2.0, step=1)
    got = tb.get_run(run.id, config=store)
    assert got.metrics == {"kept": 2.0} and got.params == {"kept": "yes"}


@pytest.mark.parametrize(("path", "message"), [
    ("/abs/path", "relative"),
    ("C:/windows", "relative"),
    ("a/../../b", "'..'"),
    ("..", "'..'"),
    ("a\\b", "POSIX"),
])
def test_bad_artifact_paths_are_refused(run, tmp_path, path, message):
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(ValidationError, match=message):
        run.log_artifact(src, artifact_path=path)
    with pytest.raises(ValidationError, match=message):
        run.log_text("x", path)


def test_artifact_paths_are_normalised(run, store, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("x")
    run.log_artifact(src, artifact_path="./a//b/")
    assert [e.path for e in tb.list_artifacts(run.id, "a/b", config=store)] == ["a/b/f.txt"]


def test_step_none_is_step_zero_as_in_mlflow(run, store):
    run.log_metric("a", 1.0, step=None)
    run.log_metrics({"b": 2.0, "c": 3.0}, step=None)
    for key in "abc":
        [point] = tb.get_metric_history(run.id, key, config=store)
        assert point.step == 0
