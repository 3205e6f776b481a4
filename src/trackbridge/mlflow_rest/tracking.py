"""The MLflow tracking operations as trackbridge entities, over a plugin's ``send``.

A plugin supplies ``send(method, path, *, what, safe, query=None, body=None,
not_found=NotFoundError) -> dict``: one request (``query`` for GET, a JSON ``body``
otherwise) through its own client, retried per its policy, answering the decoded JSON
(``{}`` when empty) or raising a trackbridge error (an unknown resource as ``not_found``).
``safe`` says whether a resend can duplicate data: False for ``runs/create`` and a
log-batch carrying metrics (appended), so the transport must not resend those after an
ambiguous failure. Everything else here is written once for every MLflow-speaking backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ..entities import DatasetInput, Experiment, Metric, Param, Run, RunTag
from ..errors import BackendError, NotFoundError, RunNotFoundError, ValidationError
from .convert import (
    batch_json,
    create_run_json,
    experiment_from_json,
    inputs_from_json,
    inputs_json,
    metric_from_json,
    run_from_json,
)
from .errors import RESOURCE_ALREADY_EXISTS
from .limits import API


class Send(Protocol):
    def __call__(self, method: str, path: str, *, what: str, safe: bool,
                 query: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None,
                 not_found: type[NotFoundError] = NotFoundError) -> dict[str, Any]: ...


def paginate(send: Send, method: str, path: str, items: str, *, what: str,
             params: Mapping[str, Any], not_found: type[NotFoundError] = NotFoundError
             ) -> Iterator[dict[str, Any]]:
    """Every item of a paginated answer (``params`` as the query of a GET, else the body),
    following ``next_page_token``."""
    token = None
    while True:
        fields = {**params, **({"page_token": token} if token else {})}
        where = {"query": fields} if method == "GET" else {"body": fields}
        page = send(method, path, what=what, safe=True, not_found=not_found, **where)
        yield from page.get(items) or ()
        token = page.get("next_page_token")
        if not token:
            return


class TrackingApi:
    """Experiments, runs, batches and histories of one MLflow-speaking service."""

    def __init__(self, send: Send, describe: Callable[[], str], *, history_page: int = 25_000,
                 search_page: int = 1000) -> None:
        self.send = send
        self.describe = describe
        self.history_page = history_page
        self.search_page = search_page
        self._names: dict[str, str] = {}

    def pages(self, method: str, path: str, items: str, *, what: str,
              params: Mapping[str, Any], not_found: type[NotFoundError] = NotFoundError
              ) -> Iterator[dict[str, Any]]:
        return paginate(self.send, method, path, items, what=what, params=params,
                        not_found=not_found)

    # -- experiments ----------------------------------------------------------------------
    def experiment_by_name(self, name: str) -> dict[str, Any] | None:
        """The experiment's JSON (deleted ones included: see ``lifecycle_stage``), or None."""
        try:
            answer = self.send("GET", f"{API}/experiments/get-by-name",
                               what=f"look up experiment {name!r}", safe=True,
                               query={"experiment_name": name})
        except NotFoundError:
            return None
        exp = answer.get("experiment")
        if exp:
            self._names[str(exp["experiment_id"])] = exp["name"]
        return exp

    def get_experiment(self, name: str) -> Experiment | None:
        exp = self.experiment_by_name(name)
        if exp is None or exp.get("lifecycle_stage") == "deleted":
            return None
        return experiment_from_json(exp)

    def get_or_create_experiment(self, name: str, artifact_location: str | None = None, *,
                                 create: Callable[[], None] | None = None) -> Experiment:
        """Race-safe: an experiment created meanwhile by someone else is looked up again.
        ``create`` replaces the plain ``experiments/create`` (a platform with folders)."""
        found = self.experiment_by_name(name)
        if found is None:
            (create or (lambda: self._create_experiment(name, artifact_location)))()
            found = self.experiment_by_name(name)
            if found is None:
                raise BackendError(f"create experiment {name!r} on {self.describe()} reported success "
                                   f"but the experiment cannot be found")
        if found.get("lifecycle_stage") == "deleted":
            raise ValidationError(
                f"experiment {name!r} on {self.describe()} is deleted (id {found['experiment_id']}); "
                f"restore it or choose another name")
        return experiment_from_json(found)

    def _create_experiment(self, name: str, artifact_location: str | None) -> None:
        body: dict[str, Any] = {"name": name}
        if artifact_location:
            body["artifact_location"] = artifact_location
        try:
            self.send("POST", f"{API}/experiments/create", what=f"create experiment {name!r}",
                      safe=True, body=body)
        except BackendError as exc:
            if getattr(exc, "error_code", "") != RESOURCE_ALREADY_EXISTS:
                raise

    def list_experiments(self) -> list[Experiment]:
        found = self.pages("POST", f"{API}/experiments/search", "experiments",
                           what="list experiments", params={"max_results": self.search_page})
        out = [experiment_from_json(e) for e in found]
        self._names.update((e.id, e.name) for e in out)
        return out

    def experiment_name(self, experiment_id: str) -> str:
        name = self._names.get(experiment_id)
        if name is None:
            answer = self.send("GET", f"{API}/experiments/get",
                               what=f"look up experiment {experiment_id}", safe=True,
                               query={"experiment_id": experiment_id})
            name = self._names[experiment_id] = answer["experiment"]["name"]
        return name

    # -- runs -----------------------------------------------------------------------------
    def _run(self, data: Mapping[str, Any]) -> Run:
        return run_from_json(data, self.experiment_name(str(data["info"]["experiment_id"])))

    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   user_id: str | None = None) -> Run:
        """Sent once: a resend after an ambiguous failure could create a second run."""
        body = create_run_json(experiment_id, run_name=run_name, start_time=start_time,
                               tags=tags, parent_run_id=parent_run_id, user_id=user_id)
        answer = self.send("POST", f"{API}/runs/create", safe=False, body=body,
                           what=f"create run {run_name!r} in experiment {experiment_id}")
        return self._run(answer["run"])

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time is not None:
            body["end_time"] = int(end_time)
        self.send("POST", f"{API}/runs/update", what=f"set status {status} of run {run_id}",
                  safe=True, body=body, not_found=RunNotFoundError)

    def get_run(self, run_id: str) -> Run:
        answer = self.send("GET", f"{API}/runs/get", what=f"get run {run_id}", safe=True,
                           query={"run_id": run_id}, not_found=RunNotFoundError)
        return self._run(answer["run"])

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None
                    ) -> Iterator[Run]:
        params: dict[str, Any] = {"experiment_ids": list(experiment_ids),
                                  "max_results": self.search_page,
                                  "order_by": ["attributes.start_time DESC"]}
        if filter:
            params["filter"] = filter
        what = f"search runs of experiment(s) {', '.join(experiment_ids)}"
        for data in self.pages("POST", f"{API}/runs/search", "runs", what=what, params=params):
            yield self._run(data)

    # -- metrics, params, tags ------------------------------------------------------------
    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        """One ``runs/log-batch``. Without metrics it is safe to resend (a param re-logged
        with its value is a no-op, tags upsert); with metrics it is not (they append)."""
        if not (metrics or params or tags):
            return
        what = (f"log_batch of {len(metrics)} metric(s), {len(params)} param(s), "
                f"{len(tags)} tag(s) to run {run_id}")
        self.send("POST", f"{API}/runs/log-batch", what=what, safe=not metrics,
                  body=batch_json(run_id, metrics, params, tags), not_found=RunNotFoundError)

    # -- dataset inputs ---------------------------------------------------------------------
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """``runs/log-inputs``: the service adds a dataset to a run once, so a resend is safe."""
        self.send("POST", f"{API}/runs/log-inputs", safe=True, body=inputs_json(run_id, inputs),
                  what=f"log {len(inputs)} dataset input(s) to run {run_id}",
                  not_found=RunNotFoundError)

    def get_inputs(self, run_id: str) -> list[DatasetInput]:
        answer = self.send("GET", f"{API}/runs/get", what=f"get the dataset inputs of run {run_id}",
                           safe=True, query={"run_id": run_id}, not_found=RunNotFoundError)
        return inputs_from_json(answer.get("run", {}))

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of ``key``, ordered by step then timestamp (stable: ties keep the
        server's order)."""
        found = self.pages("GET", f"{API}/metrics/get-history", "metrics",
                           what=f"get history of metric {key!r} of run {run_id}",
                           params={"run_id": run_id, "metric_key": key,
                                   "max_results": self.history_page},
                           not_found=RunNotFoundError)
        points = [metric_from_json(m) for m in found]
        points.sort(key=lambda m: (m.step, m.timestamp))
        return points
