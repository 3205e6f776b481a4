"""A loopback stand-in for Azure Resource Manager's Azure ML job API that really runs jobs.

It serves, over HTTPS with a self-signed certificate for 127.0.0.1 (azure-core refuses bearer
tokens over plain http), what azure-ai-ml calls for ``jobs.create_or_update(command(...))``,
``jobs.get``, ``jobs.begin_cancel``, ``compute.get``: ARM cloud metadata (a client finds it
through ``ARM_CLOUD_METADATA_URL``, the documented way to reach another cloud), computes,
code versions (``startPendingUpload`` hands out a container SAS on a real Azurite, so the SDK
uploads the code with azure-storage-blob), environments and jobs.

A created job really runs: its code is downloaded from Azurite, its MLflow run is created on
the tracking front (``AzureMLFront`` of the plugin's tests, which maps the job's name to the
MLflow server's run id, as on Azure ML the job *is* the run), and its command runs under
``bash -c`` with this virtualenv's interpreter first on ``PATH`` and Azure ML's injected
variables (``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID``, ``MLFLOW_EXPERIMENT_ID``,
``MLFLOW_TRACKING_TOKEN``). Its output is uploaded as it comes to the run's
``user_logs/std_log.txt``; when it ends, the run's status is set as Azure ML does. Nothing is
installed (the environment is recorded only), and nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from werkzeug.wrappers import Request, Response

from .loopback import LoopbackService, stop_job_process

COMPUTES = ("cpu-cluster",)
_WS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                 r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)$", re.I)
_STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status=status,
                    content_type="application/json")


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (the certificate is also the CA bundle to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "arm-cert.pem", directory / "arm-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class AmlJob:
    def __init__(self, name: str, body: dict, workdir: Path) -> None:
        self.name = name
        self.body = body
        self.workdir = workdir
        self.status = "NotStarted"
        self.proc: subprocess.Popen | None = None
        self.cancelled = False
        self.mlflow_run_id: str | None = None
        self.errors: list[str] = []  # what went wrong in the stand-in while it ran


class AzureMLJobs(LoopbackService):
    """The ARM stand-in (a WSGI app; ``start``/``stop`` serve it over TLS)."""

    scheme = "https"

    def __init__(self, front, root: Path, *, start_delay: float = 0.3) -> None:
        self.front = front  # tracking: MLflow behind Azure ML's prefix, artifacts on Azurite
        self.root = root
        self.start_delay = start_delay
        self.cert, self._key = self_signed(root)
        self.session = requests.Session()
        self.jobs: dict[str, AmlJob] = {}
        self.codes: dict[str, dict] = {}  # code version id -> resource
        self.hashes: dict[str, str] = {}  # content hash -> code version id
        self.requests: list[tuple[str, str]] = []
        self.cancels: list[str] = []
        self._pending_hash: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self) -> AzureMLJobs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self._key)
        return super().start(context)

    def stop(self) -> None:
        for job in self.jobs.values():
            stop_job_process(job.proc)
        super().stop()
        self.session.close()

    @property
    def metadata_url(self) -> str:
        """What ``ARM_CLOUD_METADATA_URL`` is set to for clients of this stand-in."""
        return f"{self.url}/metadata/endpoints?api-version=2019-05-01"

    def client_env(self) -> dict[str, str]:
        """Environment variables that point azure-ai-ml at this stand-in."""
        return {"ARM_CLOUD_METADATA_URL": self.metadata_url, "REQUESTS_CA_BUNDLE": str(self.cert)}

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path))
        if request.path == "/metadata/endpoints":
            response = self._metadata()
        elif request.headers.get("Authorization") != f"Bearer {self.front.token}":
            response = _error(401, "AuthenticationFailed", "missing or wrong bearer token")
        elif (match := _WS.match(request.path)) is None:
            response = _error(404, "NotFound", f"no route {request.path}")
        else:
            prefix = request.path[: len(request.path) - len(match["rest"])]
            response = self._workspace(request, prefix, match["rest"])
        return response(environ, start_response)

    def _metadata(self) -> Response:
        return _json([{
            "name": "TrackbridgeLoopback", "portal": "https://portal.loopback.invalid",
            "resourceManager": f"{self.url}/",
            "authentication": {"loginEndpoint": "https://login.loopback.invalid/",
                               "audiences": [f"{self.url}/"]},
            "suffixes": {"storage": "loopback.invalid"},
        }])

    # -- ARM resources --------------------------------------------------------------------
    def _workspace(self, request: Request, prefix: str, rest: str) -> Response:
        method, parts = request.method, rest.strip("/").split("/")
        if parts[0] == "computes" and method == "GET":
            if parts[1] not in COMPUTES:
                return _error(404, "ResourceNotFound", f"compute {parts[1]} not found")
            return _json({"id": prefix + rest, "name": parts[1], "properties": {
                "computeType": "AmlCompute", "properties": {}}})
        if parts[0] == "codes":
            return self._codes(request, prefix, parts)
        if parts[0] == "environments" and method == "PUT":
            return _json({"id": prefix + rest, "name": parts[-1],
                          **json.loads(request.get_data())})
        if parts[0] == "jobs":
            return self._jobs(request, prefix, parts)
        return _error(404, "NotFound", f"no route {method} {rest}")

    def _codes(self, request: Request, prefix: str, parts: list[str]) -> Response:
        name = parts[1]
        if len(parts) == 3 and request.method == "GET":  # list, by content hash
            digest = request.args.get("hash", "")
            self._pending_hash[name] = digest
            found = self.hashes.get(digest)
            return _json({"value": [self.codes[found]] if found else []})
        version_id = f"{prefix}/codes/{name}/versions/{parts[3]}"
        if parts[-1] == "startPendingUpload":
            container = f"code-{uuid.uuid4().hex[:12]}"
            self.front.blobs.create_container(container)
            url = f"{self.front.azurite.blob_endpoint}/{container}"
            return _json({"blobReferenceForConsumption": {
                "blobUri": url, "credential": {"credentialType": "SAS",
                                               "sasUri": f"{url}?{self._sas(container)}"}},
                "pendingUploadId": container, "pendingUploadType": "TemporaryBlobReference"})
        if request.method == "PUT":
            body = json.loads(request.get_data())
            resource = {"id": version_id, "name": parts[3], **body}
            self.codes[version_id] = resource
            if name in self._pending_hash:
                self.hashes[self._pending_hash.pop(name)] = version_id
            return _json(resource)
        if version_id in self.codes:
            return _json(self.codes[version_id])
        return _error(404, "ResourceNotFound", f"code {name} not found")

    def _sas(self, container: str) -> str:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            self.front.azurite.account_name, container, account_key=self.front.azurite.account_key,
            permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))

    def _jobs(self, request: Request, prefix: str, parts: list[str]) -> Response:
        name = parts[1]
        job = self.jobs.get(name)
        if request.method == "PUT":
            if job is not None:
                return _error(400, "UserError", f"job {name} already exists")
            body = json.loads(request.get_data())
            job = self.jobs[name] = AmlJob(name, body, self.root / f"job-{name}")
            self._create_run(job)
            threading.Thread(target=self._execute, args=(job,), daemon=True).start()
            return _json(self._job_json(prefix, job), status=201)
        if job is None:
            return _error(404, "ResourceNotFound", f"job {name} not found")
        if len(parts) == 3 and parts[2] == "cancel" and request.method == "POST":
            self.cancels.append(name)
            self._cancel(job)
            return Response(status=202)
        return _json(self._job_json(prefix, job))

    def _job_json(self, prefix: str, job: AmlJob) -> dict:
        props = {**job.body["properties"], "status": job.status, "services": {"Studio": {
            "jobServiceType": "Studio",
            "endpoint": f"https://ml.loopback.invalid/runs/{job.name}?wsid={prefix}"}}}
        return {"id": f"{prefix}/jobs/{job.name}", "name": job.name, "type":
                "Microsoft.MachineLearningServices/workspaces/jobs", "properties": props}

    # -- running a job --------------------------------------------------------------------
    def _mlflow(self, method: str, path: str, **kwargs) -> dict:
        answer = self.session.request(method, f"{self.front.mlflow_url}/api/2.0/mlflow/{path}",
                                      timeout=60, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def _create_run(self, job: AmlJob) -> None:
        props = job.body["properties"]
        exp_name = props.get("experimentName") or "Default"
        found = self.session.get(f"{self.front.mlflow_url}/api/2.0/mlflow/experiments/get-by-name",
                                 params={"experiment_name": exp_name}, timeout=60)
        if found.status_code == 200:
            exp_id = found.json()["experiment"]["experiment_id"]
        else:
            exp_id = self._mlflow("POST", "experiments/create", json={"name": exp_name})[
                "experiment_id"]
        run = self._mlflow("POST", "runs/create", json={
            "experiment_id": exp_id, "run_name": props.get("displayName") or job.name,
            "start_time": int(time.time() * 1000)})["run"]
        job.mlflow_run_id = run["info"]["run_id"]
        job.experiment_id = exp_id
        self.front.aliases[job.name] = job.mlflow_run_id

    def _download_code(self, job: AmlJob) -> None:
        code = self.codes[job.body["properties"]["codeId"]]
        uri = urlsplit(code["properties"]["codeUri"]).path.strip("/").split("/")
        container, prefix = uri[1], "/".join(uri[2:])
        client = self.front.blobs.get_container_client(container)
        for blob in client.list_blobs(name_starts_with=prefix):
            target = job.workdir / blob.name[len(prefix):].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())

    def _execute(self, job: AmlJob) -> None:
        time.sleep(self.start_delay)  # provisioning
        props = job.body["properties"]
        with self._lock:
            if job.cancelled:
                return
            job.status = "Starting"
        job.workdir.mkdir(parents=True)
        self._download_code(job)
        env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
               "HOME": os.environ.get("HOME", "/"), "MLFLOW_DISABLE_TELEMETRY": "true",
               **(props.get("environmentVariables") or {}),
               "MLFLOW_TRACKING_URI": self.front.tracking_uri, "MLFLOW_RUN_ID": job.name,
               "MLFLOW_EXPERIMENT_ID": str(job.experiment_id),
               "MLFLOW_TRACKING_TOKEN": self.front.token}
        log_path = self.root / f"{job.name}.log"
        with self._lock:
            if job.cancelled:
                return
            with log_path.open("wb") as log:
                job.proc = subprocess.Popen(["bash", "-c", props["command"]], cwd=job.workdir,
                                            env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
            job.status = "Running"
        while job.proc.poll() is None:
            self._upload_log(job, log_path)
            time.sleep(0.3)
        status = "Canceled" if job.cancelled else "Completed" if job.proc.returncode == 0 \
            else "Failed"
        try:
            self._upload_log(job, log_path)
            self._mlflow("POST", "runs/update", json={"run_id": job.mlflow_run_id,
                                                      "status": _STATUS[status],
                                                      "end_time": int(time.time() * 1000)})
        except Exception as exc:  # the job still ends; the test sees what went wrong
            job.errors.append(f"ending the run: {exc}")
        finally:
            job.status = status

    def _upload_log(self, job: AmlJob, log_path: Path) -> None:
        blob = f"ExperimentRun/dcid.{job.name}/user_logs/std_log.txt"
        try:
            self.front.blobs.get_blob_client("azureml", blob).upload_blob(
                log_path.read_bytes(), overwrite=True)
        except Exception as exc:  # a storage hiccup: the next upload carries the whole log
            job.errors.append(f"uploading the log: {exc}")

    def _cancel(self, job: AmlJob) -> None:
        with self._lock:
            job.cancelled = True
            if job.proc is None:
                job.status = "Canceled"
                return
            job.status = "CancelRequested"
        threading.Thread(target=stop_job_process, args=(job.proc,), daemon=True).start()
