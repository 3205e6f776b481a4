"""What MLflow's file store and SQL store readers share: refusing writes, search, artifacts.

A reader is a :class:`~trackbridge.backend.Backend` whose write methods raise
:class:`ReadOnlyStoreError`: it exists to be read (``trackbridge runs list``, ``tb.get_run``)
and to be a sync source (``trackbridge sync --from mlruns/``). Artifacts are read from the
run's local artifact directory (its ``artifact_uri``, or ``<run dir>/artifacts`` when the
store was moved); :meth:`local_artifact_path` lets sync hash them in place, without a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from trackbridge.backend import Backend
from trackbridge.entities import (
    ArtifactEntry,
    DatasetInput,
    Experiment,
    Limits,
    Metric,
    Param,
    Run,
    RunTag,
)
from trackbridge.errors import ArtifactNotFoundError, BackendError, RunNotFoundError
from trackbridge.filtering import compile_filter
from trackbridge.mlflow_rest.convert import inputs_from_json
from trackbridge.mlflow_rest.limits import MLFLOW_LIMITS

from ..settings import CONFIG_KEYS, Settings

#: MLflow's RunStatus numbers (file store ``meta.yaml``) -> names
RUN_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


class ReadOnlyStoreError(BackendError):
    """A write to an MLflow store that trackbridge only reads."""


def local_dir(uri: str | None) -> Path | None:
    """The local directory of a ``file:`` URI or a plain path; None for remote URIs."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        return Path(uri)
    return None


class ReadOnlyStore(Backend):
    """Base of the readers; subclasses provide the reads of runs and histories."""

    name: ClassVar[str] = "mlflow"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS
    is_local = True
    kind: ClassVar[str] = "store"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.path or ".").resolve()

    @property
    def limits(self) -> Limits:
        return MLFLOW_LIMITS

    def describe(self) -> str:
        return f"MLflow {self.kind} {self.root}"

    # -- refused writes ---------------------------------------------------------------------
    def _refuse(self, what: str) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(
            f"{what} refused: the {self.describe()} is read-only in trackbridge (it is read in "
            f"place, for reads and as a sync source: trackbridge sync --from "
            f"{self.settings.tracking_uri} --to <config>); log to a tracking server instead "
            f"(tracking_uri = http(s)://...)")

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.get_experiment(name)
        if found is None:
            raise self._refuse(f"creating experiment {name!r}")
        return found

    def create_run(self, experiment_id: str, *, run_name: str | None, start_time: int,
                   tags: Mapping[str, str], parent_run_id: str | None = None,
                   run_id: str | None = None) -> Run:
        raise self._refuse(f"creating run {run_name!r}")

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        raise self._refuse(f"logging to run {run_id}")

    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        raise self._refuse(f"uploading {artifact_path!r} to run {run_id}")

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        raise self._refuse(f"setting the status of run {run_id}")

    # -- reads ----------------------------------------------------------------------------
    def get_experiment(self, name: str) -> Experiment | None:
        return next((e for e in self.list_experiments() if e.name == name), None)

    def list_experiments(self) -> list[Experiment]:
        raise NotImplementedError

    def runs_of(self, experiment_ids: Sequence[str]) -> list[Run]:
        """Every active run of these experiments (all when empty)."""
        raise NotImplementedError

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None
                    ) -> Iterator[Run]:
        matches = compile_filter(filter, backend=self.describe())
        runs = sorted(self.runs_of(experiment_ids), key=lambda r: (r.start_time, r.id),
                      reverse=True)
        return (r for r in runs if matches(r))

    def dataset_inputs(self, run_id: str) -> list[dict[str, Any]]:
        """The run's dataset inputs in the REST API's shape: ``[{"dataset": {name, digest,
        source_type, source, schema, profile}, "tags": [{"key", "value"}]}]``."""
        return []

    def get_inputs(self, run_id: str) -> list[DatasetInput]:
        """The run's dataset inputs (so a migration carries them: sync's inputs step)."""
        return inputs_from_json({"inputs": {"dataset_inputs": self.dataset_inputs(run_id)}})

    # -- artifacts ------------------------------------------------------------------------
    def artifact_dir(self, run_id: str) -> Path | None:
        """The run's artifact directory on this machine (None if it is elsewhere)."""
        raise NotImplementedError

    def _artifact_root(self, run_id: str) -> Path:
        root = self.artifact_dir(run_id)
        if root is None:
            uri = self.get_run(run_id).artifact_uri
            raise BackendError(f"the artifacts of run {run_id} live at {uri!r}, which the "
                               f"{self.describe()} reader cannot open (not a local path); "
                               f"migrate through the tracking server instead")
        return root

    def local_artifact_path(self, run_id: str, path: str) -> Path:
        """The file holding artifact ``path``, read in place."""
        root = self._artifact_root(run_id)
        target = (root / path).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            raise ArtifactNotFoundError(f"no artifact {path!r} in run {run_id} "
                                        f"({self.describe()})")
        return target

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        root = self._artifact_root(run_id)
        folder = root / path if path else root
        if not folder.is_dir():
            return []
        out = []
        for child in sorted(folder.iterdir()):
            rel = child.relative_to(root).as_posix()
            if child.is_dir():
                out.append(ArtifactEntry(rel, True))
            elif child.is_file():
                out.append(ArtifactEntry(rel, False, child.stat().st_size))
        return out

    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        source = self.local_artifact_path(run_id, path)
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dst)

    def _missing_run(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id} in the {self.describe()}")
