"""A :class:`~trackbridge.backend.Backend` whose tracking side is the core's :class:`TrackingApi`.

Subclasses (Databricks, a self-hosted MLflow server) set ``self.api`` over their transport
and ``self._artifact_uris = {}`` in ``__init__``, and add what their platform differs on:
experiment names, artifacts, auth. Runs read or created are remembered with their artifact
location, which the artifact side needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

from ..backend import Backend
from ..entities import TAG_USER, DatasetInput, Experiment, Metric, Param, Run, RunTag
from .tracking import TrackingApi


class RestBackend(Backend):
    api: TrackingApi
    _artifact_uris: dict[str, str | None]
    #: send ``mlflow.user`` as ``runs/create``'s ``user_id`` (the open-source server shows it)
    sends_user_id: ClassVar[bool] = False

    def artifact_uri(self, run_id: str) -> str | None:
        """The run's artifact location (one ``runs/get`` the first time it is asked)."""
        if run_id not in self._artifact_uris:
            self.get_run(run_id)
        return self._artifact_uris[run_id]

    def list_experiments(self) -> list[Experiment]:
        return self.api.list_experiments()

    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   run_id: str | None = None) -> Run:
        run = self.api.create_run(experiment_id, run_name=run_name, start_time=start_time,
                                  tags=tags, parent_run_id=parent_run_id,
                                  user_id=tags.get(TAG_USER) if self.sends_user_id else None)
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

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        self.api.log_batch(run_id, metrics, params, tags)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.api.metric_history(run_id, key)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        self.api.log_inputs(run_id, inputs)

    def get_inputs(self, run_id: str) -> list[DatasetInput]:
        return self.api.get_inputs(run_id)
