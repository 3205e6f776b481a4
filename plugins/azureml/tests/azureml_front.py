"""A loopback stand-in for Azure ML's front door, for integration tests.

It serves a real open-source MLflow tracking server under Azure ML's path prefix
``/mlflow/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>``
and answers the run-history artifact calls (``artifacts/batch/metadata``, list,
``contentinfo``) with SAS URLs of a real Azurite blob service, so artifact bytes travel
through ``azure-storage-blob`` exactly as they do against Azure. Every request must carry
the expected bearer token. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import requests
from werkzeug.wrappers import Request, Response

from testsupport.loopback import LoopbackService

CONTAINER = "azureml"
SUB, RG, WS = "00000000-1111-2222-3333-444444444444", "rg-test", "ws-test"
SCOPE = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
         f"Microsoft.MachineLearningServices/workspaces/{WS}")
LIST_PAGE = 3  # small, so clients must follow continuationToken
_RUN_PATH = re.compile(r"^/history/v1\.0" + re.escape(SCOPE) +
                       r"/experimentids/(?P<exp>[^/]+)/runs/(?P<run>[^/]+)/artifacts(?P<rest>/.*)?$")


def _azure_error(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message}}
    return Response(json.dumps(body), status=status, content_type="application/json")


class AzureMLFront(LoopbackService):
    """The front door (a WSGI app; ``start``/``stop`` serve it)."""

    def __init__(self, mlflow_url: str, azurite, token: str) -> None:
        from azure.storage.blob import BlobServiceClient

        self.mlflow_url = mlflow_url
        self.azurite = azurite
        self.token = token
        self.requests: list[tuple[str, str]] = []  # (method, path) seen, for assertions
        #: path suffix -> how many more answers to lose *after* MLflow applied the request
        #: (answered 502 instead), as a gateway timing out in front of the service would
        self.lose_answers: dict[str, int] = {}
        self.log_batches: list[dict] = []  # bodies of every runs/log-batch received
        self.session = requests.Session()
        self.blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
        try:
            self.blobs.create_container(CONTAINER)
        except Exception as exc:  # already there from an earlier front in the session
            if "ContainerAlreadyExists" not in str(exc):
                raise
        #: Azure ML run ids (job names) -> the MLflow server's run ids: the job *is* the run
        #: on Azure ML, while the MLflow server names runs itself, so ids are translated
        self.aliases: dict[str, str] = {}

    def stop(self) -> None:
        super().stop()
        self.session.close()

    @property
    def tracking_uri(self) -> str:
        return f"{self.url}/mlflow/v1.0{SCOPE}"

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            response = _azure_error(401, "AuthenticationFailed", "missing or wrong bearer token")
        elif request.path.startswith(f"/mlflow/v1.0{SCOPE}/api/2.0/mlflow/"):
            response = self._proxy(request, request.path[len(f"/mlflow/v1.0{SCOPE}"):])
        elif (match := _RUN_PATH.match(request.path)) is not None:
            response = self._history(request, match["exp"], match["run"], match["rest"] or "")
        else:
            response = _azure_error(404, "NotFound", f"no route {request.path}")
        return response(environ, start_response)

    # -- MLflow behind the Azure prefix ---------------------------------------------------
    def _ids(self, value, table: dict[str, str]):
        """``value`` (JSON) with every ``run_id`` / ``run_uuid`` field looked up in ``table``."""
        if isinstance(value, dict):
            return {k: table.get(v, v) if k in ("run_id", "run_uuid") and isinstance(v, str)
                    else self._ids(v, table) for k, v in value.items()}
        if isinstance(value, list):
            return [self._ids(v, table) for v in value]
        return value

    def _to_mlflow(self, data: bytes) -> bytes:
        if not self.aliases or not data:
            return data
        return json.dumps(self._ids(json.loads(data), self.aliases)).encode()

    def _from_mlflow(self, data: bytes) -> bytes:
        if not self.aliases or not data.startswith(b"{"):
            return data
        back = {run_id: name for name, run_id in self.aliases.items()}
        return json.dumps(self._ids(json.loads(data), back)).encode()

    def _proxy(self, request: Request, path: str) -> Response:
        body = self._to_mlflow(request.get_data())
        if path.endswith("/runs/log-batch"):
            self.log_batches.append(json.loads(body))
        params = {k: [self.aliases.get(v, v) if k == "run_id" else v for v in vs]
                  for k, vs in request.args.to_dict(flat=False).items()}
        upstream = self.session.request(
            request.method, f"{self.mlflow_url}{path}", params=params,
            data=body, headers={"Content-Type": request.content_type or ""},
            timeout=60,
        )
        for suffix, left in list(self.lose_answers.items()):
            if path.endswith(suffix) and left > 0:
                self.lose_answers[suffix] = left - 1
                return _azure_error(502, "BadGateway", "the upstream answer was lost")
        return Response(self._from_mlflow(upstream.content), status=upstream.status_code,
                        content_type=upstream.headers.get("Content-Type", "application/json"))

    # -- run history artifacts ------------------------------------------------------------
    def _run_experiment(self, run_id: str) -> str | None:
        answer = self.session.get(f"{self.mlflow_url}/api/2.0/mlflow/runs/get",
                                  params={"run_id": self.aliases.get(run_id, run_id)}, timeout=60)
        if answer.status_code != 200:
            return None
        return answer.json()["run"]["info"]["experiment_id"]

    def _blob_name(self, run_id: str, path: str) -> str:
        return f"ExperimentRun/dcid.{run_id}/{path}"

    def _sas_url(self, blob: str, permission: str) -> str:
        from azure.storage.blob import generate_blob_sas

        sas = generate_blob_sas(
            self.azurite.account_name, CONTAINER, blob, account_key=self.azurite.account_key,
            permission=permission, expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        return f"{self.azurite.blob_endpoint}/{CONTAINER}/{quote(blob)}?{sas}"

    def _history(self, request: Request, exp: str, run_id: str, rest: str) -> Response:
        if self._run_experiment(run_id) != exp:
            return _azure_error(404, "UserError", f"run {run_id} not found in experiment {exp}")
        if request.method == "POST" and rest == "/batch/metadata":
            paths = [p["path"] for p in json.loads(request.get_data())["paths"]]
            if len(paths) > 100:
                return _azure_error(400, "ValidationError", "at most 100 paths per request")
            info, errors = {}, {}
            for path in paths:
                if ".." in path.split("/") or path.startswith("/"):
                    errors[path] = {"error": {"code": "UserError", "message": "invalid path"}}
                    continue
                info[path] = {"contentUri": self._sas_url(self._blob_name(run_id, path), "cw"),
                              "origin": "ExperimentRun", "container": f"dcid.{run_id}",
                              "path": path}
            return Response(json.dumps({"artifactContentInformation": info, "artifacts": {},
                                        "errors": errors}), content_type="application/json")
        if request.method == "GET" and rest == "":
            prefix = self._blob_name(run_id, "")
            names = sorted(b.name[len(prefix):] for b in
                           self.blobs.get_container_client(CONTAINER).list_blobs(prefix))
            start = int(request.args.get("continuationToken") or 0)
            page = names[start:start + LIST_PAGE]
            more = start + LIST_PAGE < len(names)
            body = {"value": [{"origin": "ExperimentRun", "container": f"dcid.{run_id}",
                               "path": p} for p in page],
                    "continuationToken": str(start + LIST_PAGE) if more else None}
            return Response(json.dumps(body), content_type="application/json")
        if request.method == "GET" and rest == "/contentinfo":
            path = request.args.get("path", "")
            blob = self._blob_name(run_id, path)
            if not self.blobs.get_blob_client(CONTAINER, blob).exists():
                return _azure_error(404, "UserError", f"artifact {path!r} not found")
            return Response(json.dumps({"contentUri": self._sas_url(blob, "r"),
                                        "origin": "ExperimentRun",
                                        "container": f"dcid.{run_id}", "path": path}),
                            content_type="application/json")
        return _azure_error(404, "NotFound", f"no history route {request.method} {rest}")
