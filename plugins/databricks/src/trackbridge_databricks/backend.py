"""The Databricks backend: trackbridge's backend interface on ``databricks-sdk``.

One ``WorkspaceClient`` per backend instance, built on first use (so importing or
configuring the plugin never imports the SDK nor touches the network) and reused for every
call. Every call goes through :meth:`DatabricksBackend.call`: the client-side throttle, the
retry policy of :mod:`.retry`, and translation of failures by :mod:`.errors`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trackbridge.backend import Backend
from trackbridge.entities import (
    TAG_PARENT_RUN_ID,
    ArtifactEntry,
    DatasetInput,
    Experiment,
    Limits,
    Metric,
    Param,
    Run,
    RunTag,
)
from trackbridge.errors import (
    ConfigError,
    NotFoundError,
    RunNotFoundError,
    TrackbridgeError,
    ValidationError,
)

from . import artifacts, paths
from .convert import inputs_from_json, inputs_json, metric_from_json, metric_json, run_from_json
from .errors import install_log_redaction, redact, remove_log_redaction, translate
from .retry import RetryPolicy, Throttle
from .settings import CONFIG_KEYS, Settings, parse_settings
from .workspace import profile_name, workspace_host

if TYPE_CHECKING:
    import requests
    from databricks.sdk import WorkspaceClient

T = TypeVar("T")
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
#: Metric points asked for per get-history page (the service's maximum is 25,000).
HISTORY_PAGE = 25_000
SEARCH_PAGE = 1000


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


class DatabricksBackend(Backend):
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
        self._experiment_names: dict[str, str] = {}
        self._me: str | None = None
        self._storage: requests.Session | None = None
        self._log_filter = install_log_redaction(self.secrets)

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
        try:
            return WorkspaceClient(config=Config(**kwargs))
        except Exception as exc:  # the SDK raises ValueError when no auth method applies
            where = f"host {s.host}" if s.host else f"profile {s.profile!r}" if s.profile else \
                "the environment"
            one_line = " ".join(redact(str(exc)).split())  # the SDK's text spans lines
            raise ConfigError(
                f"cannot set up Databricks auth for {where}: {one_line}. Set "
                f"DATABRICKS_HOST and DATABRICKS_TOKEN, or name a profile of ~/.databrickscfg "
                f"([databricks] profile = ...), or log in with `databricks auth login`"
            ) from None

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

    def _lookup(self, path: str) -> Any:
        """The SDK's experiment called ``path`` (deleted ones included), or None."""
        from databricks.sdk.errors import NotFound

        def lookup() -> Any:
            try:
                return self.client.experiments.get_by_name(path).experiment
            except NotFound:
                return None

        exp = self.call(lookup, what=f"look up experiment {path!r}", safe=True)
        if exp is not None:
            self._experiment_names[exp.experiment_id] = exp.name
        return exp

    def get_experiment(self, name: str) -> Experiment | None:
        exp = self._lookup(self.experiment_path(name))
        if exp is None or exp.lifecycle_stage == "deleted":
            return None
        return Experiment(exp.experiment_id, exp.name, exp.artifact_location)

    def get_or_create_experiment(self, name: str) -> Experiment:
        path = self.experiment_path(name)
        found = self._lookup(path)
        if found is not None and found.lifecycle_stage == "deleted":
            raise ValidationError(
                f"experiment {path!r} on {self.describe()} is deleted (id {found.experiment_id}); "
                f"restore it or choose another name")
        if found is not None:
            return Experiment(found.experiment_id, found.name, found.artifact_location)
        from databricks.sdk.errors import ResourceAlreadyExists

        location = paths.experiment_artifact_location(self.settings.artifact_root, path)

        def create() -> None:
            self.client.experiments.create_experiment(path, artifact_location=location)

        what = f"create experiment {path!r}"
        try:
            try:
                self.policy.call(create, safe=True, what=what)
            except ResourceAlreadyExists:
                pass  # created meanwhile by someone else: look it up below
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
        found = self.get_experiment(path)
        if found is None:
            raise TrackbridgeError(f"{what} on {self.describe()} reported success but the "
                                   f"experiment cannot be found")
        return found

    def _make_parent(self, path: str, cause: BaseException) -> None:
        parent = paths.parent_folder(path)
        if parent in paths.PROTECTED_ROOTS:
            raise translate(cause, f"create experiment {path!r} (its folder {parent!r} is a "
                                   f"protected root that cannot be created)",
                            self.describe(), secrets=self.secrets())
        self.call(lambda: self.client.workspace.mkdirs(parent),
                  what=f"create folder {parent!r} for experiment {path!r}", safe=True)

    def list_experiments(self) -> list[Experiment]:
        out, token = [], None
        while True:
            query = {"max_results": SEARCH_PAGE, **({"page_token": token} if token else {})}
            page = self.call(
                lambda query=query: self.client.api_client.do(
                    "POST", "/api/2.0/mlflow/experiments/search", body=query, headers=_JSON),
                what="list experiments", safe=True)
            for e in page.get("experiments", []):
                out.append(Experiment(str(e["experiment_id"]), e["name"],
                                      e.get("artifact_location")))
            token = page.get("next_page_token")
            if not token:
                return out

    def _experiment_name(self, experiment_id: str) -> str:
        name = self._experiment_names.get(experiment_id)
        if name is None:
            exp = self.call(lambda: self.client.experiments.get_experiment(experiment_id),
                            what=f"look up experiment {experiment_id}", safe=True).experiment
            name = self._experiment_names[experiment_id] = exp.name
        return name

    # -- runs ---------------------------------------------------------------------------
    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   run_id: str | None = None) -> Run:
        """``POST runs/create`` (the body of ``w.experiments.create_run``), sent with a
        one-shot body: a resend after an ambiguous failure could create a second run."""
        import json

        all_tags = dict(tags)
        if parent_run_id:
            all_tags.setdefault(TAG_PARENT_RUN_ID, parent_run_id)
        body = {"experiment_id": experiment_id, "start_time": int(start_time),
                "tags": [{"key": k, "value": v} for k, v in all_tags.items()]}
        if run_name is not None:
            body["run_name"] = run_name
        data = json.dumps(body, separators=(",", ":")).encode()
        answer = self.call(
            lambda: self.client.api_client.do(
                "POST", "/api/2.0/mlflow/runs/create", data=_OneShotBody(data), headers=_JSON),
            what=f"create run {run_name!r} in experiment {experiment_id}", safe=False)
        run = run_from_json(answer["run"], self._experiment_name(experiment_id))
        self._artifact_uris[run.id] = run.artifact_uri
        return run

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        from databricks.sdk.service.ml import UpdateRunStatus

        self.call(lambda: self.client.experiments.update_run(
            run_id=run_id, status=UpdateRunStatus(status), end_time=end_time),
            what=f"set status {status} of run {run_id}", safe=True, not_found=RunNotFoundError)

    def get_run(self, run_id: str) -> Run:
        answer = self.call(lambda: self.client.experiments.get_run(run_id),
                           what=f"get run {run_id}", safe=True, not_found=RunNotFoundError)
        data = answer.run.as_dict()
        run = run_from_json(data, self._experiment_name(str(data["info"]["experiment_id"])))
        self._artifact_uris[run.id] = run.artifact_uri
        return run

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None
                    ) -> Iterator[Run]:
        token = None
        while True:
            body: dict[str, Any] = {"experiment_ids": list(experiment_ids),
                                    "max_results": SEARCH_PAGE,
                                    "order_by": ["attributes.start_time DESC"]}
            if filter:
                body["filter"] = filter
            if token:
                body["page_token"] = token
            page = self.call(
                lambda body=body: self.client.api_client.do(
                    "POST", "/api/2.0/mlflow/runs/search", body=body, headers=_JSON),
                what=f"search runs of experiment(s) {', '.join(experiment_ids)}", safe=True)
            for r in page.get("runs", []):
                yield run_from_json(r, self._experiment_name(str(r["info"]["experiment_id"])))
            token = page.get("next_page_token")
            if not token:
                return

    # -- metrics, params, tags ----------------------------------------------------------
    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        if not (metrics or params or tags):
            return
        what = (f"log_batch of {len(metrics)} metric(s), {len(params)} param(s), "
                f"{len(tags)} tag(s) to run {run_id}")
        if not metrics:  # params re-log as a no-op and tags upsert: a resend is harmless
            from databricks.sdk.service.ml import Param as SdkParam
            from databricks.sdk.service.ml import RunTag as SdkTag

            self.call(lambda: self.client.experiments.log_batch(
                run_id=run_id, params=[SdkParam(key=p.key, value=p.value) for p in params],
                tags=[SdkTag(key=t.key, value=t.value) for t in tags]),
                what=what, safe=True, not_found=RunNotFoundError)
            return
        import json

        body = json.dumps({
            "run_id": run_id,
            "metrics": [metric_json(m) for m in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }, allow_nan=False, separators=(",", ":")).encode()
        # metrics are appended: the request is sent once (a fresh one-shot body per attempt
        # only when the service certainly did not apply it, see retry.RetryPolicy)
        self.call(lambda: self.client.api_client.do(
            "POST", "/api/2.0/mlflow/runs/log-batch", data=_OneShotBody(body), headers=_JSON),
            what=what, safe=False, not_found=RunNotFoundError)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        points, token = [], None
        while True:
            query = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE,
                     **({"page_token": token} if token else {})}
            page = self.call(
                lambda query=query: self.client.api_client.do(
                    "GET", "/api/2.0/mlflow/metrics/get-history", query=query,
                    headers={"Accept": "application/json"}),
                what=f"get history of metric {key!r} of run {run_id}", safe=True,
                not_found=RunNotFoundError)
            points.extend(metric_from_json(m) for m in page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                break
        points.sort(key=lambda m: (m.step, m.timestamp))  # stable: equal keys keep server order
        return points

    # -- dataset inputs -----------------------------------------------------------------
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """``POST runs/log-inputs``; the service adds a dataset to a run once: a resend is safe."""
        self.call(lambda: self.client.api_client.do(
            "POST", "/api/2.0/mlflow/runs/log-inputs", body=inputs_json(run_id, inputs),
            headers=_JSON), what=f"log {len(inputs)} dataset input(s) to run {run_id}",
            safe=True, not_found=RunNotFoundError)

    def get_inputs(self, run_id: str) -> list[DatasetInput]:
        answer = self.call(lambda: self.client.api_client.do(
            "GET", "/api/2.0/mlflow/runs/get", query={"run_id": run_id},
            headers={"Accept": "application/json"}),
            what=f"get the dataset inputs of run {run_id}", safe=True, not_found=RunNotFoundError)
        return inputs_from_json(answer.get("run", {}))

    # -- artifacts ----------------------------------------------------------------------
    def _store(self, run_id: str) -> artifacts.ArtifactStore:
        if run_id not in self._artifact_uris:
            self.get_run(run_id)
        return artifacts.store_for(self, run_id, self._artifact_uris[run_id])

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
