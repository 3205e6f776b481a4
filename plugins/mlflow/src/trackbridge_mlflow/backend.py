"""The ``mlflow`` backend: a self-hosted MLflow tracking server, over its REST API.

The tracking calls are the core's MLflow REST mapping (``trackbridge.mlflow_rest``) over
:class:`~.http.Http` (requests, MLflow's auth and TLS environment, the core's retry policy);
artifacts go through the server's proxy (:mod:`.artifacts`). ``from_config`` opens a file or
SQL store read-only instead when ``tracking_uri`` is ``file:`` or ``sqlite:`` (:mod:`.stores`).
Nothing imports ``requests`` until the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.backend import Backend
from trackbridge.entities import ArtifactEntry, Experiment, Limits
from trackbridge.mlflow_rest.backend import RestBackend
from trackbridge.mlflow_rest.tracking import TrackingApi

from .settings import CONFIG_KEYS, SECRET_HINT, SERVER, Settings, parse_settings

if TYPE_CHECKING:
    from .artifacts import ProxyArtifacts
    from .http import Http


class MlflowBackend(RestBackend):
    """Runs, metrics, params, tags and artifacts on an MLflow tracking server."""

    name: ClassVar[str] = "mlflow"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS
    #: what ``check_config`` says about a secret-looking key in ``[mlflow]``
    secret_hint: ClassVar[str] = SECRET_HINT
    sends_user_id: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._http: Http | None = None
        self._artifact_uris: dict[str, str | None] = {}
        self._multipart: dict[str, bool] = {}
        self.api = TrackingApi(self._send, self.describe)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Backend:
        parsed = parse_settings(settings)
        if parsed.kind != SERVER:
            from .stores import open_store

            return open_store(parsed)
        return cls(parsed)

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    def describe(self) -> str:
        return f"MLflow tracking server {self.settings.tracking_uri}"

    # -- plumbing -------------------------------------------------------------------------
    @property
    def http(self) -> Http:
        """The HTTP client, built on first use (auth and TLS read from the environment then)."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    from .auth import from_environment
                    from .http import Http

                    auth, tls = from_environment()
                    s = self.settings
                    self._http = Http(s.tracking_uri, auth, tls, describe=self.describe(),
                                      timeout=s.http_timeout_seconds,
                                      retry_timeout=s.retry_timeout_seconds,
                                      rate=s.max_requests_per_second)
        return self._http

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.http.send(method, path, **kwargs)

    def _artifacts(self, run_id: str) -> ProxyArtifacts:
        from .artifacts import ProxyArtifacts, artifact_root

        root = artifact_root(run_id, self.artifact_uri(run_id))
        return ProxyArtifacts(self.http, run_id, root, self.settings.multipart_threshold_bytes,
                              self._multipart)

    # -- experiments ----------------------------------------------------------------------
    def get_experiment(self, name: str) -> Experiment | None:
        return self.api.get_experiment(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        return self.api.get_or_create_experiment(name)

    # -- artifacts ------------------------------------------------------------------------
    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        self._artifacts(run_id).upload(Path(local_path), artifact_path.strip("/"))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        return self._artifacts(run_id).list(path.strip("/") if path else None)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        self._artifacts(run_id).download(path.strip("/"), Path(dst))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

