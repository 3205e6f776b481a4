"""Throttling and retries: what is resent, after how long, and what never is."""

from __future__ import annotations

import pytest
import requests
import responses
from dbx_support import FakeTime
from trackbridge_databricks.retry import RetryPolicy, Throttle
from unit_support import API, add_run, calls_to, error, json_body

from trackbridge.entities import Metric, Param, RunTag
from trackbridge.errors import BackendError

RUN = "feedfacefeedfacefeedfacefeedface"
T0 = 1_700_000_000_000


def test_429_with_retry_after_then_success_on_a_read(backend, rsps):
    """The SDK honours Retry-After itself on ordinary calls; the read then succeeds."""
    rsps.add(responses.GET, f"{API}/runs/get", status=429, headers={"Retry-After": "1"},
             json=error("REQUEST_LIMIT_EXCEEDED", "slow down"))
    add_run(rsps, RUN, "mlflow-artifacts:/7/x/artifacts")
    run = backend.get_run(RUN)
    assert run.id == RUN
    assert len(calls_to(rsps, "/runs/get")) == 2


def test_429_on_a_metric_batch_waits_retry_after_and_resends_the_same_body(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=429, headers={"Retry-After": "3"},
             json=error("REQUEST_LIMIT_EXCEEDED", "slow down"))
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend.log_batch(RUN, metrics=[Metric("loss", 0.5, T0, 1)])
    calls = calls_to(rsps, "/runs/log-batch")
    assert len(calls) == 2
    assert json_body(calls[0].request) == json_body(calls[1].request)
    assert backend.fake_time.sleeps == [3.0]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_retried_for_safe_calls(backend, rsps, status):
    for _ in range(3):
        rsps.add(responses.POST, f"{API}/runs/update", status=status, body="Bad Gateway"
                 if status == 502 else '{"error_code": "INTERNAL_ERROR", "message": "oops"}')
    rsps.add(responses.POST, f"{API}/runs/update", json={})
    backend.update_run(RUN, status="FINISHED", end_time=T0)
    calls = calls_to(rsps, "/runs/update")
    assert len(calls) == 4
    assert all(json_body(c.request) == {"run_id": RUN, "status": "FINISHED", "end_time": T0}
               for c in calls)
    sleeps = backend.fake_time.sleeps
    # exponential backoff with jitter: each wait within [base*2^n / 2, base*2^n]
    assert [0.25 <= sleeps[0] <= 0.5, 0.5 <= sleeps[1] <= 1.0, 1.0 <= sleeps[2] <= 2.0] == [True] * 3


def test_params_and_tags_batches_are_retried_after_a_500(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch", status=500,
             json=error("INTERNAL_ERROR", "boom"))
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend.log_batch(RUN, params=[Param("lr", "0.1")], tags=[RunTag("t", "v")])
    assert len(calls_to(rsps, "/runs/log-batch")) == 2


@pytest.mark.parametrize("failure", [
    {"status": 500, "json": error("INTERNAL_ERROR", "boom")},
    {"status": 504, "json": error("DEADLINE_EXCEEDED", "took too long")},
    {"body": requests.ReadTimeout("read timed out")},
])
def test_a_metric_batch_is_not_resent_after_an_ambiguous_failure(backend, rsps, failure):
    rsps.add(responses.POST, f"{API}/runs/log-batch", **failure)
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    with pytest.raises(BackendError, match="may be partly applied") as info:
        backend.log_batch(RUN, metrics=[Metric("loss", 0.5, T0, 1)])
    assert len(calls_to(rsps, "/runs/log-batch")) == 1
    assert RUN in str(info.value)


def test_a_metric_batch_is_resent_when_the_connection_was_never_made(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/log-batch",
             body=requests.ConnectionError("Failed to establish a new connection: [Errno 111] "
                                           "Connection refused"))
    rsps.add(responses.POST, f"{API}/runs/log-batch", json={})
    backend.log_batch(RUN, metrics=[Metric("loss", 0.5, T0, 1)])
    assert len(calls_to(rsps, "/runs/log-batch")) == 2


def test_400_is_not_retried(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/update", status=400,
             json=error("INVALID_PARAMETER_VALUE", "bad status"))
    with pytest.raises(BackendError, match="bad status"):
        backend.update_run(RUN, status="FINISHED")
    assert len(calls_to(rsps, "/runs/update")) == 1
    assert backend.fake_time.sleeps == []


def test_retries_stop_at_the_deadline(backend, rsps):
    rsps.add(responses.POST, f"{API}/runs/update", status=500,
             json=error("INTERNAL_ERROR", "down for good"))
    with pytest.raises(BackendError, match="down for good"):
        backend.update_run(RUN, status="FINISHED")
    waited = sum(backend.fake_time.sleeps)
    assert waited < backend.settings.retry_timeout_seconds
    assert len(calls_to(rsps, "/runs/update")) == len(backend.fake_time.sleeps) + 1 >= 3


def test_throttle_spaces_request_starts():
    t = FakeTime()
    throttle = Throttle(4.0, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        throttle.wait()
    assert t.sleeps == [0.25, 0.25, 0.25, 0.25]


def test_throttle_applies_to_every_backend_request(backend, rsps):
    t = FakeTime()
    backend.policy = RetryPolicy(30, Throttle(10.0, clock=t.clock, sleep=t.sleep),
                                 clock=t.clock, sleep=t.sleep)
    rsps.add(responses.POST, f"{API}/runs/update", json={})
    for _ in range(3):
        backend.update_run(RUN, status="RUNNING")
    assert t.sleeps == pytest.approx([0.1, 0.1])



def test_the_sdks_own_retries_of_429_and_503_wait_for_the_throttle(backend, rsps):
    """The SDK resends 429/503 inside one call; each resend is a request the throttle counts."""
    t = FakeTime()
    backend.policy = RetryPolicy(30, Throttle(10.0, clock=t.clock, sleep=t.sleep),
                                 clock=t.clock, sleep=t.sleep)
    rsps.add(responses.GET, f"{API}/runs/get", status=429, headers={"Retry-After": "1"},
             json=error("REQUEST_LIMIT_EXCEEDED", "slow down"))
    rsps.add(responses.GET, f"{API}/runs/get", status=503, headers={"Retry-After": "1"},
             json=error("TEMPORARILY_UNAVAILABLE", "busy"))
    add_run(rsps, RUN, "mlflow-artifacts:/7/x/artifacts")
    backend.get_run(RUN)
    assert len(calls_to(rsps, "/runs/get")) == 3
    # three requests of one call: the second and the third each waited for their slot
    assert t.sleeps[:2] == pytest.approx([0.1, 0.1])
