"""log-batch requests as Databricks sees them: exact path, headers, JSON, and batch sizes."""

from __future__ import annotations

import math

import pytest
import responses
from dbx_support import TOKEN
from unit_support import API, body_bytes, calls_to, error, json_body

from trackbridge.batching import pack
from trackbridge.entities import Metric, Param, RunTag
from trackbridge.errors import BackendError, ParamConflictError, RunNotFoundError

RUN = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000_000


def send_all(backend, metrics=(), params=(), tags=()):
    """What the core's writer does: pack to the backend's limits, one log_batch per batch."""
    for batch in pack(list(metrics), list(params), list(tags), backend.limits):
        backend.log_batch(RUN, batch.metrics, batch.params, batch.tags)


def sent(rsps):
    return [json_body(c.request) for c in calls_to(rsps, "/runs/log-batch")]


def test_limits_are_databricks_documented_ones(backend):
    limits = backend.limits
    assert (limits.max_metrics_per_batch, limits.max_params_per_batch, limits.max_tags_per_batch,
            limits.max_entities_per_batch, limits.max_batch_bytes) == (1000, 100, 100, 1000, 1_000_000)
    assert (limits.max_metric_key_length, limits.max_param_key_length,
            limits.max_tag_key_length) == (250, 250, 250)
    assert (limits.max_param_value_length, limits.max_tag_value_length) == (500, 5000)
    assert (limits.max_params_per_run, limits.max_tags_per_run,
            limits.max_metric_points_per_run) == (1600, 1600, 1_000_000)


def test_a_batch_is_one_exact_request(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend.log_batch(RUN, [Metric("loss", 0.25, T0, 3), Metric("odd", math.nan, T0 + 1, 4),
                            Metric("odd", -math.inf, T0 + 2, 5)],
                      [Param("lr", "0.1")], [RunTag("team", "ml")])
    (call,) = rsps.calls[1:]
    assert call.request.method == "POST"
    assert call.request.url == f"{API}/runs/log-batch"
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["Content-Type"] == "application/json"
    assert json_body(call.request) == {
        "run_id": RUN,
        "metrics": [{"key": "loss", "value": 0.25, "timestamp": T0, "step": 3},
                    {"key": "odd", "value": "NaN", "timestamp": T0 + 1, "step": 4},
                    {"key": "odd", "value": "-Infinity", "timestamp": T0 + 2, "step": 5}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "ml"}],
    }


