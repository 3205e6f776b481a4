"""The backend interface: the one seam between trackbridge's core and a storage platform.

A backend is deliberately small: it stores and returns what it is given. Everything a
platform does not differ on (validation, buffering, packing batches to :attr:`limits`,
walking directories, resuming runs) lives in the core and is written once.

Contract every implementation keeps (``trackbridge.testing.BackendContract`` checks it):

* Ids are strings. ``create_run`` may ignore a suggested ``run_id`` and return its own.
* ``log_batch`` receives at most what :attr:`limits` allows per batch; metrics are
  appended (never overwritten), a param re-logged with the same value is a no-op and
  with a different value raises :class:`~trackbridge.errors.ParamConflictError`, tags are
  upserted. NaN and +/-inf metric values round-trip.
* Reads of unknown runs raise :class:`~trackbridge.errors.RunNotFoundError`; of unknown
  artifacts :class:`~trackbridge.errors.ArtifactNotFoundError`.
* Errors raised are :class:`~trackbridge.errors.TrackbridgeError` subclasses whose message
  names the operation, the run or experiment, and the backend, and holds no secret.

Optional methods have a default: :meth:`Backend.upload_artifacts` (one by one),
:meth:`Backend.log_inputs` (raises :class:`~trackbridge.errors.UnsupportedOperationError`:
sync then skips a run's dataset inputs for this destination) and :meth:`Backend.get_inputs`
(none). :func:`has` tells whether a backend overrides one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .entities import ArtifactEntry, DatasetInput, Experiment, Limits, Metric, Param, Run, RunTag

if TYPE_CHECKING:
    from pathlib import Path

    from .metric_arrays import MetricArrays
    from .sampling import SampledHistory


class Backend(ABC):
    """Where runs are stored. Subclasses are registered through ``trackbridge_register_backends``."""

    #: Name used in config files (``backend = "<name>"``); set by each implementation.
    name: ClassVar[str] = ""
    #: Keys accepted in the backend's ``[<name>]`` config section (anything else is an error).
    config_keys: ClassVar[frozenset[str]] = frozenset()
    #: True when the backend keeps data on this machine (the sync journal is always local).
    is_local: ClassVar[bool] = False

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Backend:
        """Build an instance from the backend's config section (already interpolated)."""
        return cls(**settings)

    @property
    @abstractmethod
    def limits(self) -> Limits:
        """What this backend accepts per batch, per key/value and per run."""

    def describe(self) -> str:
        """Where this backend stores data, for messages (never includes a secret)."""
        return self.name

    def identity(self) -> str:
        """Which store this is, as the sync ledger keys it: the same for one config before and
        after connecting and in every process, computed without the network, no secret.
        The default is :meth:`describe`; override it when the description can change."""
        return self.describe()

    def former_identities(self) -> list[str]:
        """Identities an older trackbridge may have keyed this destination by; the ledger
        moves their entries to :meth:`identity` when it is opened. Default: none."""
        return []

    def check_experiment_name(self, name: str) -> None:
        """Raise :class:`~trackbridge.errors.ValidationError` if ``name`` can never be an
        experiment here. Called by ``start_run`` before a run is journalled for this backend,
        so a bad name fails at the user's line, not later in the background. No network."""

    # -- write side ------------------------------------------------------------------
    @abstractmethod
    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the experiment called ``name``, creating it if missing (race-safe)."""

    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        start_time: int,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run and return it (with its id and ``artifact_uri``)."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Store one batch, never larger than :attr:`limits` allows."""

    @abstractmethod
    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        """Store the file ``local_path`` at ``artifact_path`` (relative, POSIX) in the run.

        The file is streamed, never read whole into memory. An existing file at the same
        path is replaced.
        """

    def upload_artifacts(self, run_id: str, files: Sequence[tuple[Path, str]]) -> None:
        """Store several files, given as (local path, artifact path) pairs.

        Override when the platform prepares many uploads in one request (signed URLs for a
        list of paths); the default uploads them one by one. Either all files are stored or
        an error is raised (uploads overwrite, so a retry of the whole list is safe).
        """
        for local_path, artifact_path in files:
            self.upload_artifact(run_id, local_path, artifact_path)

    @abstractmethod
    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        """Set the run's status (and end time when it ends)."""

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """Optional: record dataset inputs of the run (MLflow's ``runs/log-inputs``).

        An input whose (name, digest, context) the run already has is not added twice, so a
        retry is safe. The default raises :class:`~trackbridge.errors.UnsupportedOperationError`.
        """
        from .errors import UnsupportedOperationError

        raise UnsupportedOperationError(
            f"the {self.describe()} has no dataset inputs (MLflow's log-inputs)")

    def get_inputs(self, run_id: str) -> list[DatasetInput]:
        """Optional: the run's dataset inputs, in logged order (the default: none)."""
        return []

    # -- read side -------------------------------------------------------------------
    @abstractmethod
    def get_experiment(self, name: str) -> Experiment | None:
        """The experiment called ``name``, or None."""

    @abstractmethod
    def list_experiments(self) -> list[Experiment]:
        """All experiments."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags and the latest value of each metric."""

    @abstractmethod
    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None) -> Iterator[Run]:
        """Runs of these experiments matching an MLflow-syntax ``filter``, newest first."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of ``key``, ordered by step then timestamp."""

    def get_metric_arrays(self, run_id: str, key: str) -> MetricArrays:
        """Every point of ``key`` as numpy columns, ordered like :meth:`get_metric_history`.

        Optional: the default converts :meth:`get_metric_history`. Override when the
        platform can return columns without building a ``Metric`` per point (the local
        store decodes its stored arrays directly). Needs numpy.
        """
        from .metric_arrays import from_metrics

        return from_metrics(key, self.get_metric_history(run_id, key))

    def sample_metric_history(self, run_id: str, key: str, *, max_points: int,
                              start_step: int | None = None,
                              end_step: int | None = None) -> SampledHistory:
        """At most ``max_points`` points of ``key`` with ``start_step <= step <= end_step``,
        chosen so that every bucket's first, last, minimum and maximum survive (see
        ``trackbridge.sampling``). Non-finite points are counted and kept per bucket.

        Optional: the default samples :meth:`get_metric_arrays`. Override when the platform
        can sample server-side with the same guarantees. Needs numpy.
        """
        from .sampling import check_request, sample

        check_request(max_points, start_step, end_step)
        return sample(self.get_metric_arrays(run_id, key), max_points, start_step, end_step)

    @abstractmethod
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        """Direct children of ``path`` (the root when None), with paths relative to the root."""

    @abstractmethod
    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        """Write the artifact file at ``path`` to the local file ``dst`` (streamed)."""

    def close(self) -> None:
        """Release connections. The instance is not used afterwards."""


def has(backend: Backend, method: str) -> bool:
    """True when ``backend`` implements the optional ``method`` (overrides the default)."""
    return getattr(type(backend), method, None) is not getattr(Backend, method)
