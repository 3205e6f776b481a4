"""MLflow's SQL store in a SQLite file (``sqlite:///mlflow.db``), read in place, read-only.

Opened with ``sqlite3`` through a ``mode=ro`` URI: nothing is ever written, not even a
journal. Tables read (MLflow's schema, ``mlflow/store/db_migrations``): ``experiments``,
``runs``, ``metrics`` (``is_nan`` marks NaN, stored as 0; +/-inf are stored as +/-DBL_MAX),
``latest_metrics``, ``params``, ``tags``, ``datasets``, ``inputs``, ``input_tags``.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trackbridge.entities import TAG_PARENT_RUN_ID, TAG_RUN_NAME, Experiment, Metric, Run
from trackbridge.errors import BackendError
from trackbridge.mlflow_rest.convert import read_float

from .base import ReadOnlyStore, local_dir

_RUN = ("SELECT r.run_uuid, r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, "
        "r.artifact_uri FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
        "WHERE r.lifecycle_stage = 'active'")


def _value(value: float, is_nan: int) -> float:
    return math.nan if is_nan else read_float(value)


class SqlStore(ReadOnlyStore):
    kind = "SQL store"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        if not self.root.is_file():
            raise BackendError(f"MLflow SQL store {self.root} does not exist (tracking_uri "
                               f"{settings.tracking_uri!r})")
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """One read-only connection per thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{quote(str(self.root))}?mode=ro"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM runs LIMIT 1")
            except sqlite3.Error as exc:
                raise BackendError(f"cannot read the {self.describe()} as an MLflow SQL store: "
                                   f"{exc}") from None
            self._local.conn = conn
        return conn

    def list_experiments(self) -> list[Experiment]:
        rows = self.connection().execute(
            "SELECT experiment_id, name, artifact_location FROM experiments "
            "WHERE lifecycle_stage = 'active' ORDER BY experiment_id")
        return [Experiment(str(i), name, loc) for i, name, loc in rows]

    def _runs(self, where: str, args: Sequence[Any]) -> list[Run]:
        conn = self.connection()
        rows = conn.execute(f"{_RUN} {where}", args).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))

        def pairs(table: str) -> dict[str, dict[str, str]]:
            out: dict[str, dict[str, str]] = {i: {} for i in ids}
            for run, key, value in conn.execute(
                    f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", ids):
                out[run][key] = value if value is not None else ""
            return out

        params, tags = pairs("params"), pairs("tags")
        latest: dict[str, dict[str, float]] = {i: {} for i in ids}
        for run, key, value, is_nan in conn.execute(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics "
                f"WHERE run_uuid IN ({marks})", ids):
            latest[run][key] = _value(value, is_nan)
        return [Run(id=r[0], experiment_id=str(r[1]), experiment=r[2],
                    name=r[3] or tags[r[0]].get(TAG_RUN_NAME), status=r[4] or "RUNNING",
                    start_time=int(r[5] or 0), end_time=int(r[6]) if r[6] is not None else None,
                    params=params[r[0]], metrics=latest[r[0]], tags=tags[r[0]],
                    artifact_uri=r[7], parent_run_id=tags[r[0]].get(TAG_PARENT_RUN_ID))
                for r in rows]

    def runs_of(self, experiment_ids: Sequence[str]) -> list[Run]:
        if not experiment_ids:
            return self._runs("", ())
        marks = ",".join("?" * len(experiment_ids))
        return self._runs(f"AND r.experiment_id IN ({marks})", [int(i) for i in experiment_ids])

    def get_run(self, run_id: str) -> Run:
        found = self._runs("AND r.run_uuid = ?", (run_id,))
        if not found:
            raise self._missing_run(run_id)
        return found[0]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.get_run(run_id)  # RunNotFoundError for an unknown run
        rows = self.connection().execute(
            "SELECT value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ? "
            "ORDER BY step, timestamp", (run_id, key))
        return [Metric(key, _value(v, n), int(ts), int(step)) for v, n, ts, step in rows]

    def dataset_inputs(self, run_id: str) -> list[dict[str, Any]]:
        conn = self.connection()
        try:
            rows = conn.execute(
                "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
                "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d "
                "ON d.dataset_uuid = i.source_id WHERE i.destination_type = 'RUN' "
                "AND i.destination_id = ? AND i.source_type = 'DATASET' ORDER BY d.name",
                (run_id,)).fetchall()
        except sqlite3.OperationalError:  # a store from before MLflow 2.4 has no inputs
            return []
        out = []
        for uuid, *fields in rows:
            names = ("name", "digest", "source_type", "source", "schema", "profile")
            tags = conn.execute("SELECT name, value FROM input_tags WHERE input_uuid = ? "
                                "ORDER BY name", (uuid,))
            out.append({"dataset": {k: v for k, v in zip(names, fields) if v is not None},
                        "tags": [{"key": k, "value": v} for k, v in tags]})
        return out

    def artifact_dir(self, run_id: str) -> Path | None:
        return local_dir(self.get_run(run_id).artifact_uri)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
