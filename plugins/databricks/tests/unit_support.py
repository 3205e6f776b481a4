"""A mocked workspace for unit tests: ``responses`` intercepts every request of the SDK."""

from __future__ import annotations

import json
from typing import Any

import responses

HOST = "https://adb-1234567890.12.azuredatabricks.net"  # never contacted: responses answers
API = f"{HOST}/api/2.0/mlflow"


def workspace_mock() -> responses.RequestsMock:
    r = responses.RequestsMock(assert_all_requests_are_fired=False)
    r.start()
    r.add(responses.GET, f"{HOST}/.well-known/databricks-config", status=404)
    return r


def body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if hasattr(body, "read"):
        return body.read()
    return body if isinstance(body, bytes) else body.encode()


def json_body(request: Any) -> dict:
    return json.loads(body_bytes(request))


def calls_to(rsps: responses.RequestsMock, path: str) -> list:
    return [c for c in rsps.calls if c.request.url.split("?")[0].endswith(path)]


def error(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}


def run_json(run_id: str, artifact_uri: str, experiment_id: str = "7") -> dict:
    return {"run": {"info": {"run_id": run_id, "experiment_id": experiment_id,
                             "status": "RUNNING", "start_time": 1_700_000_000_000,
                             "artifact_uri": artifact_uri, "lifecycle_stage": "active"},
                    "data": {}}}


def add_run(rsps: responses.RequestsMock, run_id: str, artifact_uri: str) -> None:
    rsps.add(responses.GET, f"{API}/runs/get", json=run_json(run_id, artifact_uri))
    rsps.add(responses.GET, f"{API}/experiments/get",
             json={"experiment": {"experiment_id": "7", "name": "/Shared/exp"}})
