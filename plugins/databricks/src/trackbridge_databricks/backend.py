"""The Databricks backend: trackbridge's backend interface on ``databricks-sdk``.

One ``WorkspaceClient`` per backend instance, built on first use (so importing or
configuring the plugin never imports the SDK nor touches the network) and reused for every
call. Every call goes through :meth:`DatabricksBackend.call`: the client-side throttle, the
retry policy of :mod:`.retry`, and translation of failures by :mod:`.errors`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trackbridge.entities import (
    ArtifactEntry,
    Experiment,
    Limits,
)
from trackbridge.errors import (
    ConfigError,
    NotFoundError,
    TrackbridgeError,
    ValidationError,
)
from trackbridge.mlflow_rest.backend import RestBackend
from trackbridge.mlflow_rest.retry import throttle_session
from trackbridge.mlflow_rest.tracking import TrackingApi

from . import artifacts, paths
from .auth import auth_failure, quiet_sdk_logs
from .errors import install_log_redaction, remove_log_redaction, translate
from .retry import RetryPolicy, Throttle
from .settings import CONFIG_KEYS, Settings, parse_settings
from .workspace import profile_name, workspace_host

if TYPE_CHECKING:
    import requests
    from databricks.sdk import WorkspaceClient

T = TypeVar("T")
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
_ACCEPT = {"Accept": "application/json"}


class _OneShotBody(io.RawIOBase):
    """A sized, non-seekable request body. The SDK resends only seekable bodies, so a request
    carrying this is sent once and its retry is decided by :class:`~.retry.RetryPolicy`."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)
        self._len = len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        return self._buf.readinto(b)

    def tell(self) -> int:
        return self._buf.tell()

    def __len__(self) -> int:
        return self._len


