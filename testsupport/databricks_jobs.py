"""A loopback stand-in for a Databricks workspace that really runs submitted jobs.

It answers the public REST calls databricks-sdk makes for ``trackbridge run --on databricks``:

* tracking (``/api/2.0/mlflow/...``, ``/api/2.0/mlflow-artifacts/...``): proxied to a real
  open-source MLflow server;
* ``GET /api/2.0/preview/scim/v2/Me``, ``GET /api/2.1/clusters/get``;
* the Files API (``HEAD``/``GET``/``PUT /api/2.0/fs/files/Volumes/...``) on a local folder
  standing for Unity Catalog volumes;
* Jobs 2.2: ``runs/submit`` (idempotency tokens honoured), ``runs/get``, ``runs/get-output``,
  ``runs/cancel``.

A submitted ``spark_python_task`` runs as ``<this interpreter> <python_file> <parameters>`` in
a process group of its own, with ``/Volumes/...`` paths mapped to the local folder (the FUSE
mount of a cluster) and the cluster's auth as ``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN``.
Libraries and environment dependencies are recorded, not installed: the job uses this
virtualenv's interpreter, which has trackbridge and its plugins (nothing touches the
network). Every request must carry the bearer token. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.wrappers import Request, Response

from .loopback import LoopbackService, stop_job_process

USER = "tester@example.com"
CLUSTER_ID = "0101-000000-standin"
_LOG_LIMIT = 5 * 1024 * 1024  # get-output returns the last 5 MB


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error_code": code, "message": message}), status=status,
                    content_type="application/json")


def _json(body: dict) -> Response:
    return Response(json.dumps(body), content_type="application/json")


class JobRun:
    """One submitted run and the process executing it."""

    def __init__(self, run_id: int, body: dict, log_path: Path) -> None:
        self.run_id = run_id
        self.task_run_id = run_id + 1000
        self.body = body
        self.log_path = log_path
        self.life_cycle = "PENDING"
        self.result: str | None = None
        self.message = "Waiting for cluster"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.cancelled = False

    def as_json(self, url: str) -> dict:
        state = {"life_cycle_state": self.life_cycle, "state_message": self.message}
        if self.result:
            state["result_state"] = self.result
        task = {"task_key": self.body["tasks"][0]["task_key"], "run_id": self.task_run_id,
                "state": state}
        return {"run_id": self.run_id, "run_name": self.body.get("run_name"), "state": state,
                "tasks": [task], "run_page_url": f"{url}/#job/runs/{self.run_id}"}


class DatabricksJobs(LoopbackService):
    """The workspace (a WSGI app; ``start``/``stop`` serve it)."""

    def __init__(self, mlflow_url: str, token: str, root: Path, *,
                 start_delay: float = 0.3) -> None:
        self.mlflow_url = mlflow_url
        self.token = token
        self.root = root  # /Volumes/... lives under root/Volumes
        self.start_delay = start_delay
        self.session = requests.Session()
        self.runs: dict[int, JobRun] = {}
        self.tokens: dict[str, int] = {}
        self.submits: list[dict] = []  # every runs/submit body received
        self.cancels: list[int] = []
        self.requests: list[tuple[str, str]] = []
        self.upload_delay = 0.0  # seconds each file upload takes (a slow link)
        self.upload_started = threading.Event()  # set when a file upload arrives
        self._lock = threading.Lock()
        self._next_id = 1

    def stop(self) -> None:
        for run in self.runs.values():
            stop_job_process(run.proc)
        super().stop()
        self.session.close()

    def local_path(self, path: str) -> Path:
        """Where a /Volumes/... path lives on this machine."""
        return self.root / path.lstrip("/")

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        self.requests.append((request.method, path))
        if path == "/.well-known/databricks-config":
            response = _error(404, "NOT_FOUND", "no such config")
        elif request.headers.get("Authorization") != f"Bearer {self.token}":
            response = _error(401, "UNAUTHENTICATED", "missing or wrong token")
        elif path.startswith(("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")):
            response = self._proxy(request)
        elif path == "/api/2.0/preview/scim/v2/Me":
            response = _json({"userName": USER, "id": "1"})
        elif path == "/api/2.1/clusters/get":
            cluster = request.args.get("cluster_id")
            response = _json({"cluster_id": cluster, "state": "RUNNING"}) if cluster == CLUSTER_ID \
                else _error(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster} does not exist")
        elif path.startswith("/api/2.0/fs/files/"):
            response = self._files(request, path[len("/api/2.0/fs/files"):])
        elif path.startswith("/api/2.2/jobs/runs/"):
            response = self._jobs(request, path[len("/api/2.2/jobs/runs/"):])
        else:
            response = _error(404, "ENDPOINT_NOT_FOUND", f"no route {request.method} {path}")
        return response(environ, start_response)

    def _proxy(self, request: Request) -> Response:
        upstream = self.session.request(
            request.method, f"{self.mlflow_url}{request.path}",
            params=request.args.to_dict(flat=False), data=request.get_data(),
            headers={"Content-Type": request.content_type or ""}, timeout=60)
        return Response(upstream.content, status=upstream.status_code,
                        content_type=upstream.headers.get("Content-Type", "application/json"))

    # -- Files API ------------------------------------------------------------------------
    def _files(self, request: Request, path: str) -> Response:
        if not path.startswith("/Volumes/"):
            return _error(400, "INVALID_PARAMETER_VALUE", f"not a volume path: {path}")
        local = self.local_path(path)
        if request.method == "PUT":
            self.upload_started.set()
            time.sleep(self.upload_delay)
            if local.exists() and request.args.get("overwrite") != "true":
                return _error(409, "ALREADY_EXISTS", f"{path} exists")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(request.get_data())
            return Response(status=204)
        if not local.is_file():
            return _error(404, "NOT_FOUND", f"{path} not found")
        if request.method == "HEAD":
            return Response(status=200, headers={"Content-Length": str(local.stat().st_size),
                                                 "Content-Type": "application/octet-stream"})
        return Response(local.read_bytes(), content_type="application/octet-stream")

    # -- Jobs API -------------------------------------------------------------------------
    def _jobs(self, request: Request, op: str) -> Response:
        if op == "submit" and request.method == "POST":
            return self._submit(json.loads(request.get_data() or b"{}"))
        if op in ("get", "get-output"):
            wanted = int(request.args.get("run_id", "0"))
            key = "task_run_id" if op == "get-output" else "run_id"
            run = next((r for r in self.runs.values() if getattr(r, key) == wanted), None)
            if run is None:
                return _error(400, "INVALID_PARAMETER_VALUE", f"Run {wanted} does not exist")
            return _json(run.as_json(self.url) if op == "get" else self._output(run))
        if op == "cancel" and request.method == "POST":
            run_id = int(json.loads(request.get_data())["run_id"])
            run = self.runs.get(run_id)
            if run is None:
                return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist")
            self.cancels.append(run_id)
            self._cancel(run)
            return _json({})
        return _error(404, "ENDPOINT_NOT_FOUND", f"no jobs route {request.method} {op}")

    def _submit(self, body: dict) -> Response:
        self.submits.append(body)
        tasks = body.get("tasks") or []
        if len(tasks) != 1 or "spark_python_task" not in tasks[0]:
            return _error(400, "INVALID_PARAMETER_VALUE", "one spark_python_task expected")
        task = tasks[0]
        compute = [k for k in ("environment_key", "new_cluster", "existing_cluster_id") if k in task]
        if len(compute) != 1:
            return _error(400, "INVALID_PARAMETER_VALUE", f"task needs one compute, got {compute}")
        if "environment_key" in task:
            keys = {e["environment_key"] for e in body.get("environments") or []}
            if task["environment_key"] not in keys or "libraries" in task:
                return _error(400, "INVALID_PARAMETER_VALUE",
                              "serverless tasks need a declared environment and no libraries")
        token = body.get("idempotency_token")
        with self._lock:
            if token and token in self.tokens:
                return _json({"run_id": self.tokens[token]})
            run_id = self._next_id
            self._next_id += 1
            run = self.runs[run_id] = JobRun(run_id, body, self.root / f"job-{run_id}.log")
            if token:
                self.tokens[token] = run_id
        threading.Thread(target=self._execute, args=(run,), daemon=True).start()
        return _json({"run_id": run_id})

    def _execute(self, run: JobRun) -> None:
        time.sleep(self.start_delay)  # a cluster takes a moment
        with self._lock:
            if run.cancelled:
                return
            task = run.body["tasks"][0]["spark_python_task"]
            args = [str(self.local_path(a)) if a.startswith("/Volumes/") else a
                    for a in [task["python_file"], *task.get("parameters", [])]]
            env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/"),
                   "DATABRICKS_HOST": self.url, "DATABRICKS_TOKEN": self.token,
                   "DATABRICKS_CONFIG_FILE": os.devnull, "MLFLOW_DISABLE_TELEMETRY": "true"}
            log = run.log_path.open("wb")
            run.proc = subprocess.Popen([sys.executable, *args], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, cwd=self.root, start_new_session=True)
            log.close()
            run.life_cycle, run.message = "RUNNING", "In run"
        code = run.proc.wait()
        with self._lock:
            run.returncode = code
            run.life_cycle = "TERMINATED"
            if run.cancelled:
                run.result, run.message = "CANCELED", "Run cancelled by user"
            elif code == 0:
                run.result, run.message = "SUCCESS", ""
            else:
                run.result, run.message = "FAILED", "Workload failed, see run output for details"

    def _output(self, run: JobRun) -> dict:
        data = run.log_path.read_bytes() if run.log_path.exists() else b""
        out = {"logs": data[-_LOG_LIMIT:].decode("utf-8", "replace"),
               "logs_truncated": len(data) > _LOG_LIMIT, "metadata": run.as_json(self.url)}
        if run.result == "FAILED":
            out["error"] = f"Python script exited with code {run.returncode}"
        return out

    def _cancel(self, run: JobRun) -> None:
        with self._lock:
            run.cancelled = True
            if run.proc is None:  # not started: it never will
                run.life_cycle, run.result, run.message = "TERMINATED", "CANCELED", "cancelled"
                return
        threading.Thread(target=stop_job_process, args=(run.proc,), daemon=True).start()
