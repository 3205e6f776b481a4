"""The Azure ML backend: trackbridge's backend interface over Azure ML's MLflow REST API.

Tracking calls go to ``<tracking base>/api/2.0/mlflow/...`` (experiments, runs, log-batch,
metric history); artifacts go through the run-history service and blob storage (see
``artifacts.py``). Nothing here imports an azure package at module level: the HTTP pipeline
is built on first use, workspace discovery (azure-ai-ml) only when no tracking URI is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.backend import Backend
from trackbridge.entities import (
    TAG_PARENT_RUN_ID,
    TAG_RUN_NAME,
    TAG_USER,
    ArtifactEntry,
    Experiment,
    Limits,
    Metric,
    Param,
    Run,
    RunTag,
)
from trackbridge.errors import BackendError, NotFoundError, ParamConflictError
from trackbridge.mlflow_rest.convert import read_float, wire_float

from .discovery import Workspace, discover_tracking_uri, parse_tracking_uri
from .errors import Call
from .runtags import batch_tags, creation_tags, fold, is_context, unfold
from .settings import CONFIG_KEYS, Settings, parse_settings

if TYPE_CHECKING:
    from .http import Http

#: Page sizes: Azure ML wants metric-history max_results below 1000 (set in config).
SEARCH_PAGE = 200


def _kv(items: Sequence[Any]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items]


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "", 0, "0") else int(value)


class AzureMLBackend(Backend):
    """Runs in an Azure Machine Learning workspace. Build with ``from_config`` or directly.

    ``credential`` may be any object with ``get_token(*scopes)`` (tests, custom auth); by
    default it is built from the ``credential`` / ``access_token`` settings.
    """

    name: ClassVar[str] = "azureml"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS

    def __init__(self, settings: Settings, credential: Any = None) -> None:
        self.settings = settings
        self._credential = credential
        self._lock = threading.Lock()
        self._workspace: Workspace | None = None
        if settings.tracking_uri:  # a bad URI fails at open, not at the first log call
            self._workspace = parse_tracking_uri(settings.tracking_uri)
        self._description = self._describe_config()
        self._http: Http | None = None
        self._experiment_names: dict[str, str] = {}
        self._run_experiments: dict[str, str] = {}

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> AzureMLBackend:
        return cls(parse_settings(settings))

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    def describe(self) -> str:
        """Stable for a config (the sync ledger keys destinations by it): it does not change
        when the workspace is discovered."""
        return self._description

    def _describe_config(self) -> str:
        s = self.settings
        if self._workspace is not None:  # configured tracking_uri, parsed in __init__
            return f"Azure ML workspace {self._workspace.name!r} at {self._workspace.host}"
        if s.config_json:
            return f"Azure ML workspace from {s.config_json}"
        return (f"Azure ML workspace {s.workspace!r} (resource group {s.resource_group!r}, "
                f"subscription {s.subscription_id})")

    # -- plumbing -------------------------------------------------------------------------
    @property
    def credential(self) -> Any:
        with self._lock:
            if self._credential is None:
                from .credentials import build_credential

                s = self.settings
                self._credential = build_credential(
                    s.credential, managed_identity_client_id=s.managed_identity_client_id,
                    access_token=s.access_token,
                )
            return self._credential

    @property
    def workspace(self) -> Workspace:
        """The workspace's REST bases (discovered through ARM on first use, then cached)."""
        if self._workspace is None:
            s = self.settings
            uri = discover_tracking_uri(
                self.credential, subscription_id=s.subscription_id,
                resource_group=s.resource_group, workspace=s.workspace, config_json=s.config_json,
            )
            self._workspace = parse_tracking_uri(uri)
        return self._workspace

    @property
    def http(self) -> Http:
        if self._http is None:
            workspace, credential = self.workspace, self.credential
            from .http import Http

            with self._lock:
                if self._http is None:
                    s = self.settings
                    self._http = Http(credential, timeout=s.timeout, max_retries=s.max_retries,
                                      retry_backoff=s.retry_backoff,
                                      allow_http=workspace.is_loopback, secrets=(s.access_token,))
        return self._http

    def _call(self, what: str, *, run_id: str | None = None, experiment: str | None = None,
              artifact: str | None = None) -> Call:
        return Call(what, self.describe(), run_id, experiment, artifact)

    def _mlflow(self, call: Call, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None, idempotent: bool = True) -> dict[str, Any]:
        url = f"{self.workspace.mlflow_api}/{path}"
        return self.http.call(call, method, url, params=params, body=body, idempotent=idempotent)

    # -- experiments ----------------------------------------------------------------------
    def _experiment(self, data: Mapping[str, Any]) -> Experiment:
        exp = Experiment(str(data["experiment_id"]), data["name"], data.get("artifact_location"))
        self._experiment_names[exp.id] = exp.name
        return exp

    def get_experiment(self, name: str) -> Experiment | None:
        call = self._call("get experiment", experiment=name)
        try:
            data = self._mlflow(call, "GET", "experiments/get-by-name",
                                params={"experiment_name": name})
        except NotFoundError:
            return None
        exp = data.get("experiment") or {}
        if exp.get("lifecycle_stage") == "deleted":
            return None
        return self._experiment(exp)

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.get_experiment(name)
        if found is not None:
            return found
        call = self._call("create experiment", experiment=name)
        try:
            data = self._mlflow(call, "POST", "experiments/create", body={"name": name})
        except BackendError as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
            found = self.get_experiment(name)  # created by someone else meanwhile
            if found is None:
                raise BackendError(
                    f"{call.prefix()}: an experiment called {name!r} exists but is deleted; "
                    f"restore it in Azure ML studio or use another name"
                ) from None
            return found
        return self._experiment({"experiment_id": data["experiment_id"], "name": name})

    def list_experiments(self) -> list[Experiment]:
        found: list[Experiment] = []
        token = None
        while True:
            body: dict[str, Any] = {"max_results": SEARCH_PAGE, "view_type": "ACTIVE_ONLY"}
            if token:
                body["page_token"] = token
            data = self._mlflow(self._call("list experiments"), "POST", "experiments/search",
                                body=body)
            found += [self._experiment(e) for e in data.get("experiments") or []]
            token = data.get("next_page_token")
            if not token:
                return found

    def _experiment_name(self, experiment_id: str) -> str:
        name = self._experiment_names.get(experiment_id)
        if name is None:
            data = self._mlflow(self._call("get experiment", experiment=experiment_id), "GET",
                                "experiments/get", params={"experiment_id": experiment_id})
            name = self._experiment(data["experiment"]).name
        return name

    # -- runs -----------------------------------------------------------------------------
    def _run(self, data: Mapping[str, Any]) -> Run:
        info, body = data["info"], data.get("data") or {}
        tags = unfold({t["key"]: t.get("value", "") for t in body.get("tags") or []})
        run_id, experiment_id = info["run_id"], str(info["experiment_id"])
        self._run_experiments[run_id] = experiment_id
        return Run(
            id=run_id,
            experiment_id=experiment_id,
            experiment=self._experiment_name(experiment_id),
            name=info.get("run_name") or tags.get(TAG_RUN_NAME),
            status=info.get("status", "RUNNING"),
            start_time=int(info.get("start_time") or 0),
            end_time=_int_or_none(info.get("end_time")),
            params={p["key"]: p.get("value", "") for p in body.get("params") or []},
            metrics={m["key"]: read_float(m["value"]) for m in body.get("metrics") or []},
            tags=tags,
            artifact_uri=info.get("artifact_uri"),
            parent_run_id=tags.get(TAG_PARENT_RUN_ID),
        )

    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   run_id: str | None = None) -> Run:
        limits = self.limits
        sent, name = creation_tags(
            tags, run_name=run_name, parent_run_id=parent_run_id,
            max_tags=limits.max_tags_per_run, max_value=limits.max_tag_value_length,
            run=f"new run in experiment {experiment_id}",
        )
        body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": int(start_time),
                                "tags": _kv(sent.items())}
        if name:
            body["run_name"] = name
        if tags.get(TAG_USER):
            body["user_id"] = tags[TAG_USER]
        # not idempotent: a blind resend after a lost answer would create a second run
        data = self._mlflow(self._call("create run", experiment=experiment_id), "POST",
                            "runs/create", body=body, idempotent=False)
        return self._run(data["run"])

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time is not None:
            body["end_time"] = int(end_time)
        self._mlflow(self._call("update run", run_id=run_id), "POST", "runs/update", body=body)

    def get_run(self, run_id: str) -> Run:
        data = self._mlflow(self._call("get run", run_id=run_id), "GET", "runs/get",
                            params={"run_id": run_id})
        return self._run(data["run"])

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None
                    ) -> Iterator[Run]:
        token = None
        call = self._call("search runs", experiment=",".join(experiment_ids))
        while True:
            body: dict[str, Any] = {
                "experiment_ids": list(experiment_ids), "max_results": SEARCH_PAGE,
                "run_view_type": "ACTIVE_ONLY", "order_by": ["attributes.start_time DESC"],
            }
            if filter:
                body["filter"] = filter
            if token:
                body["page_token"] = token
            data = self._mlflow(call, "POST", "runs/search", body=body)
            for run in data.get("runs") or []:
                yield self._run(run)
            token = data.get("next_page_token")
            if not token:
                return

    # -- metrics, params, tags ------------------------------------------------------------
    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = ()) -> None:
        if any(is_context(t.key) for t in tags):
            limits = self.limits
            stored = fold(self.get_run(run_id).tags, limits.max_tag_value_length)
            folded = fold(dict(tags), limits.max_tag_value_length, current=lambda: unfold(stored))
            kept = batch_tags(folded, stored, limits.max_tags_per_run, f"run {run_id}")
            tags = [RunTag(k, v) for k, v in kept.items()]
        if not (metrics or params or tags):
            return
        try:
            self._send_batch(run_id, metrics, params, tags)
        except ParamConflictError:
            # Azure ML (like MLflow) validates params before storing anything, so the whole
            # batch was refused. Store everything else, then report the conflict.
            stored = self.get_run(run_id).params
            fresh = [p for p in params if p.key not in stored]
            if metrics or tags or fresh:
                self._send_batch(run_id, metrics, fresh, tags)
            raise

    def _send_batch(self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param],
                    tags: Sequence[RunTag]) -> None:
        body = {
            "run_id": run_id,
            "metrics": [{"key": m.key, "value": wire_float(m.value),
                         "timestamp": int(m.timestamp), "step": int(m.step)} for m in metrics],
            "params": _kv(params),
            "tags": _kv(tags),
        }
        what = f"log-batch of {len(metrics)} metrics, {len(params)} params, {len(tags)} tags"
        # metrics are appended: resending after an ambiguous failure could duplicate them
        self._mlflow(self._call(what, run_id=run_id), "POST", "runs/log-batch", body=body,
                     idempotent=not metrics)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        points: list[Metric] = []
        token = None
        call = self._call(f"metric history of {key!r}", run_id=run_id)
        while True:
            params = {"run_id": run_id, "metric_key": key,
                      "max_results": self.settings.history_page_size}
            if token:
                params["page_token"] = token
            data = self._mlflow(call, "GET", "metrics/get-history", params=params)
            points += [Metric(m["key"], read_float(m["value"]), int(m.get("timestamp") or 0),
                              int(m.get("step") or 0)) for m in data.get("metrics") or []]
            token = data.get("next_page_token")
            if not token:
                break
        points.sort(key=lambda m: (m.step, m.timestamp))
        return points

    # -- artifacts ------------------------------------------------------------------------
    def _run_url(self, run_id: str) -> str:
        from .artifacts import run_url

        experiment_id = self._run_experiments.get(run_id) or self.get_run(run_id).experiment_id
        return run_url(self.workspace.history, experiment_id, run_id)

    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        self.upload_artifacts(run_id, [(local_path, artifact_path)])

    def upload_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> None:
        """Upload many files, asking for upload URLs up to 100 paths per request."""
        from .artifacts import request_upload_urls, upload_file

        url = self._run_url(run_id)
        per = self.settings.artifact_paths_per_request
        for start in range(0, len(files), per):
            chunk = files[start:start + per]
            what = f"artifact upload of {len(chunk)} file(s)"
            call = self._call(what, run_id=run_id)
            uris = request_upload_urls(self.http, call, url, [p for _, p in chunk], per)
            for local_path, artifact_path in chunk:
                upload_file(call._replace(what="artifact upload", artifact=artifact_path),
                            uris[artifact_path], Path(local_path), self.settings.timeout,
                            self.http.secrets)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        from .artifacts import list_entries

        folder = (path or "").strip("/")
        call = self._call("list artifacts", run_id=run_id)
        return list_entries(self.http, call, self._run_url(run_id), folder, self.settings.timeout)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        from .artifacts import content_uri, download_file

        call = self._call("artifact download", run_id=run_id, artifact=path)
        uri = content_uri(self.http, call, self._run_url(run_id), path)
        download_file(call, uri, Path(dst), self.settings.timeout, self.http.secrets)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
