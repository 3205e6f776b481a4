"""``/experiments/<name>``: the runs table, filtered (MLflow syntax, the core's filter),
sorted by any column, paged, with child runs folded under their parent."""

from __future__ import annotations

from typing import Any

from ...entities import Run
from ...errors import ValidationError
from ..rendering import url_path
from ..state import UIState, find_experiment_runs
from .runs import run_full

#: Attribute columns, by their ``sort=`` name.
ATTRIBUTES = ("name", "status", "start_time", "duration", "user", "source", "commit")
ENTITIES = ("metrics", "params", "tags")
DEFAULT_SORT, DEFAULT_LIMIT, MAX_LIMIT = "start_time", 100, 1000
#: Columns shown when none are chosen: this many metrics, then params.
DEFAULT_COLUMNS = 4


def parse_columns(text: str | None) -> list[str]:
    """``metrics.acc,params.lr`` -> the list; each must be ``<metrics|params|tags>.<key>``."""
    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    for column in columns:
        entity, _, key = column.partition(".")
        if entity not in ENTITIES or not key:
            raise ValidationError(f"column {column!r}: use metrics.<key>, params.<key> or tags.<key>")
    return columns


def cell(row: dict[str, Any], column: str) -> Any:
    """The value of ``column`` (an attribute or ``<entity>.<key>``) in a run row."""
    if column in ATTRIBUTES:
        return row["duration_ms"] if column == "duration" else row[column]
    entity, _, key = column.partition(".")
    return row[entity].get(key)


def _sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float)):
        return (0, value, "")
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by ``column`` (numbers by value, then text); runs without a value always last."""
    if column not in ATTRIBUTES and column.partition(".")[0] not in ENTITIES:
        raise ValidationError(
            f"sort={column!r}: sort by {', '.join(ATTRIBUTES)} or metrics.<key>, params.<key>, "
            "tags.<key>")
    have = [r for r in rows if cell(r, column) is not None]
    missing = [r for r in rows if cell(r, column) is None]
    have.sort(key=lambda r: _sort_key(cell(r, column)), reverse=descending)
    return have + missing


def runs_table(state: UIState, name: str, *, filter: str | None = None, sort: str = DEFAULT_SORT,
               order: str = "desc", offset: int = 0, limit: int = DEFAULT_LIMIT,
               columns: str | None = None, parent: str | None = None) -> dict[str, Any]:
    """One page of the experiment's runs. A bad ``filter`` is reported in ``filter_error``
    (the table is then empty); the other bad arguments raise ValidationError."""
    if order not in ("asc", "desc"):
        raise ValidationError(f"order={order!r}: use asc or desc")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValidationError(f"limit={limit}, offset={offset}: limit is 1 to {MAX_LIMIT}, "
                              "offset >= 0")
    chosen = parse_columns(columns)
    try:
        experiment_id, runs = find_experiment_runs(state, name, filter)
        filter_error = None
    except ValidationError as exc:
        experiment_id, runs = find_experiment_runs(state, name)[0], []
        filter_error = str(exc)
    shown = {r.id for r in runs}
    children: dict[str, list[Run]] = {}
    for run in runs:
        if run.parent_run_id in shown:
            children.setdefault(run.parent_run_id, []).append(run)
    level = children.get(parent, []) if parent else [r for r in runs if r.parent_run_id not in shown]
    rows = [{**run_full(r), "child_count": len(children.get(r.id, ()))} for r in level]
    rows = sort_rows(rows, sort, order == "desc")
    keys = {e: sorted({k for r in runs for k in getattr(r, e)}) for e in ENTITIES}
    if not chosen and not columns:
        chosen = ([f"metrics.{k}" for k in keys["metrics"][:DEFAULT_COLUMNS]]
                  + [f"params.{k}" for k in keys["params"][:DEFAULT_COLUMNS]])
    page = rows[offset:offset + limit]
    for row in page:
        row["values"] = {c: cell(row, c) for c in chosen}
    return {
        "experiment": {"id": experiment_id, "name": name, "url": f"/experiments/{url_path(name)}"},
        "backend": state.title, "filter": filter or "", "filter_error": filter_error,
        "sort": sort, "order": order, "offset": offset, "limit": limit, "parent": parent,
        "total": len(rows), "matching_runs": len(runs), "columns": chosen, "available": keys,
        "runs": page, "running": sum(r["status"] == "RUNNING" for r in page),
    }
