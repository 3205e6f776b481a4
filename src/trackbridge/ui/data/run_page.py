"""``/runs/<id>``: one run: times, lineage, tags, params, metric summaries (and chart links),
the artifact tree, logged models and the sync state per destination."""

from __future__ import annotations

from typing import Any

from ...entities import Run
from ...errors import NotFoundError
from ...metric_arrays import MetricSummary
from ..rendering import url_path
from ..state import UIState
from .artifacts import list_files, preview, tree
from .logged_models import logged_models
from .runs import run_full, run_summary
from .sync_state import sync_state


def metric_summary(run_id: str, key: str, summary: MetricSummary, latest: float) -> dict[str, Any]:
    """Latest value, finite min and max, point count, last step, NaN/inf counts of a key."""
    return {
        "key": key, "latest": latest, "count": summary.count, "min": summary.min,
        "max": summary.max, "last_step": summary.last_step, "non_finite": summary.non_finite,
        "series_url": f"/api/runs/{url_path(run_id)}/metrics/{url_path(key)}",
    }


def _lineage(state: UIState, run: Run) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    parent = None
    if run.parent_run_id:
        try:
            parent = run_summary(state.backend.get_run(run.parent_run_id))
        except NotFoundError:
            parent = {"id": run.parent_run_id, "name": run.parent_run_id[:8], "url": None}
    return parent, [run_summary(c) for c in state.children(run)]


def run_header(state: UIState, run: Run) -> dict[str, Any]:
    """What every page of a run shows on top: the run, its parent and children."""
    parent, children = _lineage(state, run)
    return {"backend": state.title, "run": run_full(run), "parent": parent,
            "children": children, "experiment_url": f"/experiments/{url_path(run.experiment)}"}


def run_page(state: UIState, run_id: str) -> dict[str, Any]:
    run = state.backend.get_run(run_id)
    head = run_header(state, run)
    run_id = run.id
    files = list_files(state, run_id)
    keys = sorted(run.metrics)
    summaries = state.metric_summaries(run_id, keys)
    metrics = [metric_summary(run_id, key, summaries[key], run.metrics[key]) for key in keys]
    return {
        **head, "metrics": metrics, "artifacts": tree(run_id, files), "artifact_count": len(files),
        "zip_url": f"/zip/{url_path(run_id)}" if files else None,
        "models": logged_models(state, run_id, files),
        "sync": sync_state(state, run),
    }


def artifact_page(state: UIState, run_id: str, path: str) -> dict[str, Any]:
    """The run's header, its artifact tree and the preview of ``path``."""
    run = state.backend.get_run(run_id)
    files = list_files(state, run.id)
    return {**run_header(state, run), "artifacts": tree(run.id, files),
            "artifact_count": len(files), "preview": preview(state, run.id, path)}
