"""Real services on loopback for integration tests, started once per pytest session.

Load with ``pytest_plugins = ["testsupport.servers"]`` (the repo's root ``conftest.py`` does).

* ``mlflow_server``: the open-source MLflow tracking server (``python -m mlflow server``) with a
  SQLite store and proxied artifacts (``mlflow-artifacts:/``) in a temp directory.
* ``mlflow_auth_server``: the same with MLflow's basic-auth app on (``--app-name basic-auth``),
  an admin and one ordinary user with random passwords made for the session.
* ``azurite``: Azurite's Blob service (npm package ``azurite``, installed into
  ``testsupport/node_modules`` by ``scripts/bootstrap``), a real Azure Blob endpoint for SAS-URL
  uploads with the well-known development account.

Each service runs in its own process group (``start_new_session=True``) and the whole group is
killed at teardown, so helper processes (web workers, job consumers) never outlive the session.
Only 127.0.0.1 is ever bound or contacted. A service that does not come up fails the tests that
need it with its log tail; nothing is skipped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
#: Seconds to wait for a service to answer (the MLflow server needs 15-30 s on 2 cores).
STARTUP_TIMEOUT = float(os.environ.get("TRACKBRIDGE_TEST_STARTUP_TIMEOUT", "90"))
TESTSUPPORT_DIR = Path(__file__).resolve().parent
AZURITE_BIN = TESTSUPPORT_DIR / "node_modules" / ".bin" / "azurite-blob"

#: Azurite's published development account (the same for every Azurite install; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class MlflowServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    port: int
    artifacts_dir: Path  # where the server stores proxied artifacts (--artifacts-destination)
    db_uri: str  # sqlite:///... backend store
    log_path: Path


@dataclass(frozen=True)
class MlflowAuthServer(MlflowServer):
    admin: str = "admin"
    admin_password: str = ""
    user: str = "alice"
    user_password: str = ""


@dataclass(frozen=True)
class Azurite:
    blob_endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1
    account_name: str
    account_key: str
    connection_string: str
    port: int
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_group(cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in a new process group, stdout and stderr to ``log_path``."""
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    finally:
        log.close()  # the child holds its own descriptor


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``proc``, then SIGKILL whatever is left after ``grace``."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure no helper of the group survives it
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, what: str,
                  timeout: float = STARTUP_TIMEOUT, ok_statuses: tuple[int, ...] = (200,)) -> None:
    """Poll ``url`` until it answers with one of ``ok_statuses``; fail with the log tail."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before answering "
                               f"{url}; log tail:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in ok_statuses:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code in ok_statuses:
                return
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    stop_group(proc)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s ({last}); "
                       f"log tail:\n{_log_tail(log_path)}")


def start_mlflow(root: Path, *, workers: int = 1, extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None,
                 timeout: float = STARTUP_TIMEOUT) -> tuple[subprocess.Popen, MlflowServer]:
    """An MLflow tracking server on a free port (SQLite store, proxied artifacts in ``root``),
    answering ``/health``; the caller stops it with :func:`stop_group`."""
    port = free_port()
    artifacts = root / "art"
    artifacts.mkdir(exist_ok=True)
    db_uri = f"sqlite:///{root / 'mlflow.db'}"
    log_path = root / "server.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", **(env or {})}
    # no background job runner (half a dozen huey processes): tracking tests never need it
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
        "--backend-store-uri", db_uri, "--artifacts-destination", str(artifacts),
        "--workers", str(workers), *extra,
    ]
    proc = start_group(cmd, log_path, env=env, cwd=root)
    url = f"http://{HOST}:{port}"
    wait_until_up(f"{url}/health", proc, log_path, "mlflow server", timeout=timeout)
    return proc, MlflowServer(url=url, port=port, artifacts_dir=artifacts, db_uri=db_uri,
                              log_path=log_path)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One open-source MLflow tracking server for the whole session."""
    proc, server = start_mlflow(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowAuthServer]:
    """One MLflow tracking server with basic auth on: the admin (password set through the
    auth app's config file) and an ordinary user ``alice`` created through its REST API."""
    import base64
    import json
    import secrets

    root = tmp_path_factory.mktemp("mlflow-auth-server")
    admin_password, user_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    ini = root / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\n"
                   f"database_uri = sqlite:///{root / 'auth.db'}\n"
                   f"admin_username = admin\nadmin_password = {admin_password}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   "auth_cache_ttl_seconds = 300\n")
    proc, server = start_mlflow(root, extra=("--app-name", "basic-auth"),
                                env={"MLFLOW_AUTH_CONFIG_PATH": str(ini),
                                     "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)})
    try:
        pair = base64.b64encode(f"admin:{admin_password}".encode()).decode()
        request = urllib.request.Request(
            f"{server.url}/api/2.0/mlflow/users/create", method="POST",
            data=json.dumps({"username": "alice", "password": user_password}).encode(),
            headers={"Authorization": f"Basic {pair}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30):
            pass
        yield MlflowAuthServer(**vars(server), admin_password=admin_password,
                               user_password=user_password)
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite Blob service for the whole session (in-memory data under a temp dir)."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(
            f"{AZURITE_BIN} is missing; run scripts/bootstrap (it runs "
            f"`npm ci --prefix testsupport`) to install Azurite"
        )
    root = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log_path = root / "azurite.log"
    cmd = [
        str(AZURITE_BIN), "--blobHost", HOST, "--blobPort", str(port), "--location", str(root),
        "--skipApiVersionCheck", "--loose", "--silent",
    ]
    proc = start_group(cmd, log_path, cwd=root)
    endpoint = f"http://{HOST}:{port}/{AZURITE_ACCOUNT}"
    try:
        # any HTTP answer means it listens; an anonymous GET of the account answers 4xx
        wait_until_up(f"{endpoint}?comp=list", proc, log_path, "azurite",
                      ok_statuses=(200, 400, 401, 403, 404))
        yield Azurite(
            blob_endpoint=endpoint,
            account_name=AZURITE_ACCOUNT,
            account_key=AZURITE_KEY,
            connection_string=(
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
            ),
            port=port,
            log_path=log_path,
        )
    finally:
        stop_group(proc)