class DatabricksBackend(RestBackend):
    """Runs, metrics, params, tags and artifacts in a Databricks workspace (or any MLflow
    tracking server that databricks-sdk can reach)."""

    name = "databricks"
    config_keys = CONFIG_KEYS

    def __init__(self, settings: Settings | None = None, *,
                 client: WorkspaceClient | None = None) -> None:
        self.settings = settings or Settings()
        self._client = client
        self._lock = threading.Lock()
        self.policy = RetryPolicy(self.settings.retry_timeout_seconds,
                                  Throttle(self.settings.max_requests_per_second))
        self._artifact_uris: dict[str, str | None] = {}
        #: the MLflow REST mapping (the core's), over this backend's SDK client
        self.api = TrackingApi(self._send, self.describe)
        self._me: str | None = None
        self._storage: requests.Session | None = None
        self._log_filter = install_log_redaction(self.secrets)
        if client is not None:
            self._throttle(client)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> DatabricksBackend:
        return cls(parse_settings(settings))

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    def describe(self) -> str:
        host = self._client.config.host if self._client is not None else None
        return f"Databricks workspace {host}" if host else self.identity()

    def identity(self) -> str:
        """The workspace URL the config names (see workspace.py), never the client's view."""
        host = workspace_host(self.settings)
        if host:
            return f"Databricks workspace {host}"
        return f"Databricks workspace of profile {profile_name(self.settings)!r}"

    def former_identities(self) -> list[str]:
        """What trackbridge 0.1 keyed this workspace by before its client existed."""
        s = self.settings
        if s.host:
            return [f"Databricks workspace {s.host}"]
        if s.profile:
            return [f"Databricks workspace of profile {s.profile!r}"]
        return ["Databricks workspace (host from the environment)"]

    # -- the client ---------------------------------------------------------------------
    @property
    def client(self) -> WorkspaceClient:
        """The workspace client, built once (auth resolved by the SDK's unified chain)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> WorkspaceClient:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        s = self.settings
        kwargs: dict[str, Any] = {
            "retry_timeout_seconds": max(1, int(s.retry_timeout_seconds)),
            "http_timeout_seconds": s.http_timeout_seconds,
        }
        for key in ("profile", "host", "auth_type"):
            if getattr(s, key):
                kwargs[key] = getattr(s, key)
        quiet_sdk_logs()
        try:
            client = WorkspaceClient(config=Config(**kwargs))
        except Exception as exc:  # the SDK raises ValueError when no auth method applies
            raise ConfigError(auth_failure(s, str(exc))) from None
        self._throttle(client)
        return client

    def _throttle(self, client: WorkspaceClient) -> None:
        """Put the throttle under the SDK's HTTP session, so its own resends of 429/503 wait
        for it too (the SDK keeps the session in a private attribute: without it, calls are
        throttled once each, as before)."""
        session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
        if session is not None:
            throttle_session(session, lambda: self.policy.throttle)

    def secrets(self) -> list[str]:
        """Secret values the client holds, to mask in any message."""
        if self._client is None:
            return []
        cfg = self._client.config
        names = ("token", "client_secret", "password", "azure_client_secret", "google_credentials")
        return [v for v in (getattr(cfg, n, None) for n in names) if isinstance(v, str) and v]

    @property
    def storage(self) -> requests.Session:
        """A plain session for signed cloud-storage URLs: never carries Databricks auth."""
        if self._storage is None:
            import requests

            self._storage = requests.Session()
            throttle_session(self._storage, lambda: self.policy.throttle)
        return self._storage

    def call(self, fn: Callable[[], T], *, what: str, safe: bool,
             not_found: type[NotFoundError] | None = None) -> T:
        """``fn()`` throttled, retried per policy, failures translated (see the module doc)."""
        try:
            return self.policy.call(fn, safe=safe, what=what)
        except TrackbridgeError:
            raise
        except Exception as exc:
            raise translate(exc, what, self.describe(), not_found=not_found,
                            secrets=self.secrets()) from None

    def _send(self, method: str, path: str, *, what: str, safe: bool,
              query: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None,
              not_found: type[NotFoundError] = NotFoundError) -> dict[str, Any]:
        """One MLflow REST request through ``w.api_client.do`` (the transport of
        :class:`~trackbridge.mlflow_rest.tracking.TrackingApi`). An unsafe body goes as a
        one-shot body, so that no layer resends it after an ambiguous failure."""
        if body is not None and not safe:
            import json

            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
            fn = lambda: self.client.api_client.do(  # noqa: E731
                method, path, data=_OneShotBody(data), headers=_JSON)
        elif body is not None:
            fn = lambda: self.client.api_client.do(method, path, body=body, headers=_JSON)  # noqa: E731
        else:
            fn = lambda: self.client.api_client.do(method, path, query=query, headers=_ACCEPT)  # noqa: E731
        return self.call(fn, what=what, safe=safe, not_found=not_found) or {}

    # -- experiments --------------------------------------------------------------------
    def current_user(self) -> str:
        """The user name ``~/`` stands for (looked up once per backend)."""
        if self._me is None:
            from databricks.sdk.errors import NotFound

            def me() -> Any:
                try:
                    return self.client.current_user.me()
                except NotFound:
                    raise ValidationError(
                        f"'~/' experiment names need the current-user API, which "
                        f"{self.describe()} does not have; use an absolute path such as "
                        f"'/Users/<you>/<name>' or '/Shared/<name>'") from None

            self._me = self.call(me, what="look up the current user", safe=True).user_name
        return self._me

    def check_experiment_name(self, name: str) -> None:
        paths.check_experiment_name(name)

    def experiment_path(self, name: str) -> str:
        return paths.resolve_experiment_name(name, self.current_user)

    def get_experiment(self, name: str) -> Experiment | None:
        return self.api.get_experiment(self.experiment_path(name))

    def get_or_create_experiment(self, name: str) -> Experiment:
        path = self.experiment_path(name)
        return self.api.get_or_create_experiment(path, create=lambda: self._create_experiment(path))

    def _create_experiment(self, path: str) -> None:
        """``create_experiment``; a missing parent folder is made once; a race is fine."""
        from databricks.sdk.errors import ResourceAlreadyExists

        location = paths.experiment_artifact_location(self.settings.artifact_root, path)

        def create() -> None:
            self.client.experiments.create_experiment(path, artifact_location=location)

        what = f"create experiment {path!r}"
        try:
            try:
                self.policy.call(create, safe=True, what=what)
            except ResourceAlreadyExists:
                pass  # created meanwhile by someone else
            except Exception as exc:
                if not paths.is_missing_parent_error(exc):
                    raise
                self._make_parent(path, exc)
                try:
                    self.policy.call(create, safe=True, what=what)
                except ResourceAlreadyExists:
                    pass
        except TrackbridgeError:
            raise
        except Exception as exc:
            raise translate(exc, what, self.describe(), secrets=self.secrets()) from None

    def _make_parent(self, path: str, cause: BaseException) -> None:
        parent = paths.parent_folder(path)
        if parent in paths.PROTECTED_ROOTS:
            raise translate(cause, f"create experiment {path!r} (its folder {parent!r} is a "
                                   f"protected root that cannot be created)",
                            self.describe(), secrets=self.secrets())
        self.call(lambda: self.client.workspace.mkdirs(parent),
                  what=f"create folder {parent!r} for experiment {path!r}", safe=True)

    # -- artifacts ----------------------------------------------------------------------
    def _store(self, run_id: str) -> artifacts.ArtifactStore:
        return artifacts.store_for(self, run_id, self.artifact_uri(run_id))

    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        self._store(run_id).upload(Path(local_path), artifact_path.strip("/"))

    def upload_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> None:
        self._store(run_id).upload_many([(Path(f), p.strip("/")) for f, p in files])

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        return self._store(run_id).list(path.strip("/") if path else None)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        self._store(run_id).download(path.strip("/"), Path(dst))

    def close(self) -> None:
        remove_log_redaction(self._log_filter)
        if self._storage is not None:
            self._storage.close()
            self._storage = None
