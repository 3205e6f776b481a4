"""Plain data passed across the backend interface and returned by the read API."""

from __future__ import annotations

import math
from typing import NamedTuple

RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"
RUN_STATUSES = (RUNNING, FINISHED, FAILED, KILLED)
TERMINAL_STATUSES = (FINISHED, FAILED, KILLED)

#: Tag names shared with MLflow, so the Databricks / Azure ML UIs show them.
TAG_RUN_NAME = "mlflow.runName"
TAG_PARENT_RUN_ID = "mlflow.parentRunId"
TAG_USER = "mlflow.user"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
#: The tag of a dataset input saying what it was used for (``training``, ``eval``, ...).
TAG_DATASET_CONTEXT = "mlflow.data.context"


class Metric(NamedTuple):
    """One metric point. ``timestamp`` is ms since the epoch; ``step`` an int >= 0."""

    key: str
    value: float
    timestamp: int
    step: int

    def same_as(self, other: Metric) -> bool:
        """Equality that treats NaN as equal to NaN (metric points are data, not numbers)."""
        if self.key != other.key or self.timestamp != other.timestamp or self.step != other.step:
            return False
        if math.isnan(self.value):
            return math.isnan(other.value)
        return self.value == other.value


class Param(NamedTuple):
    key: str
    value: str


class RunTag(NamedTuple):
    key: str
    value: str


class Experiment(NamedTuple):
    id: str
    name: str
    artifact_location: str | None = None


class Run(NamedTuple):
    """A run as read back from a backend. ``metrics`` holds the latest value of each key."""

    id: str
    experiment_id: str
    experiment: str
    name: str | None
    status: str
    start_time: int
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifact_uri: str | None = None
    parent_run_id: str | None = None


class Dataset(NamedTuple):
    """A dataset as MLflow records it: ``source``, ``schema`` and ``profile`` are JSON strings.

    ``digest`` identifies the content (two datasets with the same name and digest are the
    same data); ``source_type`` says what ``source`` describes (``code``, ``local``, ``http``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


class DatasetInput(NamedTuple):
    """A dataset a run used, with its tags (``mlflow.data.context`` among them)."""

    dataset: Dataset
    tags: dict[str, str]

    @property
    def context(self) -> str | None:
        return self.tags.get(TAG_DATASET_CONTEXT)

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes an input unique within a run: name, digest, context."""
        return self.dataset.name, self.dataset.digest, self.context or ""


class ArtifactEntry(NamedTuple):
    """One entry of a run's artifact tree; ``path`` is relative to the run's root."""

    path: str
    is_dir: bool
    size: int | None = None


class Limits(NamedTuple):
    """What one backend accepts. ``None`` means "no limit".

    The core never hands a backend a batch or a value beyond these: batches are packed
    to the per-batch limits, and keys/values/run totals are checked before sending.
    Backends override defaults with ``Limits()._replace(...)`` or keyword arguments.
    """

    max_metrics_per_batch: int = 1000
    max_params_per_batch: int = 100
    max_tags_per_batch: int = 100
    max_entities_per_batch: int = 1000
    max_batch_bytes: int | None = 1_000_000
    max_metric_key_length: int = 250
    max_param_key_length: int = 250
    max_tag_key_length: int = 250
    max_param_value_length: int = 6000
    #: UTF-8 bytes of a param value, for platforms that count bytes (None: characters only)
    max_param_value_bytes: int | None = None
    max_tag_value_length: int = 8000
    max_params_per_run: int | None = None
    max_tags_per_run: int | None = None
    max_metric_points_per_run: int | None = None
