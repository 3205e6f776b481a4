"""What every view reads from: the backend being shown, and the local store holding the sync
ledger (when the backend is the local store itself)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ..backend import Backend
from ..entities import TAG_PARENT_RUN_ID, Run
from ..errors import NotFoundError
from ..local.store import LocalBackend
from ..metric_arrays import MetricSummary, summarize
from ..sampling import MIN_MAX_POINTS, SampledHistory, sample


class UIState:
    """The backend shown, plus (for the local store) a cache of its runs."""

    def __init__(self, backend: Backend) -> None:
        if type(backend) is LocalBackend:  # read-only: a dead writer's run is shown
            backend = LocalBackend(backend.root, record_dead=False)  # KILLED, not stored so
        self.backend = backend
        self.title = backend.describe()
        self._cache = self._series = None
        if isinstance(backend, LocalBackend):
            from .caches import RunCache, SeriesCache

            self._cache, self._series = RunCache(backend), SeriesCache(backend)

    def search(self, experiment_id: str, filter: str | None = None) -> list[Run]:
        """Runs of one experiment matching ``filter``, newest first. From the local store
        they are headers: params, metrics and tags are empty (read them with
        :meth:`values`, or :meth:`whole` for the runs shown); other backends' are whole."""
        if self._cache is not None:
            return self._cache.search(experiment_id, filter)
        return list(self.backend.search_runs([experiment_id], filter))

    def values(self, experiment_id: str, runs: list[Run], entity: str, key: str) -> dict[str, Any]:
        """run id -> the value of ``entity.key`` (``params``, ``metrics``, ``tags``) for
        ``runs`` (a result of :meth:`search`); runs without it are absent."""
        if self._cache is not None:
            return self._cache.values(experiment_id, entity, key)
        return {r.id: getattr(r, entity)[key] for r in runs if key in getattr(r, entity)}

    def keys(self, experiment_id: str, runs: list[Run]) -> dict[str, list[str]]:
        """The sorted keys per entity: of the experiment's runs (local store), else of ``runs``."""
        if self._cache is not None:
            return self._cache.keys(experiment_id)
        return {e: sorted(set().union(*(getattr(r, e) for r in runs)))
                for e in ("params", "metrics", "tags")}

    def whole(self, runs: list[Run]) -> list[Run]:
        """``runs`` (from :meth:`search`) with their params, latest metrics and tags."""
        return self._cache.whole(runs) if self._cache is not None else runs

    def children(self, run: Run) -> list[Run]:
        """The whole runs whose parent is ``run``, newest first."""
        if self._cache is not None:
            return self.whole([r for r in self._cache.headers(run.experiment_id)
                               if r.parent_run_id == run.id])
        found = self.backend.search_runs([run.experiment_id],
                                         f"tags.`{TAG_PARENT_RUN_ID}` = '{run.id}'")
        return [r for r in found if r.parent_run_id == run.id]

    def metric_summaries(self, run_id: str, keys: list[str]) -> dict[str, MetricSummary]:
        """Each key's points, finite min / max, last step and NaN/inf count (the local store
        reads them a chunk at a time; other backends' histories are read one key at a time)."""
        if self._series is not None:
            return self._series.summaries(run_id, keys)
        found = {}
        for key in keys:
            arrays = self.backend.get_metric_arrays(run_id, key)
            found[key] = summarize(arrays.step, arrays.value)
        return found

    def sample(self, run_id: str, key: str, *, max_points: int, start_step: int | None,
               end_step: int | None) -> tuple[SampledHistory, int]:
        """The backend's sampled read (the local store's from cached columns) and the key's
        number of points over all steps, whatever the range (a live chart compares it with
        what it holds to learn of points logged at steps it already shows)."""
        if self._series is not None:
            arrays = self._series.arrays(run_id, key)
        elif type(self.backend).sample_metric_history is Backend.sample_metric_history:
            arrays = self.backend.get_metric_arrays(run_id, key)  # what the default samples
        else:  # the platform samples: the count is a second, smallest read when ranged
            found = self.backend.sample_metric_history(run_id, key, max_points=max_points,
                                                       start_step=start_step, end_step=end_step)
            if start_step is None and end_step is None:
                return found, found.total
            whole = self.backend.sample_metric_history(run_id, key, max_points=MIN_MAX_POINTS)
            return found, whole.total
        return sample(arrays, max_points, start_step, end_step), len(arrays.step)


#: Distinct, readable line colours; a run keeps its colour on every page (chosen by its id).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#393b79", "#ad494a", "#637939", "#e6550d", "#5254a3", "#843c39", "#3182bd",
           "#31a354", "#756bb1", "#d6616b", "#636363", "#8c6d31", "#7b4173", "#0f9d8f", "#c49c94")


def run_color(run_id: str) -> str:
    """The run's colour, the same on every page: a palette entry chosen by a hash of its id."""
    return PALETTE[int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % len(PALETTE)]


def distinct_colors(run_ids: Sequence[str]) -> list[str]:
    """Colours for runs drawn together: each run's own :func:`run_color`, except that a run
    whose colour an earlier run of ``run_ids`` holds takes the next free palette entry (so
    overlaid lines never share a colour while the palette lasts)."""
    taken: set[str] = set()
    out = []
    for run_id in run_ids:
        color = run_color(run_id)
        if color in taken and len(taken) < len(PALETTE):
            start = PALETTE.index(color)
            color = next(c for c in PALETTE[start:] + PALETTE[:start] if c not in taken)
        taken.add(color)
        out.append(color)
    return out


def find_experiment_runs(state: UIState, name: str, filter: str | None = None) -> tuple[str, list[Run]]:
    """(experiment id, its runs matching ``filter``, newest first); unknown name -> 404."""
    found = state.backend.get_experiment(name)
    if found is None:
        raise NotFoundError(f"experiment {name!r} not found in the {state.title}")
    return found.id, state.search(found.id, filter)
