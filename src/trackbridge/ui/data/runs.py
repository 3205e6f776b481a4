"""How one run is described wherever it appears (tables, headers, compare): a plain dict."""

from __future__ import annotations

import time
from typing import Any

from ...entities import RUNNING, TAG_GIT_COMMIT, TAG_SOURCE_NAME, TAG_USER, Run
from ..rendering import url_path
from ..state import run_color


def duration_ms(run: Run) -> int | None:
    """End minus start; for a RUNNING run, the time it has been running."""
    if run.end_time is not None:
        return max(run.end_time - run.start_time, 0)
    if run.status == RUNNING:
        return max(time.time_ns() // 1_000_000 - run.start_time, 0)
    return None


def run_summary(run: Run) -> dict[str, Any]:
    """Id, name, status, times, who/where it ran, colour and links of ``run``."""
    commit = run.tags.get(TAG_GIT_COMMIT)
    return {
        "id": run.id, "name": run.name or run.id[:8], "status": run.status,
        "experiment": run.experiment, "experiment_id": run.experiment_id,
        "start_time": run.start_time, "end_time": run.end_time, "duration_ms": duration_ms(run),
        "user": run.tags.get(TAG_USER), "source": run.tags.get(TAG_SOURCE_NAME),
        "commit": commit[:7] if commit else None, "parent_run_id": run.parent_run_id,
        "color": run_color(run.id), "url": f"/runs/{url_path(run.id)}",
    }


def run_full(run: Run) -> dict[str, Any]:
    """:func:`run_summary` plus every param, latest metric and tag."""
    return {**run_summary(run), "params": dict(run.params), "metrics": dict(run.metrics),
            "tags": dict(run.tags)}
