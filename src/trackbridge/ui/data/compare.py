"""``/compare?runs=a,b,c``: params side by side (differences flagged), latest metrics, and the
metrics logged by more than one run (each drawn as overlaid charts, one colour per run: see
``distinct_colors``)."""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ..state import UIState, distinct_colors
from .runs import run_full

MAX_RUNS = 50


def parse_run_ids(values: list[str]) -> list[str]:
    """``runs=a,b`` and/or repeated ``run=a&run=b`` -> unique ids in order."""
    ids = [i.strip() for v in values for i in v.split(",") if i.strip()]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ValidationError("runs= is empty: give run ids, e.g. /compare?runs=<id>,<id>")
    if len(ids) > MAX_RUNS:
        raise ValidationError(f"runs= has {len(ids)} ids; compare at most {MAX_RUNS}")
    return ids


def _rows(runs: list[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    keys = sorted({k for r in runs for k in r[entity]})
    rows = []
    for key in keys:
        values = [r[entity].get(key) for r in runs]
        present = [v for v in values if v is not None]
        differs = len(present) != len(values) or len({repr(v) for v in present}) > 1
        rows.append({"key": key, "values": values, "differs": differs})
    return rows


def compare_page(state: UIState, run_ids: list[str]) -> dict[str, Any]:
    runs = [run_full(state.backend.get_run(run_id)) for run_id in run_ids]
    for run, color in zip(runs, distinct_colors(run_ids)):
        run["color"] = color
    metric_rows = _rows(runs, "metrics")
    return {
        "backend": state.title, "runs": runs, "params": _rows(runs, "params"),
        "metrics": metric_rows,
        "shared_metrics": [row["key"] for row in metric_rows
                           if sum(v is not None for v in row["values"]) > 1],
    }