def test_2500_metrics_and_150_params_take_three_requests(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    metrics = [Metric(f"m{i % 7}", float(i), T0 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(150)]
    send_all(backend, metrics, params)
    bodies = sent(rsps)
    # max(ceil(2500/1000), ceil(150/100), ceil(2650/1000)) = 3 requests
    assert len(bodies) == 3
    for b in bodies:
        assert len(b["metrics"]) <= 1000 and len(b["params"]) <= 100
        assert len(b["metrics"]) + len(b["params"]) + len(b["tags"]) <= 1000
    assert [m["value"] for b in bodies for m in b["metrics"]] == [float(i) for i in range(2500)]
    assert [p["key"] for b in bodies for p in b["params"]] == [f"p{i}" for i in range(150)]


@pytest.mark.parametrize(("n_metrics", "n_params", "n_tags", "requests"), [
    (1001, 0, 0, 2),     # metrics per batch
    (0, 101, 0, 2),      # params per batch
    (0, 0, 101, 2),      # tags per batch
    (901, 100, 0, 2),    # entities per batch: 1001 entities
    (900, 50, 50, 1),    # exactly 1000 entities: the example from the SDK docs
])
def test_each_per_batch_limit_splits(backend, rsps, n_metrics, n_params, n_tags, requests):
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    send_all(backend, [Metric("m", 1.0, T0, i) for i in range(n_metrics)],
             [Param(f"p{i}", "v") for i in range(n_params)],
             [RunTag(f"t{i}", "v") for i in range(n_tags)])
    bodies = sent(rsps)
    assert len(bodies) == requests
    assert sum(len(b.get("metrics", [])) for b in bodies) == n_metrics
    assert sum(len(b.get("params", [])) for b in bodies) == n_params
    assert sum(len(b.get("tags", [])) for b in bodies) == n_tags
    for b in bodies:
        assert len(b.get("metrics", [])) <= 1000
        assert len(b.get("params", [])) <= 100 and len(b.get("tags", [])) <= 100
        assert sum(len(b.get(k, [])) for k in ("metrics", "params", "tags")) <= 1000


def test_one_megabyte_per_request(backend, rsps):
    """100 tags of 5000 non-ASCII chars are ~3 MB of JSON: split so no request passes 1 MB."""
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    tags = [RunTag(f"t{i}", "é" * 5000) for i in range(100)]
    send_all(backend, tags=tags)
    calls = calls_to(rsps, "/runs/log-batch")
    assert len(calls) >= 3
    assert all(len(body_bytes(c.request)) <= 1_000_000 for c in calls)
    assert sum(len(json_body(c.request)["tags"]) for c in calls) == 100


def test_param_changed_is_a_param_conflict(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=400, json=error(
        "INVALID_PARAMETER_VALUE", "Changing param values is not allowed. Param with key='lr' was "
        "already logged with value='0.1' for run ID='x'. Attempted logging new value '0.2'."))
    with pytest.raises(ParamConflictError, match="lr"):
        backend.log_batch(RUN, params=[Param("lr", "0.2")])
    assert len(calls_to(rsps, "/runs/log-batch")) == 1  # a 400 is never retried


def test_unknown_run_is_run_not_found(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=404,
             json=error("RESOURCE_DOES_NOT_EXIST", f"Run '{RUN}' not found"))
    with pytest.raises(RunNotFoundError, match=RUN):
        backend.log_batch(RUN, metrics=[Metric("m", 1.0, T0, 0)])


def test_bad_request_is_not_retried_and_says_what_failed(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=400,
             json=error("INVALID_PARAMETER_VALUE", "Invalid metric name: 'a..b'"))
    with pytest.raises(BackendError) as info:
        backend.log_batch(RUN, metrics=[Metric("a..b", 1.0, T0, 0)])
    assert len(calls_to(rsps, "/runs/log-batch")) == 1
    message = str(info.value)
    assert f"log_batch of 1 metric(s), 0 param(s), 0 tag(s) to run {RUN}" in message
    assert "Invalid metric name: 'a..b'" in message
    assert "adb-1234567890.12.azuredatabricks.net" in message


def test_metric_history_follows_pages_and_keeps_non_finite_values(backend, rsps):
    page1 = {"metrics": [{"key": "m", "value": 1.5, "timestamp": T0, "step": 0},
                         {"key": "m", "value": "NaN", "timestamp": T0 + 1, "step": 1}],
             "next_page_token": "tok2"}
    page2 = {"metrics": [{"key": "m", "value": "-Infinity", "timestamp": T0 + 2, "step": 2},
                         {"key": "m", "value": 1.7976931348623157e308, "timestamp": T0 + 3,
                          "step": 3}]}
    rsps.add(responses.GET, f"{API}/metrics/get-history", json=page1)
    rsps.add(responses.GET, f"{API}/metrics/get-history", json=page2)
    history = backend.get_metric_history(RUN, "m")
    assert [(m.step, m.timestamp) for m in history] == [(i, T0 + i) for i in range(4)]
    assert history[0].value == 1.5 and math.isnan(history[1].value)
    assert (history[2].value, history[3].value) == (-math.inf, math.inf)
    first, second = (c.request.url for c in calls_to(rsps, "/metrics/get-history"))
    assert "max_results=25000" in first and "page_token" not in first
    assert "page_token=tok2" in second and f"run_id={RUN}" in second and "metric_key=m" in second
