"""Read runs back from any backend: ``tb.get_run``, ``tb.search_runs`` and friends.

Every call takes ``config=`` to say which backend to read (resolved as for ``start_run``).
Reading a run that this process is still logging flushes it first, so reads see writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, overload

from .backend import Backend
from .config import load_config
from .entities import ArtifactEntry, Metric, Run
from .errors import ArtifactNotFoundError, NotFoundError
from .fluent import ConfigArg, live_runs
from .validation import check_artifact_path

if TYPE_CHECKING:
    from pathlib import Path

    from .metric_arrays import MetricArrays


def _backend(config: ConfigArg, run_id: str | None = None) -> tuple[Backend, str | None]:
    """The configured backend, and ``run_id`` as that backend knows it.

    Live runs of this process are flushed first (and, in online mode, synced). For a remote
    backend, the id of a run logged through the local journal is translated to the remote
    run's id through the sync ledger.
    """
    from .registry import open_backend, open_journal  # loads plugins: deferred for a fast import

    cfg = load_config(config)
    backend = open_backend(cfg)
    for run in live_runs():
        if run_id is None or run.id == run_id:
            run.sync()
    if run_id is not None and not backend.is_local:
        from .sync.ledger import Ledger

        entry = Ledger.of(open_journal(cfg), backend).load(run_id)
        if entry is not None:
            run_id = entry.remote_run_id
    return backend, run_id


def get_run(run_id: str, config: ConfigArg = None) -> Run:
    """The run with its params, tags and the latest value of each metric."""
    backend, remote_id = _backend(config, run_id)
    return backend.get_run(remote_id)


def search_runs(
    experiment: str | Sequence[str] | None = None, filter: str | None = None,
    config: ConfigArg = None,
) -> list[Run]:
    """Runs of ``experiment`` (a name or names; all when None), newest first.

    ``filter`` uses MLflow's syntax, e.g. ``"metrics.acc > 0.9 and params.depth = '3'"``.
    """
    backend, _ = _backend(config)
    if experiment is None:
        ids = [e.id for e in backend.list_experiments()]
        if not ids:
            return []
    else:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        ids = []
        for name in names:
            found = backend.get_experiment(name)
            if found is None:
                raise NotFoundError(f"experiment {name!r} not found in the {backend.describe()}")
            ids.append(found.id)
    return list(backend.search_runs(ids, filter))


@overload
def get_metric_history(run_id: str, key: str, config: ConfigArg = None, *,
                       as_arrays: Literal[False] = False) -> list[Metric]: ...
@overload
def get_metric_history(run_id: str, key: str, config: ConfigArg = None, *,
                       as_arrays: Literal[True]) -> MetricArrays: ...
def get_metric_history(run_id: str, key: str, config: ConfigArg = None, *,
                       as_arrays: bool = False) -> list[Metric] | MetricArrays:
    """Every point of ``key`` (``.key .value .timestamp .step``), by step then timestamp.

    ``as_arrays=True`` returns a :class:`~trackbridge.metric_arrays.MetricArrays` instead:
    numpy arrays ``.step``, ``.timestamp`` (int64) and ``.value`` (float64) in the same
    order, read without a Python object per point (needs numpy).
    """
    backend, remote_id = _backend(config, run_id)
    if as_arrays:
        return backend.get_metric_arrays(remote_id, key)
    return backend.get_metric_history(remote_id, key)


def list_artifacts(run_id: str, path: str | None = None, config: ConfigArg = None
                   ) -> list[ArtifactEntry]:
    """Direct children of ``path`` in the run's artifacts (``.path .is_dir .size``)."""
    from .artifact_tree import checked_entries

    folder = check_artifact_path(path) or None
    backend, remote_id = _backend(config, run_id)
    return checked_entries(backend.list_artifacts(remote_id, folder), folder, backend.describe())


def download_artifacts(run_id: str, path: str, dst: str | Path, config: ConfigArg = None) -> Path:
    """Copy the artifact file or directory ``path`` ('' for all) into ``dst``.

    Returns the local path of what was downloaded (``dst/<path>``). Paths the backend lists
    are checked: nothing is ever written outside ``dst`` (see ``artifact_tree.py``).
    """
    from pathlib import Path

    from .artifact_tree import download_files, target_inside

    backend, run_id = _backend(config, run_id)
    rel = check_artifact_path(path)
    dst = Path(dst)
    if not download_files(backend, run_id, rel or None, dst):
        if not rel:
            raise ArtifactNotFoundError(f"run {run_id} has no artifacts ({backend.describe()})")
        backend.download_artifact(run_id, rel, target_inside(dst, rel))  # a file, or not found
    return dst / rel if rel else dst
