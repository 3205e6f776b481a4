"""The ``mlflow`` backend: a self-hosted MLflow tracking server, over its REST API.

The tracking calls are the core's MLflow REST mapping (``trackbridge.mlflow_rest``) over
:class:`~.http.Http` (requests, MLflow's auth and TLS environment, the core's retry policy);
artifacts go through the server's proxy (:mod:`.artifacts`). ``from_config`` opens a file or
SQL store read-only instead when ``tracking_uri`` is ``file:`` or ``sqlite:`` (:mod:`.stores`).
Nothing imports ``requests`` until the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.backend import Backend
from trackbridge.entities import TAG_USER, ArtifactEntry, Experiment, Limits, Metric, Param, Run, RunTag
from trackbridge.mlflow_rest.tracking import TrackingApi

from .settings import CONFIG_KEYS, SECRET_HINT, SERVER, Settings, parse_settings

if TYPE_CHECKING:
    from .artifacts import ProxyArtifacts
    from .http import Http


class MlflowBackend(Backend):
    """Runs, metrics, params, tags and artifacts on an MLflow tracking server."""

    name: ClassVar[str] = "mlflow"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS
    #: what ``check_config`` says about a secret-looking key in ``[mlflow]``
    secret_hint: ClassVar[str] = SECRET_HINT

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

        if run_id not in self._artifact_uris:
            self.get_run(run_id)
        root = artifact_root(run_id, self._artifact_uris[run_id])
        return ProxyArtifacts(self.http, run_id, root, self.settings.multipart_threshold_bytes,
                              self._multipart)

    # -- experiments ----------------------------------------------------------------------
    def get_experiment(self, name: str) -> Experiment | None:
        return self.api.get_experiment(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        return self.api.get_or_create_experiment(name)

    def list_experiments(self) -> list[Experiment]:
        return self.api.list_experiments()

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   run_id: str | None = None) -> Run:
        run = self.api.create_run(experiment_id, run_name=run_name, start_time=start_time,
                                  tags=tags, parent_run_id=parent_run_id,
                                  user_id=tags.get(TAG_USER))
        self._artifact_uris[run.id] = run.artifact_uri
        return run

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        self.api.update_run(run_id, status=status, end_time=end_time)

    def get_run(self, run_id: str) -> Run:
        run = self.api.get_run(run_id)
        self._artifact_uris[run.id] = run.artifact_uri
        return run

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None
                    ) -> Iterator[Run]:
        return self.api.search_runs(experiment_ids, filter)

    # -- metrics, params, tags ------------------------------------------------------------
    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        self.api.log_batch(run_id, metrics, params, tags)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.api.metric_history(run_id, key)

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

