"""``/api/runs/<id>/metrics/<key>``: one metric as columns, M4-sampled to ``max_points``."""

from __future__ import annotations

from typing import Any

from ...errors import NotFoundError
from ...sampling import DEFAULT_MAX_POINTS, check_request
from ..state import UIState


def metric_series(state: UIState, run_id: str, key: str, *, max_points: int = DEFAULT_MAX_POINTS,
                  start_step: int | None = None, end_step: int | None = None) -> dict[str, Any]:
    """``step``, ``timestamp``, ``value`` (plus per-bucket ``min``/``max`` when ``sampled``),
    ``total`` points in the range, ``count`` points of the key over all steps, the
    NaN/+inf/-inf counts, and the run's status (so a chart knows whether to keep polling).
    Unknown run or key -> NotFoundError."""
    check_request(max_points, start_step, end_step)
    run = state.backend.get_run(run_id)
    if key not in run.metrics:
        raise NotFoundError(f"run {run_id} has no metric {key!r} ({state.title})")
    s, count = state.sample(run.id, key, max_points=max_points, start_step=start_step,
                            end_step=end_step)
    out: dict[str, Any] = {
        "run_id": run.id, "key": key, "run_status": run.status, "total": s.total, "count": count,
        "sampled": s.sampled, "max_points": s.max_points, "start_step": start_step,
        "end_step": end_step, "nan": s.nan, "pos_inf": s.pos_inf, "neg_inf": s.neg_inf,
        "step": s.step.tolist(), "timestamp": s.timestamp.tolist(), "value": s.value.tolist(),
    }
    if s.sampled:
        out["min"] = s.bucket_min.tolist()
        out["max"] = s.bucket_max.tolist()
    return out
