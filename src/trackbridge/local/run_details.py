"""Params, latest metrics and tags of many runs at once: three queries for a whole search
instead of three per run (10,000 runs are read in a fraction of a second)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

_BY_RUN = itemgetter(0)


class RunDetails(NamedTuple):
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def _by_run(conn: sqlite3.Connection, table: str, scope: str,
            args: Sequence[object]) -> dict[int, dict]:
    """run_pk -> {key: value} of ``table`` (rows come in primary-key order: run_pk, key)."""
    rows = conn.execute(f"SELECT run_pk, key, value FROM {table} WHERE run_pk IN ({scope}) "
                        "ORDER BY run_pk", args)
    return {pk: {key: value for _, key, value in group} for pk, group in groupby(rows, _BY_RUN)}


def details_of(conn: sqlite3.Connection, where: str, args: Sequence[object]) -> dict[int, RunDetails]:
    """run_pk -> details of every run of ``SELECT run_pk FROM runs r <where>`` that has any."""
    scope = f"SELECT r.run_pk FROM runs r {where}"
    params = _by_run(conn, "params", scope, args)
    metrics = _by_run(conn, "latest_metrics", scope, args)
    tags = _by_run(conn, "tags", scope, args)
    nan = float("nan")
    for values in metrics.values():  # NaN is stored as NULL
        if None in values.values():
            values.update((key, nan) for key, value in values.items() if value is None)
    return {pk: RunDetails(params.get(pk) or {}, metrics.get(pk) or {}, tags.get(pk) or {})
            for pk in params.keys() | metrics.keys() | tags.keys()}
