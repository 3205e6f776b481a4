"""``/experiments/<name>``: the runs table, filtered (MLflow syntax, the core's filter),
sorted by any column, paged, with child runs folded under their parent."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ...entities import RUNNING, TAG_GIT_COMMIT, TAG_SOURCE_NAME, TAG_USER, Run
from ...errors import NotFoundError, ValidationError
from ..rendering import url_path
from ..state import UIState, find_experiment_runs
from .runs import duration_ms, run_full

#: Attribute columns, by their ``sort=`` name.
ATTRIBUTES = ("name", "status", "start_time", "duration", "user", "source", "commit")
ENTITIES = ("metrics", "params", "tags")
DEFAULT_SORT, DEFAULT_LIMIT, MAX_LIMIT = "start_time", 100, 1000
#: Columns shown when none are chosen: this many metrics, then params.
DEFAULT_COLUMNS = 4
_TAG_COLUMNS = {"user": TAG_USER, "source": TAG_SOURCE_NAME, "commit": TAG_GIT_COMMIT}


def parse_columns(text: str | None) -> list[str]:
    """``metrics.acc,params.lr`` -> the list; each must be ``<metrics|params|tags>.<key>``."""
    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    for column in columns:
        entity, _, key = column.partition(".")
        if entity not in ENTITIES or not key:
            raise ValidationError(f"column {column!r}: use metrics.<key>, params.<key> or tags.<key>")
    return columns


def check_sort(column: str) -> None:
    entity, _, key = column.partition(".")
    if column not in ATTRIBUTES and (entity not in ENTITIES or not key):
        raise ValidationError(
            f"sort={column!r}: sort by {', '.join(ATTRIBUTES)} or metrics.<key>, params.<key>, "
            "tags.<key>")


def cell(run: Run, column: str) -> Any:
    """The value of ``column`` (an attribute or ``<entity>.<key>``) of a whole ``run``."""
    if column in ("name", "status", "start_time"):
        return getattr(run, column)
    if column == "duration":
        return duration_ms(run)
    if column in _TAG_COLUMNS:
        value = run.tags.get(_TAG_COLUMNS[column])
        return value[:7] if value and column == "commit" else value
    entity, _, key = column.partition(".")
    return getattr(run, entity).get(key)


def column_reader(state: UIState, experiment_id: str, runs: list[Run],
                  column: str) -> Callable[[Run], Any]:
    """How to read ``column`` (an attribute or ``<entity>.<key>``) of any of ``runs``
    (headers will do: params, metrics and tags come from :meth:`UIState.values`)."""
    if column in ("name", "status", "start_time"):
        return attrgetter(column)
    if column == "duration":
        return duration_ms
    if column in _TAG_COLUMNS:
        entity, key = "tags", _TAG_COLUMNS[column]
    else:
        entity, _, key = column.partition(".")
    get = state.values(experiment_id, runs, entity, key).get
    if column == "commit":
        return lambda run: (value := get(run.id)) and value[:7]
    return lambda run: get(run.id)


#: Attribute columns whose values are names, never numbers (a commit like 0071e47 is no
#: 7.1e48); every other column sorts numbers by value.
TEXT_COLUMNS = frozenset({"name", "status", "user", "source", "commit"})


def _sort_key(value: Any) -> tuple | None:
    """(0, number) for a number or numeric text, (1, text) for other text; None for NaN,
    which has no place in an order."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (1, 0.0, str(value))
    return None if number != number else (0, number, "")


def _text_key(value: Any) -> tuple:
    return (1, 0.0, str(value))


def sort_runs(runs: list[Run], column: str, descending: bool,
              read: Callable[[Run], Any]) -> list[Run]:
    """Runs by ``column`` (numbers by value, then text; ``read`` gives a run's value); runs
    whose value is NaN come after those, and runs without a value last, in either order."""
    if column == "start_time":  # runs come newest first: no need to sort
        return list(runs) if descending else runs[::-1]
    ranked, nan, missing = [], [], []
    for run in runs:
        value = read(run)
        key = None if value is None else (_text_key if column in TEXT_COLUMNS
                                          else _sort_key)(value)
        if key is not None:
            ranked.append((key, run))
        else:
            (missing if value is None else nan).append(run)
    ranked.sort(key=lambda pair: pair[0], reverse=descending)
    return [run for _, run in ranked] + nan + missing


def runs_table(state: UIState, name: str, *, filter: str | None = None, sort: str = DEFAULT_SORT,
               order: str = "desc", offset: int = 0, limit: int = DEFAULT_LIMIT,
               columns: str | None = None, parent: str | None = None) -> dict[str, Any]:
    """One page of the experiment's runs. A bad ``filter`` is reported in ``filter_error``
    (the table is then empty); the other bad arguments raise ValidationError. Of the runs,
    only the page's are read whole; filter and sort read just the keys they name.
    ``experiment.running`` counts the experiment's RUNNING runs, whatever the filter and
    page (while it is not 0 the page keeps polling: runs may start or come to match)."""
    if order not in ("asc", "desc"):
        raise ValidationError(f"order={order!r}: use asc or desc")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValidationError(f"limit={limit}, offset={offset}: limit is 1 to {MAX_LIMIT}, "
                              "offset >= 0")
    chosen = parse_columns(columns)
    check_sort(sort)
    try:
        experiment_id, runs = find_experiment_runs(state, name, filter)
        filter_error = None
        every = state.search(experiment_id) if filter else runs
    except ValidationError as exc:
        (experiment_id, every), runs = find_experiment_runs(state, name), []
        filter_error = str(exc)
    shown = {r.id for r in runs}
    # an unknown run (get_run raises) or another experiment's is a 404 naming it
    if parent and parent not in shown and \
            state.backend.get_run(parent).experiment_id != experiment_id:
        raise NotFoundError(f"run {parent} is not a run of experiment {name!r} ({state.title})")
    children: dict[str, list[Run]] = {}
    for run in runs:
        if run.parent_run_id in shown:
            children.setdefault(run.parent_run_id, []).append(run)
    level = children.get(parent, []) if parent else [r for r in runs if r.parent_run_id not in shown]
    level = sort_runs(level, sort, order == "desc", column_reader(state, experiment_id, runs, sort))
    keys = state.keys(experiment_id, runs)
    if not chosen:
        chosen = ([f"metrics.{k}" for k in keys["metrics"][:DEFAULT_COLUMNS]]
                  + [f"params.{k}" for k in keys["params"][:DEFAULT_COLUMNS]])
    page = state.whole(level[offset:offset + limit])
    rows = [{**run_full(r), "child_count": len(children.get(r.id, ())),
             "values": {c: cell(r, c) for c in chosen}} for r in page]
    return {
        "experiment": {"id": experiment_id, "name": name, "url": f"/experiments/{url_path(name)}",
                       "running": sum(r.status == RUNNING for r in every)},
        "backend": state.title, "filter": filter or "", "filter_error": filter_error,
        "sort": sort, "order": order, "offset": offset, "limit": limit, "parent": parent,
        "total": len(level), "matching_runs": len(runs), "columns": chosen, "available": keys,
        "runs": rows, "running": sum(r["status"] == "RUNNING" for r in rows),
    }
